//! The write gate: the one judge of every write runiam makes — a fresh
//! grant, a saved plan, an invoker-check change, a rollback, a snapshot
//! restore, a merge.
//!
//! It never trusts what a document says it does. It compares the policy and
//! settings that would result with the live ones and lets through only
//! what the operator asked for: the intended member × an invoke-narrow role
//! on the one service. Anything more needs the exact flag that allows it
//! (`--allow-public`, `--allow-broad`, `--allow-role ROLE`, `--force`), and
//! IAM's own limits hold whatever the flags. The verdict is pure, so every
//! rule is unit-tested here; `change` calls it right before each write.

pub mod reach;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::error::CommandError;
use crate::model::{Binding, Expr, NameError, Policy, Principal, ServiceRef};

/// Predefined roles that carry nothing beyond invoking.
pub const INVOKE_NARROW_ROLES: &[&str] = &["roles/run.invoker", "roles/run.servicesInvoker"];

/// IAM's limit on principals in one allow policy, each occurrence counted.
pub const MAX_PRINCIPALS: usize = 1500;
/// IAM's limit on Google groups among them, each occurrence counted.
pub const MAX_GROUPS: usize = 250;
/// A group with more members than this (nested groups included) is broad:
/// granting it needs `--allow-broad`.
pub const BROAD_GROUP_MEMBERS: usize = 50;

/// What a write may remove from the live policy without more flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Removals {
    /// Nothing: grants and snapshot restores only add (a restore that
    /// removes grants made since is drift).
    #[default]
    Nothing,
    /// Only this member's conditional grants of an invoke-narrow role
    /// (`--keep-condition` replaces a time-bound grant by a new one).
    OwnConditional(Principal),
    /// Grants of invoke-narrow roles, and of the `--allow-role` roles
    /// (undoing a grant).
    InvokeNarrow,
    /// This member's grants of this role, whatever their condition
    /// (`--revoke --member M --role R`).
    Member(Principal, String),
    /// Grants that give nobody anything at this time, of any role:
    /// `deleted:` members, and time-bound grants whose time has passed
    /// (`--revoke-deleted`, `--revoke-expired`).
    Inert(chrono::DateTime<chrono::Utc>),
    /// Anything (`--force`, or the exact undo of a verified record).
    Anything,
}

/// What the operator asked for and allowed, from flags only.
#[derive(Clone, Debug, Default)]
pub struct Allowance {
    /// The only member who may gain access (a grant); `None` for restores,
    /// where any member may regain an invoke-narrow role.
    pub member: Option<Principal>,
    /// Further members a batch grant may add beside `member`.
    pub also: Vec<Principal>,
    /// Roles, besides the predefined invoke-narrow ones, that carry nothing
    /// beyond invoking (a custom role checked against IAM).
    pub narrow_roles: BTreeSet<String>,
    /// `--allow-role ROLE`: broader roles a restore may write back or remove.
    pub allow_roles: BTreeSet<String>,
    /// `--allow-public`: allUsers, allAuthenticatedUsers, invoker check off.
    pub allow_public: bool,
    /// `--allow-broad`: `domain:` members and large groups.
    pub allow_broad: bool,
    pub removals: Removals,
    /// Transitive member counts of groups (email → count) as read from Cloud
    /// Identity; a group missing here could not be counted and is broad.
    pub group_sizes: BTreeMap<String, usize>,
}

/// The service settings a write can change besides the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub invoker_iam_disabled: bool,
    pub ingress: Option<String>,
}

/// One thing the gate refuses, with the flag that would allow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A public member gains a role.
    Public { member: String, role: String },
    /// The invoker IAM check would be turned off.
    InvokerCheckOff,
    /// A `domain:` member or a large (or uncountable) group gains a role.
    Broad { member: String, role: String, size: Option<usize> },
    /// A role broader than invoking is granted.
    Role { member: String, role: String },
    /// Someone other than the intended member gains access.
    Member { member: String, role: String },
    /// A grant would be removed.
    Removal { member: String, role: String, condition: Option<String> },
    /// IAM's limit on principals (or groups) in one policy.
    Limit { what: &'static str, count: usize, max: usize },
    /// A member IAM's allow policies do not accept.
    Invalid { member: String, why: String },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Public { member, role } => {
                write!(f, "{member} would gain {role}: anyone could invoke (needs --allow-public)")
            }
            Self::InvokerCheckOff => {
                write!(f, "the invoker IAM check would be turned off: anyone could invoke (needs --allow-public)")
            }
            Self::Broad { member, role, size } => match size {
                Some(n) => write!(f, "{member} ({n} members) would gain {role} (needs --allow-broad)"),
                None if member.starts_with("domain:") => {
                    write!(f, "{member}, every account of the domain, would gain {role} (needs --allow-broad)")
                }
                None => {
                    write!(f, "{member}, a group whose size could not be read, would gain {role} (needs --allow-broad)")
                }
            },
            Self::Role { member, role } => {
                write!(f, "{member} would gain {role}, which carries more than invoking (needs --allow-role {role})")
            }
            Self::Member { member, role } => write!(f, "{member} would gain {role}, which was not asked for"),
            Self::Removal { member, role, condition } => {
                let cond = condition.as_ref().map(|c| format!(" (while `{c}`)")).unwrap_or_default();
                write!(f, "{member} would lose {role}{cond}")
            }
            Self::Limit { what, count, max } => {
                write!(f, "the policy would hold {count} {what}; IAM allows at most {max} in one policy")
            }
            Self::Invalid { member, why } => write!(f, "{member} is not a member an allow policy accepts: {why}"),
        }
    }
}

/// True for the roles a grant may add without more flags.
pub fn is_invoke_narrow(role: &str, allow: &Allowance) -> bool {
    INVOKE_NARROW_ROLES.contains(&role) || allow.narrow_roles.contains(role)
}

/// Judges a policy write: `live` as read (the write's etag guards it),
/// `result` what would be written. Every violation is listed.
pub fn judge_policy(live: &Policy, result: &Policy, allow: &Allowance) -> Vec<Violation> {
    let mut out = Vec::new();
    for b in result.grants_not_in(live) {
        for m in &b.members {
            if let Some(v) = judge_added(m, &b.role, allow) {
                out.push(v);
            }
        }
    }
    for b in live.grants_not_in(result) {
        for m in &b.members {
            if !removal_allowed(m, &b, allow) {
                out.push(Violation::Removal {
                    member: m.clone(),
                    role: b.role.clone(),
                    condition: b.condition.as_ref().map(|c| c.expression.clone()),
                });
            }
        }
    }
    out.extend(limits(live, result));
    out
}

/// Judges a change of the service's settings.
pub fn judge_settings(live: &Settings, result: &Settings, allow: &Allowance) -> Vec<Violation> {
    if result.invoker_iam_disabled && !live.invoker_iam_disabled && !allow.allow_public {
        return vec![Violation::InvokerCheckOff];
    }
    Vec::new()
}

fn judge_added(member: &str, role: &str, allow: &Allowance) -> Option<Violation> {
    let (m, r) = (member.to_owned(), role.to_owned());
    let principal = match allow_policy_member(member) {
        Ok(p) => p,
        Err(e) => return Some(Violation::Invalid { member: m, why: e.why }),
    };
    let broad = match &principal {
        _ if allow.allow_broad => None,
        Principal::Domain(_) => Some(None),
        Principal::Group(g) => match allow.group_sizes.get(g) {
            Some(n) if *n <= BROAD_GROUP_MEMBERS => None,
            size => Some(size.copied()),
        },
        _ => None,
    };
    let intended = |i: &Principal| i.same_as(&principal);
    if allow.member.as_ref().is_some_and(|m| !intended(m)) && !allow.also.iter().any(intended) {
        Some(Violation::Member { member: m, role: r })
    } else if !is_invoke_narrow(role, allow) && !allow.allow_roles.contains(role) {
        Some(Violation::Role { member: m, role: r })
    } else if principal.is_public() && !allow.allow_public {
        Some(Violation::Public { member: m, role: r })
    } else {
        broad.map(|size| Violation::Broad { member: m, role: r, size })
    }
}

fn removal_allowed(member: &str, b: &Binding, allow: &Allowance) -> bool {
    match &allow.removals {
        Removals::Nothing => false,
        Removals::OwnConditional(p) => {
            b.condition.is_some()
                && is_invoke_narrow(&b.role, allow)
                && Principal::parse(member).ok().as_ref() == Some(p)
        }
        Removals::InvokeNarrow => is_invoke_narrow(&b.role, allow) || allow.allow_roles.contains(&b.role),
        Removals::Member(p, role) => &b.role == role && Principal::parse(member).is_ok_and(|m| m.same_as(p)),
        Removals::Inert(now) => {
            matches!(Principal::parse(member), Ok(Principal::Deleted(_)))
                || b.condition.as_ref().and_then(Expr::expiry).is_some_and(|end| end <= *now)
        }
        Removals::Anything => true,
    }
}

/// IAM's limits, judged only when the write grows the count, so a policy
/// already over them (as some legacy ones are) can still shrink.
fn limits(live: &Policy, result: &Policy) -> Vec<Violation> {
    let count = |p: &Policy| {
        let all = p.bindings.iter().map(|b| b.members.len()).sum::<usize>();
        let groups = p.bindings.iter().flat_map(|b| &b.members).filter(|m| m.starts_with("group:")).count();
        (all, groups)
    };
    let (live_all, live_groups) = count(live);
    let (all, groups) = count(result);
    let mut out = Vec::new();
    if all > MAX_PRINCIPALS && all > live_all {
        out.push(Violation::Limit { what: "principals", count: all, max: MAX_PRINCIPALS });
    }
    if groups > MAX_GROUPS && groups > live_groups {
        out.push(Violation::Limit { what: "Google groups", count: groups, max: MAX_GROUPS });
    }
    out
}

/// Parses a member as an allow policy accepts it: one principal, a valid
/// email, and none of the deny-only sets (`principalSet://goog/public:all`).
pub fn allow_policy_member(member: &str) -> Result<Principal, NameError> {
    let p = Principal::parse(member)?;
    admissible(&p)?;
    Ok(p)
}

/// Whether an allow policy accepts a parsed member: never a deny-only set.
pub fn admissible(p: &Principal) -> Result<(), NameError> {
    match p {
        Principal::PrincipalSet(s) if s.starts_with("goog/") => Err(NameError {
            input: p.to_string(),
            why: format!(
                "principalSet://{s} is a deny-policy principal; in an allow policy anyone is allUsers (with --allow-public)"
            ),
        }),
        _ => Ok(()),
    }
}

/// The refusal for `violations` (exit 4), naming each and the flags.
pub fn refusal(service: &ServiceRef, violations: &[Violation]) -> CommandError {
    let list: Vec<String> = violations.iter().map(|v| format!("  - {v}")).collect();
    let mut err = CommandError::refused(format!(
        "refusing to write {}: the result goes beyond what was asked\n{}",
        service.full_name(),
        list.join("\n")
    ));
    let mut flags: Vec<&str> = violations
        .iter()
        .filter_map(|v| match v {
            Violation::Public { .. } | Violation::InvokerCheckOff => Some("--allow-public"),
            Violation::Broad { .. } => Some("--allow-broad"),
            _ => None,
        })
        .collect();
    flags.dedup();
    if violations.iter().any(|v| matches!(v, Violation::Member { .. })) {
        err = err.hinted("a plan or record that grants more than its intent was edited; make a new plan and review it");
    }
    if !flags.is_empty() {
        err = err.hinted(format!("if this is really meant, add {}", flags.join(" ")));
    }
    err
}

/// Who gains what through one added grant, in words, for plans.
pub fn blast_radius(member: &Principal, role: &str, condition: Option<&Expr>, service: &ServiceRef) -> String {
    let who = match member {
        Principal::AllUsers => "ANYONE on the internet, without signing in,".to_owned(),
        Principal::AllAuthenticatedUsers => "ANY signed-in Google account, in any organization,".to_owned(),
        Principal::Group(g) => format!("every member of group {g}, nested groups included,"),
        Principal::Domain(d) => format!("every account of the domain {d}"),
        Principal::PrincipalSet(s) => format!("every identity in principalSet://{s}"),
        other => other.to_string(),
    };
    let what =
        if INVOKE_NARROW_ROLES.contains(&role) { format!("{role} (run.routes.invoke)") } else { role.to_owned() };
    let until = condition.map(|c| format!(" while `{}` holds", c.expression)).unwrap_or_default();
    format!("blast radius: {who} gains {what} on {} only{until}", service.full_name())
}

/// Every added grant's blast radius and every removed grant, one line each.
pub fn summary(live: &Policy, result: &Policy, service: &ServiceRef) -> String {
    let mut lines = Vec::new();
    for b in result.grants_not_in(live) {
        for m in &b.members {
            match Principal::parse(m) {
                Ok(p) => lines.push(blast_radius(&p, &b.role, b.condition.as_ref(), service)),
                Err(_) => lines.push(format!("blast radius: {m} gains {} on {}", b.role, service.full_name())),
            }
        }
    }
    for b in live.grants_not_in(result) {
        for m in &b.members {
            let cond = b.condition.as_ref().map(|c| format!(" (while `{}`)", c.expression)).unwrap_or_default();
            lines.push(format!("removes: {m} loses {}{cond} on {}", b.role, service.full_name()));
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const INV: &str = "roles/run.invoker";

    fn policy(grants: &[(&str, &str)]) -> Policy {
        Policy::with_grants(grants)
    }

    fn grant_of(member: &str) -> Allowance {
        Allowance { member: Some(Principal::parse(member).unwrap()), ..Allowance::default() }
    }

    #[test]
    fn a_batch_admits_its_members_and_still_no_one_else() {
        let live = policy(&[]);
        let mut allow = grant_of("user:bob@acme.example");
        allow.also = vec![Principal::parse("user:ana@acme.example").unwrap()];
        let both = policy(&[(INV, "user:bob@acme.example"), (INV, "user:ANA@acme.example")]);
        assert_eq!(judge_policy(&live, &both, &allow), []);
        let more = policy(&[(INV, "user:bob@acme.example"), (INV, "user:eve@acme.example")]);
        assert_eq!(
            judge_policy(&live, &more, &allow),
            [Violation::Member { member: "user:eve@acme.example".into(), role: INV.into() }]
        );
    }

    #[test]
    fn only_the_intended_member_and_role_pass() {
        let live = policy(&[("roles/run.viewer", "group:devs@acme.example")]);
        let ok = policy(&[("roles/run.viewer", "group:devs@acme.example"), (INV, "user:bob@acme.example")]);
        let allow = grant_of("user:bob@acme.example");
        assert_eq!(judge_policy(&live, &ok, &allow), []);
        let extra = policy(&[
            ("roles/run.viewer", "group:devs@acme.example"),
            (INV, "user:bob@acme.example"),
            ("roles/run.admin", "user:bob@acme.example"),
            (INV, "user:mallory@acme.example"),
        ]);
        assert_eq!(
            judge_policy(&live, &extra, &allow),
            [
                Violation::Member { member: "user:mallory@acme.example".into(), role: INV.into() },
                Violation::Role { member: "user:bob@acme.example".into(), role: "roles/run.admin".into() },
            ]
        );
        assert_eq!(
            judge_policy(&live, &policy(&[(INV, "user:bob@acme.example")]), &allow),
            [Violation::Removal {
                member: "group:devs@acme.example".into(),
                role: "roles/run.viewer".into(),
                condition: None
            }]
        );
    }

    #[test]
    fn public_broad_and_invoker_check_need_their_flags() {
        let live = Policy::default();
        let mut allow = Allowance::default();
        let public = policy(&[(INV, "allUsers")]);
        assert_eq!(
            judge_policy(&live, &public, &allow),
            [Violation::Public { member: "allUsers".into(), role: INV.into() }]
        );
        let broad = policy(&[(INV, "domain:acme.example"), (INV, "group:all@acme.example")]);
        assert_eq!(judge_policy(&live, &broad, &allow).len(), 2);
        allow.group_sizes.insert("all@acme.example".into(), 3);
        assert_eq!(
            judge_policy(&live, &broad, &allow),
            [Violation::Broad { member: "domain:acme.example".into(), role: INV.into(), size: None }]
        );
        allow.allow_broad = true;
        allow.allow_public = true;
        assert_eq!(judge_policy(&live, &broad, &allow), []);
        assert_eq!(judge_policy(&live, &public, &allow), []);
        let on = Settings { invoker_iam_disabled: false, ingress: None };
        let off = Settings { invoker_iam_disabled: true, ingress: None };
        assert_eq!(judge_settings(&on, &off, &Allowance::default()), [Violation::InvokerCheckOff]);
        assert_eq!(judge_settings(&on, &off, &allow), []);
        assert_eq!(judge_settings(&off, &on, &Allowance::default()), []);
    }

    #[test]
    fn restores_may_add_back_invoke_but_broader_roles_need_their_flag() {
        let live = policy(&[]);
        let restored = policy(&[(INV, "user:a@acme.example"), ("roles/run.admin", "user:b@acme.example")]);
        let mut allow = Allowance::default();
        assert_eq!(
            judge_policy(&live, &restored, &allow),
            [Violation::Role { member: "user:b@acme.example".into(), role: "roles/run.admin".into() }]
        );
        allow.allow_roles.insert("roles/run.admin".into());
        assert_eq!(judge_policy(&live, &restored, &allow), []);
        allow.removals = Removals::InvokeNarrow;
        assert_eq!(judge_policy(&restored, &policy(&[("roles/run.admin", "user:b@acme.example")]), &allow), []);
        allow.allow_roles.clear();
        assert_eq!(
            judge_policy(&restored, &policy(&[(INV, "user:a@acme.example")]), &allow),
            [Violation::Removal {
                member: "user:b@acme.example".into(),
                role: "roles/run.admin".into(),
                condition: None
            }]
        );
    }

    #[test]
    fn a_member_revoke_removes_that_members_grants_of_that_role_only() {
        let live =
            policy(&[("roles/run.admin", "user:Gone@acme.example"), ("roles/run.admin", "user:kept@acme.example")]);
        let allow = Allowance {
            removals: Removals::Member(Principal::parse("user:gone@acme.example").unwrap(), "roles/run.admin".into()),
            ..Allowance::default()
        };
        assert_eq!(judge_policy(&live, &policy(&[("roles/run.admin", "user:kept@acme.example")]), &allow), []);
        assert_eq!(judge_policy(&live, &policy(&[("roles/run.admin", "user:Gone@acme.example")]), &allow).len(), 1);
    }

    #[test]
    fn inert_removals_are_deleted_members_and_passed_time_bounds_only() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z").unwrap().to_utc();
        let bound = |at: &str| Binding {
            role: "roles/run.admin".into(),
            members: vec!["user:t@acme.example".into()],
            condition: Some(Expr { expression: format!("request.time < timestamp(\"{at}\")"), ..Expr::default() }),
            ..Binding::default()
        };
        let mut live = policy(&[(INV, "deleted:user:gone@acme.example?uid=1"), (INV, "user:kept@acme.example")]);
        live.bindings.push(bound("2026-11-29T09:00:00Z"));
        live.bindings.push(bound("2026-11-30T00:00:00Z"));
        let allow = Allowance { removals: Removals::Inert(now), ..Allowance::default() };
        let mut cleaned = policy(&[(INV, "user:kept@acme.example")]);
        cleaned.bindings.push(bound("2026-11-30T00:00:00Z"));
        assert_eq!(judge_policy(&live, &cleaned, &allow), []);
        let cases: [(Policy, &str); 2] = [
            (policy(&[(INV, "deleted:user:gone@acme.example?uid=1")]), "user:kept@acme.example"),
            (Policy { bindings: vec![bound("2026-11-29T09:00:00Z")], ..policy(&[]) }, "user:kept@acme.example"),
        ];
        for (result, lost) in cases {
            let v = judge_policy(&live, &result, &allow);
            assert!(v.iter().any(|v| matches!(v, Violation::Removal { member, .. } if member == lost)), "{v:?}");
        }
    }

    #[test]
    fn iam_limits_count_every_occurrence() {
        let live = Policy::default();
        let many: Vec<(String, String)> =
            (0..=MAX_PRINCIPALS).map(|i| (INV.into(), format!("user:u{i}@a.example"))).collect();
        let refs: Vec<(&str, &str)> = many.iter().map(|(r, m)| (r.as_str(), m.as_str())).collect();
        let allow = Allowance::default();
        let v = judge_policy(&live, &policy(&refs), &allow);
        assert_eq!(v, [Violation::Limit { what: "principals", count: 1501, max: MAX_PRINCIPALS }]);
        let groups: Vec<(String, String)> =
            (0..=MAX_GROUPS).map(|i| (INV.into(), format!("group:g{i}@a.example"))).collect();
        let refs: Vec<(&str, &str)> = groups.iter().map(|(r, m)| (r.as_str(), m.as_str())).collect();
        let allow = Allowance { allow_broad: true, ..Allowance::default() };
        assert_eq!(
            judge_policy(&live, &policy(&refs), &allow),
            [Violation::Limit { what: "Google groups", count: 251, max: MAX_GROUPS }]
        );
    }

    #[test]
    fn deny_only_principal_sets_are_refused_in_allow_policies() {
        let err = allow_policy_member("principalSet://goog/public:all").unwrap_err();
        assert!(err.why.contains("allUsers (with --allow-public)"), "{err}");
        assert!(allow_policy_member("principalSet://iam.googleapis.com/locations/global/workforcePools/p/*").is_ok());
    }

    #[test]
    fn own_conditional_grant_may_be_replaced() {
        let bob = "user:bob@acme.example";
        let mut live = Policy { version: 3, ..Policy::default() };
        live.bindings.push(Binding {
            role: INV.into(),
            members: vec![bob.into()],
            condition: Some(Expr {
                expression: "request.time < timestamp(\"2020-01-01T00:00:00Z\")".into(),
                ..Expr::default()
            }),
            ..Binding::default()
        });
        let mut result = live.clone();
        result.bindings[0].condition.as_mut().unwrap().expression =
            "request.time < timestamp(\"2030-01-01T00:00:00Z\")".into();
        let mut allow = grant_of(bob);
        assert_eq!(judge_policy(&live, &result, &allow).len(), 1);
        allow.removals = Removals::OwnConditional(Principal::parse(bob).unwrap());
        assert_eq!(judge_policy(&live, &result, &allow), []);
    }
}
