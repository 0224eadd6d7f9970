//! One constructor per finding id (DESIGN §7): grep an id, land here. Each
//! id fixes its bucket and severity; the decision code only says when.

use runiam_core::doc::{Bucket, Evidence, Finding, Fix, Severity};

fn finding(
    id: &str,
    bucket: Bucket,
    severity: Severity,
    explanation: String,
    evidence: Vec<Evidence>,
    fix: Option<Fix>,
) -> Finding {
    Finding { id: id.to_owned(), bucket, severity, explanation, evidence, fix }
}

pub fn iam_no_grant(caller: &str, service: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "iam.no-grant",
        Bucket::Iam,
        Severity::Cause,
        format!("nothing on {service} or any of its ancestors grants {caller} a role with run.routes.invoke"),
        evidence,
        Some(fix),
    )
}

pub fn iam_role_lacks_invoke(caller: &str, roles: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "iam.role-lacks-invoke",
        Bucket::Iam,
        Severity::Cause,
        format!("{caller} holds {roles}, none of which includes run.routes.invoke"),
        evidence,
        Some(fix),
    )
}

pub fn iam_condition_false(caller: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "iam.condition-false",
        Bucket::Iam,
        Severity::Cause,
        format!(
            "a conditional grant to {caller} exists, but its condition is false now (an expired time-bound grant?)"
        ),
        evidence,
        Some(fix),
    )
}

pub fn iam_condition_unknown(evidence: Vec<Evidence>) -> Finding {
    finding(
        "iam.condition-unknown",
        Bucket::Iam,
        Severity::Risk,
        "a conditional grant or denial depends on a condition that cannot be evaluated offline".to_owned(),
        evidence,
        None,
    )
}

pub fn iam_denied(caller: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "iam.denied",
        Bucket::Iam,
        Severity::Cause,
        format!("an IAM deny policy denies run.googleapis.com/routes.invoke to {caller}; deny beats every grant"),
        evidence,
        Some(fix),
    )
}

pub fn iam_near_miss(explanation: String, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding("iam.near-miss", Bucket::Iam, Severity::Cause, explanation, evidence, Some(fix))
}

pub fn iam_deleted_principal(caller: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "iam.deleted-principal",
        Bucket::Iam,
        Severity::Cause,
        format!(
            "the grant names a deleted account with {caller}'s email: the account was deleted and re-created, and the old grant does not apply"
        ),
        evidence,
        Some(fix),
    )
}

pub fn iam_caller_disabled(email: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "iam.caller-disabled",
        Bucket::Iam,
        Severity::Cause,
        format!("the service account {email} is disabled: it cannot get tokens, whatever it is granted"),
        evidence,
        Some(fix),
    )
}

pub fn iam_group_unknown(groups: &str, evidence: Vec<Evidence>) -> Finding {
    finding(
        "iam.group-unknown",
        Bucket::Iam,
        Severity::Risk,
        format!(
            "the answer hangs on the caller's membership of {groups} (named by a grant or a deny rule), which could not be confirmed; confirm with `gcloud identity groups memberships check-transitive-membership`"
        ),
        evidence,
        None,
    )
}

/// Not in DESIGN §7's table yet: DESIGN §5 asks for a finding that names
/// what could not be read and the permission that would read it.
pub fn iam_unreadable(evidence: Vec<Evidence>) -> Finding {
    finding(
        "iam.unreadable",
        Bucket::Iam,
        Severity::Risk,
        "some policies could not be read; the answer holds only for what could".to_owned(),
        evidence,
        None,
    )
}

pub fn iam_remote_disagrees(ours: &str, theirs: &str, evidence: Vec<Evidence>) -> Finding {
    finding(
        "iam.remote-disagrees",
        Bucket::Iam,
        Severity::Risk,
        format!("the Policy Troubleshooter API answers {theirs}, runiam's own evaluation {ours}"),
        evidence,
        None,
    )
}

pub fn org_public_blocked(evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "org.public-blocked",
        Bucket::Iam,
        Severity::Risk,
        "domain restricted sharing (iam.allowedPolicyMemberDomains) forbids allUsers and allAuthenticatedUsers, so a public grant will fail; turning the invoker IAM check off is the supported way to make the service public".to_owned(),
        evidence,
        Some(fix),
    )
}

pub fn org_member_blocked(caller: &str, certain: bool, evidence: Vec<Evidence>) -> Finding {
    let explanation = if certain {
        format!("domain restricted sharing forbids {caller}'s domain, so granting it will fail")
    } else {
        format!(
            "domain restricted sharing is on and {caller}'s customer id cannot be known here, so granting it may fail"
        )
    };
    finding("org.member-blocked", Bucket::Iam, Severity::Risk, explanation, evidence, None)
}

pub fn network_ingress(ingress: &str, from: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "network.ingress",
        Bucket::Network,
        Severity::Cause,
        format!("ingress is {ingress} and the call comes from {from}: Cloud Run answers 404 and writes no request log"),
        evidence,
        Some(fix),
    )
}

pub fn network_default_url_disabled(evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "network.default-url-disabled",
        Bucket::Network,
        Severity::Cause,
        "the run.app URL is disabled: calls to it get 404 and no request log".to_owned(),
        evidence,
        Some(fix),
    )
}

pub fn network_iap(evidence: Vec<Evidence>) -> Finding {
    finding(
        "network.iap",
        Bucket::Network,
        Severity::Risk,
        "IAP is enabled on the service: IAP decides before IAM, and some callers (Pub/Sub push) cannot pass it"
            .to_owned(),
        evidence,
        None,
    )
}

pub fn config_invoker_check_disabled(evidence: Vec<Evidence>) -> Finding {
    finding(
        "config.invoker-check-disabled",
        Bucket::Config,
        Severity::Info,
        "the invoker IAM check is off, so IAM is not the cause".to_owned(),
        evidence,
        None,
    )
}

pub fn config_public(evidence: Vec<Evidence>) -> Finding {
    finding(
        "config.public",
        Bucket::Config,
        Severity::Info,
        "allUsers can invoke the service, so IAM is not the cause".to_owned(),
        evidence,
        None,
    )
}
