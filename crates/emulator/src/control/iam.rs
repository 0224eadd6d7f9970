//! IAM v1: roles (predefined from runiam-core's table, custom from the
//! world) and service accounts with their allow policies.

use serde_json::{Map, Value, json};

use super::{Answer, Call, Target, iam_verbs};
use crate::authz;
use crate::errors::ApiError;
use crate::state::State;
use crate::world::{CustomRole, Project, ServiceAccount, World};

/// `Role.stage`.
const STAGE: [(&str, i64); 6] = [("ALPHA", 0), ("BETA", 1), ("GA", 2), ("DEPRECATED", 4), ("DISABLED", 5), ("EAP", 6)];

/// The etag Google shows on predefined roles and untouched accounts.
const STATIC_ETAG: &str = "AA==";
const ACCOUNT_ETAG: &str = "MDEwMjE5MjA=";

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    let world = &state.world;
    match segs {
        ["v1", "roles", r] if call.verb.is_none() && call.is("GET") => Some(predefined(call, &format!("roles/{r}"))),
        ["v1", "projects", p, "roles", r] if call.verb.is_none() && call.is("GET") => {
            let parent =
                world.project(p).map_or_else(|| format!("projects/{p}"), |proj| format!("projects/{}", proj.id));
            authz::observe(state, &parent, "iam.roles.get");
            Some(custom(world, call, &format!("{parent}/roles/{r}")))
        }
        ["v1", "organizations", o, "roles", r] if call.verb.is_none() && call.is("GET") => {
            authz::observe(state, &format!("organizations/{o}"), "iam.roles.get");
            Some(custom(world, call, &format!("organizations/{o}/roles/{r}")))
        }
        ["v1", "projects", p, "serviceAccounts", email] => {
            let (proj, account) = match account(world, p, email) {
                Ok(found) => found,
                Err(e) => return Some(Err(e)),
            };
            let key = format!("projects/{}/serviceAccounts/{}", proj.id, account.email);
            match call.verb {
                None if call.is("GET") => {
                    authz::observe(state, &key, "iam.serviceAccounts.get");
                    Some(Ok(account_json(proj, account)))
                }
                None => None,
                Some(_) => {
                    let target = Target {
                        key: &key,
                        shown: &key,
                        permissions: "iam.serviceAccounts",
                        enforced: false,
                        service_name: "iam.googleapis.com",
                        set_method: "google.iam.admin.v1.SetIAMPolicy",
                    };
                    iam_verbs(state, call, &target, &["POST", "GET"])
                }
            }
        }
        ["v1", "projects", p, "serviceAccounts", email, "keys"] if call.verb.is_none() && call.is("GET") => {
            Some(account(world, p, email).map(|(proj, a)| {
                authz::observe(
                    state,
                    &format!("projects/{}/serviceAccounts/{}", proj.id, a.email),
                    "iam.serviceAccountKeys.list",
                );
                keys_json(proj, a)
            }))
        }
        _ => None,
    }
}

/// `ListServiceAccountKeysResponse`: the world's keys are user-managed;
/// Google's own system-managed keys are not listed.
fn keys_json(p: &Project, a: &ServiceAccount) -> Value {
    let keys: Vec<Value> = a
        .keys
        .iter()
        .map(|k| {
            let mut out = Map::new();
            out.insert("name".into(), json!(format!("projects/{}/serviceAccounts/{}/keys/{}", p.id, a.email, k.id)));
            if let Some(t) = &k.valid_after_time {
                out.insert("validAfterTime".into(), json!(t));
            }
            out.insert("keyAlgorithm".into(), json!("KEY_ALG_RSA_2048"));
            out.insert("keyOrigin".into(), json!("GOOGLE_PROVIDED"));
            out.insert("keyType".into(), json!("USER_MANAGED"));
            Value::Object(out)
        })
        .collect();
    if keys.is_empty() { json!({}) } else { json!({ "keys": keys }) }
}

fn role_json(
    call: &Call,
    name: &str,
    title: Option<&str>,
    description: Option<&str>,
    permissions: &[String],
    stage: &str,
    etag: &str,
) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    if let Some(t) = title.filter(|t| !t.is_empty()) {
        out.insert("title".into(), json!(t));
    }
    if let Some(d) = description.filter(|d| !d.is_empty()) {
        out.insert("description".into(), json!(d));
    }
    if !permissions.is_empty() {
        out.insert("includedPermissions".into(), json!(permissions));
    }
    // ALPHA is the enum's zero, so proto3 JSON leaves it out.
    if stage != "ALPHA" {
        out.insert("stage".into(), call.enum_value(&STAGE, stage));
    }
    out.insert("etag".into(), json!(etag));
    Value::Object(out)
}

fn predefined(call: &Call, name: &str) -> Answer {
    let role = runiam_core::roles::predefined(name)
        .ok_or_else(|| ApiError::not_found(format!("The role named {name} was not found.")))?;
    let stage = if role.stage.is_empty() { "GA" } else { role.stage.as_str() };
    Ok(role_json(call, &role.name, Some(&role.title), None, &role.included_permissions, stage, STATIC_ETAG))
}

fn custom(world: &World, call: &Call, name: &str) -> Answer {
    let org_roles = world.organization.iter().flat_map(|o| o.custom_roles.iter());
    let roles: Vec<&CustomRole> = org_roles.chain(world.projects.iter().flat_map(|p| p.custom_roles.iter())).collect();
    let role = roles
        .into_iter()
        .find(|r| r.name == name)
        .ok_or_else(|| ApiError::not_found(format!("The role named {name} was not found.")))?;
    let etag = {
        use base64::Engine;
        let d = crate::world::sha256(format!("role:{name}").as_bytes());
        base64::engine::general_purpose::STANDARD.encode(&d[..8])
    };
    let stage = role.stage.as_deref().unwrap_or("GA");
    Ok(role_json(
        call,
        &role.name,
        role.title.as_deref(),
        role.description.as_deref(),
        &role.included_permissions,
        stage,
        &etag,
    ))
}

/// A service account by email or unique id, in `projects/-` or its project.
fn account<'w>(world: &'w World, p: &str, id: &str) -> Result<(&'w Project, &'w ServiceAccount), ApiError> {
    world.service_account(id).filter(|(proj, _)| p == "-" || proj.id == p || proj.number == p).ok_or_else(|| {
        ApiError::not_found(format!("Unknown service account: projects/{p}/serviceAccounts/{id}")).with_reason(
            "RESOURCE_NOT_FOUND",
            "iam.googleapis.com",
            json!({}),
        )
    })
}

fn account_json(p: &Project, a: &ServiceAccount) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(format!("projects/{}/serviceAccounts/{}", p.id, a.email)));
    out.insert("projectId".into(), json!(p.id));
    out.insert("uniqueId".into(), json!(a.unique_id));
    out.insert("email".into(), json!(a.email));
    if let Some(d) = &a.display_name {
        out.insert("displayName".into(), json!(d));
    }
    out.insert("etag".into(), json!(ACCOUNT_ETAG));
    out.insert("oauth2ClientId".into(), json!(a.unique_id));
    if a.disabled {
        out.insert("disabled".into(), json!(true));
    }
    Value::Object(out)
}
