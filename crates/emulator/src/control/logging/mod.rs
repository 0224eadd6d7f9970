//! Cloud Logging v2 `entries.list` over the log store (`crate::logstore`,
//! where the request logs and audit entries are written).
//!
//! Entries belong to a resource name by their `logName`
//! (`projects/ID/logs/...`, `folders/N/logs/...`); filters are the Logging
//! query language (`filter`); `orderBy` is `timestamp asc` (the default) or
//! `timestamp desc`.

pub mod filter;

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value, json};

use super::{Answer, Call, page};
use crate::authz;
use crate::errors::ApiError;
use crate::logstore::LogRecord;
use crate::state::State;

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
