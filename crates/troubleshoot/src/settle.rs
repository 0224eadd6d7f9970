//! The one decision: from every fact gathered about one (service, caller)
//! — IAM's evaluation, the front end's own checks, the caller's
//! configuration, the token, the logs — set the verdict, order the
//! findings and pick the fix. Nothing before this step sets a verdict or a
//! fix; everything before it only adds findings to a [`Draft`].

use chrono::Utc;
use runiam_core::doc::{Bucket, Diagnosis, Finding, Fix, Severity, Verdict};
use runiam_core::model::{Principal, ServiceRef};
use serde_json::Value;

/// A diagnosis before it is settled.
#[derive(Clone, Debug)]
pub struct Draft {
    pub service: ServiceRef,
    pub caller: Principal,
    /// What IAM alone says (ALLOWED when the invoker check is off): the
    /// verdict unless a finding blocks the call before IAM.
    pub iam: Verdict,
    pub findings: Vec<Finding>,
    pub log_evidence: Vec<Value>,
}

/// Whether a finding stops the call whatever IAM says: the front end's
/// network checks and VPC-SC, a token Cloud Run refuses, a disabled
/// caller account, a caller whose own configuration cannot produce an
/// accepted token. `token.missing` does not: it infers from the logs that
/// some past request came without a token, which says nothing of a
/// caller that sends one.
pub fn blocks(f: &Finding) -> bool {
    f.severity == Severity::Cause
        && f.id != "token.missing"
        && (matches!(f.bucket, Bucket::Network | Bucket::Token)
            || f.id == "iam.caller-disabled"
            || f.id.starts_with("caller."))
}

/// The verdict, the findings in report order (causes, then risks, then
/// what was ruled out, each in the order found) and the fix: none when
/// ALLOWED; the invoker-check route when domain restricted sharing would
/// refuse a public grant; else the first cause's.
pub fn settle(d: Draft) -> Diagnosis {
    let Draft { service, caller, iam, mut findings, log_evidence } = d;
    // A path that could not be settled leaves an allowed caller unknown.
    let verdict = if findings.iter().any(blocks) {
        Verdict::Denied
    } else if iam == Verdict::Allowed && findings.iter().any(|f| f.id == "network.origin-undetermined") {
        Verdict::Unknown
    } else {
        iam
    };
    findings.sort_by_key(|f| match f.severity {
        Severity::Cause => 0,
        Severity::Risk => 1,
        Severity::Info => 2,
    });
    let fix = (verdict != Verdict::Allowed).then(|| pick_fix(&findings)).flatten();
    Diagnosis { service, caller: Some(caller), verdict, findings, log_evidence, fix, diagnosed_at: Utc::now() }
}

fn pick_fix(findings: &[Finding]) -> Option<Fix> {
    // A public grant that the org policy would refuse is no fix.
    let drs_route = findings.iter().find(|f| f.id == "org.public-blocked").and_then(|f| f.fix.clone());
    drs_route.or_else(|| findings.iter().filter(|f| f.severity == Severity::Cause).find_map(|f| f.fix.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use runiam_core::doc::{Evidence, FixAction};

    fn finding(id: &str, bucket: Bucket, severity: Severity, fix: Option<&str>) -> Finding {
        Finding {
            id: id.into(),
            bucket,
            severity,
            explanation: String::new(),
            evidence: Vec::<Evidence>::new(),
            fix: fix.map(|c| Fix {
                action: FixAction::Manual,
                member: None,
                role: None,
                condition: None,
                command: c.into(),
            }),
        }
    }

    fn draft(iam: Verdict, findings: Vec<Finding>) -> Draft {
        Draft {
            service: ServiceRef::new("p", "r", "s"),
            caller: Principal::AllUsers,
            iam,
            findings,
            log_evidence: Vec::new(),
        }
    }

    #[test]
    fn one_verdict_one_order_one_fix() {
        // IAM's word stands without a blocking finding, UNKNOWN with a fix included.
        let d = settle(draft(
            Verdict::Unknown,
            vec![
                finding("iam.unreadable", Bucket::Iam, Severity::Risk, None),
                finding("iam.no-grant", Bucket::Iam, Severity::Cause, Some("grant")),
            ],
        ));
        assert_eq!(d.verdict, Verdict::Unknown);
        assert_eq!(d.findings.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["iam.no-grant", "iam.unreadable"]);
        assert_eq!(d.fix.unwrap().command, "grant");
        // A token cause blocks an ALLOWED caller and brings its fix.
        let d = settle(draft(
            Verdict::Allowed,
            vec![
                finding("iam.granted", Bucket::Iam, Severity::Info, None),
                finding("token.audience-mismatch", Bucket::Token, Severity::Cause, Some("mint")),
            ],
        ));
        assert_eq!((d.verdict, d.fix.unwrap().command.as_str()), (Verdict::Denied, "mint"));
        // Causes that do not block (the app's own 403, a past request
        // without a token) leave ALLOWED, and no fix.
        let d = settle(draft(
            Verdict::Allowed,
            vec![
                finding("app.denied", Bucket::App, Severity::Cause, None),
                finding("token.missing", Bucket::Token, Severity::Cause, Some("send a token")),
            ],
        ));
        assert_eq!((d.verdict, d.fix), (Verdict::Allowed, None));
        // The invoker-check route wins over a public grant.
        let d = settle(draft(
            Verdict::Denied,
            vec![
                finding("iam.no-grant", Bucket::Iam, Severity::Cause, Some("grant")),
                finding("org.public-blocked", Bucket::Iam, Severity::Risk, Some("no-invoker-check")),
            ],
        ));
        assert_eq!(d.fix.unwrap().command, "no-invoker-check");
        // The first cause found gives the fix.
        let d = settle(draft(
            Verdict::Denied,
            vec![
                finding("network.ingress", Bucket::Network, Severity::Cause, Some("ingress")),
                finding("iam.no-grant", Bucket::Iam, Severity::Cause, Some("grant")),
            ],
        ));
        assert_eq!(d.fix.unwrap().command, "ingress");
    }
}
