//! Access Context Manager v1 reads (docs/emulator.md "VPC Service
//! Controls"): `accessPolicies.list` with `parent=organizations/N` and
//! `accessPolicies.servicePerimeters.list`, from the world's access
//! policies (crate::acm). The operator needs
//! `accesscontextmanager.policies.list` and
//! `accesscontextmanager.servicePerimeters.list` on the organization.

use runiam_core::api::access_context::{PERIMETERS_LIST, POLICIES_LIST};
use serde_json::{Value, json};

use super::callers::listing_at_most;
use super::{Answer, Call};
use crate::authz::require;
use crate::errors::ApiError;
use crate::state::State;
use crate::world::sha256;

/// Access Context Manager's largest page.
const PAGE: usize = 100;

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    if call.verb.is_some() {
        return None;
    }
    match segs {
        ["v1", "accessPolicies"] if call.is("GET") => Some(policies(state, call)),
        ["v1", "accessPolicies", id, "servicePerimeters"] if call.is("GET") => Some(perimeters(state, call, id)),
        ["v1", "accessPolicies", id, "servicePerimeters", p] if call.is("PATCH") => Some(patch(state, call, id, p)),
        _ => None,
    }
}

fn etag(name: &str) -> String {
    sha256(format!("acm:{name}").as_bytes())[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn policies(state: &State, call: &Call) -> Answer {
    let parent = call
        .param(&["parent"])
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid_field("parent", "parent is required: organizations/{organization_id}."))?;
    let org = parent.strip_prefix("organizations/").and_then(|o| state.world.organization(o)).ok_or_else(|| {
        ApiError::invalid_field("parent", format!("'{parent}' is not an organization this world holds."))
    })?;
    let key = format!("organizations/{}", org.id);
    require(state, &key, POLICIES_LIST, &key)?;
    let items: Vec<Value> = state
        .world
        .access_policies
        .iter()
        .filter(|p| p.parent == key)
        .map(|p| json!({"name": p.name, "parent": p.parent, "title": p.title, "etag": etag(&p.name)}))
        .collect();
    listing_at_most(call, "accessPolicies", &items, PAGE)
}

fn perimeters(state: &State, call: &Call, id: &str) -> Answer {
    let name = format!("accessPolicies/{id}");
    let policy = state
        .world
        .access_policies
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ApiError::not_found(format!("Access Policy '{name}' not found.")))?;
    require(state, &policy.parent, PERIMETERS_LIST, &name)?;
    let items: Vec<Value> = policy
        .service_perimeters
        .iter()
        .map(|p| {
            let mut v = serde_json::to_value(p).unwrap_or_default();
            v["etag"] = json!(etag(&p.name));
            v
        })
        .collect();
    listing_at_most(call, "servicePerimeters", &items, PAGE)
}

/// `servicePerimeters.patch`: the fields `updateMask` names (required)
/// replaced from the body, answered by a done Operation as the change
/// applies at once here. Paths: `title`, `status`, `spec`,
/// `useExplicitDryRunSpec`, and `status.`/`spec.` with `resources`,
/// `restrictedServices`, `accessLevels` or `ingressPolicies`.
fn patch(state: &mut State, call: &Call, id: &str, short: &str) -> Answer {
    let name = format!("accessPolicies/{id}/servicePerimeters/{short}");
    let policy = state
        .world
        .access_policies
        .iter()
        .position(|p| p.name == format!("accessPolicies/{id}"))
        .ok_or_else(|| ApiError::not_found(format!("Access Policy 'accessPolicies/{id}' not found.")))?;
    let mask = call
        .param(&["updateMask", "update_mask"])
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::invalid_field("update_mask", "update_mask is required and must be non-empty."))?;
    let found = state.world.access_policies[policy].service_perimeters.iter().position(|p| p.name == name);
    let index = found.ok_or_else(|| ApiError::not_found(format!("Service Perimeter '{name}' not found.")))?;
    let mut current = serde_json::to_value(&state.world.access_policies[policy].service_perimeters[index])
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let body = Value::Object(call.body.clone());
    for path in mask.split(',').map(str::trim) {
        let camel = camel_case(path);
        let parts: Vec<&str> = camel.split('.').collect();
        let ok = matches!(
            parts.as_slice(),
            ["title" | "status" | "spec" | "useExplicitDryRunSpec"]
                | ["status" | "spec", "resources" | "restrictedServices" | "accessLevels" | "ingressPolicies"]
        );
        if !ok {
            return Err(ApiError::invalid_field(
                "update_mask",
                format!("'{path}' is not a field of ServicePerimeter that can be updated."),
            ));
        }
        let pointer = format!("/{}", parts.join("/"));
        let value = body.pointer(&pointer).cloned().unwrap_or(Value::Null);
        match parts.as_slice() {
            [top] => current[*top] = value,
            [top, field] => {
                if !current[*top].is_object() {
                    current[*top] = json!({});
                }
                current[*top][*field] = value;
            }
            _ => {}
        }
    }
    if let Some(o) = current.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    let updated: runiam_core::api::access_context::ServicePerimeter =
        serde_json::from_value(current).map_err(|e| ApiError::invalid(format!("Invalid ServicePerimeter: {e}")))?;
    let mut candidate = state.world.access_policies[policy].clone();
    candidate.service_perimeters[index] = updated.clone();
    crate::access_policy::check(state.world.organization.as_ref().map(|o| o.id.as_str()), &candidate)
        .map_err(|(field, why)| ApiError::invalid_field(&field, why))?;
    state.world.access_policies[policy] = candidate;
    let mut response = serde_json::to_value(&updated).unwrap_or_default();
    response["@type"] = json!("type.googleapis.com/google.identity.accesscontextmanager.v1.ServicePerimeter");
    Ok(json!({"name": format!("operations/{}", etag(&format!("{name}:{mask}"))), "done": true, "response": response}))
}

/// A field mask path in proto's JSON names (`use_explicit_dry_run_spec` → `useExplicitDryRunSpec`).
fn camel_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::super::tests::get;
    use super::super::{ApiRequest, dispatch};
    use crate::state::State;
    use crate::world::World;

    fn state(operator_roles: &str) -> Mutex<State> {
        let text = format!(
            r#"{{"organization": {{"id": "1", "iamPolicy": {{"bindings": [{operator_roles}]}}}},
                "operator": "user:op@acme.example",
                "accessPolicies": [{{"name": "accessPolicies/42", "parent": "organizations/1", "title": "acme",
                  "servicePerimeters": [{{"name": "accessPolicies/42/servicePerimeters/prod",
                    "status": {{"resources": ["projects/1"], "restrictedServices": ["run.googleapis.com"]}}}}]}}]}}"#
        );
        Mutex::new(State::new(World::parse(&text, "w").unwrap()))
    }

    #[test]
    fn policies_and_perimeters_list_for_a_reader_and_403_for_others() {
        let reader =
            state(r#"{"role": "roles/accesscontextmanager.policyReader", "members": ["user:op@acme.example"]}"#);
        let policies = get(&reader, "/v1/accessPolicies", "parent=organizations/1").body;
        assert_eq!(policies["accessPolicies"][0]["name"], "accessPolicies/42");
        assert_eq!(policies["accessPolicies"][0]["parent"], "organizations/1");
        let perimeters = get(&reader, "/v1/accessPolicies/42/servicePerimeters", "").body;
        assert_eq!(perimeters["servicePerimeters"][0]["status"]["restrictedServices"][0], "run.googleapis.com");
        assert_eq!(get(&reader, "/v1/accessPolicies", "").status, 400);
        assert_eq!(get(&reader, "/v1/accessPolicies/7/servicePerimeters", "").status, 404);
        let nobody = state("");
        let denied = get(&nobody, "/v1/accessPolicies", "parent=organizations/1");
        assert_eq!(denied.status, 403);
        assert!(denied.body.to_string().contains("accesscontextmanager.policies.list"), "{}", denied.body);
        assert_eq!(get(&nobody, "/v1/accessPolicies/42/servicePerimeters", "").status, 403);
    }

    #[test]
    fn a_patch_replaces_the_masked_fields_only() {
        let admin =
            state(r#"{"role": "roles/accesscontextmanager.policyReader", "members": ["user:op@acme.example"]}"#);
        let rule = json!({"ingressFrom": {"identityType": "ANY_IDENTITY", "sources": [{"resource": "projects/2"}]},
                          "ingressTo": {"resources": ["*"], "operations": [{"serviceName": "run.googleapis.com"}]}});
        let patch = |query: &str| {
            dispatch(
                &admin,
                &ApiRequest {
                    method: "PATCH".into(),
                    path: "/v1/accessPolicies/42/servicePerimeters/prod".into(),
                    query: query.into(),
                    body: json!({"status": {"ingressPolicies": [rule], "resources": []}}).to_string().into_bytes(),
                    ..Default::default()
                },
            )
        };
        let op = patch("updateMask=status.ingress_policies");
        assert_eq!((op.status, &op.body["done"]), (200, &json!(true)), "{}", op.body);
        let listed = get(&admin, "/v1/accessPolicies/42/servicePerimeters", "").body;
        let status = &listed["servicePerimeters"][0]["status"];
        assert_eq!(status["ingressPolicies"][0], rule);
        assert_eq!(status["resources"], json!(["projects/1"]), "resources are not in the mask");
        assert_eq!(patch("").status, 400);
        assert_eq!(patch("updateMask=name").status, 400);
    }
}
