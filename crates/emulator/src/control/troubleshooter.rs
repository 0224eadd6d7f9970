//! Policy Troubleshooter v3 (`POST v3/iam:troubleshoot`), answered by
//! runiam-core's evaluator in Google's response shape.
//!
//! The overall verdict is `evaluate()`'s own. Each explanation below it
//! (a binding, a member, a role, a condition, a deny rule) is the same
//! evaluator run on facts cut down to that one part, so nothing here
//! re-implements IAM's rules. The caller's own access to the policies is
//! not checked: the emulator answers as if every policy were readable.

use chrono::{DateTime, Utc};
use runiam_core::doc::Verdict;
use runiam_core::eval::{
    self, AllowPolicyAt, DenyPolicy, DenyPolicyAt, DenyPolicyRule, DenyRule, Evaluation, Facts, Uncertainty,
};
use runiam_core::model::{Binding, Expr, Policy, Principal};
use serde_json::{Map, Value, json};

use super::{Answer, Call};
use crate::authz;
use crate::errors::ApiError;
use crate::state::{State, service_key};
use crate::world::World;

/// A role the probes grant, carrying exactly the permission asked about.
const PROBE_ROLE: &str = "roles/runiam.troubleshooterProbe";
/// The principal set every caller is in, for permission-only probes.
const EVERYONE: &str = "principalSet://goog/public:all";

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    match segs {
        ["v3", "iam"] if call.verb.as_deref() == Some("troubleshoot") && call.is("POST") => {
            Some(troubleshoot(state, call))
        }
        _ => None,
    }
}

fn text<'a>(tuple: &'a Map<String, Value>, names: &[&str]) -> Result<&'a str, ApiError> {
    names.iter().find_map(|n| tuple.get(*n)).and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::invalid_field(&format!("accessTuple.{}", names[0]), format!("accessTuple.{} is required.", names[0]))
    })
}

/// A plain email is a service account when Google's domains say so, else a user.
fn principal(raw: &str) -> Result<Principal, ApiError> {
    let parsed = if raw.contains(':') { Principal::parse(raw) } else { Principal::from_email(raw) };
    parsed.map_err(|e| ApiError::invalid_field("accessTuple.principal", e.why))
}

/// The state key of a full resource name, and its canonical form.
fn resource(world: &World, full: &str) -> Result<(String, String), ApiError> {
    let bad = || {
        ApiError::invalid_field(
            "accessTuple.fullResourceName",
            format!("'{full}' is not a Cloud Run service or a project, folder or organization full resource name."),
        )
    };
    let missing = || ApiError::not_found(format!("Resource '{full}' was not found."));
    if let Some(rest) = full.strip_prefix("//run.googleapis.com/") {
        let parts: Vec<&str> = rest.split('/').collect();
        let ["projects", p, "locations", r, "services", s] = parts.as_slice() else {
            return Err(bad());
        };
        let proj = world.project(p).ok_or_else(missing)?;
        proj.service(r, s).ok_or_else(missing)?;
        let key = service_key(&proj.id, r, s);
        return Ok((key.clone(), format!("//run.googleapis.com/{key}")));
    }
    let rest = full.strip_prefix("//cloudresourcemanager.googleapis.com/").ok_or_else(bad)?;
    let key = match rest.split_once('/').ok_or_else(bad)? {
        ("projects", p) => world.project(p).map(|p| format!("projects/{}", p.id)),
        ("folders", f) => world.folder(f).map(|f| format!("folders/{}", f.id)),
        ("organizations", o) => world.organization(o).map(|o| format!("organizations/{}", o.id)),
        _ => return Err(bad()),
    }
    .ok_or_else(missing)?;
    Ok((key.clone(), full_name(&key)))
}

fn full_name(key: &str) -> String {
    if key.contains("/services/") {
        format!("//run.googleapis.com/{key}")
    } else {
        format!("//cloudresourcemanager.googleapis.com/{key}")
    }
}

/// `run.googleapis.com/routes.invoke` → `run.routes.invoke`; v1 stays.
fn v1_permission(p: &str) -> String {
    match p.split_once('/') {
        Some((service, rest)) => format!("{}.{rest}", service.trim_end_matches(".googleapis.com")),
        None => p.to_owned(),
    }
}

fn receive_time(tuple: &Map<String, Value>) -> Result<DateTime<Utc>, ApiError> {
    let raw = tuple
        .get("conditionContext")
        .or_else(|| tuple.get("condition_context"))
        .and_then(|c| c.get("request"))
        .and_then(|r| r.get("receiveTime").or_else(|| r.get("receive_time")))
        .and_then(Value::as_str);
    match raw {
        None => Ok(Utc::now()),
        Some(t) => DateTime::parse_from_rfc3339(t).map(|t| t.with_timezone(&Utc)).map_err(|_| {
            ApiError::invalid_field(
                "accessTuple.conditionContext.request.receiveTime",
                format!("'{t}' is not an RFC 3339 timestamp."),
            )
        }),
    }
}

fn troubleshoot(state: &State, call: &Call) -> Answer {
    let tuple = call
        .field(&["accessTuple", "access_tuple"])
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::invalid_field("accessTuple", "accessTuple is required."))?;
    let caller = principal(text(tuple, &["principal"])?)?;
    let (key, full) = resource(&state.world, text(tuple, &["fullResourceName", "full_resource_name"])?)?;
    let permission = v1_permission(text(tuple, &["permission"])?);
    let now = receive_time(tuple)?;
    let facts = authz::facts(state, &key, Some(caller.clone()), now);
    let ev = eval::evaluate(&facts, &permission);
    let probe = Probe { facts: &facts, permission: &permission, caller: caller.to_string(), at: &key };
    let mut echoed = tuple.clone();
    echoed.insert("fullResourceName".into(), json!(full));
    echoed.insert("permission".into(), json!(text(tuple, &["permission"])?));
    echoed.insert("permissionFqdn".into(), json!(eval::v2_permission(&permission)));
    Ok(json!({
        "overallAccessState": overall(&ev),
        "accessTuple": echoed,
        "allowPolicyExplanation": probe.allow_explanation(),
        "denyPolicyExplanation": probe.deny_explanation(),
    }))
}

fn conditional(ev: &Evaluation) -> bool {
    ev.unknowns.iter().any(|r| r.uncertain.iter().any(|u| matches!(u, Uncertainty::Condition { .. })))
}

fn overall(ev: &Evaluation) -> &'static str {
    match ev.verdict {
        Verdict::Allowed => "CAN_ACCESS",
        Verdict::Denied => "CANNOT_ACCESS",
        Verdict::Unknown if conditional(ev) => "UNKNOWN_CONDITIONAL",
        Verdict::Unknown => "UNKNOWN_INFO",
    }
}

/// Allow states: granted, not granted, unknown (conditional or info).
fn allow_state(ev: &Evaluation) -> &'static str {
    match ev.verdict {
        Verdict::Allowed => "ALLOW_ACCESS_STATE_GRANTED",
        Verdict::Denied => "ALLOW_ACCESS_STATE_NOT_GRANTED",
        Verdict::Unknown if conditional(ev) => "ALLOW_ACCESS_STATE_UNKNOWN_CONDITIONAL",
        Verdict::Unknown => "ALLOW_ACCESS_STATE_UNKNOWN_INFO",
    }
}

/// A deny probe grants the permission, so a deny decides its verdict.
fn deny_state(ev: &Evaluation) -> &'static str {
    match ev.verdict {
        Verdict::Denied => "DENY_ACCESS_STATE_DENIED",
        Verdict::Allowed => "DENY_ACCESS_STATE_NOT_DENIED",
        Verdict::Unknown if conditional(ev) => "DENY_ACCESS_STATE_UNKNOWN_CONDITIONAL",
        Verdict::Unknown => "DENY_ACCESS_STATE_UNKNOWN_INFO",
    }
}

/// The first state of `order` that any of `states` is; the last otherwise.
fn combine(states: &[&'static str], order: &[&'static str]) -> &'static str {
    order.iter().find(|o| states.contains(o)).copied().unwrap_or(order[order.len() - 1])
}

const ALLOW_ORDER: [&str; 4] = [
    "ALLOW_ACCESS_STATE_GRANTED",
    "ALLOW_ACCESS_STATE_UNKNOWN_CONDITIONAL",
    "ALLOW_ACCESS_STATE_UNKNOWN_INFO",
    "ALLOW_ACCESS_STATE_NOT_GRANTED",
];
const DENY_ORDER: [&str; 4] = [
    "DENY_ACCESS_STATE_DENIED",
    "DENY_ACCESS_STATE_UNKNOWN_CONDITIONAL",
    "DENY_ACCESS_STATE_UNKNOWN_INFO",
    "DENY_ACCESS_STATE_NOT_DENIED",
];
const MEMBERSHIP_ORDER: [&str; 3] = ["MEMBERSHIP_MATCHED", "MEMBERSHIP_UNKNOWN_INFO", "MEMBERSHIP_NOT_MATCHED"];

fn relevance(high: bool) -> &'static str {
    if high { "HEURISTIC_RELEVANCE_HIGH" } else { "HEURISTIC_RELEVANCE_NORMAL" }
}

/// The evaluator run on cut-down facts.
struct Probe<'a> {
    facts: &'a Facts,
    permission: &'a str,
    caller: String,
    /// The resource asked about.
    at: &'a str,
}

fn binding(role: &str, member: &str, condition: Option<Expr>) -> Binding {
    Binding { role: role.to_owned(), members: vec![member.to_owned()], condition, extra: Map::new() }
}

fn rule(principals: &[String], permissions: &[String]) -> DenyRule {
    DenyRule { denied_principals: principals.to_vec(), denied_permissions: permissions.to_vec(), ..DenyRule::default() }
}

impl Probe<'_> {
    fn run(&self, allow: Vec<Binding>, resource: &str, deny: Option<(&str, DenyRule)>) -> Evaluation {
        let mut facts = self.facts.clone();
        facts.roles.insert(PROBE_ROLE.to_owned(), Some(vec![self.permission.to_owned()]));
        facts.allow = vec![AllowPolicyAt {
            resource: resource.to_owned(),
            policy: Some(Policy { bindings: allow, ..Policy::default() }),
        }];
        facts.deny = deny
            .map(|(attachment, r)| {
                let policy = DenyPolicy {
                    rules: vec![DenyPolicyRule { deny_rule: Some(r), ..DenyPolicyRule::default() }],
                    ..DenyPolicy::default()
                };
                vec![DenyPolicyAt { attachment: attachment.to_owned(), policies: Some(vec![policy]) }]
            })
            .unwrap_or_default();
        eval::evaluate(&facts, self.permission)
    }

    /// A grant of the permission to the caller, for deny probes.
    fn grant(&self) -> Vec<Binding> {
        vec![binding(PROBE_ROLE, &self.caller, None)]
    }

    fn membership(&self, member: &str, resource: &str) -> &'static str {
        match self.run(vec![binding(PROBE_ROLE, member, None)], resource, None).verdict {
            Verdict::Allowed => "MEMBERSHIP_MATCHED",
            Verdict::Denied => "MEMBERSHIP_NOT_MATCHED",
            Verdict::Unknown => "MEMBERSHIP_UNKNOWN_INFO",
        }
    }

    fn condition(&self, condition: &Expr, resource: &str) -> Value {
        let ev = self.run(vec![binding(PROBE_ROLE, &self.caller, Some(condition.clone()))], resource, None);
        match ev.verdict {
            Verdict::Allowed => json!({"value": true}),
            Verdict::Denied => json!({"value": false}),
            Verdict::Unknown => {
                let why: Vec<Value> = ev
                    .unknowns
                    .iter()
                    .flat_map(|r| r.uncertain.iter())
                    .filter_map(|u| match u {
                        Uncertainty::Condition { why, .. } => Some(json!({"code": 3, "message": why})),
                        _ => None,
                    })
                    .collect();
                json!({ "errors": why })
            }
        }
    }

    fn binding_explanation(&self, b: &Binding, resource: &str) -> (Value, &'static str) {
        let state = allow_state(&self.run(vec![b.clone()], resource, None));
        let role = match self.run(vec![binding(&b.role, &self.caller, None)], resource, None).verdict {
            Verdict::Allowed => "ROLE_PERMISSION_INCLUDED",
            Verdict::Denied => "ROLE_PERMISSION_NOT_INCLUDED",
            Verdict::Unknown => "ROLE_PERMISSION_UNKNOWN_INFO",
        };
        let mut memberships = Map::new();
        let mut states = Vec::new();
        for m in &b.members {
            let s = self.membership(m, resource);
            states.push(s);
            memberships.insert(m.clone(), json!({"membership": s, "relevance": relevance(s == "MEMBERSHIP_MATCHED")}));
        }
        let combined = combine(&states, &MEMBERSHIP_ORDER);
        let mut out = Map::new();
        out.insert("allowAccessState".into(), json!(state));
        out.insert("role".into(), json!(b.role));
        out.insert("rolePermission".into(), json!(role));
        out.insert("rolePermissionRelevance".into(), json!(relevance(role == "ROLE_PERMISSION_INCLUDED")));
        out.insert(
            "combinedMembership".into(),
            json!({"membership": combined, "relevance": relevance(combined == "MEMBERSHIP_MATCHED")}),
        );
        out.insert("memberships".into(), Value::Object(memberships));
        let high = state == "ALLOW_ACCESS_STATE_GRANTED"
            || (role == "ROLE_PERMISSION_INCLUDED" && combined == "MEMBERSHIP_MATCHED");
        out.insert("relevance".into(), json!(relevance(high)));
        if let Some(c) = &b.condition {
            out.insert("condition".into(), serde_json::to_value(c).unwrap_or(Value::Null));
            out.insert("conditionExplanation".into(), self.condition(c, resource));
        }
        (Value::Object(out), state)
    }

    fn allow_explanation(&self) -> Value {
        let mut policies = Vec::new();
        let mut states = Vec::new();
        for at in &self.facts.allow {
            let Some(policy) = &at.policy else {
                states.push("ALLOW_ACCESS_STATE_UNKNOWN_INFO");
                policies.push(json!({
                    "allowAccessState": "ALLOW_ACCESS_STATE_UNKNOWN_INFO",
                    "fullResourceName": full_name(&at.resource),
                    "relevance": relevance(false),
                }));
                continue;
            };
            let (bindings, binding_states): (Vec<Value>, Vec<&'static str>) =
                policy.bindings.iter().map(|b| self.binding_explanation(b, &at.resource)).unzip();
            let state = combine(&binding_states, &ALLOW_ORDER);
            states.push(state);
            policies.push(json!({
                "allowAccessState": state,
                "fullResourceName": full_name(&at.resource),
                "policy": policy,
                "relevance": relevance(state == "ALLOW_ACCESS_STATE_GRANTED"),
                "bindingExplanations": bindings,
            }));
        }
        let state = combine(&states, &ALLOW_ORDER);
        json!({
            "allowAccessState": state,
            "explainedPolicies": policies,
            "relevance": relevance(state == "ALLOW_ACCESS_STATE_GRANTED"),
        })
    }

    fn principal_map(&self, principals: &[String], attachment: &str) -> (Map<String, Value>, &'static str) {
        let v2 = vec![eval::v2_permission(self.permission)];
        let mut out = Map::new();
        let mut states = Vec::new();
        for p in principals {
            let s =
                match self.run(self.grant(), self.at, Some((attachment, rule(std::slice::from_ref(p), &v2)))).verdict {
                    Verdict::Denied => "MEMBERSHIP_MATCHED",
                    Verdict::Allowed => "MEMBERSHIP_NOT_MATCHED",
                    Verdict::Unknown => "MEMBERSHIP_UNKNOWN_INFO",
                };
            states.push(s);
            out.insert(p.clone(), json!({"membership": s, "relevance": relevance(s == "MEMBERSHIP_MATCHED")}));
        }
        (out, combine(&states, &MEMBERSHIP_ORDER))
    }

    fn permission_map(&self, patterns: &[String], attachment: &str) -> (Map<String, Value>, &'static str) {
        let everyone = vec![EVERYONE.to_owned()];
        let mut out = Map::new();
        let mut any = false;
        for p in patterns {
            let matched =
                self.run(self.grant(), self.at, Some((attachment, rule(&everyone, std::slice::from_ref(p))))).verdict
                    == Verdict::Denied;
            any |= matched;
            let s = if matched { "PERMISSION_PATTERN_MATCHED" } else { "PERMISSION_PATTERN_NOT_MATCHED" };
            out.insert(p.clone(), json!({"permissionMatchingState": s, "relevance": relevance(matched)}));
        }
        (out, if any { "PERMISSION_PATTERN_MATCHED" } else { "PERMISSION_PATTERN_NOT_MATCHED" })
    }

    fn rule_explanation(&self, r: &DenyRule, attachment: &str) -> (Value, &'static str) {
        let state = deny_state(&self.run(self.grant(), self.at, Some((attachment, r.clone()))));
        let (denied_principals, dp) = self.principal_map(&r.denied_principals, attachment);
        let (exception_principals, ep) = self.principal_map(&r.exception_principals, attachment);
        let (denied_permissions, dq) = self.permission_map(&r.denied_permissions, attachment);
        let (exception_permissions, eq) = self.permission_map(&r.exception_permissions, attachment);
        let mut out = Map::new();
        out.insert("denyAccessState".into(), json!(state));
        out.insert(
            "combinedDeniedPrincipal".into(),
            json!({"membership": dp, "relevance": relevance(dp == "MEMBERSHIP_MATCHED")}),
        );
        out.insert("deniedPrincipals".into(), Value::Object(denied_principals));
        out.insert(
            "combinedExceptionPrincipal".into(),
            json!({"membership": ep, "relevance": relevance(ep == "MEMBERSHIP_MATCHED")}),
        );
        out.insert("exceptionPrincipals".into(), Value::Object(exception_principals));
        out.insert(
            "combinedDeniedPermission".into(),
            json!({"permissionMatchingState": dq, "relevance": relevance(dq == "PERMISSION_PATTERN_MATCHED")}),
        );
        out.insert("deniedPermissions".into(), Value::Object(denied_permissions));
        out.insert(
            "combinedExceptionPermission".into(),
            json!({"permissionMatchingState": eq, "relevance": relevance(eq == "PERMISSION_PATTERN_MATCHED")}),
        );
        out.insert("exceptionPermissions".into(), Value::Object(exception_permissions));
        out.insert("relevance".into(), json!(relevance(state == "DENY_ACCESS_STATE_DENIED")));
        if let Some(c) = &r.denial_condition {
            out.insert("condition".into(), serde_json::to_value(c).unwrap_or(Value::Null));
        }
        (Value::Object(out), state)
    }

    fn deny_explanation(&self) -> Value {
        let mut resources = Vec::new();
        let mut states = Vec::new();
        for at in &self.facts.deny {
            let mut policies = Vec::new();
            let mut policy_states = Vec::new();
            for policy in at.policies.iter().flatten() {
                let (rules, rule_states): (Vec<Value>, Vec<&'static str>) = policy
                    .rules
                    .iter()
                    .filter_map(|r| r.deny_rule.as_ref())
                    .map(|r| self.rule_explanation(r, &at.attachment))
                    .unzip();
                let state = combine(&rule_states, &DENY_ORDER);
                policy_states.push(state);
                policies.push(json!({
                    "denyAccessState": state,
                    "policy": policy,
                    "relevance": relevance(state == "DENY_ACCESS_STATE_DENIED"),
                    "ruleExplanations": rules,
                }));
            }
            let state = combine(&policy_states, &DENY_ORDER);
            states.push(state);
            resources.push(json!({
                "denyAccessState": state,
                "fullResourceName": format!("//{}", at.attachment),
                "relevance": relevance(state == "DENY_ACCESS_STATE_DENIED"),
                "explainedPolicies": policies,
            }));
        }
        let state = combine(&states, &DENY_ORDER);
        json!({
            "denyAccessState": state,
            "permissionDeniable": true,
            "relevance": relevance(state == "DENY_ACCESS_STATE_DENIED"),
            "explainedResources": resources,
        })
    }
}
