//! The decisions of grant-invoker, pure: what the policy becomes, what the
//! grant lets whom do, and which roles are narrow enough.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use runiam_core::CommandError;
use runiam_core::api::Clients;
use runiam_core::doc::{ChangeAction, Intent};
use runiam_core::gate::Removals;
use runiam_core::model::{Binding, Expr, Policy, Principal};

pub const DEFAULT_ROLE: &str = "roles/run.invoker";

/// Predefined roles no broader than roles/run.invoker.
const NARROW_PREDEFINED: &[&str] = &["roles/run.invoker", "roles/run.servicesInvoker"];

/// One grant to make.
#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    pub member: Principal,
    pub role: String,
    pub condition: Option<Expr>,
    pub reason: Option<String>,
}

/// The policy with `grant` added, or None when it is already in place.
///
/// The member joins an existing binding of the same role and condition;
/// otherwise a new binding is appended. Other bindings, their order and
/// unknown fields are untouched. With `replace_conditional`
/// (`--keep-condition`), the member's other conditional grants of the role
/// are replaced by this one: a time-bound grant extended, not doubled.
pub fn grant(policy: &Policy, grant: &Grant, replace_conditional: bool) -> Option<Policy> {
    let member = grant.member.to_string();
    // IAM compares member emails without regard to case.
    let holds = |b: &Binding| b.members.iter().any(|m| grant.member.is_member(m));
    let same = |b: &Binding| {
        b.role == grant.role
            && b.condition.as_ref().map(|c| &c.expression) == grant.condition.as_ref().map(|c| &c.expression)
    };
    let stale = |b: &Binding| b.role == grant.role && b.condition.is_some() && !same(b) && holds(b);
    let replacing = replace_conditional && policy.bindings.iter().any(stale);
    if !replacing && policy.bindings.iter().any(|b| same(b) && holds(b)) {
        return None;
    }
    // An unconditional grant already covers any time-bound one.
    if grant.condition.is_some()
        && policy.bindings.iter().any(|b| b.role == grant.role && b.condition.is_none() && holds(b))
    {
        return None;
    }
    let mut after = policy.clone();
    if replacing {
        for b in after.bindings.iter_mut().filter(|b| stale(b)) {
            b.members.retain(|m| !grant.member.is_member(m));
        }
        after.bindings.retain(|b| !b.members.is_empty());
    }
    match after.bindings.iter_mut().find(|b| same(b) && b.condition == grant.condition) {
        Some(b) if !holds(b) => b.members.push(member),
        Some(_) => {}
        None => after.bindings.push(Binding {
            role: grant.role.clone(),
            members: vec![member],
            condition: grant.condition.clone(),
            ..Binding::default()
        }),
    }
    after.version = after.required_version();
    Some(after)
}

/// The policy with every grant of `grants` added in turn (a batch: several
/// members, one role and condition), or None when all are in place.
pub fn grant_all(policy: &Policy, grants: &[Grant], replace_conditional: bool) -> Option<Policy> {
    let mut after: Option<Policy> = None;
    for g in grants {
        if let Some(p) = grant(after.as_ref().unwrap_or(policy), g, replace_conditional) {
            after = Some(p);
        }
    }
    after
}

/// Grants to remove: one member's grants of one role, or the grants that
/// give nobody anything any more.
#[derive(Clone, Debug, PartialEq)]
pub enum Revoke {
    /// `--revoke --member M --role R`: every grant of R to M, whatever its condition.
    Member { member: Principal, role: String },
    /// `--revoke-expired` (time-bound grants whose time has passed, at
    /// `now`) and/or `--revoke-deleted` (`deleted:` members), of any role.
    Inert { expired: bool, deleted: bool, now: DateTime<Utc> },
}

impl Revoke {
    /// What the gate lets this revoke remove, and nothing more.
    pub fn removals(&self) -> Removals {
        match self {
            Revoke::Member { member, role } => Removals::Member(member.clone(), role.clone()),
            Revoke::Inert { now, .. } => Removals::Inert(*now),
        }
    }

    /// The ChangeRecord's intent (an inert revoke names no member).
    pub fn intent(&self, reason: Option<String>) -> Intent {
        match self {
            Revoke::Member { member, role } => Intent {
                action: ChangeAction::Revoke,
                member: Some(member.clone()),
                members: Vec::new(),
                role: Some(role.clone()),
                condition: None,
                reason,
            },
            Revoke::Inert { .. } => Intent::bare(ChangeAction::Revoke, reason),
        }
    }

    /// What was looked for, in words, when there was nothing to remove.
    pub fn describe(&self) -> String {
        match self {
            Revoke::Member { member, role } => format!("{member} holds no {role}"),
            Revoke::Inert { expired, deleted, .. } => {
                let what = match (expired, deleted) {
                    (true, true) => "no expired time-bound grant and no deleted member",
                    (true, false) => "no expired time-bound grant",
                    _ => "no deleted member",
                };
                what.to_owned()
            }
        }
    }
}

/// The policy without what `revoke` removes, or None when there is nothing
/// to remove. Bindings left without members go; every other binding, its
/// order and unknown fields are untouched.
pub fn revoke(policy: &Policy, revoke: &Revoke) -> Option<Policy> {
    let mut after = policy.clone();
    match revoke {
        Revoke::Member { member, role } => {
            for b in after.bindings.iter_mut().filter(|b| &b.role == role) {
                b.members.retain(|m| !member.is_member(m));
            }
        }
        Revoke::Inert { expired, deleted, now } => {
            if *expired {
                after.bindings.retain(|b| b.condition.as_ref().and_then(Expr::expiry).is_none_or(|end| end > *now));
            }
            if *deleted {
                for b in after.bindings.iter_mut() {
                    b.members.retain(|m| !matches!(Principal::parse(m), Ok(Principal::Deleted(_))));
                }
            }
        }
    }
    after.bindings.retain(|b| !b.members.is_empty());
    if after.same_grants(policy) {
        return None;
    }
    after.version = after.required_version();
    Some(after)
}

/// The conditions under which `member` already holds `role`: a time-bound
/// or path-conditioned grant that an unconditional one would make permanent.
pub fn conditional_holdings<'p>(policy: &'p Policy, member: &Principal, role: &str) -> Vec<&'p Expr> {
    policy
        .bindings
        .iter()
        .filter(|b| b.role == role && b.members.iter().any(|m| member.is_member(m)))
        .filter_map(|b| b.condition.as_ref())
        .collect()
}

/// Refuses roles broader than roles/run.invoker: predefined roles other
/// than the invoker roles, and custom roles carrying any other permission.
pub async fn check_role(clients: &Clients, role: &str) -> Result<(), CommandError> {
    if NARROW_PREDEFINED.contains(&role) {
        return Ok(());
    }
    if role.starts_with("roles/") {
        return Err(CommandError::usage(format!(
            "--role {role} grants more than invoking; use roles/run.invoker, roles/run.servicesInvoker, or a custom role with only run.routes.invoke"
        )));
    }
    let custom = clients
        .iam
        .get_role(role)
        .await
        .map_err(|e| runiam_core::target::user_named(e, format!("cannot read the role {role}")))?;
    let invoker: BTreeSet<&str> = runiam_core::roles::predefined(DEFAULT_ROLE)
        .map(|r| r.included_permissions.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let extra: Vec<&str> =
        custom.included_permissions.iter().map(String::as_str).filter(|p| !invoker.contains(p)).collect();
    if !extra.is_empty() {
        return Err(CommandError::usage(format!(
            "--role {role} carries permissions beyond roles/run.invoker's: {}",
            extra.join(", ")
        )));
    }
    Ok(())
}

/// `request.time < timestamp("…")`, titled and described by runiam.
pub fn expiry_condition(until: DateTime<Utc>, reason: Option<&str>) -> Expr {
    let at = until.to_rfc3339_opts(SecondsFormat::Secs, true);
    let why = reason.map(|r| format!(" for {r}")).unwrap_or_default();
    Expr {
        expression: format!("request.time < timestamp(\"{at}\")"),
        title: Some(format!("runiam-expires-{}", until.format("%Y%m%dT%H%M%SZ"))),
        description: Some(format!("Granted by runiam{why}; expires {at}")),
        location: None,
    }
}

/// Why a grant's length was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrantLengthError {
    #[error(transparent)]
    Syntax(#[from] runiam_core::duration::DurationError),
    #[error("'{0}' is no time at all: a grant must last a while")]
    Zero(String),
    #[error("'{0}' is longer than {MAX_GRANT_DAYS} days; a grant meant to last that long needs no expiry")]
    TooLong(String),
}

/// A time-bound grant's length: runiam-core's duration syntax (`30m`,
/// `2h`, `7d`, `1h30m`), more than nothing and at most `MAX_GRANT_DAYS`.
pub fn parse_duration(s: &str) -> Result<Duration, GrantLengthError> {
    let d = runiam_core::duration::parse(s)?;
    let d = Duration::from_std(d).map_err(|_| GrantLengthError::TooLong(s.to_owned()))?;
    if d <= Duration::zero() {
        return Err(GrantLengthError::Zero(s.to_owned()));
    }
    if d > max_grant_duration() {
        return Err(GrantLengthError::TooLong(s.to_owned()));
    }
    Ok(d)
}

/// The longest time-bound grant: ten years.
pub const MAX_GRANT_DAYS: i64 = 3650;

pub fn max_grant_duration() -> Duration {
    Duration::days(MAX_GRANT_DAYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(member: &str, condition: Option<Expr>) -> Grant {
        Grant { member: Principal::parse(member).unwrap(), role: DEFAULT_ROLE.into(), condition, reason: None }
    }

    #[test]
    fn grants_once() {
        let p = Policy { etag: Some("ACAB".into()), ..Policy::default() };
        let after = grant(&p, &g("user:a@acme.example", None), false).unwrap();
        assert_eq!(after.bindings.len(), 1);
        assert_eq!(after.version, 1);
        assert_eq!(grant(&after, &g("user:a@acme.example", None), false), None);
        let after2 = grant(&after, &g("user:b@acme.example", None), false).unwrap();
        assert_eq!(after2.bindings[0].members, ["user:a@acme.example", "user:b@acme.example"]);
        assert_eq!(after2.grants_not_in(&after)[0].members, ["user:b@acme.example"]);
    }

    #[test]
    fn a_batch_adds_each_member_once_to_one_binding() {
        let p = Policy::with_grants(&[(DEFAULT_ROLE, "user:a@acme.example")]);
        let batch = [g("user:a@acme.example", None), g("user:b@acme.example", None), g("user:c@acme.example", None)];
        let after = grant_all(&p, &batch, false).unwrap();
        assert_eq!(after.bindings.len(), 1);
        assert_eq!(after.bindings[0].members, ["user:a@acme.example", "user:b@acme.example", "user:c@acme.example"]);
        assert_eq!(grant_all(&after, &batch, false), None, "all in place");
    }

    #[test]
    fn time_bound_grants_are_conditional_and_version_3() {
        let until = DateTime::parse_from_rfc3339("2026-11-29T00:00:00Z").unwrap().with_timezone(&Utc);
        let c = expiry_condition(until, Some("CHG-7"));
        assert_eq!(c.expression, "request.time < timestamp(\"2026-11-29T00:00:00Z\")");
        assert_eq!(c.description.as_deref(), Some("Granted by runiam for CHG-7; expires 2026-11-29T00:00:00Z"));
        let after = grant(&Policy::default(), &g("user:a@acme.example", Some(c.clone())), false).unwrap();
        assert_eq!(after.version, 3);
        assert_eq!(after.bindings[0].condition.as_ref(), Some(&c));
        assert_eq!(grant(&after, &g("user:a@acme.example", Some(c.clone())), false), None);
        assert_eq!(c.expiry(), Some(until));
        assert_eq!(conditional_holdings(&after, &Principal::parse("user:a@acme.example").unwrap(), DEFAULT_ROLE), [&c]);
    }

    #[test]
    fn a_member_iam_holds_in_another_casing_is_already_granted() {
        let p = grant(&Policy::default(), &g("user:Jane.Doe@Acme.example", None), false).unwrap();
        assert_eq!(grant(&p, &g("user:jane.doe@acme.example", None), false), None);
    }

    #[test]
    fn keep_condition_replaces_the_old_time_bound_grant() {
        let old = expiry_condition(DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().into(), None);
        let new = expiry_condition(DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z").unwrap().into(), None);
        let before = grant(&Policy::default(), &g("user:a@acme.example", Some(old)), false).unwrap();
        let doubled = grant(&before, &g("user:a@acme.example", Some(new.clone())), false).unwrap();
        assert_eq!(doubled.bindings.len(), 2);
        let extended = grant(&before, &g("user:a@acme.example", Some(new.clone())), true).unwrap();
        assert_eq!(extended.bindings.len(), 1);
        assert_eq!(extended.bindings[0].condition.as_ref(), Some(&new));
        assert_eq!(grant(&extended, &g("user:a@acme.example", Some(new)), true), None);
    }

    #[test]
    fn revokes_remove_exactly_what_they_name() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z").unwrap().to_utc();
        let past = expiry_condition(now - Duration::hours(1), None);
        let future = expiry_condition(now + Duration::hours(1), None);
        let mut p = Policy::with_grants(&[
            (DEFAULT_ROLE, "user:a@acme.example"),
            (DEFAULT_ROLE, "deleted:user:gone@acme.example?uid=7"),
            ("roles/run.viewer", "user:a@acme.example"),
        ]);
        p = grant(&p, &g("user:old@acme.example", Some(past)), false).unwrap();
        p = grant(&p, &g("user:new@acme.example", Some(future.clone())), false).unwrap();
        let member = |m: &str| Revoke::Member { member: Principal::parse(m).unwrap(), role: DEFAULT_ROLE.into() };
        let inert = |expired, deleted| Revoke::Inert { expired, deleted, now };
        let kept = |p: &Policy| -> Vec<String> {
            p.bindings.iter().flat_map(|b| b.members.iter().map(move |m| format!("{} {m}", b.role))).collect()
        };
        let cases: [(Revoke, Option<Vec<&str>>); 5] = [
            (
                member("user:A@acme.example"),
                Some(vec![
                    "roles/run.invoker deleted:user:gone@acme.example?uid=7",
                    "roles/run.viewer user:a@acme.example",
                    "roles/run.invoker user:old@acme.example",
                    "roles/run.invoker user:new@acme.example",
                ]),
            ),
            (member("user:nobody@acme.example"), None),
            (
                inert(true, false),
                Some(vec![
                    "roles/run.invoker user:a@acme.example",
                    "roles/run.invoker deleted:user:gone@acme.example?uid=7",
                    "roles/run.viewer user:a@acme.example",
                    "roles/run.invoker user:new@acme.example",
                ]),
            ),
            (
                inert(false, true),
                Some(vec![
                    "roles/run.invoker user:a@acme.example",
                    "roles/run.viewer user:a@acme.example",
                    "roles/run.invoker user:old@acme.example",
                    "roles/run.invoker user:new@acme.example",
                ]),
            ),
            (
                inert(true, true),
                Some(vec![
                    "roles/run.invoker user:a@acme.example",
                    "roles/run.viewer user:a@acme.example",
                    "roles/run.invoker user:new@acme.example",
                ]),
            ),
        ];
        for (r, want) in cases {
            let got = revoke(&p, &r);
            assert_eq!(got.as_ref().map(kept), want.map(|w| w.iter().map(|s| s.to_string()).collect()), "{r:?}");
            if let Some(after) = got {
                let allow = runiam_core::gate::Allowance { removals: r.removals(), ..Default::default() };
                assert_eq!(runiam_core::gate::judge_policy(&p, &after, &allow), [], "{r:?}");
            }
        }
        let cleaned = revoke(&p, &inert(true, true)).unwrap();
        assert_eq!(revoke(&cleaned, &inert(true, true)), None);
        assert_eq!(cleaned.bindings.last().unwrap().condition.as_ref(), Some(&future));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2h").unwrap(), Duration::hours(2));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::minutes(90));
        for bad in ["", "2", "h", "2x", "-1h", "0s", "0", "99999999999999999999d", "10000000000d", "3651d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
