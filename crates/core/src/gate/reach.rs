//! No new access: the write gate's comparison taken down to permissions.
//! The gate judges a write by the grants it adds; this judges a whole state
//! (a live or planned policy) against a reference state by what each
//! principal can do on the service, with the ancestors' policies and deny
//! policies counted by the evaluator: a member that already holds a
//! permission above gains nothing, a grant behind a deny rule opens nothing.
//!
//! Pure: the facts are gathered by the caller (`gather`), once, and only the
//! service's own policy and invoker check differ between the two states.

use std::collections::BTreeSet;

use crate::doc::Verdict;
use crate::eval::{self, Facts};
use crate::gate::{Allowance, Settings, judge_settings};
use crate::model::{Policy, Principal};
use crate::roles;

/// The kinds of `run.*` permissions a grant on a service can carry: the
/// service and the sub-resources it owns. `create` and `list` act on the
/// parent (a project or location), so a service grant never carries them.
const SERVICE_RESOURCES: [&str; 4] = ["run.services.", "run.routes.", "run.revisions.", "run.configurations."];

/// Every `run.*` permission of the role table that applies to one service.
pub fn service_permissions() -> BTreeSet<&'static str> {
    roles::all()
        .flat_map(|r| r.included_permissions.iter().map(String::as_str))
        .filter(|p| SERVICE_RESOURCES.iter().any(|s| p.starts_with(s)))
        .filter(|p| !p.ends_with(".create") && !p.ends_with(".list"))
        .collect()
}

/// One state of the service: its own allow policy and invoker check.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub policy: Policy,
    pub invoker_iam_disabled: bool,
}

/// What the change was meant to give: a member and everything its role
/// carries (roles/run.invoker holds more than run.routes.invoke), or the
/// invoker check off.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Intended {
    pub member: Option<Principal>,
    pub permissions: BTreeSet<String>,
    pub invoker_check_off: bool,
}

impl Intended {
    /// The allowance of `member` × `role`: the role's permissions as the
    /// facts know them (a custom role read with `roles.get`), else the
    /// offline table's.
    pub fn grant(member: Principal, role: &str, facts: &Facts) -> Self {
        let permissions = match facts.roles.get(role) {
            Some(Some(p)) => p.iter().cloned().collect(),
            _ => roles::predefined(role).map(|r| r.included_permissions.iter().cloned().collect()).unwrap_or_default(),
        };
        Self { member: Some(member), permissions, invoker_check_off: false }
    }

    fn covers(&self, principal: &Principal, permission: &str) -> bool {
        self.member.as_ref().is_some_and(|m| m.same_as(principal)) && self.permissions.contains(permission)
    }
}

/// One principal × permission the state holds that the reference did not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gain {
    pub principal: String,
    pub permission: String,
    pub before: Verdict,
    pub after: Verdict,
}

impl std::fmt::Display for Gain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = if self.after == Verdict::Allowed { "gains" } else { "may gain (depends on an unknown)" };
        write!(f, "{} {how} {}", self.principal, self.permission)
    }
}

/// Orders verdicts by how much they let through.
fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Denied => 0,
        Verdict::Unknown => 1,
        Verdict::Allowed => 2,
    }
}

/// Everyone a state names: every member of every allow policy (the service's
/// in both states and its ancestors'), and the two public principals.
fn principals(facts: &Facts, reference: &State, state: &State) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = ["allUsers".to_owned(), "allAuthenticatedUsers".to_owned()].into();
    let ancestors = facts.allow.iter().filter_map(|a| a.policy.as_ref());
    for p in ancestors.chain([&reference.policy, &state.policy]) {
        out.extend(
            p.bindings.iter().flat_map(|b| &b.members).filter_map(|m| Principal::canonical(m)).map(|p| p.to_string()),
        );
    }
    out
}

/// `facts` with the service's own policy (the first, nearest one) replaced.
pub fn with_service_policy(facts: &Facts, policy: &Policy) -> Facts {
    let mut f = facts.clone();
    let service = f.service.full_name();
    match f.allow.iter_mut().find(|a| a.resource == service) {
        Some(at) => at.policy = Some(policy.clone()),
        None => f.allow.insert(0, eval::AllowPolicyAt { resource: service, policy: Some(policy.clone()) }),
    }
    f
}

/// Every principal × service permission `state` lets through beyond what
/// `reference` did and beyond `intended`, sorted. `facts`: the ancestors'
/// allow policies, the deny policies and roles, as gathered for the service.
pub fn new_access(facts: &Facts, reference: &State, state: &State, intended: &Intended) -> Vec<Gain> {
    let (before, after) = (with_service_policy(facts, &reference.policy), with_service_policy(facts, &state.policy));
    let permissions = service_permissions();
    let mut gains = Vec::new();
    for principal in principals(facts, reference, state) {
        let Ok(p) = Principal::parse(&principal) else { continue };
        // A request without a credential is what allUsers stands for.
        let caller = (p != Principal::AllUsers).then(|| p.clone());
        let verdict = |f: &Facts, perm: &str| {
            let mut f = f.clone();
            f.caller = caller.clone();
            eval::evaluate(&f, perm).verdict
        };
        for perm in &permissions {
            let (b, a) = (verdict(&before, perm), verdict(&after, perm));
            if rank(a) > rank(b) && !intended.covers(&p, perm) {
                gains.push(Gain { principal: principal.clone(), permission: (*perm).to_owned(), before: b, after: a });
            }
        }
    }
    // The invoker check off lets anyone invoke, whatever the policy says:
    // the gate's own settings rule decides it.
    let settings = |s: &State| Settings { invoker_iam_disabled: s.invoker_iam_disabled, ingress: None };
    let allow = Allowance { allow_public: intended.invoker_check_off, ..Allowance::default() };
    if !judge_settings(&settings(reference), &settings(state), &allow).is_empty() {
        let invoke = crate::model::INVOKE_PERMISSION.to_owned();
        gains.retain(|g| !(g.principal == "allUsers" && g.permission == invoke));
        gains.push(Gain {
            principal: "allUsers".into(),
            permission: invoke,
            before: Verdict::Denied,
            after: Verdict::Allowed,
        });
    }
    gains.sort_by(|a, b| (&a.principal, &a.permission).cmp(&(&b.principal, &b.permission)));
    gains
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::AllowPolicyAt;
    use crate::model::ServiceRef;

    const INV: &str = "roles/run.invoker";

    fn facts(project: Policy) -> Facts {
        let service = ServiceRef::new("p", "r", "s");
        Facts {
            allow: vec![
                AllowPolicyAt { resource: service.full_name(), policy: None },
                AllowPolicyAt { resource: "projects/p".into(), policy: Some(project) },
            ],
            service,
            caller: None,
            deny: Vec::new(),
            roles: Default::default(),
            groups: Default::default(),
            now: chrono::Utc::now(),
        }
    }

    fn state(grants: &[(&str, &str)]) -> State {
        State { policy: Policy::with_grants(grants), invoker_iam_disabled: false }
    }

    fn shown(g: &[Gain]) -> Vec<String> {
        g.iter().map(|g| format!("{} {}", g.principal, g.permission)).collect()
    }

    #[test]
    fn the_intended_role_whole_is_allowed_and_nothing_more() {
        let f = facts(Policy::default());
        let bob = Principal::parse("user:bob@acme.example").unwrap();
        let intended = Intended::grant(bob.clone(), INV, &f);
        let reference = state(&[]);
        assert_eq!(new_access(&f, &reference, &state(&[(INV, "user:bob@acme.example")]), &intended), []);
        let extra = state(&[(INV, "user:bob@acme.example"), (INV, "user:eve@acme.example")]);
        assert_eq!(shown(&new_access(&f, &reference, &extra, &intended)), ["user:eve@acme.example run.routes.invoke"]);
        let dev = state(&[(INV, "user:bob@acme.example"), ("roles/run.developer", "user:bob@acme.example")]);
        let gained = shown(&new_access(&f, &reference, &dev, &intended));
        assert!(gained.contains(&"user:bob@acme.example run.services.update".to_owned()), "{gained:?}");
        assert!(!gained.iter().any(|g| g.ends_with("run.routes.invoke")), "{gained:?}");
        // run.services.setIamPolicy is not in run.developer.
        assert!(!gained.iter().any(|g| g.ends_with("setIamPolicy")), "{gained:?}");
    }

    #[test]
    fn a_grant_held_above_gains_nothing_and_public_counts() {
        let f = facts(Policy::with_grants(&[(INV, "user:eve@acme.example")]));
        let reference = state(&[]);
        assert_eq!(new_access(&f, &reference, &state(&[(INV, "user:eve@acme.example")]), &Intended::default()), []);
        let public = new_access(&f, &reference, &state(&[(INV, "allUsers")]), &Intended::default());
        let gained = shown(&public);
        assert!(gained.contains(&"allUsers run.routes.invoke".to_owned()), "{gained:?}");
        assert!(gained.contains(&"allAuthenticatedUsers run.routes.invoke".to_owned()), "{gained:?}");
        assert!(!gained.iter().any(|g| g.starts_with("user:eve")), "{gained:?}");
        let off = State { policy: Policy::default(), invoker_iam_disabled: true };
        assert_eq!(shown(&new_access(&f, &reference, &off, &Intended::default())), ["allUsers run.routes.invoke"]);
        let asked = Intended { invoker_check_off: true, ..Intended::default() };
        assert_eq!(new_access(&f, &reference, &off, &asked), []);
    }

    #[test]
    fn service_permissions_are_the_services_own() {
        let p = service_permissions();
        assert!(p.contains("run.routes.invoke") && p.contains("run.services.setIamPolicy"));
        assert!(!p.contains("run.jobs.run") && !p.contains("run.services.create") && !p.contains("run.services.list"));
    }
}
