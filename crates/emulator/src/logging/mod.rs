//! Cloud Logging v2 `entries.list` over the log store, and the Admin
//! Activity AuditLog entries the emulator writes for every successful
//! setIamPolicy (with `serviceData.policyDelta`, as IAM's audit data has it).
//!
//! Entries belong to a resource name by their `logName`
//! (`projects/ID/logs/...`, `folders/N/logs/...`); filters are the Logging
//! query language (`filter`); `orderBy` is `timestamp asc` (the default) or
//! `timestamp desc`.

pub mod filter;

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use runiam_core::model::{Expr, Policy};
use serde_json::{Map, Value, json};

use crate::authz;
use crate::control::{Answer, Call, page};
use crate::errors::ApiError;
use crate::logstore::LogRecord;
use crate::state::State;
use crate::world::World;

/// Logging's default and largest page sizes.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 1000;
/// Google's limit on `resourceNames`.
const MAX_RESOURCE_NAMES: usize = 100;

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    match segs {
        ["v2", "entries"] if call.verb.as_deref() == Some("list") && call.is("POST") => Some(list(state, call)),
        _ => None,
    }
}

/// The `logName` prefixes a resource name covers, after the operator check.
fn prefixes(state: &State, name: &str) -> Result<Vec<String>, ApiError> {
    let world = &state.world;
    let parts: Vec<&str> = name.split('/').collect();
    let (node, shown) = match parts.as_slice() {
        ["projects", p] | ["projects", p, "locations", _, "buckets", _, "views", _] => {
            let proj = world
                .project(p)
                .ok_or_else(|| ApiError::not_found(format!("Project '{p}' does not exist or is not accessible.")))?;
            (
                format!("projects/{}", proj.id),
                vec![format!("projects/{}/", proj.id), format!("projects/{}/", proj.number)],
            )
        }
        [kind @ ("folders" | "organizations"), id] => {
            let known = if *kind == "folders" { world.folder(id).is_some() } else { world.organization(id).is_some() };
            if !known {
                return Err(ApiError::not_found(format!("Resource '{name}' does not exist or is not accessible.")));
            }
            (name.to_owned(), vec![format!("{name}/")])
        }
        ["billingAccounts", _] => (String::new(), vec![format!("{name}/")]),
        _ => {
            return Err(ApiError::invalid_field(
                "resourceNames",
                format!(
                    "Invalid resource name '{name}': use projects/ID, folders/N, organizations/N, billingAccounts/ID or a bucket view."
                ),
            ));
        }
    };
    if !node.is_empty() {
        authz::require(state, &node, "logging.logEntries.list", name)?;
    }
    Ok(shown)
}

fn strings(call: &Call, names: &[&str]) -> Result<Vec<String>, ApiError> {
    match call.field(names) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    ApiError::invalid_field(
                        names[0],
                        format!("Invalid JSON payload received at {}: not a string.", names[0]),
                    )
                })
            })
            .collect(),
        Some(_) => Err(ApiError::invalid_field(names[0], format!("{} must be a list of strings.", names[0]))),
    }
}

fn string(call: &Call, names: &[&str]) -> Result<String, ApiError> {
    match call.field(names) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::invalid_field(names[0], format!("{} must be a string.", names[0]))),
    }
}

fn page_size(call: &Call) -> Result<usize, ApiError> {
    let raw = call.field(&["pageSize", "page_size"]);
    let n = match raw {
        None | Some(Value::Null) => return Ok(DEFAULT_PAGE),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    match n {
        Some(n) if n < 0 => {
            Err(ApiError::invalid_field("pageSize", format!("pageSize must not be negative, got {n}.")))
        }
        Some(0) => Ok(DEFAULT_PAGE),
        Some(n) => Ok(usize::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE)),
        None => Err(ApiError::invalid_field("pageSize", "pageSize must be an integer.")),
    }
}

fn timestamp(entry: &Value) -> Option<DateTime<FixedOffset>> {
    entry.get("timestamp").and_then(Value::as_str).and_then(|t| DateTime::parse_from_rfc3339(t).ok())
}

fn list(state: &State, call: &Call) -> Answer {
    let mut names = strings(call, &["resourceNames", "resource_names"])?;
    // `projectIds` is deprecated but still accepted.
    names.extend(strings(call, &["projectIds", "project_ids"])?.into_iter().map(|p| format!("projects/{p}")));
    if names.is_empty() {
        return Err(ApiError::invalid_field("resourceNames", "At least one resource name is required."));
    }
    if names.len() > MAX_RESOURCE_NAMES {
        return Err(ApiError::invalid_field(
            "resourceNames",
            format!("At most {MAX_RESOURCE_NAMES} resource names are allowed, got {}.", names.len()),
        ));
    }
    let mut prefixes_all = Vec::new();
    for name in &names {
        prefixes_all.extend(prefixes(state, name)?);
    }
    let filter =
        filter::parse(&string(call, &["filter"])?).map_err(|e| ApiError::invalid_field("filter", e.to_string()))?;
    let order = string(call, &["orderBy", "order_by"])?;
    let desc = match order.split_whitespace().collect::<Vec<_>>().as_slice() {
        [] | ["timestamp"] | ["timestamp", "asc"] => false,
        ["timestamp", "desc"] => true,
        _ => {
            return Err(ApiError::invalid_field(
                "orderBy",
                format!("Invalid orderBy '{order}': use \"timestamp asc\" or \"timestamp desc\"."),
            ));
        }
    };
    let size = page_size(call)?;
    // Only the logs asked for are rendered: the store holds every request
    // the front end ever answered.
    let all: Vec<Cow<'_, Value>> = state
        .logs
        .iter()
        .filter(|r| prefixes_all.iter().any(|p| r.log_name_starts_with(p)))
        .map(LogRecord::to_value)
        .collect();
    let mut entries: Vec<&Value> = all.iter().map(|e| e.as_ref()).filter(|e| filter.matches(e)).collect();
    // Stable: entries with equal (or no) timestamps keep the order they were written in.
    entries.sort_by(|a, b| {
        let o = timestamp(a).cmp(&timestamp(b));
        if desc { o.reverse() } else { o }
    });
    let (shown, next) = page(&entries, size, call.field(&["pageToken", "page_token"]).and_then(Value::as_str))?;
    let mut out = Map::new();
    if !shown.is_empty() {
        out.insert("entries".into(), Value::Array(shown.into_iter().cloned().collect()));
    }
    if let Some(t) = next {
        out.insert("nextPageToken".into(), json!(t));
    }
    Ok(Value::Object(out))
}

/// One `policyDelta.bindingDeltas` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingDelta {
    pub add: bool,
    pub role: String,
    pub member: String,
    pub condition: Option<Expr>,
}

impl BindingDelta {
    fn json(&self) -> Value {
        let mut out = Map::new();
        out.insert("action".into(), json!(if self.add { "ADD" } else { "REMOVE" }));
        out.insert("role".into(), json!(self.role));
        out.insert("member".into(), json!(self.member));
        if let Some(c) = &self.condition {
            out.insert("condition".into(), serde_json::to_value(c).unwrap_or(Value::Null));
        }
        Value::Object(out)
    }
}

/// What a write changes: (role, member, condition) triples added and removed,
/// removals first, each in policy order.
pub fn binding_deltas(old: &Policy, new: &Policy) -> Vec<BindingDelta> {
    let triples = |p: &Policy| -> Vec<(String, String, Option<Expr>)> {
        let mut out = Vec::new();
        for b in &p.bindings {
            for m in &b.members {
                let t = (b.role.clone(), m.clone(), b.condition.clone());
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        out
    };
    let (before, after) = (triples(old), triples(new));
    let delta = |add: bool, (role, member, condition): &(String, String, Option<Expr>)| BindingDelta {
        add,
        role: role.clone(),
        member: member.clone(),
        condition: condition.clone(),
    };
    let removed = before.iter().filter(|t| !after.contains(t)).map(|t| delta(false, t));
    let added = after.iter().filter(|t| !before.contains(t)).map(|t| delta(true, t));
    removed.chain(added).collect()
}

/// What an audit entry records about one setIamPolicy.
pub struct Audit<'a> {
    /// The policy key (`projects/P/locations/R/services/S`, `projects/P`...).
    pub key: &'a str,
    pub service_name: &'a str,
    pub method_name: &'a str,
    pub permission: &'a str,
    /// The writer (`user:x@y`); none when the world names no operator.
    pub principal: Option<&'a str>,
    pub request: &'a Policy,
    pub response: &'a Policy,
    pub deltas: &'a [BindingDelta],
    /// Distinguishes entries written in the same instant.
    pub sequence: u64,
}

/// The monitored resource and the log's parent for a policy key.
fn audited_resource(world: &World, key: &str) -> (Value, String) {
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        ["projects", p, "locations", r, "services", s] => (
            json!({"type": "cloud_run_revision", "labels": {
                "project_id": p, "location": r, "service_name": s, "revision_name": "", "configuration_name": ""}}),
            format!("projects/{p}"),
        ),
        ["projects", p, "serviceAccounts", email] => {
            let unique = world.service_account(email).map(|(_, a)| a.unique_id.clone()).unwrap_or_default();
            (
                json!({"type": "service_account", "labels": {"project_id": p, "email_id": email, "unique_id": unique}}),
                format!("projects/{p}"),
            )
        }
        ["projects", p] => (json!({"type": "project", "labels": {"project_id": p}}), key.to_owned()),
        ["folders", f] => (json!({"type": "folder", "labels": {"folder_id": f}}), key.to_owned()),
        ["organizations", o] => (json!({"type": "organization", "labels": {"organization_id": o}}), key.to_owned()),
        _ => (json!({"type": "global", "labels": {}}), "projects/-".to_owned()),
    }
}

/// An Admin Activity AuditLog entry for a successful setIamPolicy.
pub fn audit_entry(world: &World, a: &Audit, now: DateTime<Utc>) -> Value {
    let (resource, parent) = audited_resource(world, a.key);
    let time = now.to_rfc3339_opts(SecondsFormat::Micros, true);
    let digest = crate::world::sha256(format!("audit:{}:{}:{time}", a.sequence, a.key).as_bytes());
    let insert_id: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let mut authentication = Map::new();
    if let Some(p) = a.principal {
        let email = p.split_once(':').map_or(p, |(_, e)| e);
        authentication.insert("principalEmail".into(), json!(email));
        authentication.insert("principalSubject".into(), json!(p));
    }
    let mut response = serde_json::to_value(a.response).unwrap_or_else(|_| json!({}));
    if let Value::Object(o) = &mut response {
        o.insert("@type".into(), json!("type.googleapis.com/google.iam.v1.Policy"));
    }
    let mut payload = json!({
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "status": {},
        "authenticationInfo": authentication,
        "requestMetadata": {"callerIp": "127.0.0.1", "callerSuppliedUserAgent": "runiam-emulator"},
        "serviceName": a.service_name,
        "methodName": a.method_name,
        "authorizationInfo": [{"resource": a.key, "permission": a.permission, "granted": true, "resourceAttributes": {}}],
        "resourceName": a.key,
        "serviceData": {
            "@type": "type.googleapis.com/google.iam.v1.logging.AuditData",
            "policyDelta": {"bindingDeltas": a.deltas.iter().map(BindingDelta::json).collect::<Vec<_>>()},
        },
        "request": {
            "@type": "type.googleapis.com/google.iam.v1.SetIamPolicyRequest",
            "resource": a.key,
            "policy": a.request,
        },
        "response": response,
    });
    if let Some(location) = resource["labels"]["location"].as_str() {
        payload["resourceLocation"] = json!({"currentLocations": [location]});
    }
    json!({
        "protoPayload": payload,
        "insertId": insert_id,
        "resource": resource,
        "timestamp": time,
        "severity": "NOTICE",
        "logName": format!("{parent}/logs/cloudaudit.googleapis.com%2Factivity"),
        "receiveTimestamp": time,
    })
}
