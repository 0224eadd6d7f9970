//! Every check verify reports, by name: one place to grep a check and
//! land on its meaning, as troubleshoot's `findings.rs` is for findings.
//! A check keeps its name whatever happens to it: a check that could not
//! be made is the same check with result `error`.

use runiam_core::doc::{Check, CheckResult, Evidence};

/// The checks of a VerifyReport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckName {
    /// A real call as the caller got the expected answer (allow or deny).
    Invoke,
    /// The smoke load got the expected answer on every request.
    Load,
    /// Every grant added since the record's before-state is the intended one.
    IntendedMembers,
    /// No public, domain or group grant appeared beyond what was asked.
    NoExposure,
    /// The invoker IAM check is on, or off because the change asked for it.
    InvokerCheck,
    /// A restore left exactly the restored grants.
    Restored,
    /// No Cloud Run 401/403 in the request logs since the change.
    Logs,
    /// `--watch`: no Cloud Run 401/403 came back during the watch window.
    Watch,
    /// `--create-alert`: a Cloud Monitoring log-match alert policy watches for them.
    Alert,
    /// No principal gained a run.* permission on the service beyond the intent.
    NoNewAccess,
}

impl CheckName {
    pub const ALL: [CheckName; 10] = [
        CheckName::Invoke,
        CheckName::Load,
        CheckName::IntendedMembers,
        CheckName::NoExposure,
        CheckName::InvokerCheck,
        CheckName::Restored,
        CheckName::Logs,
        CheckName::Watch,
        CheckName::Alert,
        CheckName::NoNewAccess,
    ];

    /// The name in VerifyReport documents.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Invoke => "invoke",
            CheckName::Load => "load",
            CheckName::IntendedMembers => "intended-members",
            CheckName::NoExposure => "no-exposure",
            CheckName::InvokerCheck => "invoker-check",
            CheckName::Restored => "restored",
            CheckName::Logs => "logs",
            CheckName::Watch => "watch",
            CheckName::Alert => "alert",
            CheckName::NoNewAccess => "no-new-access",
        }
    }

    /// This check with a result, a detail and its evidence.
    pub fn with(self, result: CheckResult, detail: String, evidence: Vec<Evidence>) -> Check {
        Check { name: self.as_str().to_owned(), result, detail, evidence }
    }

    pub fn pass(self, detail: String) -> Check {
        self.with(CheckResult::Pass, detail, Vec::new())
    }

    /// The check could not be made: why.
    pub fn error(self, detail: String) -> Check {
        self.with(CheckResult::Error, detail, Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case() {
        let names: std::collections::BTreeSet<&str> = CheckName::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), CheckName::ALL.len());
        assert!(names.iter().all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '-')));
    }
}
