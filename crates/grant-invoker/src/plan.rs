//! The decisions of grant-invoker, pure: what the policy becomes, what the
//! grant lets whom do, and which roles are narrow enough.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use runiam_core::CommandError;
use runiam_core::api::Clients;
use runiam_core::model::{Binding, Expr, Policy, Principal, ServiceRef};

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
/// unknown fields are untouched.
pub fn grant(policy: &Policy, grant: &Grant) -> Option<Policy> {
    let member = grant.member.to_string();
    let same = |b: &Binding| {
        b.role == grant.role
            && b.condition.as_ref().map(|c| &c.expression) == grant.condition.as_ref().map(|c| &c.expression)
    };
    if policy.bindings.iter().any(|b| same(b) && b.members.contains(&member)) {
        return None;
    }
    // An unconditional grant already covers any time-bound one.
    if grant.condition.is_some()
        && policy.bindings.iter().any(|b| b.role == grant.role && b.condition.is_none() && b.members.contains(&member))
    {
        return None;
    }
    let mut after = policy.clone();
    match after.bindings.iter_mut().find(|b| same(b) && b.condition == grant.condition) {
        Some(b) => b.members.push(member),
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

/// Who gains what, in words, for the plan.
pub fn blast_radius(grant: &Grant, service: &ServiceRef) -> String {
    let who = match &grant.member {
        Principal::AllUsers => "ANYONE on the internet, without signing in,".to_owned(),
        Principal::AllAuthenticatedUsers => "ANY signed-in Google account, in any organization,".to_owned(),
        Principal::Group(g) => format!("every member of group {g}, nested groups included,"),
        Principal::Domain(d) => format!("every account of the domain {d}"),
        Principal::PrincipalSet(s) => format!("every identity in principalSet://{s}"),
        other => other.to_string(),
    };
    let until = grant.condition.as_ref().map(|c| format!(" while `{}` holds", c.expression)).unwrap_or_default();
    format!("blast radius: {who} gains {} (run.routes.invoke) on {} only{until}", grant.role, service.full_name())
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

/// `30m`, `2h`, `7d`, `90s` (and combinations such as `1h30m`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("'{s}' is not a duration such as 30m, 2h or 7d");
    let mut total = Duration::zero();
    let mut num = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().map_err(|_| bad())?;
        num.clear();
        let part = match c {
            's' => Duration::try_seconds(n),
            'm' => Duration::try_minutes(n),
            'h' => Duration::try_hours(n),
            'd' => Duration::try_days(n),
            _ => None,
        }
        .ok_or_else(bad)?;
        total = total.checked_add(&part).ok_or_else(bad)?;
    }
    if !num.is_empty() || total <= Duration::zero() {
        return Err(bad());
    }
    Ok(total)
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
        let after = grant(&p, &g("user:a@acme.example", None)).unwrap();
        assert_eq!(after.bindings.len(), 1);
        assert_eq!(after.version, 1);
        assert_eq!(grant(&after, &g("user:a@acme.example", None)), None);
        let after2 = grant(&after, &g("user:b@acme.example", None)).unwrap();
        assert_eq!(after2.bindings[0].members, ["user:a@acme.example", "user:b@acme.example"]);
        assert_eq!(after2.grants_not_in(&after)[0].members, ["user:b@acme.example"]);
    }

    #[test]
    fn time_bound_grants_are_conditional_and_version_3() {
        let until = DateTime::parse_from_rfc3339("2026-11-29T00:00:00Z").unwrap().with_timezone(&Utc);
        let c = expiry_condition(until, Some("CHG-7"));
        assert_eq!(c.expression, "request.time < timestamp(\"2026-11-29T00:00:00Z\")");
        assert_eq!(c.description.as_deref(), Some("Granted by runiam for CHG-7; expires 2026-11-29T00:00:00Z"));
        let after = grant(&Policy::default(), &g("user:a@acme.example", Some(c.clone()))).unwrap();
        assert_eq!(after.version, 3);
        assert_eq!(after.bindings[0].condition.as_ref(), Some(&c));
        assert_eq!(grant(&after, &g("user:a@acme.example", Some(c))), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2h").unwrap(), Duration::hours(2));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::minutes(90));
        for bad in ["", "2", "h", "2x", "-1h", "0s", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
