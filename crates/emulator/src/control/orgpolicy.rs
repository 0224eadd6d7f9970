//! Org Policy v2: `policies.get` (404 unless set on that very node) and
//! `policies.getEffectivePolicy` (the nearest policy up the hierarchy) for
//! projects, folders and organizations; and domain restricted sharing
//! (`iam.allowedPolicyMemberDomains`) as setIamPolicy enforces it.

use runiam_core::model::Principal;
use serde_json::{Map, Value, json};

use super::{Answer, Call, UPDATE_TIME};
use crate::authz::{ancestry, require};
use crate::errors::{ApiError, Code};
use crate::state::State;
use crate::world::{OrgPolicy, World, sha256};

/// The constraint domain restricted sharing is.
pub const DRS: &str = "iam.allowedPolicyMemberDomains";

/// Google's message when a setIamPolicy adds a member DRS forbids.
const DRS_MESSAGE: &str = "One or more users named in the policy do not belong to a permitted customer, perhaps due to an organization policy.";

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    let (kind, id, constraint) = match segs {
        ["v2", k @ ("projects" | "folders" | "organizations"), id, "policies", c] if call.is("GET") => (*k, *id, *c),
        _ => return None,
    };
    let effective = match call.verb.as_deref() {
        None => false,
        Some("getEffectivePolicy") => true,
        Some(_) => return None,
    };
    Some(answer(state, kind, id, constraint, effective))
}

fn answer(state: &State, kind: &str, id: &str, constraint: &str, effective: bool) -> Answer {
    let world = &state.world;
    let (node, shown) = node(world, kind, id)?;
    require(state, &node, "orgpolicy.policy.get", &format!("{kind}/{id}"))?;
    let name = format!("{shown}/policies/{constraint}");
    if effective {
        return Ok(match effective_policy(world, &node, constraint) {
            Some(p) => json!({"name": name, "spec": {"rules": rules(p)}}),
            // Nothing set anywhere: the constraint's default applies.
            None => json!({ "name": name }),
        });
    }
    let p = world
        .org_policies
        .iter()
        .find(|p| p.constraint == constraint && node_of(world, &p.parent).as_deref() == Some(node.as_str()))
        .ok_or_else(|| ApiError::not_found(format!("Requested entity was not found: {name}.")))?;
    let etag = etag(&name);
    Ok(json!({
        "name": name,
        "spec": {"etag": etag, "updateTime": UPDATE_TIME, "rules": rules(p)},
        "etag": etag,
    }))
}

/// The state key of a node and its name in answers (projects by number).
fn node(world: &World, kind: &str, id: &str) -> Result<(String, String), ApiError> {
    let found = match kind {
        "projects" => world.project(id).map(|p| (format!("projects/{}", p.id), format!("projects/{}", p.number))),
        "folders" => world.folder(id).map(|f| (format!("folders/{}", f.id), format!("folders/{}", f.id))),
        _ => world.organization(id).map(|o| (format!("organizations/{}", o.id), format!("organizations/{}", o.id))),
    };
    found.ok_or_else(|| ApiError::not_found(format!("Resource '{kind}/{id}' was not found.")))
}

fn node_of(world: &World, parent: &str) -> Option<String> {
    let (kind, id) = parent.split_once('/')?;
    node(world, kind, id).ok().map(|(k, _)| k)
}

fn etag(name: &str) -> String {
    let d = sha256(format!("orgpolicy:{name}").as_bytes());
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn rules(p: &OrgPolicy) -> Vec<Value> {
    if let Some(enforce) = p.enforce {
        return vec![json!({ "enforce": enforce })];
    }
    let mut values = Map::new();
    if !p.allowed_values.is_empty() {
        values.insert("allowedValues".into(), json!(p.allowed_values));
    }
    if !p.denied_values.is_empty() {
        values.insert("deniedValues".into(), json!(p.denied_values));
    }
    if values.is_empty() { vec![json!({"allowAll": true})] } else { vec![json!({ "values": values })] }
}

/// The policy nearest to `node` (a policy key) that sets `constraint`.
pub fn effective_policy<'w>(world: &'w World, node: &str, constraint: &str) -> Option<&'w OrgPolicy> {
    ancestry(world, node).iter().find_map(|n| {
        world
            .org_policies
            .iter()
            .find(|p| p.constraint == constraint && node_of(world, &p.parent).as_deref() == Some(n))
    })
}

/// Domain restricted sharing on the members a setIamPolicy adds to `key`'s
/// policy: members already there are not re-checked (Google's is not
/// retroactive).
pub fn check_added_members(world: &World, key: &str, added: &[&str]) -> Result<(), ApiError> {
    let Some(policy) = effective_policy(world, key, DRS) else {
        return Ok(());
    };
    if policy.allowed_values.is_empty() || policy.enforce == Some(false) {
        return Ok(());
    }
    let customers: Vec<&str> = policy.allowed_values.iter().map(|v| v.strip_prefix("is:").unwrap_or(v)).collect();
    let forbidden: Vec<&str> = added.iter().copied().filter(|m| !allowed(world, &customers, m)).collect();
    if forbidden.is_empty() {
        return Ok(());
    }
    let subject =
        format!("orgpolicy:{}", ancestry(world, key).iter().find(|n| !n.contains("/locations/")).map_or(key, |n| n));
    let violations: Vec<Value> = forbidden
        .iter()
        .map(|m| {
            json!({
                "type": format!("constraints/{DRS}"),
                "subject": subject,
                "description": format!("Member {m} does not belong to a permitted customer ({}).", customers.join(", ")),
            })
        })
        .collect();
    Err(ApiError::new(Code::FailedPrecondition, DRS_MESSAGE)
        .with_detail(json!({"@type": "type.googleapis.com/google.rpc.PreconditionFailure", "violations": violations})))
}

/// Is `member` of a permitted customer? Users, groups and domains by the
/// organization's domain; service accounts by their project being under
/// that organization; `allUsers` and `allAuthenticatedUsers` never.
fn allowed(world: &World, customers: &[&str], member: &str) -> bool {
    let Some(org) = world.organization.as_ref().filter(|o| customers.contains(&o.customer_id.as_str())) else {
        return false;
    };
    let in_domain = |email: &str| email.rsplit_once('@').is_some_and(|(_, d)| d.eq_ignore_ascii_case(&org.domain));
    let org_node = format!("organizations/{}", org.id);
    let project_in_org = |p: Option<&crate::world::Project>| {
        p.is_some_and(|p| ancestry(world, &format!("projects/{}", p.id)).contains(&org_node))
    };
    match Principal::parse(member) {
        Ok(Principal::User(e) | Principal::Group(e)) => in_domain(&e),
        Ok(Principal::Domain(d)) => d.eq_ignore_ascii_case(&org.domain),
        Ok(Principal::ServiceAccount(e)) => {
            let by_world = world.service_account(&e).map(|(p, _)| p);
            project_in_org(by_world.or_else(|| account_project(world, &e)))
        }
        Ok(Principal::Principal(p)) => p.strip_prefix("goog/subject/").is_some_and(in_domain),
        Ok(Principal::PrincipalSet(s)) => {
            s.strip_prefix("goog/cloudIdentityCustomerId/").is_some_and(|c| customers.contains(&c))
        }
        _ => false,
    }
}

/// The project a service account's email names: `X@PROJECT.iam...`,
/// `NUMBER-compute@developer...`, `service-NUMBER@gcp-sa-...`, `PROJECT@appspot...`.
fn account_project<'w>(world: &'w World, email: &str) -> Option<&'w crate::world::Project> {
    let (local, domain) = email.rsplit_once('@')?;
    if let Some(p) = domain.strip_suffix(".iam.gserviceaccount.com").filter(|d| !d.starts_with("gcp-sa-")) {
        return world.project(p);
    }
    if domain == "appspot.gserviceaccount.com" {
        return world.project(local);
    }
    let number = local.strip_suffix("-compute").or_else(|| local.strip_prefix("service-"))?;
    world.project(number)
}
