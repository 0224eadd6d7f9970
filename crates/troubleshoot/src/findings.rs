//! One constructor per finding id (docs/findings.md): grep an id, land here. Each
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

/// no readable policy grants the caller a role with `run.routes.invoke`; the fix is `roles/run.invoker` on the service, proposed even when ancestors could not be read
///
/// `unread`: the allow policies that could not be read, which the claim
/// cannot cover.
pub fn iam_no_grant(caller: &str, service: &str, unread: &[String], evidence: Vec<Evidence>, fix: Fix) -> Finding {
    let explanation = if unread.is_empty() {
        format!("nothing on {service} or any of its ancestors grants {caller} a role with run.routes.invoke")
    } else {
        format!(
            "no readable policy on {service} or its ancestors grants {caller} a role with run.routes.invoke ({} could not be read); a grant on the service is needed or, at worst, redundant",
            unread.join(", ")
        )
    };
    finding("iam.no-grant", Bucket::Iam, Severity::Cause, explanation, evidence, Some(fix))
}

/// the caller's roles lack `run.routes.invoke` (a viewer)
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

/// a conditional grant whose condition is false now
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

/// a condition that cannot be evaluated offline
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

/// a deny policy denies the caller
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

/// a grant to a look-alike: another member type, a typo, a same-name service elsewhere
pub fn iam_near_miss(caller: &str, misses: &[String], evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "iam.near-miss",
        Bucket::Iam,
        Severity::Cause,
        format!("a grant exists for a look-alike of {caller}: {}", misses.join("; ")),
        evidence,
        Some(fix),
    )
}

/// the grant names a deleted account with the caller's email
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

/// the caller's service account is disabled
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

/// the answer hangs on a group membership that could not be confirmed
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

/// reads that failed and leave the answer open (API not enabled, permission missing, not found), each with the permission that would allow it
///
/// What could not be read and leaves the answer open (partial visibility): each
/// read with why it failed and the permission that would allow it.
/// `deny_doubt`: a deny policy went unread, so even the proposed grant may
/// not be enough.
pub fn iam_unreadable(deny_doubt: bool, evidence: Vec<Evidence>) -> Finding {
    let mut explanation = "some policies could not be read; the answer holds only for what could".to_owned();
    if deny_doubt {
        explanation.push_str(": a deny policy above could still block this: run `runiam verify` after the grant");
    }
    finding("iam.unreadable", Bucket::Iam, Severity::Risk, explanation, evidence, None)
}

/// `--remote`: the Policy Troubleshooter API answers otherwise
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

/// domain restricted sharing forbids a public grant (the fix turns the invoker check off)
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

/// domain restricted sharing may refuse the grant to the caller
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

/// ingress does not admit where the call comes from
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

/// the caller's own egress keeps it outside the network an internal service admits (no VPC egress, private ranges only, no Private Google Access, another project's network); the fix is the caller's `--vpc-egress=all-traffic` (or the Terraform attribute)
pub fn network_egress_not_routed(caller: &str, ingress: &str, why: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "network.egress-not-routed",
        Bucket::Network,
        Severity::Cause,
        format!(
            "ingress is {ingress} and {caller} arrives from outside the project's network ({why}): Cloud Run answers 404 and writes no request log"
        ),
        evidence,
        Some(fix),
    )
}

/// whether the caller's requests arrive as internal depends on a fact that could not be read; names the fact and the permission that reads it
pub fn network_origin_undetermined(
    caller: &str,
    ingress: &str,
    fact: &str,
    permission: &str,
    evidence: Vec<Evidence>,
) -> Finding {
    finding(
        "network.origin-undetermined",
        Bucket::Network,
        Severity::Risk,
        format!(
            "ingress is {ingress}, and whether {caller} arrives from inside the project's network depends on {fact}, which could not be read (permission {permission})"
        ),
        evidence,
        None,
    )
}

/// a Connectivity Test (`--connectivity-test`) traced the caller's packet to the service: its result, the step where it leaves (external or through the VPC) and what the service's ingress makes of that
pub fn network_connectivity_test(explanation: String, evidence: Vec<Evidence>) -> Finding {
    finding("network.connectivity-test", Bucket::Network, Severity::Info, explanation, evidence, None)
}

/// a Connectivity Test drops the caller's packet before it reaches Cloud Run; names the step and the drop cause
pub fn network_path_dropped(caller: &str, step: &str, cause: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "network.path-dropped",
        Bucket::Network,
        Severity::Cause,
        format!(
            "a Connectivity Test drops the packets of {caller} at {step} ({cause}): its calls never reach Cloud Run, whatever ingress and IAM say"
        ),
        evidence,
        Some(fix),
    )
}

/// the Connectivity Test could not be created, finished or read (names the permission, e.g. `networkmanagement.connectivitytests.create`): reachability was not simulated
pub fn network_connectivity_test_unread(caller: &str, why: &str, evidence: Vec<Evidence>) -> Finding {
    finding(
        "network.connectivity-test-unread",
        Bucket::Network,
        Severity::Risk,
        format!("the Connectivity Test from {caller} could not be run ({why}), so the packet path was not simulated"),
        evidence,
        None,
    )
}

/// the run.app URL is disabled
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

/// IAP decides before IAM
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

/// the invoker IAM check is off
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

/// the service has no ready revision, no URL, or a failed condition (its reason and message quoted)
pub fn config_not_ready(why: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "config.not-ready",
        Bucket::Config,
        Severity::Cause,
        format!(
            "the service cannot serve ({why}): callers get errors whatever IAM says, so this is not an IAM problem"
        ),
        evidence,
        Some(fix),
    )
}

/// ALLOWED: the binding (role, member or group, resource, condition) that grants invoke
///
/// What lets an ALLOWED caller in: the bindings that grant invoke.
pub fn iam_granted(caller: &str, evidence: Vec<Evidence>) -> Finding {
    finding(
        "iam.granted",
        Bucket::Iam,
        Severity::Info,
        format!("{caller} may invoke: the bindings below grant run.routes.invoke and no deny policy blocks it"),
        evidence,
        None,
    )
}

/// `allUsers` may invoke
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

/// Cloud Run logged "not authenticated" and no token was given
pub fn token_missing(evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "token.missing",
        Bucket::Token,
        Severity::Cause,
        "Cloud Run logged 403 \"not authenticated\" and no token was given to check: the request most likely carried no credential (add `--token-file` to confirm)".to_owned(),
        evidence,
        Some(fix),
    )
}

/// the credential is not a Google ID token
pub fn token_not_id_token(what: &str, evidence: Vec<Evidence>, fix: Option<Fix>) -> Finding {
    finding(
        "token.not-id-token",
        Bucket::Token,
        Severity::Cause,
        format!("the credential is {what}, not a Google ID token: Cloud Run answers 401"),
        evidence,
        fix,
    )
}

/// the token's `aud` is not accepted by the service
pub fn token_audience_mismatch(why: String, evidence: Vec<Evidence>, fix: Option<Fix>) -> Finding {
    finding(
        "token.audience-mismatch",
        Bucket::Token,
        Severity::Cause,
        format!("the token's audience is not accepted by this service: {why}"),
        evidence,
        fix,
    )
}

/// the token was not valid at the denial
pub fn token_expired(why: String, evidence: Vec<Evidence>, fix: Option<Fix>) -> Finding {
    finding(
        "token.expired",
        Bucket::Token,
        Severity::Cause,
        format!("the token was not valid then: {why}"),
        evidence,
        fix,
    )
}

/// not a Google-issued token
pub fn token_issuer(why: String, evidence: Vec<Evidence>, fix: Option<Fix>) -> Finding {
    finding(
        "token.issuer",
        Bucket::Token,
        Severity::Cause,
        format!("not a Google-issued ID token: {why}"),
        evidence,
        fix,
    )
}

/// several credentials or Authorization headers
pub fn token_multiple(tokens: usize, headers: usize, evidence: Vec<Evidence>, fix: Option<Fix>) -> Finding {
    finding(
        "token.multiple",
        Bucket::Token,
        Severity::Cause,
        format!(
            "{tokens} credentials in {headers} Authorization headers: Cloud Run answers 401 to several JWTs or several headers"
        ),
        evidence,
        fix,
    )
}

/// the ID token carries no email claim
pub fn token_no_email(evidence: Vec<Evidence>, fix: Option<Fix>) -> Finding {
    finding(
        "token.no-email",
        Bucket::Token,
        Severity::Risk,
        "the ID token carries no email claim (minted without includeEmail / format=full): the caller is known only by its numeric sub".to_owned(),
        evidence,
        fix,
    )
}

/// the container itself answered 401/403
pub fn app_denied(status: u16, evidence: Vec<Evidence>) -> Finding {
    finding(
        "app.denied",
        Bucket::App,
        Severity::Cause,
        format!(
            "the {status} came from the container itself: its request-log entry lacks Cloud Run's front-end text and shows non-zero latency, so IAM let the request through and the application refused it"
        ),
        evidence,
        None,
    )
}

/// Cloud Run answered 429/503
pub fn quota_throttled(evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "quota.throttled",
        Bucket::Quota,
        Severity::Cause,
        "the logs show 429/503 from Cloud Run's front end (request rate or max instances reached): not a permission problem".to_owned(),
        evidence,
        Some(fix),
    )
}

/// VPC Service Controls blocked the request
pub fn network_vpc_sc(evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "network.vpc-sc",
        Bucket::Network,
        Severity::Cause,
        "a VPC Service Controls audit entry (cloudaudit.googleapis.com%2Fpolicy, run.googleapis.com/HttpIngress) shows the request blocked before Cloud Run's front end".to_owned(),
        evidence,
        Some(fix),
    )
}

/// the call crosses an enforced VPC Service Controls perimeter that restricts run.googleapis.com and no ingress rule admits it (read from the perimeters); names the perimeter, and the fix is the missing ingress rule
pub fn network_perimeter(
    caller: &str,
    service: &str,
    perimeter: &str,
    rule: &str,
    evidence: Vec<Evidence>,
    fix: Fix,
) -> Finding {
    finding(
        "network.perimeter",
        Bucket::Network,
        Severity::Cause,
        format!(
            "{service} is inside VPC Service Controls perimeter {perimeter}, which restricts run.googleapis.com, and {caller} is outside it: {rule}. Cloud Run answers 403 (404 under an internal ingress) and writes no request log"
        ),
        evidence,
        Some(fix),
    )
}

/// a perimeter's dry-run configuration (`spec` with `useExplicitDryRunSpec`) would deny the call when enforced; it does not deny it today
pub fn network_perimeter_dry_run(
    caller: &str,
    service: &str,
    perimeter: &str,
    rule: &str,
    evidence: Vec<Evidence>,
) -> Finding {
    finding(
        "network.perimeter-dry-run",
        Bucket::Network,
        Severity::Risk,
        format!(
            "the dry-run configuration of VPC Service Controls perimeter {perimeter} would deny {caller} calling {service} when enforced ({rule}); today it only logs the violation"
        ),
        evidence,
        None,
    )
}

/// an ingress rule of the perimeter might admit the call on a fact runiam does not evaluate (an access level, a group's members, IAM roles in `ingressTo`)
pub fn network_perimeter_undetermined(
    caller: &str,
    service: &str,
    perimeter: &str,
    why: &str,
    evidence: Vec<Evidence>,
) -> Finding {
    finding(
        "network.perimeter-undetermined",
        Bucket::Network,
        Severity::Risk,
        format!(
            "{service} is inside VPC Service Controls perimeter {perimeter}, which restricts run.googleapis.com; whether it admits {caller} depends on a rule runiam does not evaluate ({why})"
        ),
        evidence,
        None,
    )
}

/// the VPC Service Controls perimeters could not be read: partial visibility, never "no perimeter"; names the permission (`accesscontextmanager.policies.list`, `accesscontextmanager.servicePerimeters.list`)
pub fn network_perimeter_unreadable(service: &str, permission: &str, evidence: Vec<Evidence>) -> Finding {
    finding(
        "network.perimeter-unreadable",
        Bucket::Network,
        Severity::Risk,
        format!(
            "whether a VPC Service Controls perimeter blocks calls to {service} is not known: the perimeters could not be read (permission {permission}; roles/accesscontextmanager.policyReader on the organization grants it)"
        ),
        evidence,
        None,
    )
}

/// the status the caller saw was never logged by Cloud Run
pub fn network_no_request_log(status: u16, since: &str, evidence: Vec<Evidence>) -> Finding {
    finding(
        "network.no-request-log",
        Bucket::Network,
        Severity::Risk,
        format!(
            "the caller saw {status} but Cloud Run logged no request for the service since {since}: the request never reached Cloud Run's front end (VPC Service Controls, a load balancer, DNS, the wrong URL)"
        ),
        evidence,
        None,
    )
}

/// the caller's grant is younger than IAM's propagation window
pub fn iam_propagation(caller: &str, age: &str, evidence: Vec<Evidence>) -> Finding {
    finding(
        "iam.propagation",
        Bucket::Iam,
        Severity::Risk,
        format!(
            "the grant to {caller} is {age} old, younger than IAM's propagation window (about 7 minutes): wait, then verify"
        ),
        evidence,
        None,
    )
}

/// the Pub/Sub service agent cannot mint the push account's tokens
pub fn caller_pubsub_token_creator(agent: &str, push_sa: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "caller.pubsub-token-creator",
        Bucket::Iam,
        Severity::Cause,
        format!(
            "the Pub/Sub service agent {agent} lacks roles/iam.serviceAccountTokenCreator on the push service account {push_sa}, so push requests carry no valid token (agents created on or before 2021-04-08 need it)"
        ),
        evidence,
        Some(fix),
    )
}

/// a configured caller's OIDC audience will be rejected
pub fn caller_oidc_audience(caller: &str, why: String, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "caller.oidc-audience",
        Bucket::Token,
        Severity::Cause,
        format!("{caller} is configured with an OIDC audience the service will reject: {why}"),
        evidence,
        Some(fix),
    )
}

/// the Cloud Scheduler service agent lacks its role
pub fn caller_scheduler_agent(agent: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "caller.scheduler-agent",
        Bucket::Iam,
        Severity::Cause,
        format!(
            "the Cloud Scheduler service agent {agent} lacks roles/cloudscheduler.serviceAgent on the project: jobs get 403 even with invoker granted"
        ),
        evidence,
        Some(fix),
    )
}

/// without `--caller`: caller sources that could not be read (API not enabled, permission, not found), so other callers may exist
///
/// Discovery could not read some caller sources: the callers diagnosed
/// may not be all of them.
pub fn caller_unreadable(evidence: Vec<Evidence>) -> Finding {
    finding(
        "caller.unreadable",
        Bucket::Iam,
        Severity::Risk,
        "some caller sources could not be read, so other callers of the service may exist; pass --caller to diagnose one by name".to_owned(),
        evidence,
        None,
    )
}

/// a calling service's runtime identity lacks invoke
pub fn caller_runtime_identity(service: &str, account: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "caller.runtime-identity",
        Bucket::Iam,
        Severity::Cause,
        format!(
            "the service {service} calls this one as its runtime service account {account}, which lacks run.routes.invoke here"
        ),
        evidence,
        Some(fix),
    )
}

/// `--audit`: allUsers or allAuthenticatedUsers holds a role that carries `run.routes.invoke` on the service: anyone can invoke it
pub fn audit_public(service: &str, member: &str, role: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    let who = if member == "allUsers" { "anyone on the internet" } else { "any signed-in Google account" };
    finding(
        "audit.public",
        Bucket::Iam,
        Severity::Risk,
        format!("{member} holds {role} on {service}: {who} can invoke it"),
        evidence,
        Some(fix),
    )
}

/// `--audit`: the invoker IAM check is off, so anyone who can reach the URL can invoke, with no allUsers binding to show for it; `risk` when ingress admits the internet, `info` when ingress is internal
pub fn audit_invoker_check_off(
    service: &str,
    ingress: &str,
    exposed: bool,
    evidence: Vec<Evidence>,
    fix: Fix,
) -> Finding {
    let (severity, reach) = if exposed {
        (Severity::Risk, "anyone on the internet can invoke it")
    } else {
        (Severity::Info, "anyone who can reach it through its internal ingress can invoke it")
    };
    finding(
        "audit.invoker-check-off",
        Bucket::Config,
        severity,
        format!(
            "the invoker IAM check of {service} is off and its ingress is {ingress}: {reach}, whatever its IAM policy"
        ),
        evidence,
        Some(fix),
    )
}

/// `--audit`: a role carrying `run.routes.invoke` is granted on a project, folder or organization: the member can invoke every service below it (the count names how many of the audited services)
pub fn audit_broad_grant(
    resource: &str,
    member: &str,
    role: &str,
    services: usize,
    evidence: Vec<Evidence>,
    fix: Fix,
) -> Finding {
    finding(
        "audit.broad-grant",
        Bucket::Iam,
        Severity::Risk,
        format!("{member} holds {role} on {resource}: it can invoke all {services} audited services below it"),
        evidence,
        Some(fix),
    )
}

/// `--audit`: a user, group or domain outside the organization's Cloud Identity domains (its own, and `--domain`) holds a role that carries `run.routes.invoke`
pub fn audit_external_member(resource: &str, member: &str, role: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "audit.external-member",
        Bucket::Iam,
        Severity::Risk,
        format!("{member}, outside the organization's domains, holds {role} on {resource}"),
        evidence,
        Some(fix),
    )
}

/// `--audit`: a `deleted:` member still holds a role that carries `run.routes.invoke`: undeleting the account gives the access back
pub fn audit_deleted_principal(resource: &str, member: &str, role: &str, evidence: Vec<Evidence>, fix: Fix) -> Finding {
    finding(
        "audit.deleted-principal",
        Bucket::Iam,
        Severity::Risk,
        format!("{member}, a deleted account, still holds {role} on {resource}: undeleting it gives the access back"),
        evidence,
        Some(fix),
    )
}

/// `--audit`: a time-bound grant whose time has passed: it grants nothing any more and only clutters the policy
pub fn audit_expired_condition(
    resource: &str,
    member: &str,
    role: &str,
    ended: &str,
    evidence: Vec<Evidence>,
    fix: Fix,
) -> Finding {
    finding(
        "audit.expired-condition",
        Bucket::Iam,
        Severity::Info,
        format!("{member}'s time-bound grant of {role} on {resource} ended at {ended}; it grants nothing"),
        evidence,
        Some(fix),
    )
}

/// `--audit`: a time-bound grant ends within `--expiring-within` (14 days by default): who loses access, and when
pub fn audit_expiring(
    resource: &str,
    member: &str,
    role: &str,
    ends: &str,
    evidence: Vec<Evidence>,
    fix: Fix,
) -> Finding {
    finding(
        "audit.expiring",
        Bucket::Iam,
        Severity::Info,
        format!("{member} loses {role} on {resource} at {ends}, when its time-bound grant ends"),
        evidence,
        Some(fix),
    )
}

/// `--audit`: roles/owner or roles/editor, which carry `run.routes.invoke` implicitly, on a service or above services (the count names how many of the audited services)
pub fn audit_basic_role(
    resource: &str,
    member: &str,
    role: &str,
    services: usize,
    evidence: Vec<Evidence>,
    fix: Fix,
) -> Finding {
    finding(
        "audit.basic-role",
        Bucket::Iam,
        Severity::Risk,
        format!(
            "{member} holds the basic role {role} on {resource}, which lets it invoke all {services} audited services there"
        ),
        evidence,
        Some(fix),
    )
}

#[cfg(test)]
mod tests {
    /// Every id built here is in the README's finding table, and the table
    /// names no id that is not built here.
    #[test]
    fn the_readme_table_lists_every_id() {
        let is_id = |s: &str| {
            s.split_once('.').is_some_and(|(b, n)| {
                !b.is_empty() && !n.is_empty() && (b.to_owned() + n).chars().all(|c| c.is_ascii_lowercase() || c == '-')
            })
        };
        let ids = |text: &str, open: &str, close: char| -> std::collections::BTreeSet<String> {
            text.split(open)
                .skip(1)
                .filter_map(|rest| rest.split(close).next())
                .filter(|s| is_id(s))
                .map(str::to_owned)
                .collect()
        };
        let here = ids(include_str!("findings.rs"), "finding(\n        \"", '"')
            .into_iter()
            .chain(ids(include_str!("findings.rs"), "finding(\"", '"'))
            .collect::<std::collections::BTreeSet<_>>();
        let readme = ids(include_str!("../../../README.md"), "\n| `", '`');
        assert!(here.len() >= 30, "{here:?}");
        assert_eq!(here, readme);
    }
}
