//! No new hole: the live policy and service against what a ChangeRecord
//! says was asked. Pure: every grant the live policy holds beyond the
//! record's before-state must be the intended one; no public, domain or
//! group grant may have appeared unless it was the intent; the invoker
//! check must not be off unless that was asked.

use runiam_core::doc::{ChangeAction, ChangeRecord, Check, CheckResult, Evidence};
use runiam_core::model::{Binding, Policy, Principal};
use serde_json::json;

use crate::checks::CheckName;

/// One grant the live policy holds that the before-state did not.
#[derive(Clone, Debug, PartialEq)]
struct NewGrant {
    role: String,
    member: String,
    binding: Binding,
}

fn new_grants(live: &Policy, before: &Policy) -> Vec<NewGrant> {
    live.grants_not_in(before)
        .into_iter()
        .flat_map(|b| {
            b.members
                .iter()
                .map(|m| NewGrant { role: b.role.clone(), member: m.clone(), binding: b.clone() })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Whether the change asked for this grant.
fn intended(record: &ChangeRecord, g: &NewGrant) -> bool {
    let i = &record.intent;
    match i.action {
        ChangeAction::Grant => {
            i.granted().any(|m| m.is_member(&g.member))
                && i.role.as_deref().is_none_or(|r| r == g.role)
                && g.binding.condition == i.condition
        }
        // A restore puts back what the restored state held: its own `added`.
        ChangeAction::Restore => record
            .added
            .iter()
            .any(|b| b.role == g.role && b.condition == g.binding.condition && b.members.contains(&g.member)),
        _ => false,
    }
}

/// Public, domain-wide or group members: who they let in is open-ended.
fn exposure(member: &str) -> Option<&'static str> {
    match Principal::parse(member).ok()? {
        Principal::AllUsers => Some("anyone on the internet"),
        Principal::AllAuthenticatedUsers => Some("any Google account"),
        Principal::Domain(_) => Some("every account of a domain"),
        Principal::Group(_) => Some("every member of a group, now and later"),
        _ => None,
    }
}

fn check(name: CheckName, violations: Vec<(String, Binding)>, ok: String) -> Check {
    if violations.is_empty() {
        return name.pass(ok);
    }
    let detail = violations.iter().map(|(w, _)| w.as_str()).collect::<Vec<_>>().join("; ");
    let evidence = violations
        .into_iter()
        .map(|(w, b)| Evidence {
            source: "run.googleapis.com getIamPolicy (live)".to_owned(),
            detail: w,
            data: Some(json!(b)),
        })
        .collect();
    name.with(CheckResult::Fail, detail, evidence)
}

/// The no-new-hole checks of one applied record against the live state:
/// the policy (or why it could not be read: those checks are then errors,
/// under their own names) and the invoker check.
pub fn no_new_hole(record: &ChangeRecord, live: Result<&Policy, String>, live_invoker_disabled: bool) -> Vec<Check> {
    let mut out = match live {
        Ok(live) => policy_checks(record, live),
        Err(why) => vec![CheckName::IntendedMembers.error(why.clone()), CheckName::NoExposure.error(why)],
    };
    out.push(invoker_check(record, live_invoker_disabled));
    out
}

fn policy_checks(record: &ChangeRecord, live: &Policy) -> Vec<Check> {
    let extra: Vec<NewGrant> =
        new_grants(live, &record.policy_before).into_iter().filter(|g| !intended(record, g)).collect();
    let (exposed, other): (Vec<_>, Vec<_>) = extra.into_iter().partition(|g| exposure(&g.member).is_some());
    let intent = match (&record.intent.member, &record.intent.role) {
        (Some(m), Some(r)) => format!("{m} {r}"),
        (Some(m), None) => m.to_string(),
        _ => format!("{:?}", record.intent.action),
    };
    let members = check(
        CheckName::IntendedMembers,
        other
            .into_iter()
            .map(|g| {
                (format!("{} gained {}, which the change ({intent}) did not ask for", g.member, g.role), g.binding)
            })
            .collect(),
        format!("every grant added since the record's before-state is the intended one ({intent})"),
    );
    let exposure_check = check(
        CheckName::NoExposure,
        exposed
            .into_iter()
            .map(|g| {
                let who = exposure(&g.member).unwrap_or_default();
                (
                    format!("{} holds {}: {who} can invoke, and the change did not ask for it", g.member, g.role),
                    g.binding,
                )
            })
            .collect(),
        "no public, domain or group grant appeared beyond what was asked".to_owned(),
    );
    vec![members, exposure_check]
}

fn invoker_check(record: &ChangeRecord, live_invoker_disabled: bool) -> Check {
    let asked_off = record.intent.action == ChangeAction::DisableInvokerCheck
        || record.invoker_iam_disabled_after == Some(true)
        || record.invoker_iam_disabled_before == Some(true);
    if live_invoker_disabled && !asked_off {
        return CheckName::InvokerCheck.with(
            CheckResult::Fail,
            "the invoker IAM check is off: anyone on the internet can invoke, and the change did not ask for it"
                .to_owned(),
            vec![Evidence {
                source: "run.googleapis.com services.get (live)".to_owned(),
                detail: "invokerIamDisabled: true".to_owned(),
                data: None,
            }],
        );
    }
    let state = if live_invoker_disabled { "off, as asked" } else { "on" };
    CheckName::InvokerCheck.pass(format!("the invoker IAM check is {state}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use runiam_core::doc::Intent;
    use runiam_core::model::ServiceRef;

    const SA: &str = "serviceAccount:x@p.iam.gserviceaccount.com";

    fn policy(grants: &[(&str, &str)]) -> Policy {
        Policy {
            version: 1,
            bindings: grants
                .iter()
                .map(|(r, m)| Binding { role: (*r).into(), members: vec![(*m).into()], ..Binding::default() })
                .collect(),
            ..Policy::default()
        }
    }

    fn grant_record() -> ChangeRecord {
        let before = policy(&[("roles/run.viewer", "group:devs@example.com")]);
        let after = policy(&[("roles/run.viewer", "group:devs@example.com"), ("roles/run.invoker", SA)]);
        ChangeRecord {
            service: ServiceRef::new("p", "europe-west1", "api"),
            intent: Intent {
                action: ChangeAction::Grant,
                member: Some(Principal::parse(SA).unwrap()),
                members: Vec::new(),
                role: Some("roles/run.invoker".into()),
                condition: None,
                reason: None,
            },
            added: after.grants_not_in(&before),
            removed: vec![],
            policy_before: before,
            policy_after: after,
            service_etag_before: None,
            service_etag_after: None,
            invoker_iam_disabled_before: None,
            invoker_iam_disabled_after: None,
            applied: true,
            applied_at: Some(Utc::now()),
            backup_path: None,
            recorded_at: Utc::now(),
            impact: None,
            evidence: None,
        }
    }

    fn results(checks: &[Check]) -> Vec<(&str, CheckResult)> {
        checks.iter().map(|c| (c.name.as_str(), c.result)).collect()
    }

    #[test]
    fn the_intended_grant_alone_passes() {
        let r = grant_record();
        let checks = no_new_hole(&r, Ok(&r.policy_after), false);
        assert!(checks.iter().all(|c| c.result == CheckResult::Pass), "{checks:?}");
    }

    #[test]
    fn public_grants_other_members_and_the_check_off_fail() {
        let r = grant_record();
        let mut live = r.policy_after.clone();
        live.bindings.push(Binding {
            role: "roles/run.invoker".into(),
            members: vec!["allUsers".into()],
            ..Binding::default()
        });
        live.bindings.push(Binding {
            role: "roles/run.invoker".into(),
            members: vec!["serviceAccount:y@p.iam.gserviceaccount.com".into()],
            ..Binding::default()
        });
        let checks = no_new_hole(&r, Ok(&live), true);
        assert_eq!(
            results(&checks),
            [
                ("intended-members", CheckResult::Fail),
                ("no-exposure", CheckResult::Fail),
                ("invoker-check", CheckResult::Fail)
            ]
        );
        assert!(
            checks[1].detail.starts_with("allUsers holds roles/run.invoker: anyone on the internet"),
            "{}",
            checks[1].detail
        );
    }

    #[test]
    fn a_grant_to_the_wrong_member_is_caught() {
        let mut r = grant_record();
        r.intent.member = Some(Principal::parse("serviceAccount:z@p.iam.gserviceaccount.com").unwrap());
        let checks = no_new_hole(&r, Ok(&r.policy_after), false);
        assert_eq!(checks[0].result, CheckResult::Fail, "{checks:?}");
    }

    #[test]
    fn asked_for_public_access_is_no_hole() {
        let mut r = grant_record();
        r.intent.member = Some(Principal::AllUsers);
        r.policy_after = policy(&[("roles/run.viewer", "group:devs@example.com"), ("roles/run.invoker", "allUsers")]);
        assert!(no_new_hole(&r, Ok(&r.policy_after), false).iter().all(|c| c.result == CheckResult::Pass));
        r.intent = Intent::bare(ChangeAction::DisableInvokerCheck, None);
        r.policy_after = r.policy_before.clone();
        assert!(no_new_hole(&r, Ok(&r.policy_before), true).iter().all(|c| c.result == CheckResult::Pass));
    }
}
