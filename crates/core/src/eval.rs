//! Does a caller hold a permission on a Cloud Run service? A pure function
//! over gathered facts (docs/architecture.md): no I/O happens here.
//!
//! Allow bindings on the service and every ancestor are expanded through
//! their roles; IAM Conditions run in a CEL engine that knows only what is
//! known offline (`request.time`, `resource.name`, `resource.type`,
//! `resource.service`); deny policies apply with their exceptions and
//! denial conditions. Every question that cannot be settled (a group's
//! membership, a condition, an unreadable policy or role) is carried as an
//! uncertainty, and the verdict is three-valued:
//!
//! - a definite deny beats everything;
//! - a definite grant with no possible deny is ALLOWED;
//! - a grant that depends on an unknown is UNKNOWN unless a definite grant
//!   also exists; a possible deny turns ALLOWED into UNKNOWN;
//! - an unreadable allow policy matters only when the answer would otherwise
//!   be DENIED, an unreadable deny policy only when it would otherwise be
//!   ALLOWED.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use cel::common::ast::{EntryExpr, Expr as CelExpr, IdedExpr};
use cel::extractors::This;
use cel::{Context, ExecutionError, Program, Value};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Map;

use crate::doc::Verdict;
use crate::model::{Binding, Expr, Policy, Principal, ServiceRef};
use crate::roles;

/// `resource.type` of a Cloud Run service in IAM Conditions.
pub const SERVICE_RESOURCE_TYPE: &str = "run.googleapis.com/Service";
/// `resource.service` of a Cloud Run service in IAM Conditions.
pub const RESOURCE_SERVICE: &str = "run.googleapis.com";

/// The condition attributes known offline; any other makes a condition
/// unevaluable rather than silently false.
const OFFLINE_ATTRIBUTES: [&str; 4] = ["request.time", "resource.name", "resource.type", "resource.service"];

/// Longer conditions are left unknown; Google's own limits keep real ones
/// far shorter.
const MAX_CONDITION_LEN: usize = 4096;
/// Conditions with more operator characters (outside string literals) than
/// this are left unknown: each can add a level to the parse, and IAM itself
/// allows only 12 logical operators in a condition.
const MAX_CONDITION_OPERATORS: usize = 256;
/// The stack the CEL engine runs on; see `condition_truth`.
const CEL_STACK_BYTES: usize = 64 << 20;

/// How deep nested groups are followed before membership counts as unknown.
pub const MAX_GROUP_DEPTH: usize = 10;

/// Everything the evaluator needs, gathered beforehand.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Facts {
    pub service: ServiceRef,
    /// The caller; `None` for a request that carries no credential, which
    /// only `allUsers` (and deny's `principalSet://goog/public:all`) match.
    #[serde(default)]
    pub caller: Option<Principal>,
    /// Allow policies of the service and its ancestors, nearest first.
    #[serde(default)]
    pub allow: Vec<AllowPolicyAt>,
    /// Deny policies attached to the service's ancestors.
    #[serde(default)]
    pub deny: Vec<DenyPolicyAt>,
    /// Role name → permissions as `roles.get` returned them (`None`: the
    /// read was refused). Custom roles must be here; a predefined role here
    /// wins over the offline table.
    #[serde(default)]
    pub roles: BTreeMap<String, Option<Vec<String>>>,
    /// What is known about groups (by email) for this caller.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupFacts>,
    /// `request.time` for conditions.
    pub now: DateTime<Utc>,
}

/// One allow policy and the resource it is set on: the service
/// (`projects/P/locations/R/services/S`), `projects/P`, `folders/N` or
/// `organizations/N`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllowPolicyAt {
    pub resource: String,
    /// `None`: the policy could not be read.
    #[serde(default)]
    pub policy: Option<Policy>,
}

/// The deny policies at one attachment point
/// (`cloudresourcemanager.googleapis.com/projects/N`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DenyPolicyAt {
    pub attachment: String,
    /// `None`: the policies could not be listed or read.
    #[serde(default)]
    pub policies: Option<Vec<DenyPolicy>>,
}

/// An IAM v2 deny policy (`GoogleIamV2Policy`); unnamed fields are kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DenyPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<DenyPolicyRule>,
    #[serde(flatten)]
    pub extra: Map<String, serde_json::Value>,
}

/// `GoogleIamV2PolicyRule`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DenyPolicyRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_rule: Option<DenyRule>,
    #[serde(flatten)]
    pub extra: Map<String, serde_json::Value>,
}

/// `GoogleIamV2DenyRule`: principals in v2 syntax, permissions in the v2
/// FQDN form (`run.googleapis.com/routes.invoke`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DenyRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_principals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exception_principals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exception_permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denial_condition: Option<Expr>,
}

/// Whether the caller belongs to a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Membership {
    Member,
    NotMember,
    Unknown,
}

/// What was learnt about one group: Cloud Identity's transitive answer for
/// the caller (`checkTransitiveMembership`), or its direct members (a walk
/// of `memberships.list`), whose nested groups are followed here. A group
/// with neither is unknown.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Membership>,
    /// Members as `user:`, `serviceAccount:` and `group:` strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
}

/// The answer, with the evidence for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub verdict: Verdict,
    /// Bindings that definitely grant the permission.
    pub grants: Vec<Reason>,
    /// Deny rules that definitely deny it.
    pub denials: Vec<Reason>,
    /// Grants and denies that hang on something unknown, and unreadable
    /// policies. All are listed; the verdict says which mattered.
    pub unknowns: Vec<Reason>,
    /// Near misses: the caller's roles that lack the permission, grants whose
    /// condition is false now, grants to a deleted account of the caller.
    pub near: Vec<Reason>,
    /// A grant of the permission on the service is the fix: no readable
    /// binding grants it to the caller, not even possibly, and no deny rule
    /// definitely denies it. Unread policies do not change this (a grant on
    /// the service settles the allow side whatever the ancestors hold; a
    /// deny above remains a doubt to name), so it holds for UNKNOWN too.
    #[serde(default)]
    pub grant_fixes: bool,
}

/// Why one binding, rule or policy counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    pub kind: ReasonKind,
    /// The allow policy's resource or the deny policy's attachment point.
    pub resource: String,
    /// The deny policy's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The binding member or denied principal that names the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// The binding's condition or the rule's denial condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Expr>,
    /// What could not be settled; empty for a definite reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uncertain: Vec<Uncertainty>,
    /// One sentence for humans.
    pub why: String,
}

/// What a reason is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReasonKind {
    /// A binding whose role carries the permission names the caller.
    Grant,
    /// A deny rule names the caller and the permission.
    Deny,
    /// The caller holds the role, but it lacks the permission.
    RoleLacksPermission,
    /// The grant's condition is false now.
    ConditionFalse,
    /// The grant names a `deleted:` account with the caller's email.
    DeletedPrincipal,
    AllowPolicyUnreadable,
    DenyPolicyUnreadable,
}

/// One thing the evaluator could not settle offline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Uncertainty {
    /// The caller's membership of this group (email) is unknown.
    Group { group: String },
    /// Whether the caller is in this principal set (`principalSet://...`).
    PrincipalSet { set: String },
    /// A condition that cannot be evaluated offline.
    Condition { expression: String, why: String },
    /// The role's permissions are unknown.
    Role { role: String, why: String },
}

/// Evaluates `permission` (v1 form, `run.routes.invoke`) for the caller.
pub fn evaluate(facts: &Facts, permission: &str) -> Evaluation {
    let caller = facts.caller.as_ref().and_then(|c| Principal::canonical(&c.to_string()));
    let mut ev = Evaluation {
        verdict: Verdict::Denied,
        grants: Vec::new(),
        denials: Vec::new(),
        unknowns: Vec::new(),
        near: Vec::new(),
        grant_fixes: false,
    };
    let mut pass = Pass { facts, permission, caller: caller.as_ref(), conditions: Conditions::new(facts) };
    let allow_unreadable = pass.allow(&mut ev);
    let deny_unreadable = pass.deny(&mut ev);
    settle(&mut ev, allow_unreadable, deny_unreadable);
    ev
}

/// What one evaluation reads from: the facts, the permission, the caller
/// in canonical form, and the conditions evaluated so far.
struct Pass<'a> {
    facts: &'a Facts,
    permission: &'a str,
    caller: Option<&'a Principal>,
    conditions: Conditions<'a>,
}

impl Pass<'_> {
    /// Every allow binding that names the caller: grants, near misses and
    /// uncertain grants. True when some allow policy could not be read.
    fn allow(&mut self, ev: &mut Evaluation) -> bool {
        let facts = self.facts;
        let mut unreadable = false;
        for at in &facts.allow {
            let Some(policy) = &at.policy else {
                unreadable = true;
                ev.unknowns.push(Reason::bare(
                    ReasonKind::AllowPolicyUnreadable,
                    &at.resource,
                    format!("the allow policy of {} could not be read", at.resource),
                ));
                continue;
            };
            for binding in &policy.bindings {
                let role = role_has(facts, &binding.role, self.permission);
                for member in &binding.members {
                    self.binding(ev, &at.resource, binding, &role, member);
                }
            }
        }
        unreadable
    }

    /// What one member of one binding says about the caller, added to `ev`.
    fn binding(&mut self, ev: &mut Evaluation, resource: &str, binding: &Binding, role: &RoleHas, member: &String) {
        let (facts, permission) = (self.facts, self.permission);
        let reason = |kind, uncertain: Vec<Uncertainty>, why: String| Reason {
            kind,
            resource: resource.to_owned(),
            policy: None,
            role: Some(binding.role.clone()),
            member: Some(member.clone()),
            condition: binding.condition.clone(),
            uncertain,
            why,
        };
        let m = matches(facts, Principal::canonical(member).as_ref(), self.caller);
        if m == Match::No {
            if is_deleted_caller(member, facts.caller.as_ref()) {
                ev.near.push(reason(
                ReasonKind::DeletedPrincipal,
                Vec::new(),
                format!("{member} is a deleted account; a re-created account with the same email does not inherit its grants"),
            ));
            }
            return;
        }
        let mut uncertain: Vec<Uncertainty> = m.uncertainty().into_iter().collect();
        let named = match &m {
            Match::Yes { via: Some(g) } => format!("{member} (the caller is a member of group {g})"),
            _ => member.clone(),
        };
        match role {
            RoleHas::No => {
                if uncertain.is_empty() {
                    ev.near.push(reason(
                        ReasonKind::RoleLacksPermission,
                        Vec::new(),
                        format!("{named} holds {} on {resource}, which lacks {permission}", binding.role),
                    ));
                }
                return;
            }
            RoleHas::Unknown(why) => uncertain.push(Uncertainty::Role { role: binding.role.clone(), why: why.clone() }),
            RoleHas::Yes => {}
        }
        // Only now, as most bindings never name the caller.
        match binding.condition.as_ref().map(|c| (c, self.conditions.eval(&c.expression))) {
            Some((c, Truth::False)) => {
                ev.near.push(reason(
                    ReasonKind::ConditionFalse,
                    uncertain,
                    format!(
                        "{named} holds {} on {resource} only while `{}`, which is false now",
                        binding.role, c.expression
                    ),
                ));
                return;
            }
            Some((c, Truth::Unknown(why))) => {
                uncertain.push(Uncertainty::Condition { expression: c.expression.clone(), why })
            }
            Some((_, Truth::True)) | None => {}
        }
        if uncertain.is_empty() {
            ev.grants.push(reason(
                ReasonKind::Grant,
                uncertain,
                format!("{named} holds {} on {resource}, which carries {permission}", binding.role),
            ));
        } else {
            ev.unknowns.push(reason(
                ReasonKind::Grant,
                uncertain,
                format!("{named} may hold {} on {resource}, which would carry {permission}", binding.role),
            ));
        }
    }

    /// Every deny rule that names the caller and the permission. True when
    /// some deny policies could not be read.
    fn deny(&mut self, ev: &mut Evaluation) -> bool {
        let facts = self.facts;
        let v2 = v2_permission(self.permission);
        let mut unreadable = false;
        for at in &facts.deny {
            let Some(policies) = &at.policies else {
                unreadable = true;
                ev.unknowns.push(Reason::bare(
                    ReasonKind::DenyPolicyUnreadable,
                    &at.attachment,
                    format!("the deny policies attached to {} could not be read", at.attachment),
                ));
                continue;
            };
            for policy in policies {
                for rule in policy.rules.iter().filter_map(|r| r.deny_rule.as_ref()) {
                    if let Some(reason) =
                        deny_reason(facts, &mut self.conditions, self.caller, &at.attachment, policy, rule, &v2)
                    {
                        if reason.uncertain.is_empty() {
                            ev.denials.push(reason);
                        } else {
                            ev.unknowns.push(reason);
                        }
                    }
                }
            }
        }
        unreadable
    }
}

/// The verdict: a definite deny beats everything; a definite grant wins
/// unless a deny may apply or could not be read; otherwise UNKNOWN while a
/// grant may exist or an allow policy went unread, else DENIED. A grant on
/// the service fixes it when nothing denies and nothing may grant already.
fn settle(ev: &mut Evaluation, allow_unreadable: bool, deny_unreadable: bool) {
    let possible_grant = ev.unknowns.iter().any(|r| r.kind == ReasonKind::Grant);
    let possible_deny = ev.unknowns.iter().any(|r| r.kind == ReasonKind::Deny);
    ev.verdict = if !ev.denials.is_empty() {
        Verdict::Denied
    } else if !ev.grants.is_empty() {
        if possible_deny || deny_unreadable { Verdict::Unknown } else { Verdict::Allowed }
    } else if possible_grant || allow_unreadable {
        Verdict::Unknown
    } else {
        Verdict::Denied
    };
    ev.grant_fixes = ev.denials.is_empty() && ev.grants.is_empty() && !possible_grant;
}

impl Reason {
    fn bare(kind: ReasonKind, resource: &str, why: String) -> Self {
        Self {
            kind,
            resource: resource.to_owned(),
            policy: None,
            role: None,
            member: None,
            condition: None,
            uncertain: Vec::new(),
            why,
        }
    }
}

/// One deny rule against the caller: `None` when it cannot apply.
fn deny_reason(
    facts: &Facts,
    conditions: &mut Conditions,
    caller: Option<&Principal>,
    attachment: &str,
    policy: &DenyPolicy,
    rule: &DenyRule,
    permission: &str,
) -> Option<Reason> {
    let denies_permission = rule.denied_permissions.iter().any(|p| permission_matches(p, permission))
        && !rule.exception_permissions.iter().any(|p| permission_matches(p, permission));
    if !denies_permission {
        return None;
    }
    let (principal, denied) = best_match(facts, &rule.denied_principals, caller)?;
    let mut uncertain: Vec<Uncertainty> = denied.uncertainty().into_iter().collect();
    let mut why_parts = vec![format!("{principal} is denied {permission} by a rule at {attachment}")];
    match best_match(facts, &rule.exception_principals, caller) {
        Some((_, Match::Yes { .. })) => return None,
        Some((exception, m)) => {
            uncertain.extend(m.uncertainty());
            why_parts.push(format!("unless the caller is in the exception {exception}"));
        }
        None => {}
    }
    if let Some(c) = &rule.denial_condition {
        match conditions.eval(&c.expression) {
            Truth::False => return None,
            Truth::True => {}
            Truth::Unknown(why) => {
                uncertain.push(Uncertainty::Condition { expression: c.expression.clone(), why });
                why_parts.push(format!("if `{}` holds", c.expression));
            }
        }
    }
    Some(Reason {
        kind: ReasonKind::Deny,
        resource: attachment.to_owned(),
        policy: policy.name.clone().or_else(|| policy.display_name.clone()),
        role: None,
        member: Some(principal.clone()),
        condition: rule.denial_condition.clone(),
        uncertain,
        why: why_parts.join(", "),
    })
}

/// The principal that names the caller most surely: a definite match over
/// an uncertain one.
fn best_match<'p>(facts: &Facts, principals: &'p [String], caller: Option<&Principal>) -> Option<(&'p String, Match)> {
    principals
        .iter()
        .map(|p| (p, matches(facts, Principal::canonical(p).as_ref(), caller)))
        .filter(|(_, m)| *m != Match::No)
        .min_by_key(|(_, m)| m.uncertainty().is_some())
}

/// `run.routes.invoke` → `run.googleapis.com/routes.invoke`, the form deny
/// rules use.
pub fn v2_permission(permission: &str) -> String {
    match permission.split_once('.') {
        Some((service, rest)) => format!("{service}.googleapis.com/{rest}"),
        None => permission.to_owned(),
    }
}

/// Deny permissions may be permission groups: `SERVICE/*`,
/// `SERVICE/RESOURCE.*`, `SERVICE/*.VERB`.
fn permission_matches(pattern: &str, permission: &str) -> bool {
    let split = |p: &str| {
        let (service, rest) = p.split_once('/')?;
        let (resource, verb) = rest.rsplit_once('.').unwrap_or((rest, ""));
        Some((service.to_owned(), resource.to_owned(), verb.to_owned(), rest == "*"))
    };
    match (split(pattern), split(permission)) {
        (Some((ps, pr, pv, all)), Some((s, r, v, _))) => {
            ps == s && (all || ((pr == "*" || pr == r) && (pv == "*" || pv == v)))
        }
        _ => pattern == permission,
    }
}

enum RoleHas {
    Yes,
    No,
    Unknown(String),
}

fn role_has(facts: &Facts, role: &str, permission: &str) -> RoleHas {
    let has = |perms: &[String]| if perms.iter().any(|p| p == permission) { RoleHas::Yes } else { RoleHas::No };
    match facts.roles.get(role) {
        Some(Some(perms)) => has(perms),
        Some(None) => RoleHas::Unknown(format!("{role} could not be read")),
        None => match roles::predefined(role) {
            Some(r) => has(&r.included_permissions),
            None if role.starts_with("roles/") => {
                RoleHas::Unknown(format!("{role} is not in the offline role table and was not read"))
            }
            None => RoleHas::Unknown(format!("custom role {role} was not read")),
        },
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Match {
    Yes { via: Option<String> },
    Maybe(Uncertainty),
    No,
}

impl Match {
    fn uncertainty(&self) -> Option<Uncertainty> {
        match self {
            Self::Maybe(u) => Some(u.clone()),
            _ => None,
        }
    }
}

/// Does `member` name the caller (`None`: unauthenticated)? Members name
/// by `Principal::canonical` (v1 and v2 forms alike), and the same
/// principal by `Principal::same_as` (emails without regard to case).
fn matches(facts: &Facts, member: Option<&Principal>, caller: Option<&Principal>) -> Match {
    let yes = Match::Yes { via: None };
    let Some(member) = member else { return Match::No };
    match (member, caller) {
        (Principal::AllUsers, _) => yes,
        (_, None) => Match::No,
        (Principal::AllAuthenticatedUsers, Some(_)) => yes,
        (m, Some(c)) if m.same_as(c) => yes,
        (Principal::Group(g), Some(_)) => match facts.membership(g) {
            Membership::Member => Match::Yes { via: Some(g.clone()) },
            Membership::NotMember => Match::No,
            Membership::Unknown => Match::Maybe(Uncertainty::Group { group: g.clone() }),
        },
        // Domain members are the accounts of that Workspace or Cloud
        // Identity domain; service accounts never are.
        (Principal::Domain(d), Some(Principal::User(c))) => {
            if c.rsplit_once('@').is_some_and(|(_, cd)| cd.eq_ignore_ascii_case(d)) { yes } else { Match::No }
        }
        (Principal::PrincipalSet(set), Some(c)) => {
            let maybe = Match::Maybe(Uncertainty::PrincipalSet { set: format!("principalSet://{set}") });
            let could = match c {
                Principal::User(_) => set.starts_with("goog/cloudIdentityCustomerId/"),
                Principal::ServiceAccount(_) => {
                    set.starts_with("cloudresourcemanager.googleapis.com/") && set.ends_with("/type/ServiceAccount")
                }
                // Federated identities belong to pool-wide or attribute sets.
                Principal::Principal(p) => {
                    p.starts_with("iam.googleapis.com/") && set.starts_with("iam.googleapis.com/")
                }
                _ => false,
            };
            if could { maybe } else { Match::No }
        }
        _ => Match::No,
    }
}

/// A `deleted:` member that carries the caller's own email.
fn is_deleted_caller(member: &str, caller: Option<&Principal>) -> bool {
    let (Some(rest), Some(caller)) = (member.strip_prefix("deleted:"), caller) else {
        return false;
    };
    let inner = rest.split('?').next().unwrap_or_default();
    Principal::parse(inner).is_ok_and(|p| p.to_string().eq_ignore_ascii_case(&caller.to_string()))
}

impl Facts {
    /// The caller's membership of `group`, following nested groups.
    pub fn membership(&self, group: &str) -> Membership {
        let mut seen = BTreeSet::new();
        self.membership_at(group, 0, &mut seen)
    }

    fn membership_at(&self, group: &str, depth: usize, seen: &mut BTreeSet<String>) -> Membership {
        if !seen.insert(group.to_ascii_lowercase()) {
            // A cycle adds nobody new.
            return Membership::NotMember;
        }
        if depth > MAX_GROUP_DEPTH {
            return Membership::Unknown;
        }
        let Some(caller) = &self.caller else {
            return Membership::NotMember;
        };
        let Some(g) = self.groups.iter().find(|(k, _)| k.eq_ignore_ascii_case(group)).map(|(_, g)| g) else {
            return Membership::Unknown;
        };
        if let Some(answer) = g.caller {
            return answer;
        }
        let Some(members) = &g.members else {
            return Membership::Unknown;
        };
        let caller = caller.to_string();
        let mut result = Membership::NotMember;
        for m in members {
            if m.eq_ignore_ascii_case(&caller) {
                return Membership::Member;
            }
            if let Ok(Principal::Group(nested)) = Principal::parse(m) {
                match self.membership_at(&nested, depth + 1, seen) {
                    Membership::Member => return Membership::Member,
                    Membership::Unknown => result = Membership::Unknown,
                    Membership::NotMember => {}
                }
            }
        }
        result
    }
}

/// The three values of a condition.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Truth {
    True,
    False,
    Unknown(String),
}

/// Condition results, cached by expression: the same condition often
/// appears on several bindings.
struct Conditions<'f> {
    facts: &'f Facts,
    cache: HashMap<String, Truth>,
}

impl<'f> Conditions<'f> {
    fn new(facts: &'f Facts) -> Self {
        Self { facts, cache: HashMap::new() }
    }

    fn eval(&mut self, expression: &str) -> Truth {
        if let Some(t) = self.cache.get(expression) {
            return t.clone();
        }
        let t = condition_truth(expression, self.facts);
        self.cache.insert(expression.to_owned(), t.clone());
        t
    }
}

/// Evaluates an IAM Condition against the service. Which project form
/// `resource.name` carries for Cloud Run is not documented, so the
/// condition is run with the id and, when known, the number: a result that
/// depends on the choice is unknown.
fn condition_truth(expression: &str, facts: &Facts) -> Truth {
    if expression.len() > MAX_CONDITION_LEN {
        return Truth::Unknown(format!("is longer than the {MAX_CONDITION_LEN} characters runiam evaluates"));
    }
    if operator_count(expression) > MAX_CONDITION_OPERATORS {
        return Truth::Unknown(format!("has more than the {MAX_CONDITION_OPERATORS} operators runiam evaluates"));
    }
    // The CEL parser recurses deeply (about 170 KB of stack per nesting
    // level in debug builds): run it where a policy cannot exhaust the
    // caller's stack, and where a panic inside the engine stays contained.
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("runiam-cel".into())
            .stack_size(CEL_STACK_BYTES)
            .spawn_scoped(scope, || cel_truth(expression, facts));
        match worker.map(|w| w.join()) {
            Ok(Ok(truth)) => truth,
            Ok(Err(_)) => Truth::Unknown("the CEL engine failed on it".into()),
            Err(e) => Truth::Unknown(format!("the CEL engine could not start: {e}")),
        }
    })
}

/// Operator and bracket characters outside string literals: a bound on how
/// deeply the expression can nest.
fn operator_count(expression: &str) -> usize {
    let mut count = 0;
    let mut quote = None;
    let mut escaped = false;
    for c in expression.chars() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if "+-*/%<>=!&|?:.([{,".contains(c) => count += 1,
            None => {}
        }
    }
    count
}

fn cel_truth(expression: &str, facts: &Facts) -> Truth {
    let program = match Program::compile(expression) {
        Ok(p) => p,
        Err(e) => return Truth::Unknown(format!("does not parse: {e}")),
    };
    if let Some(why) = offline_gap(program.expression()) {
        return Truth::Unknown(why);
    }
    let s = &facts.service;
    let mut names = vec![s.full_name()];
    if let Some(n) = &s.project_number {
        names.push(format!("projects/{n}/locations/{}/services/{}", s.region, s.name));
    }
    let mut seen = None;
    for name in &names {
        match run_condition(&program, name, facts.now) {
            Ok(b) if seen.is_none_or(|prev| prev == b) => seen = Some(b),
            Ok(_) => {
                return Truth::Unknown(
                    "the result depends on whether resource.name carries the project id or number".into(),
                );
            }
            Err(why) => return Truth::Unknown(why.to_string()),
        }
    }
    if seen == Some(true) { Truth::True } else { Truth::False }
}

/// Why a condition has no offline answer.
#[derive(Debug, thiserror::Error)]
enum ConditionError {
    #[error("cannot be evaluated offline: {0}")]
    Execution(#[from] ExecutionError),
    #[error("cannot be evaluated offline: {0}")]
    Declaration(#[from] cel::DeclarationError),
    #[error("evaluates to {0}, not a boolean")]
    NotBoolean(String),
}

fn run_condition(program: &Program, resource_name: &str, now: DateTime<Utc>) -> Result<bool, ConditionError> {
    let mut ctx = Context::default();
    ctx.add_function("extract", extract)?;
    let request: HashMap<&str, Value> = HashMap::from([("time", Value::Timestamp(now.fixed_offset()))]);
    ctx.add_variable_from_value("request", request);
    let resource: HashMap<&str, Value> = HashMap::from([
        ("name", Value::from(resource_name)),
        ("type", Value::from(SERVICE_RESOURCE_TYPE)),
        ("service", Value::from(RESOURCE_SERVICE)),
    ]);
    ctx.add_variable_from_value("resource", resource);
    match program.execute(&ctx)? {
        Value::Bool(b) => Ok(b),
        other => Err(ConditionError::NotBoolean(format!("{other:?}"))),
    }
}

/// IAM's `extract`: the text that the one `{name}` placeholder of the
/// template covers, after the first occurrence of the text before it and up
/// to the next occurrence of the text after it; empty when they do not
/// occur (https://cloud.google.com/iam/docs/conditions-attribute-reference#extract).
fn extract(This(s): This<Arc<String>>, template: Arc<String>) -> Result<Value, ExecutionError> {
    extract_str(&s, &template).map(Value::from).map_err(|e| ExecutionError::function_error("extract", e.to_string()))
}

/// An `extract` template without exactly one `{name}` placeholder.
#[derive(Debug, thiserror::Error)]
#[error("template '{0}' must hold exactly one {{name}} placeholder")]
struct BadTemplate(String);

fn extract_str(s: &str, template: &str) -> Result<String, BadTemplate> {
    let bad = || BadTemplate(template.to_owned());
    let (prefix, rest) = template.split_once('{').ok_or_else(bad)?;
    let (_, suffix) = rest.split_once('}').ok_or_else(bad)?;
    if suffix.contains(['{', '}']) || prefix.contains('}') {
        return Err(bad());
    }
    let Some(start) = s.find(prefix).map(|i| i + prefix.len()) else {
        return Ok(String::new());
    };
    let tail = &s[start..];
    if suffix.is_empty() {
        return Ok(tail.to_owned());
    }
    Ok(tail.find(suffix).map(|end| tail[..end].to_owned()).unwrap_or_default())
}

/// The first use of an attribute that is not known offline, if any.
/// `request` and `resource` may only be read through the attributes in
/// [`OFFLINE_ATTRIBUTES`]: `has(request.auth)` or `'auth' in request` would
/// otherwise answer from our partial maps, not from the real request.
fn offline_gap(e: &IdedExpr) -> Option<String> {
    let gap = |what: &str| Some(format!("uses {what}, which is not known offline"));
    match &e.expr {
        CelExpr::Select(sel) => match &sel.operand.expr {
            CelExpr::Ident(root) if root == "request" || root == "resource" => {
                let path = format!("{root}.{}", sel.field);
                if OFFLINE_ATTRIBUTES.contains(&path.as_str()) { None } else { gap(&path) }
            }
            _ => offline_gap(&sel.operand),
        },
        CelExpr::Ident(root) if root == "request" || root == "resource" => gap(&format!("`{root}` as a whole")),
        CelExpr::Call(call) => call.target.iter().map(|t| &**t).chain(&call.args).find_map(offline_gap),
        CelExpr::Comprehension(c) => {
            [&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result].into_iter().find_map(offline_gap)
        }
        CelExpr::List(l) => l.elements.iter().find_map(offline_gap),
        CelExpr::Map(m) => m.entries.iter().find_map(|en| entry_gap(&en.expr)),
        CelExpr::Struct(s) => s.entries.iter().find_map(|en| entry_gap(&en.expr)),
        CelExpr::Ident(_) | CelExpr::Literal(_) | CelExpr::Unspecified => None,
    }
}

fn entry_gap(e: &EntryExpr) -> Option<String> {
    match e {
        EntryExpr::StructField(f) => offline_gap(&f.value),
        EntryExpr::MapEntry(m) => offline_gap(&m.key).or_else(|| offline_gap(&m.value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Binding;
    use proptest::prelude::*;

    fn facts(member: &str, condition: Option<&str>, deny: Option<DenyRule>) -> Facts {
        Facts {
            service: ServiceRef::new("acme-prod", "europe-west1", "hello"),
            caller: Some(Principal::ServiceAccount("caller@acme-prod.iam.gserviceaccount.com".into())),
            allow: vec![AllowPolicyAt {
                resource: "projects/acme-prod".into(),
                policy: Some(Policy {
                    version: 3,
                    bindings: vec![Binding {
                        role: "roles/run.invoker".into(),
                        members: vec![member.to_owned()],
                        condition: condition.map(|e| Expr { expression: e.to_owned(), ..Expr::default() }),
                        ..Binding::default()
                    }],
                    ..Policy::default()
                }),
            }],
            deny: deny
                .map(|rule| DenyPolicyAt {
                    attachment: "cloudresourcemanager.googleapis.com/projects/123".into(),
                    policies: Some(vec![DenyPolicy {
                        rules: vec![DenyPolicyRule { deny_rule: Some(rule), ..DenyPolicyRule::default() }],
                        ..DenyPolicy::default()
                    }]),
                })
                .into_iter()
                .collect(),
            roles: BTreeMap::new(),
            groups: BTreeMap::new(),
            now: "2026-06-01T12:00:00Z".parse().unwrap(),
        }
    }

    fn truth(expression: &str) -> Truth {
        condition_truth(expression, &facts("allUsers", None, None))
    }

    #[test]
    fn extract_follows_the_documented_examples() {
        let name = "projects/acme-prod/locations/europe-west1/services/hello";
        assert_eq!(extract_str(name, "projects/{project}/").unwrap(), "acme-prod");
        assert_eq!(extract_str(name, "/services/{name}").unwrap(), "hello");
        assert_eq!(extract_str(name, "locations/{loc}/services/").unwrap(), "europe-west1");
        assert_eq!(extract_str(name, "/jobs/{job}").unwrap(), "");
        assert_eq!(extract_str(name, "projects/{p}/nowhere").unwrap(), "");
        assert!(extract_str(name, "no placeholder").is_err());
        assert!(extract_str(name, "{a}/{b}").is_err());
        assert_eq!(truth("resource.name.extract('projects/{project}/') == 'acme-prod'"), Truth::True);
        assert!(matches!(truth("resource.name.extract('{a}{b}') == ''"), Truth::Unknown(_)));
    }

    #[test]
    fn conditions_read_only_offline_attributes() {
        assert_eq!(truth("request.time > timestamp('2026-01-01T00:00:00Z')"), Truth::True);
        assert_eq!(truth("resource.type == 'run.googleapis.com/Service'"), Truth::True);
        assert_eq!(truth("resource.service != 'run.googleapis.com'"), Truth::False);
        assert_eq!(truth("has(request.time)"), Truth::True);
        for unknown in [
            "request.auth.claims.email == 'x'",
            "'time' in request",
            "size(resource) == 3",
            "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []) == []",
            "destination.port == 443",
            "resource.hasTagKey('111/env')",
            "request.time",
            "1 / 0 == 1",
            "",
        ] {
            assert!(matches!(truth(unknown), Truth::Unknown(_)), "{unknown} should be unknown");
        }
    }

    #[test]
    fn permissions_in_v2_form_and_groups() {
        assert_eq!(v2_permission("run.routes.invoke"), "run.googleapis.com/routes.invoke");
        let p = "run.googleapis.com/routes.invoke";
        for yes in [p, "run.googleapis.com/*", "run.googleapis.com/routes.*", "run.googleapis.com/*.invoke"] {
            assert!(permission_matches(yes, p), "{yes}");
        }
        for no in
            ["run.googleapis.com/routes.get", "run.googleapis.com/jobs.*", "iam.googleapis.com/*", "run.routes.invoke"]
        {
            assert!(!permission_matches(no, p), "{no}");
        }
    }

    #[test]
    fn group_cycles_and_depth_are_bounded() {
        let mut f = facts("group:a@x.example", None, None);
        f.groups
            .insert("a@x.example".into(), GroupFacts { caller: None, members: Some(vec!["group:b@x.example".into()]) });
        f.groups
            .insert("b@x.example".into(), GroupFacts { caller: None, members: Some(vec!["group:a@x.example".into()]) });
        assert_eq!(f.membership("a@x.example"), Membership::NotMember);
        let mut deep = facts("group:g0@x.example", None, None);
        for i in 0..=MAX_GROUP_DEPTH + 1 {
            let next = format!("group:g{}@x.example", i + 1);
            deep.groups.insert(format!("g{i}@x.example"), GroupFacts { caller: None, members: Some(vec![next]) });
        }
        assert_eq!(deep.membership("g0@x.example"), Membership::Unknown);
        assert_eq!(evaluate(&deep, crate::model::INVOKE_PERMISSION).verdict, Verdict::Unknown);
    }

    #[test]
    fn deep_nesting_is_unknown_or_evaluated_never_a_crash() {
        let n = MAX_CONDITION_OPERATORS / 2 - 8;
        for e in [
            format!("{}true{}", "(".repeat(n), ")".repeat(n)),
            format!("{}1{}", "[".repeat(n), "]".repeat(n)),
            format!("{}1{}", "f(".repeat(n / 2), ")".repeat(n / 2)),
            format!("{}true", "!".repeat(2 * n)),
            format!("{}1 > 0", "-".repeat(2 * n)),
            format!("{}1 > 0", "1+".repeat(n)),
            format!("x{}", ".a".repeat(n)),
            vec!["true ? true"; 95].join(" : ") + " : false",
        ] {
            assert!(operator_count(&e) <= MAX_CONDITION_OPERATORS, "{e}");
            let _ = truth(&e);
        }
        assert_eq!(truth(&format!("{}1 > 0", "1+".repeat(n))), Truth::True);
        for too_big in [format!("{}1 > 0", "1+".repeat(MAX_CONDITION_LEN)), format!("{}1 > 0", "1+".repeat(300))] {
            assert!(matches!(truth(&too_big), Truth::Unknown(_)));
        }
        // Operators inside string literals do not count.
        assert_eq!(operator_count(r#"resource.name == 'a.b.c/(d)' && "x\"+" != ''"#), 7);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_conditions_never_panic(
            e in prop_oneof![
                ".{0,80}",
                "[a-z.()'\"{}<>=!&|+*/\\[\\], 0-9_-]{0,80}",
                "(request|resource)\\.(time|name|type|service|auth|path)[ .a-z()'{}/=<>!&|0-9-]{0,40}",
            ]
        ) {
            let deny = DenyRule {
                denied_principals: vec!["principalSet://goog/public:all".into()],
                denied_permissions: vec!["run.googleapis.com/routes.invoke".into()],
                denial_condition: Some(Expr { expression: e.clone(), ..Expr::default() }),
                ..DenyRule::default()
            };
            let ev = evaluate(&facts("allUsers", Some(&e), Some(deny)), crate::model::INVOKE_PERMISSION);
            prop_assert!(ev.grants.len() + ev.unknowns.len() + ev.near.len() + ev.denials.len() >= 1);
        }

        #[test]
        fn arbitrary_members_never_panic(
            member in prop_oneof![
                ".{0,60}",
                "(user|serviceAccount|group|domain|deleted|principal|principalSet)[:/a-z@.?=0-9{}-]{0,50}",
            ],
            principal in "(principal|principalSet|deleted)?[:/a-z@.*?=0-9-]{0,60}",
            group_member in ".{0,40}",
        ) {
            let deny = DenyRule {
                denied_principals: vec![principal.clone()],
                exception_principals: vec![principal],
                denied_permissions: vec!["run.googleapis.com/*".into()],
                ..DenyRule::default()
            };
            let mut f = facts(&member, None, Some(deny));
            f.groups.insert(member.clone(), GroupFacts { caller: None, members: Some(vec![group_member, member.clone()]) });
            let _ = evaluate(&f, crate::model::INVOKE_PERMISSION);
            f.caller = None;
            let _ = evaluate(&f, crate::model::INVOKE_PERMISSION);
        }

        #[test]
        fn extract_never_panics(s in ".{0,40}", t in ".{0,20}") {
            let _ = extract_str(&s, &t);
        }
    }
}
