//! Cloud Resource Manager v3 (projects, folders, organizations and their
//! allow policies) and v1 (projects, `getAncestry`, allow policies).
//! v3 names a project `projects/NUMBER` whatever the path said.

use serde_json::{Map, Value, json};

use super::{Answer, CREATE_TIME, Call, Target, iam_verbs};
use crate::authz::require;
use crate::errors::ApiError;
use crate::state::State;
use crate::world::{Folder, Organization, Project, World, sha256};

/// v3 `state` of projects, folders and organizations.
const STATE: [(&str, i64); 3] = [("STATE_UNSPECIFIED", 0), ("ACTIVE", 1), ("DELETE_REQUESTED", 2)];

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    if let ["v3", kind @ ("projects" | "folders")] = segs
        && call.verb.is_none()
        && call.is("GET")
    {
        return Some(list(&state.world, call, kind));
    }
    let (version, kind, id) = match segs {
        [v @ ("v1" | "v3"), k @ ("projects" | "folders" | "organizations"), id] => (*v, *k, *id),
        _ => return None,
    };
    // v1 serves projects only; its folders and organizations are other APIs.
    if version == "v1" && kind != "projects" {
        return None;
    }
    let key = match resolve(&state.world, kind, id) {
        Ok(k) => k,
        Err(e) => return Some(Err(e)),
    };
    // `resourcemanager.projects`, `.folders`, `.organizations`.
    let permissions = format!("resourcemanager.{kind}");
    let shown = format!("{kind}/{id}");
    let reads = matches!(call.verb.as_deref(), None | Some("getAncestry"));
    if reads && let Err(e) = require(state, &key, &format!("{permissions}.get"), &shown) {
        return Some(Err(e));
    }
    let world = &state.world;
    let gone = || ApiError::not_found(format!("Resource '{kind}/{id}' was not found."));
    match call.verb.as_deref() {
        None if call.is("GET") => {
            let body = match (version, kind) {
                ("v1", _) => world.project(id).map(project_v1),
                ("v3", "projects") => world.project(id).map(|p| project_v3(call, p)),
                ("v3", "folders") => world.folder(id).map(|f| folder(call, f)),
                _ => world.organization(id).map(|o| organization(call, o)),
            };
            Some(body.ok_or_else(gone))
        }
        None => None,
        Some("getAncestry") if version == "v1" && call.is("POST") => {
            Some(world.project(id).map(|p| ancestry(world, p)).ok_or_else(gone))
        }
        Some(_) => {
            let target = Target {
                key: &key,
                shown: &shown,
                permissions: &permissions,
                enforced: true,
                service_name: "cloudresourcemanager.googleapis.com",
                set_method: "SetIamPolicy",
            };
            iam_verbs(state, call, &target, &["POST", "GET"])
        }
    }
}

/// v3 `projects.list` / `folders.list`: the children of `parent`
/// (`organizations/N` or `folders/N`), in id order, paged. The offline role
/// table has no `.list` permissions, so the operator is not checked here.
fn list(world: &World, call: &Call, kind: &str) -> Answer {
    let parent = call
        .param(&["parent"])
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid_field("parent", "parent is required: organizations/N or folders/N."))?;
    let size = call.count_param(&["pageSize", "page_size"])?.filter(|n| *n > 0).unwrap_or(1000);
    let token = call.param(&["pageToken", "page_token"]);
    let (field, items) = if kind == "projects" {
        let children: Vec<&Project> = world.projects.iter().filter(|p| p.parent.as_deref() == Some(parent)).collect();
        let (shown, next) = super::page(&children, size, token)?;
        ("projects", (shown.iter().map(|p| project_v3(call, p)).collect::<Vec<_>>(), next))
    } else {
        let children: Vec<&Folder> = world.folders.iter().filter(|f| f.parent == parent).collect();
        let (shown, next) = super::page(&children, size, token)?;
        ("folders", (shown.iter().map(|f| folder(call, f)).collect::<Vec<_>>(), next))
    };
    let (items, next) = items;
    let mut out = Map::new();
    if !items.is_empty() {
        out.insert(field.into(), Value::Array(items));
    }
    if let Some(t) = next {
        out.insert("nextPageToken".into(), json!(t));
    }
    Ok(Value::Object(out))
}

/// The policy key of a resource, or the API's 404.
fn resolve(world: &World, kind: &str, id: &str) -> Result<String, ApiError> {
    let found = match kind {
        "projects" => world.project(id).map(|p| format!("projects/{}", p.id)),
        "folders" => world.folder(id).map(|f| format!("folders/{}", f.id)),
        _ => world.organization(id).map(|o| format!("organizations/{}", o.id)),
    };
    found.ok_or_else(|| ApiError::not_found(format!("Resource '{kind}/{id}' was not found.")))
}

fn etag(name: &str) -> String {
    let d = sha256(format!("crm-etag:{name}").as_bytes());
    format!("W/\"{}\"", d[..8].iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn project_v3(call: &Call, p: &Project) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(format!("projects/{}", p.number)));
    if let Some(parent) = &p.parent {
        out.insert("parent".into(), json!(parent));
    }
    out.insert("projectId".into(), json!(p.id));
    out.insert("state".into(), call.enum_value(&STATE, "ACTIVE"));
    out.insert("displayName".into(), json!(p.display_name.clone().unwrap_or_else(|| p.id.clone())));
    out.insert("createTime".into(), json!(CREATE_TIME));
    out.insert("updateTime".into(), json!(CREATE_TIME));
    out.insert("etag".into(), json!(etag(&format!("projects/{}", p.number))));
    if !p.labels.is_empty() {
        out.insert("labels".into(), json!(p.labels));
    }
    Value::Object(out)
}

fn folder(call: &Call, f: &Folder) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(format!("folders/{}", f.id)));
    if !f.parent.is_empty() {
        out.insert("parent".into(), json!(f.parent));
    }
    if !f.display_name.is_empty() {
        out.insert("displayName".into(), json!(f.display_name));
    }
    out.insert("state".into(), call.enum_value(&STATE, "ACTIVE"));
    out.insert("createTime".into(), json!(CREATE_TIME));
    out.insert("updateTime".into(), json!(CREATE_TIME));
    out.insert("etag".into(), json!(etag(&format!("folders/{}", f.id))));
    Value::Object(out)
}

fn organization(call: &Call, o: &Organization) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(format!("organizations/{}", o.id)));
    if !o.domain.is_empty() {
        out.insert("displayName".into(), json!(o.domain));
    }
    if !o.customer_id.is_empty() {
        out.insert("directoryCustomerId".into(), json!(o.customer_id));
    }
    out.insert("state".into(), call.enum_value(&STATE, "ACTIVE"));
    out.insert("createTime".into(), json!(CREATE_TIME));
    out.insert("updateTime".into(), json!(CREATE_TIME));
    out.insert("etag".into(), json!(etag(&format!("organizations/{}", o.id))));
    Value::Object(out)
}

/// `{type, id}` of a parent name (`folders/N` → `{folder, N}`).
fn resource_id(name: &str) -> Value {
    let (kind, id) = name.split_once('/').unwrap_or(("", name));
    json!({"type": kind.trim_end_matches('s'), "id": id})
}

fn project_v1(p: &Project) -> Value {
    let mut out = Map::new();
    out.insert("projectNumber".into(), json!(p.number));
    out.insert("projectId".into(), json!(p.id));
    out.insert("lifecycleState".into(), json!("ACTIVE"));
    out.insert("name".into(), json!(p.display_name.clone().unwrap_or_else(|| p.id.clone())));
    out.insert("createTime".into(), json!(CREATE_TIME));
    if !p.labels.is_empty() {
        out.insert("labels".into(), json!(p.labels));
    }
    if let Some(parent) = &p.parent {
        out.insert("parent".into(), resource_id(parent));
    }
    Value::Object(out)
}

/// Bottom to top: the project (by id), its folders, its organization.
fn ancestry(world: &World, p: &Project) -> Value {
    let mut chain = vec![json!({"resourceId": {"type": "project", "id": p.id}})];
    let mut next = p.parent.clone();
    // The world's parents are checked at load; the bound guards a cycle.
    while let Some(parent) = next.take().filter(|_| chain.len() <= world.folders.len() + 2) {
        chain.push(json!({ "resourceId": resource_id(&parent) }));
        next = parent
            .strip_prefix("folders/")
            .and_then(|f| world.folder(f))
            .map(|f| f.parent.clone())
            .filter(|p| !p.is_empty());
    }
    json!({ "ancestor": chain })
}
