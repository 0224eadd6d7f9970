//! IAM v2 deny policies: `policies.listPolicies` (metadata only; Google
//! omits the rules there) and `policies.get`, read from the world.
//!
//! The attachment point arrives URL-encoded as one path segment
//! (`cloudresourcemanager.googleapis.com%2Fprojects%2Facme-prod`); answers
//! name projects by number, as Google does.

use serde_json::{Map, Value, json};

use super::{Answer, CREATE_TIME, Call, UPDATE_TIME, page};
use crate::authz::{deny_policies_at, deny_policy_model, deny_policy_name, require};
use crate::errors::ApiError;
use crate::state::State;
use crate::world::{DenyPolicy, World, sha256};

/// Google ignores `pageSize` here and uses this.
const PAGE: usize = 1000;

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    match segs {
        ["v2", "policies", attachment, "denypolicies"] if call.verb.is_none() && call.is("GET") => {
            Some(list(state, call, attachment))
        }
        ["v2", "policies", attachment, "denypolicies", id] if call.verb.is_none() && call.is("GET") => {
            Some(get(state, attachment, id))
        }
        _ => None,
    }
}

/// The state key (`projects/ID`, `folders/N`, `organizations/N`) of an
/// attachment point.
fn node(world: &World, attachment: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::invalid_field(
            "parent",
            format!(
                "Invalid attachment point '{attachment}': expected cloudresourcemanager.googleapis.com%2Fprojects%2FID (or folders, organizations), URL-encoded."
            ),
        )
    };
    // Google's Python clients take the parent with `%2F` already in it and
    // escape its `%` again (`%252F`), so a second decoding may be due.
    let twice = percent_encoding::percent_decode_str(attachment).decode_utf8_lossy();
    let attachment = if attachment.contains('/') { attachment } else { twice.as_ref() };
    let full = attachment.strip_prefix("cloudresourcemanager.googleapis.com/").ok_or_else(bad)?;
    let found = match full.split_once('/').ok_or_else(bad)? {
        ("projects", p) => world.project(p).map(|p| format!("projects/{}", p.id)),
        ("folders", f) => world.folder(f).map(|f| format!("folders/{}", f.id)),
        ("organizations", o) => world.organization(o).map(|o| format!("organizations/{}", o.id)),
        _ => return Err(bad()),
    };
    found.ok_or_else(|| ApiError::not_found(format!("Attachment point '{attachment}' was not found.")))
}

fn policy_json(world: &World, d: &DenyPolicy, with_rules: bool) -> Value {
    let name = deny_policy_name(world, d);
    let digest = sha256(format!("denypolicy:{name}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    out.insert(
        "uid".into(),
        json!(format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])),
    );
    out.insert("kind".into(), json!("DenyPolicy"));
    if let Some(n) = &d.display_name {
        out.insert("displayName".into(), json!(n));
    }
    out.insert("etag".into(), json!(format!("W/\"{}\"", &hex[32..48])));
    out.insert("createTime".into(), json!(CREATE_TIME));
    out.insert("updateTime".into(), json!(UPDATE_TIME));
    if with_rules {
        let model = deny_policy_model(world, d);
        out.insert("rules".into(), serde_json::to_value(&model.rules).unwrap_or_else(|_| json!([])));
    }
    Value::Object(out)
}

fn list(state: &State, call: &Call, attachment: &str) -> Answer {
    let world = &state.world;
    let node = node(world, attachment)?;
    require(state, &node, "iam.denypolicies.list", attachment)?;
    let policies: Vec<Value> =
        deny_policies_at(world, &node).into_iter().map(|d| policy_json(world, d, false)).collect();
    let (shown, next) = page(&policies, PAGE, call.param(&["pageToken", "page_token"]))?;
    let mut out = Map::new();
    if !shown.is_empty() {
        out.insert("policies".into(), Value::Array(shown));
    }
    if let Some(t) = next {
        out.insert("nextPageToken".into(), json!(t));
    }
    Ok(Value::Object(out))
}

fn get(state: &State, attachment: &str, id: &str) -> Answer {
    let world = &state.world;
    let node = node(world, attachment)?;
    let shown = format!("policies/{}/denypolicies/{id}", attachment.replace('/', "%2F"));
    require(state, &node, "iam.denypolicies.get", &shown)?;
    deny_policies_at(world, &node)
        .into_iter()
        .find(|d| d.policy_id == id)
        .map(|d| policy_json(world, d, true))
        .ok_or_else(|| ApiError::not_found(format!("Policy {shown} not found.")))
}
