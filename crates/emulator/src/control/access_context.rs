//! Access Context Manager v1 reads (docs/emulator.md "VPC Service
//! Controls"): `accessPolicies.list` with `parent=organizations/N` and
//! `accessPolicies.servicePerimeters.list`, from the world's access
//! policies (crate::acm). The operator needs
//! `accesscontextmanager.policies.list` and
//! `accesscontextmanager.servicePerimeters.list` on the organization.

use runiam_core::api::access_context::{PERIMETERS_LIST, POLICIES_LIST};
use serde_json::{Map, Value, json};

use super::{Answer, Call, page};
use crate::authz::require;
use crate::errors::ApiError;
use crate::state::State;
use crate::world::sha256;

const PAGE: usize = 100;

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    if call.verb.is_some() || !call.is("GET") {
        return None;
    }
    match segs {
        ["v1", "accessPolicies"] => Some(policies(state, call)),
        ["v1", "accessPolicies", id, "servicePerimeters"] => Some(perimeters(state, call, id)),
        _ => None,
    }
}

fn etag(name: &str) -> String {
    sha256(format!("acm:{name}").as_bytes())[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn paged(call: &Call, field: &str, items: &[Value]) -> Answer {
    let size = call.count_param(&["pageSize", "page_size"])?.filter(|n| *n > 0).unwrap_or(PAGE).min(PAGE);
    let (shown, next) = page(items, size, call.param(&["pageToken", "page_token"]))?;
    let mut out = Map::new();
    if !shown.is_empty() {
        out.insert(field.into(), Value::Array(shown));
    }
    if let Some(t) = next {
        out.insert("nextPageToken".into(), json!(t));
    }
    Ok(Value::Object(out))
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
    paged(call, "accessPolicies", &items)
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
    paged(call, "servicePerimeters", &items)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::super::tests::get;
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
}
