//! One stderr line for each refusal of Cloud Run's front end (told from
//! the container's answers by verify's classifier): the finding
//! troubleshoot gives for the caller (its own diagnosis, run in-process,
//! judging the token that was sent) and the command to run next. A
//! diagnosis is reused for the same status for a while, so a burst of
//! refusals costs one; it runs beside the request, never delaying it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runiam_core::auth::Secret;
use runiam_core::cli::Context;
use runiam_core::doc::{Diagnosis, Severity};
use runiam_core::model::{Principal, ServiceRef};
use runiam_core::redact::redact;
use runiam_verify::answer::Answer;

/// How long a diagnosis is reused for refusals with the same status.
const REUSE: Duration = Duration::from_secs(30);

/// What a refusal is explained with.
pub struct Explainer {
    ctx: Arc<Context>,
    target: ServiceRef,
    caller: Option<Principal>,
    /// Status → (when diagnosed, finding and next command).
    cache: tokio::sync::Mutex<HashMap<u16, (Instant, String)>>,
}

impl Explainer {
    pub fn new(ctx: Arc<Context>, target: ServiceRef, caller: Option<Principal>) -> Self {
        Self { ctx, target, caller, cache: tokio::sync::Mutex::default() }
    }

    /// Prints the line for a front-end refusal of `method path`, diagnosing
    /// with `sent`, the token the request carried, when no recent diagnosis
    /// of `status` is at hand.
    pub async fn refused(&self, method: &str, path: &str, answer: &Answer, sent: Option<Secret>) {
        let Answer::CloudRun { status, reason } = answer else { return };
        let mut cache = self.cache.lock().await;
        let why = match cache.get(status) {
            Some((at, why)) if at.elapsed() < REUSE => why.clone(),
            _ => {
                let why = self.diagnose(*status, reason, sent.as_ref()).await;
                cache.insert(*status, (Instant::now(), why.clone()));
                why
            }
        };
        drop(cache);
        eprintln!("runiam proxy: {method} {path}: Cloud Run's front end answered {status}: {why}");
    }

    /// `[finding] explanation; next: command`, from troubleshoot's diagnosis.
    async fn diagnose(&self, status: u16, reason: &str, sent: Option<&Secret>) -> String {
        let troubleshoot = format!(
            "runiam troubleshoot {}{} --saw {status}",
            self.target.full_name(),
            self.caller.as_ref().map(|c| format!(" --caller {c}")).unwrap_or_default()
        );
        let Some(caller) = &self.caller else {
            return format!("{reason}; next: {troubleshoot} (the token names no caller)");
        };
        let emulator = self.ctx.config.emulator.as_ref();
        match runiam_troubleshoot::explain::caller_refused(
            &self.ctx.clients,
            &self.target,
            caller,
            sent.map(Secret::expose),
            emulator,
        )
        .await
        {
            Ok(d) => line(&d, reason, &troubleshoot),
            Err(e) => format!(
                "{reason} (troubleshoot could not diagnose it: {}); next: {troubleshoot}",
                redact(&e.error.to_string())
            ),
        }
    }
}

/// The first cause of `d` (else its first risk) with its explanation, and
/// the diagnosis's fix as the next command (else troubleshoot itself).
pub fn line(d: &Diagnosis, reason: &str, troubleshoot: &str) -> String {
    let finding = d
        .findings
        .iter()
        .find(|f| f.severity == Severity::Cause)
        .or_else(|| d.findings.iter().find(|f| f.severity == Severity::Risk));
    let next = d.fix.as_ref().map_or(troubleshoot, |f| f.command.as_str());
    let text = match finding {
        Some(f) => format!("[{}] {}; next: {next}", f.id, f.explanation),
        None => format!("{reason} (troubleshoot finds no cause in IAM now: a change still propagating?); next: {next}"),
    };
    // One line, whatever the explanation holds.
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use runiam_core::doc::{Bucket, Finding, Fix, FixAction, Verdict};

    fn diagnosis(findings: Vec<Finding>, fix: Option<Fix>) -> Diagnosis {
        Diagnosis {
            service: ServiceRef::new("p", "r", "s"),
            caller: None,
            verdict: Verdict::Denied,
            findings,
            log_evidence: Vec::new(),
            fix,
            diagnosed_at: chrono::Utc::now(),
        }
    }

    fn finding(id: &str, severity: Severity) -> Finding {
        Finding {
            id: id.into(),
            bucket: Bucket::Iam,
            severity,
            explanation: format!("{id}\nexplained"),
            evidence: Vec::new(),
            fix: None,
        }
    }

    #[test]
    fn the_first_cause_and_the_fix_make_the_line() {
        let fix = Fix {
            action: FixAction::Grant,
            member: None,
            role: None,
            condition: None,
            command: "runiam grant-invoker x".into(),
        };
        let d = diagnosis(
            vec![finding("iam.unreadable", Severity::Risk), finding("iam.no-grant", Severity::Cause)],
            Some(fix),
        );
        assert_eq!(
            line(&d, "r", "runiam troubleshoot"),
            "[iam.no-grant] iam.no-grant explained; next: runiam grant-invoker x"
        );
        let d = diagnosis(vec![finding("iam.propagation", Severity::Risk)], None);
        assert_eq!(
            line(&d, "r", "runiam troubleshoot"),
            "[iam.propagation] iam.propagation explained; next: runiam troubleshoot"
        );
        let d = diagnosis(vec![finding("iam.granted", Severity::Info)], None);
        assert!(line(&d, "refused", "t").starts_with("refused (troubleshoot finds no cause"));
    }
}
