//! Cloud Monitoring v3 `projects.alertPolicies`: create, list, get, patch
//! and delete, with Monitoring's validation of a policy (docs/emulator.md):
//! one to six conditions, each of exactly one kind; a log-match condition
//! alone in its policy and with `alertStrategy.notificationRateLimit`,
//! which only log-match policies may have; a display name; user labels,
//! notification channel names and documentation in Google's shapes. Every
//! refusal is 400 INVALID_ARGUMENT naming the field. Policies live in the
//! state until deleted or `/emulator/v1/reset`; they are not
//! permission-checked (runiam-core's role table carries no Monitoring
//! permissions) and raise no incidents.

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{Answer, Call, page};
use crate::errors::ApiError;
use crate::state::State;

/// Monitoring's largest page.
const MAX_PAGE: usize = 1000;
/// The condition kinds of `AlertPolicy.Condition` (monitoring v3 discovery).
const KINDS: [&str; 6] = [
    "conditionThreshold",
    "conditionAbsent",
    "conditionMatchedLog",
    "conditionMonitoringQueryLanguage",
    "conditionPrometheusQueryLanguage",
    "conditionSql",
];
const COMBINERS: [&str; 4] = ["COMBINE_UNSPECIFIED", "AND", "OR", "AND_WITH_MATCHING_RESOURCE"];
/// Who the emulator says made a change.
const MUTATED_BY: &str = "runiam-emulator";

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    if call.verb.is_some() {
        return None;
    }
    match segs {
        ["v3", "projects", p, "alertPolicies"] if call.is("POST") => Some(create(state, call, p)),
        ["v3", "projects", p, "alertPolicies"] if call.is("GET") => Some(list(state, call, p)),
        ["v3", "projects", p, "alertPolicies", id] if call.is("GET") => Some(get(state, p, id)),
        ["v3", "projects", p, "alertPolicies", id] if call.is("DELETE") => Some(delete(state, p, id)),
        ["v3", "projects", p, "alertPolicies", id] if call.is("PATCH") => Some(patch(state, call, p, id)),
        _ => None,
    }
}

/// The project's id as the world names it, or 404.
pub(crate) fn project(state: &State, p: &str) -> Result<String, ApiError> {
    state
        .world
        .project(p)
        .map(|p| p.id.clone())
        .ok_or_else(|| ApiError::not_found(format!("Project '{p}' was not found.")))
}

/// Fields Monitoring sets and a write cannot.
const READ_ONLY: [&str; 4] = ["name", "creationRecord", "mutationRecord", "validity"];

fn create(state: &mut State, call: &Call, p: &str) -> Answer {
    let project = project(state, p)?;
    let mut policy = call.body.clone();
    for f in READ_ONLY {
        policy.remove(f);
    }
    let policy = Value::Object(policy);
    validate(&policy)?;
    state.alert_policy_ids += 1;
    // Monitoring's ids are long decimal numbers; these are reproducible.
    let name = format!("projects/{project}/alertPolicies/{}", 14_000_000_000_000_000_000u64 + state.alert_policy_ids);
    let record = mutation();
    let stored = stored(policy, &name, record.clone(), record);
    state.alert_policies.insert(name, stored.clone());
    Ok(stored)
}

/// `patch`: the fields of `updateMask` (top-level, camelCase or
/// snake_case) from the body, or the whole body without one; the result
/// is validated as a create is.
fn patch(state: &mut State, call: &Call, p: &str, id: &str) -> Answer {
    let name = format!("projects/{}/alertPolicies/{id}", project(state, p)?);
    let old = state.alert_policies.get(&name).ok_or_else(|| missing(&name))?;
    let created = old.get("creationRecord").cloned().unwrap_or_else(mutation);
    let mut next = match call.param(&["updateMask", "update_mask"]).filter(|m| !m.is_empty()) {
        None => call.body.clone(),
        Some(mask) => {
            let mut next = old.as_object().cloned().unwrap_or_default();
            for path in mask.split(',').map(str::trim) {
                let field = camel(path);
                if READ_ONLY.contains(&field.as_str()) || !FIELDS.contains(&field.as_str()) {
                    return Err(bad("update_mask", path, "not a field of AlertPolicy that can be updated."));
                }
                match call.body.get(&field) {
                    Some(v) => next.insert(field, v.clone()),
                    None => next.remove(&field),
                };
            }
            next
        }
    };
    for f in READ_ONLY {
        next.remove(f);
    }
    let next = Value::Object(next);
    validate(&next)?;
    let stored = stored(next, &name, created, mutation());
    state.alert_policies.insert(name, stored.clone());
    Ok(stored)
}

/// The writable fields of `AlertPolicy` (monitoring v3 discovery).
const FIELDS: [&str; 9] = [
    "displayName",
    "documentation",
    "userLabels",
    "conditions",
    "combiner",
    "enabled",
    "notificationChannels",
    "alertStrategy",
    "severity",
];

/// `display_name` → `displayName`.
fn camel(path: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in path.chars() {
        match c {
            '_' => up = true,
            c if up => {
                out.extend(c.to_uppercase());
                up = false;
            }
            c => out.push(c),
        }
    }
    out
}

fn mutation() -> Value {
    json!({"mutateTime": Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true), "mutatedBy": MUTATED_BY})
}

/// A validated policy as Monitoring keeps it: named, its conditions
/// named, `enabled` and `combiner` filled, the mutation records set.
fn stored(mut policy: Value, name: &str, created: Value, mutated: Value) -> Value {
    let o = policy.as_object_mut().expect("validated as an object");
    o.insert("name".into(), json!(name));
    o.entry("enabled").or_insert(json!(true));
    o.entry("combiner").or_insert(json!("OR"));
    o.insert("creationRecord".into(), created);
    o.insert("mutationRecord".into(), mutated);
    if let Some(Value::Array(conditions)) = o.get_mut("conditions") {
        for (i, c) in conditions.iter_mut().enumerate() {
            if c.get("name").and_then(Value::as_str).is_none_or(|n| !n.starts_with(&format!("{name}/conditions/"))) {
                c["name"] = json!(format!("{name}/conditions/{}", 1000 + i));
            }
        }
    }
    policy
}

fn list(state: &State, call: &Call, p: &str) -> Answer {
    let project = project(state, p)?;
    for unsupported in ["filter", "orderBy", "order_by"] {
        if call.param(&[unsupported]).is_some_and(|v| !v.is_empty()) {
            return Err(ApiError::invalid_field(
                unsupported,
                format!("The emulator does not evaluate alertPolicies.list's {unsupported}; list without it."),
            ));
        }
    }
    let prefix = format!("projects/{project}/alertPolicies/");
    let all: Vec<Value> =
        state.alert_policies.iter().filter(|(n, _)| n.starts_with(&prefix)).map(|(_, v)| v.clone()).collect();
    let size = call.count_param(&["pageSize", "page_size"])?.unwrap_or(MAX_PAGE).min(MAX_PAGE);
    let (items, next) = page(&all, size, call.param(&["pageToken", "page_token"]))?;
    let mut out = json!({ "alertPolicies": items, "totalSize": all.len() });
    if let Some(t) = next {
        out["nextPageToken"] = json!(t);
    }
    Ok(out)
}

fn get(state: &State, p: &str, id: &str) -> Answer {
    let name = format!("projects/{}/alertPolicies/{id}", project(state, p)?);
    state.alert_policies.get(&name).cloned().ok_or_else(|| missing(&name))
}

fn delete(state: &mut State, p: &str, id: &str) -> Answer {
    let name = format!("projects/{}/alertPolicies/{id}", project(state, p)?);
    state.alert_policies.remove(&name).map(|_| json!({})).ok_or_else(|| missing(&name))
}

fn missing(name: &str) -> ApiError {
    ApiError::not_found(format!("Requested entity was not found: {name}."))
}

/// `Field FIELD had an invalid value of "VALUE": WHY`, Monitoring's wording.
pub(crate) fn bad(field: &str, value: &str, why: &str) -> ApiError {
    ApiError::invalid_field(field, format!("Field {field} had an invalid value of \"{value}\": {why}"))
}

/// Monitoring's checks on a policy to create.
pub fn validate(policy: &Value) -> Result<(), ApiError> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let name = text(policy.get("displayName"));
    if name.trim().is_empty() {
        return Err(bad("alert_policy.display_name", &name, "must be specified."));
    }
    if name.chars().count() > 512 {
        return Err(bad("alert_policy.display_name", &name, "must be at most 512 characters."));
    }
    let conditions = policy.get("conditions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if conditions.is_empty() || conditions.len() > 6 {
        return Err(bad(
            "alert_policy.conditions",
            &conditions.len().to_string(),
            "a policy must have from one to six conditions.",
        ));
    }
    let mut log_match = false;
    for (i, c) in conditions.iter().enumerate() {
        let kinds: Vec<&str> = KINDS.iter().copied().filter(|k| c.get(*k).is_some_and(|v| !v.is_null())).collect();
        match kinds.as_slice() {
            [] => {
                return Err(bad(
                    &format!("alert_policy.conditions[{i}].condition_case"),
                    "0",
                    "Condition subtype (e.g. \"condition_absent\",\"condition_threshold\", etc.) is absent or unknown.",
                ));
            }
            ["conditionMatchedLog"] => {
                log_match = true;
                let filter = text(c["conditionMatchedLog"].get("filter"));
                if filter.trim().is_empty() {
                    return Err(bad(
                        &format!("alert_policy.conditions[{i}].condition_matched_log.filter"),
                        &filter,
                        "must be specified.",
                    ));
                }
            }
            [_] => {}
            _ => {
                return Err(bad(
                    &format!("alert_policy.conditions[{i}]"),
                    &kinds.join(","),
                    "a condition has exactly one subtype.",
                ));
            }
        }
    }
    if log_match && conditions.len() > 1 {
        return Err(ApiError::invalid_field(
            "alert_policy.conditions",
            "Alert policies with a log matching condition can only have a single condition.",
        ));
    }
    let combiner = text(policy.get("combiner"));
    if !combiner.is_empty() && !COMBINERS.contains(&combiner.as_str()) {
        return Err(bad("alert_policy.combiner", &combiner, "not a ConditionCombinerType."));
    }
    check_rate_limit(policy, log_match)?;
    check_channels(policy)?;
    check_labels(policy)?;
    check_documentation(policy)
}

/// `alertStrategy.notificationRateLimit`: required with a log match,
/// refused without one.
fn check_rate_limit(policy: &Value, log_match: bool) -> Result<(), ApiError> {
    const FIELD: &str = "alert_policy.alert_strategy.notification_rate_limit";
    let limit = policy.pointer("/alertStrategy/notificationRateLimit").filter(|v| !v.is_null());
    match (limit, log_match) {
        (None, true) => Err(bad(FIELD, "", "log-based alert policies must specify a notification rate limit.")),
        (Some(l), false) => {
            Err(bad(FIELD, &l.to_string(), "metric-based alert policies must not specify a notification rate limit"))
        }
        (None, false) => Ok(()),
        (Some(l), true) => {
            let period = l.get("period").and_then(Value::as_str).unwrap_or_default();
            match period.strip_suffix('s').and_then(|n| n.parse::<f64>().ok()) {
                Some(secs) if secs > 0.0 => Ok(()),
                Some(_) => Err(bad(&format!("{FIELD}.period"), period, "must be positive.")),
                None => Err(bad(
                    &format!("{FIELD}.period"),
                    period,
                    "Illegal duration format; duration must end with 's' (e.g. \"300s\").",
                )),
            }
        }
    }
}

fn check_channels(policy: &Value) -> Result<(), ApiError> {
    let channels = policy.get("notificationChannels").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for (i, c) in channels.iter().enumerate() {
        let name = c.as_str().unwrap_or_default();
        let ok = matches!(name.split('/').collect::<Vec<_>>().as_slice(),
            ["projects", p, "notificationChannels", id] if !p.is_empty() && !id.is_empty());
        if !ok {
            return Err(bad(
                &format!("alert_policy.notification_channels[{i}]"),
                name,
                "must be a notification channel name, projects/PROJECT/notificationChannels/ID.",
            ));
        }
    }
    Ok(())
}

/// Up to 64 labels; keys and values up to 63 characters of lowercase
/// letters, digits, `_` and `-`.
fn check_labels(policy: &Value) -> Result<(), ApiError> {
    let Some(labels) = policy.get("userLabels").and_then(Value::as_object) else { return Ok(()) };
    if labels.len() > 64 {
        return Err(bad("alert_policy.user_labels", &labels.len().to_string(), "at most 64 labels."));
    }
    let fine = |s: &str| {
        s.chars().count() <= 63
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    };
    for (k, v) in labels {
        let v = v.as_str().unwrap_or_default();
        if k.is_empty() || !fine(k) || !fine(v) {
            return Err(bad(
                &format!("alert_policy.user_labels[{k}]"),
                v,
                "keys and values are at most 63 lowercase letters, digits, underscores and dashes.",
            ));
        }
    }
    Ok(())
}

fn check_documentation(policy: &Value) -> Result<(), ApiError> {
    let Some(doc) = policy.get("documentation").and_then(Value::as_object) else { return Ok(()) };
    let mime = doc.get("mimeType").and_then(Value::as_str).unwrap_or_default();
    if !mime.is_empty() && mime != "text/markdown" {
        return Err(bad("alert_policy.documentation.mime_type", mime, "only text/markdown is supported."));
    }
    let content = doc.get("content").and_then(Value::as_str).unwrap_or_default();
    if content.chars().count() > 8192 || content.len() > 10_240 {
        return Err(bad(
            "alert_policy.documentation.content",
            &content.chars().take(40).collect::<String>(),
            "at most 8,192 characters and 10,240 bytes.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_policy() -> Value {
        json!({
            "displayName": "runiam: api",
            "combiner": "OR",
            "conditions": [{"displayName": "denied", "conditionMatchedLog": {"filter": "httpRequest.status=403"}}],
            "alertStrategy": {"notificationRateLimit": {"period": "300s"}},
            "notificationChannels": ["projects/p/notificationChannels/42"],
            "userLabels": {"runiam-service": "api"},
        })
    }

    fn field(e: ApiError) -> String {
        e.body()["error"]["details"][0]["fieldViolations"][0]["field"].as_str().unwrap().to_owned()
    }

    #[test]
    fn patch_replaces_the_masked_fields_and_is_validated_again() {
        use crate::control::{ApiRequest, dispatch};
        let world = include_str!("../../../../examples/acme-world.yaml");
        let state = std::sync::Mutex::new(State::new(crate::World::parse(world, "acme-world.yaml").unwrap()));
        let send = |method: &str, path: &str, query: &str, body: Value| {
            let request = ApiRequest {
                method: method.into(),
                path: path.into(),
                query: query.into(),
                body: body.to_string().into_bytes(),
                ..Default::default()
            };
            dispatch(&state, &request)
        };
        let made = send("POST", "/v3/projects/acme-prod/alertPolicies", "", log_policy());
        assert_eq!(made.status, 200, "{:#}", made.body);
        let path = format!("/v3/{}", made.body["name"].as_str().unwrap());
        let renamed =
            send("PATCH", &path, "updateMask=display_name", json!({"displayName": "renamed", "combiner": "AND"}));
        assert_eq!(renamed.status, 200, "{:#}", renamed.body);
        assert_eq!(renamed.body["displayName"], "renamed");
        assert_eq!(renamed.body["combiner"], "OR", "only the masked field changes");
        assert_eq!(renamed.body["creationRecord"], made.body["creationRecord"]);
        assert_eq!(renamed.body["conditions"][0]["name"], made.body["conditions"][0]["name"]);
        let unlimited = send("PATCH", &path, "updateMask=alertStrategy", json!({}));
        assert_eq!(unlimited.status, 400, "{:#}", unlimited.body);
        assert_eq!(send("PATCH", &path, "updateMask=name", json!({})).status, 400);
        assert_eq!(send("GET", &path, "", json!({})).body["displayName"], "renamed");
        assert_eq!(send("PATCH", "/v3/projects/acme-prod/alertPolicies/9", "", log_policy()).status, 404);
    }

    #[test]
    fn a_log_match_policy_is_valid_and_each_breach_names_its_field() {
        validate(&log_policy()).unwrap();
        let broken = |f: &dyn Fn(&mut Value)| {
            let mut p = log_policy();
            f(&mut p);
            field(validate(&p).unwrap_err())
        };
        assert_eq!(broken(&|p| p["displayName"] = json!("")), "alert_policy.display_name");
        assert_eq!(broken(&|p| p["conditions"] = json!([])), "alert_policy.conditions");
        assert_eq!(
            broken(&|p| p["conditions"][0] = json!({"displayName": "x"})),
            "alert_policy.conditions[0].condition_case"
        );
        assert_eq!(
            broken(&|p| p["conditions"][0]["conditionMatchedLog"]["filter"] = json!(" ")),
            "alert_policy.conditions[0].condition_matched_log.filter"
        );
        assert_eq!(
            broken(&|p| p["conditions"].as_array_mut().unwrap().push(json!({"conditionAbsent": {}}))),
            "alert_policy.conditions"
        );
        assert_eq!(broken(&|p| p["alertStrategy"] = json!({})), "alert_policy.alert_strategy.notification_rate_limit");
        assert_eq!(
            broken(&|p| p["alertStrategy"]["notificationRateLimit"]["period"] = json!("5m")),
            "alert_policy.alert_strategy.notification_rate_limit.period"
        );
        assert_eq!(
            broken(&|p| p["notificationChannels"][0] = json!("email:me")),
            "alert_policy.notification_channels[0]"
        );
        assert_eq!(broken(&|p| p["userLabels"]["Bad"] = json!("x")), "alert_policy.user_labels[Bad]");
        assert_eq!(broken(&|p| p["combiner"] = json!("XOR")), "alert_policy.combiner");
        let mut metric = log_policy();
        metric["conditions"][0] = json!({"conditionThreshold": {"filter": "metric.type=\"x\""}});
        assert_eq!(field(validate(&metric).unwrap_err()), "alert_policy.alert_strategy.notification_rate_limit");
        metric["alertStrategy"] = json!({});
        validate(&metric).unwrap();
    }
}
