//! Who may do what in the emulator: the facts runiam-core's evaluator needs,
//! gathered from the state (allow policies up the hierarchy, deny policies
//! at each attachment point, custom roles, group members), and the
//! operator's permission checks built on them.
//!
//! The world is the whole truth here: a group it does not declare has no
//! members, rather than the evaluator's "unknown".

use chrono::{DateTime, Utc};
use runiam_core::doc::Verdict;
use runiam_core::eval::{self, AllowPolicyAt, DenyPolicyAt, Facts, GroupFacts};
use runiam_core::model::{Principal, ServiceRef};
use serde_json::json;

use crate::errors::{ApiError, Code};
use crate::state::State;
use crate::world::{DenyPolicy, World};

/// The policy keys from `key` up to the organization, nearest first:
/// a service or service account, its project, its folders, the org.
pub fn ancestry(world: &World, key: &str) -> Vec<String> {
    let mut chain = vec![key.to_owned()];
    let mut parent = match key.split('/').collect::<Vec<_>>().as_slice() {
        ["projects", p, _, ..] => {
            chain.push(format!("projects/{p}"));
            world.project(p).and_then(|p| p.parent.clone())
        }
        ["projects", p] => world.project(p).and_then(|p| p.parent.clone()),
        ["folders", f] => world.folder(f).map(|f| f.parent.clone()),
        _ => None,
    };
    // Parents are checked at load; the bound guards a cycle all the same.
    while let Some(next) = parent.take().filter(|p| !p.is_empty() && chain.len() <= world.folders.len() + 3) {
        parent = next.strip_prefix("folders/").and_then(|f| world.folder(f)).map(|f| f.parent.clone());
        chain.push(next);
    }
    chain
}

/// `cloudresourcemanager.googleapis.com/projects/NUMBER`, the form deny
/// policies are attached by (projects by number, as Google answers).
pub fn attachment_name(world: &World, node: &str) -> Option<String> {
    let full = match node.split_once('/') {
        Some(("projects", p)) => format!("projects/{}", world.project(p)?.number),
        Some(("folders" | "organizations", _)) => node.to_owned(),
        _ => return None,
    };
    Some(format!("cloudresourcemanager.googleapis.com/{full}"))
}

/// The world's deny policies attached at `node` (`projects/ID`, ...).
pub fn deny_policies_at<'w>(world: &'w World, node: &str) -> Vec<&'w DenyPolicy> {
    let Some(wanted) = attachment_name(world, node) else {
        return Vec::new();
    };
    world
        .deny_policies
        .iter()
        .filter(|d| attachment_name(world, &d.attachment_point).as_deref() == Some(&wanted))
        .collect()
}

/// A deny policy in `GoogleIamV2Policy` form, as the evaluator takes it.
pub fn deny_policy_model(world: &World, d: &DenyPolicy) -> eval::DenyPolicy {
    let rules = d
        .rules
        .iter()
        .map(|r| eval::DenyPolicyRule {
            description: None,
            deny_rule: Some(eval::DenyRule {
                denied_principals: r.denied_principals.clone(),
                exception_principals: r.exception_principals.clone(),
                denied_permissions: r.denied_permissions.clone(),
                exception_permissions: r.exception_permissions.clone(),
                denial_condition: r.denial_condition.clone(),
            }),
            extra: Default::default(),
        })
        .collect();
    eval::DenyPolicy {
        name: Some(deny_policy_name(world, d)),
        display_name: d.display_name.clone(),
        rules,
        extra: Default::default(),
    }
}

/// `policies/cloudresourcemanager.googleapis.com%2Fprojects%2FNUMBER/denypolicies/ID`.
pub fn deny_policy_name(world: &World, d: &DenyPolicy) -> String {
    let attachment = attachment_name(world, &d.attachment_point).unwrap_or_else(|| d.attachment_point.clone());
    format!("policies/{}/denypolicies/{}", attachment.replace('/', "%2F"), d.policy_id)
}

/// The `ServiceRef` the evaluator reads conditions' `resource.name` from.
/// Resources other than services have no such name; theirs carries the
/// project (or `-`) and `-` parts, which no real condition matches.
fn service_ref(world: &World, key: &str) -> ServiceRef {
    let parts: Vec<&str> = key.split('/').collect();
    let (project, region, name) = match parts.as_slice() {
        ["projects", p, "locations", r, "services", s] => (*p, *r, *s),
        ["projects", p, ..] => (*p, "-", "-"),
        _ => ("-", "-", "-"),
    };
    ServiceRef {
        project: project.to_owned(),
        project_number: world.project(project).map(|p| p.number.clone()),
        region: region.to_owned(),
        name: name.to_owned(),
    }
}

/// Everything the evaluator needs to decide whether `caller` holds a
/// permission on the resource whose policy key is `key`.
pub fn facts(state: &State, key: &str, caller: Option<Principal>, now: DateTime<Utc>) -> Facts {
    let world = &state.world;
    let chain = ancestry(world, key);
    let allow: Vec<AllowPolicyAt> =
        chain.iter().map(|r| AllowPolicyAt { resource: r.clone(), policy: state.get_policy(r, 3).ok() }).collect();
    let deny: Vec<DenyPolicyAt> = chain
        .iter()
        .filter_map(|node| {
            let attachment = attachment_name(world, node)?;
            let policies = deny_policies_at(world, node).into_iter().map(|d| deny_policy_model(world, d)).collect();
            Some(DenyPolicyAt { attachment, policies: Some(policies) })
        })
        .collect();
    let org_roles = world.organization.iter().flat_map(|o| o.custom_roles.iter());
    let roles = org_roles
        .chain(world.projects.iter().flat_map(|p| p.custom_roles.iter()))
        .map(|r| (r.name.clone(), Some(r.included_permissions.clone())))
        .collect();
    let mut groups: std::collections::BTreeMap<String, GroupFacts> = world
        .groups
        .iter()
        .map(|g| (g.email.clone(), GroupFacts { caller: None, members: Some(g.members.clone()) }))
        .collect();
    // Groups named in policies but not declared are empty, not unknown.
    let named = allow
        .iter()
        .filter_map(|a| a.policy.as_ref())
        .flat_map(|p| p.bindings.iter().flat_map(|b| b.members.iter().cloned()))
        .chain(deny.iter().flat_map(|d| {
            d.policies.iter().flatten().flat_map(|p| {
                p.rules.iter().filter_map(|r| r.deny_rule.as_ref()).flat_map(|r| {
                    r.denied_principals.iter().chain(r.exception_principals.iter()).cloned().collect::<Vec<_>>()
                })
            })
        }))
        .filter_map(|m| {
            m.strip_prefix("group:").or_else(|| m.strip_prefix("principalSet://goog/group/")).map(str::to_owned)
        })
        .collect::<Vec<_>>();
    for g in named {
        if !groups.keys().any(|k| k.eq_ignore_ascii_case(&g)) {
            groups.insert(g, GroupFacts { caller: None, members: Some(Vec::new()) });
        }
    }
    Facts { service: service_ref(world, key), caller, allow, deny, roles, groups, now }
}

/// Does the world's operator hold `permission` on `key`? Always, when the
/// world names no operator.
/// Each check is recorded for `/emulator/v1/checks`.
pub fn operator_holds(state: &State, key: &str, permission: &str) -> bool {
    let held = match &state.world.operator {
        None => true,
        Some(op) => Principal::parse(op).is_ok_and(|caller| {
            eval::evaluate(&facts(state, key, Some(caller), Utc::now()), permission).verdict == Verdict::Allowed
        }),
    };
    state.checks.record(permission, key, held);
    held
}

/// A check Google makes that the emulator records without enforcing: the
/// reads of service accounts, their keys and policies, and custom roles,
/// which it has always served to any operator (the offline role table
/// lacks some of their permissions, so a predefined role could not hold
/// them). A command that works only thanks to that shows it in the
/// record: the check is there with `granted: false`.
pub fn observe(state: &State, key: &str, permission: &str) {
    operator_holds(state, key, permission);
}

/// Google's 403 for a permission the caller lacks on `resource` (the
/// name as the API shows it).
pub fn permission_denied(permission: &str, resource: &str) -> ApiError {
    ApiError::new(
        Code::PermissionDenied,
        format!("Permission '{permission}' denied on resource '{resource}' (or it may not exist)."),
    )
    .with_reason(
        "IAM_PERMISSION_DENIED",
        "iam.googleapis.com",
        json!({"permission": permission, "resource": resource}),
    )
}

/// The operator check in front of an API method.
pub fn require(state: &State, key: &str, permission: &str, resource: &str) -> Result<(), ApiError> {
    if operator_holds(state, key, permission) { Ok(()) } else { Err(permission_denied(permission, resource)) }
}

/// What testIamPermissions answers: the asked permissions the operator holds.
pub fn held(state: &State, key: &str, permissions: &[String]) -> Vec<String> {
    permissions.iter().filter(|p| operator_holds(state, key, p)).cloned().collect()
}
