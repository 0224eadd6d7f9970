//! The REST control plane: one dispatcher for every Google path the
//! emulator serves, over the shared state.
//!
//! axum cannot route Google's `name:verb` segments, so the dispatcher
//! splits the path itself: segments are percent-decoded one by one and the
//! last one's `:verb` is taken off. Paths of the APIs served here never
//! collide, so the path alone picks the API; the Host matters only for
//! the region of Run v1's Knative paths.
//!
//! APIs: Run v2 and v1, Resource Manager v3 and v1, IAM v1 (roles, service
//! accounts) and v2 (deny policies), Logging v2 (`logging`), Org
//! Policy v2, Policy Troubleshooter v3, Monitoring v3 alert policies and time series, Cloud Identity
//! Groups v1, Cloud Asset Inventory v1 searches (`asset`), Pub/Sub, Cloud Scheduler and Eventarc reads,
//! Compute Engine network reads (`compute`), Network Management
//! Connectivity Tests (`network_management`), Serverless VPC Access connectors (`vpcaccess`), Run v2 jobs.get (`run_jobs`), Access Context Manager policies and perimeters
//! (`access_context`); and the `/emulator/` test knobs (`knobs`).
//!
//! When the world names an `operator`, every method checks the operator's
//! permission on its resource through runiam-core's evaluator
//! (`crate::authz`) and answers Google's 403 when it is missing. Every
//! successful setIamPolicy is checked against domain restricted sharing
//! first and leaves an AuditLog entry in the log store after.

pub mod access_context;
pub mod asset;
pub mod callers;
pub mod cloudidentity;
pub mod compute;
pub mod iam;
pub mod iam_v2;
pub mod knobs;
pub mod logging;
pub mod monitoring;
pub mod network_management;
pub mod orgpolicy;
pub mod packet;
pub mod resourcemanager;
pub mod run_jobs;
pub mod run_v1;
pub mod run_v2;
pub mod timeseries;
pub mod troubleshooter;
pub mod vpcaccess;

use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use percent_encoding::percent_decode_str;
use runiam_core::model::{Binding, Policy};
use serde_json::{Map, Value, json};

use crate::authz;
use crate::errors::ApiError;
use crate::faults::commit_then_fail_error;
use crate::logstore::{Audit, audit_entry, binding_deltas};
use crate::state::{SetPolicy, State, policy_from_json};

/// An HTTP request as the dispatcher sees it.
#[derive(Clone, Debug, Default)]
pub struct ApiRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// From the absolute-form target when present, else the Host header.
    pub host: String,
    /// The raw path, still percent-encoded.
    pub path: String,
    /// The raw query string.
    pub query: String,
    pub body: Vec<u8>,
    /// The User-Agent header, which audit entries record.
    pub user_agent: Option<String>,
}

/// The answer: a status and a JSON body (plus headers for faults).
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    /// The body as a tree; `Null` when `written` carries it.
    pub body: Value,
    /// The body already written as compact JSON: search pages, which would
    /// spend their time building and freeing a tree of megabytes.
    pub written: Option<Vec<u8>>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Self { status: 200, body, written: None, headers: Vec::new() }
    }

    /// A 200 whose body is already compact JSON.
    pub fn written(json: Vec<u8>) -> Self {
        Self { status: 200, body: Value::Null, written: Some(json), headers: Vec::new() }
    }

    pub fn error(e: &ApiError) -> Self {
        Self { status: e.status(), body: e.body(), written: None, headers: Vec::new() }
    }

    /// The body as a tree, however it was answered.
    pub fn json(&self) -> Value {
        match &self.written {
            Some(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
            None => self.body.clone(),
        }
    }
}

/// One parsed call, handed to the API modules.
pub(crate) struct Call<'a> {
    pub method: &'a str,
    pub host: &'a str,
    /// Decoded path segments, the verb taken off the last one.
    pub segments: Vec<String>,
    pub verb: Option<String>,
    query: Vec<(String, String)>,
    pub body: Map<String, Value>,
    /// `$alt=json;enum-encoding=int`: enums as numbers (GAPIC clients).
    pub ints: bool,
    pub user_agent: Option<&'a str>,
}

pub(crate) type Answer = Result<Value, ApiError>;

/// Serves one request against the state.
pub fn dispatch(state: &Mutex<State>, request: &ApiRequest) -> Reply {
    let call = match Call::parse(request) {
        Ok(c) => c,
        Err(e) => return Reply::error(&e),
    };
    let mut state = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let segs: Vec<&str> = call.segments.iter().map(String::as_str).collect();
    let knob = segs.first() == Some(&"emulator");
    if !knob {
        state.checks.begin(call.method, call.host, &request.path);
    }
    // Asset Inventory answers trees (policies) or pages already written (resources).
    if let Some(answer) = asset::route(&mut state, &call, &segs) {
        let reply = answer.unwrap_or_else(|e| Reply::error(&e));
        state.checks.end(reply.status);
        return reply;
    }
    let answer = run_v2::route(&mut state, &call, &segs)
        .or_else(|| run_v1::route(&mut state, &call, &segs))
        .or_else(|| resourcemanager::route(&mut state, &call, &segs))
        .or_else(|| iam::route(&mut state, &call, &segs))
        .or_else(|| iam_v2::route(&mut state, &call, &segs))
        .or_else(|| logging::route(&mut state, &call, &segs))
        .or_else(|| monitoring::route(&mut state, &call, &segs))
        .or_else(|| timeseries::route(&mut state, &call, &segs))
        .or_else(|| orgpolicy::route(&mut state, &call, &segs))
        .or_else(|| cloudidentity::route(&mut state, &call, &segs))
        .or_else(|| callers::route(&mut state, &call, &segs))
        .or_else(|| troubleshooter::route(&mut state, &call, &segs))
        .or_else(|| compute::route(&mut state, &call, &segs))
        .or_else(|| network_management::route(&mut state, &call, &segs))
        .or_else(|| access_context::route(&mut state, &call, &segs))
        .or_else(|| vpcaccess::route(&mut state, &call, &segs))
        .or_else(|| run_jobs::route(&mut state, &call, &segs))
        .or_else(|| knobs::route(&mut state, &call, &segs))
        .unwrap_or_else(|| Err(ApiError::no_such_method(call.method, &request.path)));
    let reply = match answer {
        Ok(body) => Reply::ok(body),
        Err(e) => Reply::error(&e),
    };
    if !knob {
        state.checks.end(reply.status);
    }
    reply
}

impl<'a> Call<'a> {
    /// A call that asks for nothing, enums by name: what a resource's own
    /// JSON is rendered with where it sits in a Struct (Asset Inventory),
    /// which has no enum encoding.
    pub(crate) fn names() -> Call<'static> {
        Call {
            method: "GET",
            host: "",
            segments: Vec::new(),
            verb: None,
            query: Vec::new(),
            body: Map::new(),
            ints: false,
            user_agent: None,
        }
    }

    fn parse(r: &'a ApiRequest) -> Result<Self, ApiError> {
        let mut segments = Vec::new();
        for raw in r.path.trim_start_matches('/').split('/').filter(|s| !s.is_empty()) {
            let s = percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| ApiError::invalid(format!("The path segment '{raw}' is not valid UTF-8.")))?;
            segments.push(s.into_owned());
        }
        let verb = match segments
            .last_mut()
            .and_then(|last| last.split_once(':').map(|(n, v)| (n.to_owned(), v.to_owned())))
        {
            Some((name, verb)) => {
                if let Some(last) = segments.last_mut() {
                    *last = name;
                }
                Some(verb)
            }
            None => None,
        };
        let query: Vec<(String, String)> = url::form_urlencoded::parse(r.query.as_bytes()).into_owned().collect();
        let ints = query.iter().any(|(k, v)| k == "$alt" && v.split(';').any(|p| p.trim() == "enum-encoding=int"));
        let text =
            std::str::from_utf8(&r.body).map_err(|_| ApiError::invalid("Invalid JSON payload received: not UTF-8."))?;
        let body = if text.trim().is_empty() {
            Map::new()
        } else {
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(o)) => o,
                Ok(_) => {
                    return Err(ApiError::invalid("Invalid JSON payload received. The body must be a JSON object."));
                }
                Err(e) => return Err(ApiError::invalid(format!("Invalid JSON payload received. {e}"))),
            }
        };
        Ok(Self {
            method: &r.method,
            host: &r.host,
            segments,
            verb,
            query,
            body,
            ints,
            user_agent: r.user_agent.as_deref(),
        })
    }

    /// A query parameter, by its camelCase or snake_case name.
    pub fn param(&self, names: &[&str]) -> Option<&str> {
        self.query.iter().find(|(k, _)| names.contains(&k.as_str())).map(|(_, v)| v.as_str())
    }

    /// A body field, by its camelCase or snake_case name.
    pub fn field(&self, names: &[&str]) -> Option<&Value> {
        names.iter().find_map(|n| self.body.get(*n))
    }

    pub fn is(&self, method: &str) -> bool {
        self.method.eq_ignore_ascii_case(method)
    }

    /// A non-negative integer query parameter (page sizes, limits).
    pub fn count_param(&self, names: &[&str]) -> Result<Option<usize>, ApiError> {
        match self.param(names) {
            None | Some("") => Ok(None),
            Some(v) => v.parse::<usize>().map(Some).map_err(|_| {
                ApiError::invalid_field(
                    names[0],
                    format!("Invalid value for {}: '{v}' is not a non-negative integer.", names[0]),
                )
            }),
        }
    }

    /// `options.requestedPolicyVersion`, from the query (Run, IAM) or the
    /// body (Resource Manager); 0 when absent.
    pub fn requested_version(&self) -> Result<i32, ApiError> {
        let from_body = self
            .field(&["options"])
            .and_then(|o| o.get("requestedPolicyVersion").or_else(|| o.get("requested_policy_version")));
        let raw = match (self.param(&["options.requestedPolicyVersion", "options.requested_policy_version"]), from_body)
        {
            (Some(q), _) => Value::String(q.to_owned()),
            (None, Some(b)) => b.clone(),
            (None, None) => return Ok(0),
        };
        let parsed = match &raw {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse::<i64>().ok(),
            _ => None,
        };
        parsed.and_then(|v| i32::try_from(v).ok()).ok_or_else(|| {
            ApiError::invalid_field(
                "options.requestedPolicyVersion",
                format!("Invalid requested policy version {raw}."),
            )
        })
    }

    /// The body of a setIamPolicy: `{policy, updateMask}`.
    pub fn set_policy_request(&self) -> Result<SetPolicy, ApiError> {
        let policy =
            self.field(&["policy"]).ok_or_else(|| ApiError::invalid_field("policy", "The request has no policy."))?;
        let policy = policy_from_json(policy)?;
        let update_mask = match self.field(&["updateMask", "update_mask"]) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            // The proto3 JSON form is a string; accept the object form too.
            Some(Value::Object(o)) => o
                .get("paths")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
            Some(_) => {
                return Err(ApiError::invalid_field("updateMask", "updateMask must be a string of field paths."));
            }
        };
        Ok(SetPolicy { policy, update_mask })
    }

    /// The body of a testIamPermissions: `{permissions: [...]}`.
    pub fn permissions(&self) -> Result<Vec<String>, ApiError> {
        match self.field(&["permissions"]) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|p| {
                    p.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| ApiError::invalid_field("permissions", "permissions must be strings."))
                })
                .collect(),
            Some(_) => Err(ApiError::invalid_field("permissions", "permissions must be a list of strings.")),
        }
    }

    /// An enum value: its name, or its number when the client asked.
    pub fn enum_value(&self, table: &[(&str, i64)], name: &str) -> Value {
        if self.ints
            && let Some((_, n)) = table.iter().find(|(n, _)| *n == name)
        {
            return json!(n);
        }
        json!(name)
    }
}

/// A resource whose allow policy the IAM verbs act on.
pub(crate) struct Target<'a> {
    /// The policy's key in the state.
    pub key: &'a str,
    /// The resource as the API names it, for permission errors.
    pub shown: &'a str,
    /// The permissions' prefix (`run.services` → `run.services.getIamPolicy`).
    pub permissions: &'a str,
    /// False where the offline role table does not carry the permissions
    /// (service accounts), so no operator could be granted them.
    pub enforced: bool,
    /// The audit entry's `serviceName` and `methodName` for a write.
    pub service_name: &'a str,
    pub set_method: &'a str,
}

/// The shared getIamPolicy / setIamPolicy / testIamPermissions verbs on a
/// policy. Returns `None` for other verbs.
pub(crate) fn iam_verbs(state: &mut State, call: &Call, target: &Target, get_methods: &[&str]) -> Option<Answer> {
    let verb = call.verb.as_deref()?;
    let answer = match verb {
        "getIamPolicy" if get_methods.iter().any(|m| call.is(m)) => get_policy(state, call, target),
        "setIamPolicy" if call.is("POST") => set_policy(state, call, target),
        "testIamPermissions" if call.is("POST") => call.permissions().and_then(|perms| {
            state.get_policy(target.key, 3)?;
            let held = if target.enforced { authz::held(state, target.key, &perms) } else { perms };
            Ok(if held.is_empty() { json!({}) } else { json!({ "permissions": held }) })
        }),
        _ => return None,
    };
    Some(answer)
}

fn check(state: &State, target: &Target, verb: &str) -> Result<(), ApiError> {
    let permission = format!("{}.{verb}", target.permissions);
    if !target.enforced {
        authz::observe(state, target.key, &permission);
        return Ok(());
    }
    authz::require(state, target.key, &permission, target.shown)
}

fn get_policy(state: &mut State, call: &Call, target: &Target) -> Answer {
    check(state, target, "getIamPolicy")?;
    let policy = state.get_policy(target.key, call.requested_version()?)?;
    // The concurrent writer strikes after the read, so the etag the client
    // now holds is stale by its next write.
    if target.key.contains("/services/") && state.faults.race() {
        racer_write(state, target)?;
    }
    policy_json(policy)
}

fn set_policy(state: &mut State, call: &Call, target: &Target) -> Answer {
    check(state, target, "setIamPolicy")?;
    let request = call.set_policy_request()?;
    let operator = state.world.operator.clone();
    let written = write(state, target, request, operator.as_deref(), call.user_agent)?;
    if state.faults.commit_then_fail() {
        return Err(commit_then_fail_error());
    }
    policy_json(written)
}

/// Does a write with this update mask replace the bindings?
fn touches_bindings(mask: Option<&str>) -> bool {
    mask.is_none_or(|m| m.trim().is_empty() || m.split(',').any(|p| p.trim() == "bindings"))
}

/// Domain restricted sharing on what the write adds, the write, and its
/// audit entry.
fn write(
    state: &mut State,
    target: &Target,
    request: SetPolicy,
    principal: Option<&str>,
    user_agent: Option<&str>,
) -> Result<Policy, ApiError> {
    let before = state.get_policy(target.key, 3)?;
    if touches_bindings(request.update_mask.as_deref()) {
        let wanted = binding_deltas(&before, &request.policy);
        let added: Vec<&str> = wanted.iter().filter(|d| d.add).map(|d| d.member.as_str()).collect();
        orgpolicy::check_added_members(&state.world, target.key, &added)?;
    }
    let asked = request.policy.clone();
    let after = state.set_policy(target.key, request)?;
    let deltas = binding_deltas(&before, &after);
    let audit = Audit {
        key: target.key,
        service_name: target.service_name,
        method_name: target.set_method,
        permission: &format!("{}.setIamPolicy", target.permissions),
        principal,
        user_agent,
        request: &asked,
        response: &after,
        deltas: &deltas,
        sequence: state.writes(),
    };
    let entry = audit_entry(&state.world, &audit, Utc::now());
    state.push_log(entry);
    Ok(after)
}

/// The concurrent writer: grants `roles/run.invoker` to a `racer-N` user of
/// the organization's domain (example.com without one).
fn racer_write(state: &mut State, target: &Target) -> Result<(), ApiError> {
    let domain = state
        .world
        .organization
        .as_ref()
        .map(|o| o.domain.clone())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "example.com".to_owned());
    let member = format!("user:racer-{}@{domain}", state.writes() + 1);
    let mut policy = state.get_policy(target.key, 3)?;
    policy.etag = None;
    policy.bindings.push(Binding {
        role: "roles/run.invoker".into(),
        members: vec![member.clone()],
        condition: None,
        extra: Map::new(),
    });
    write(state, target, SetPolicy { policy, update_mask: None }, Some(&member), None).map(|_| ())
}

fn policy_json(p: Policy) -> Answer {
    serde_json::to_value(p).map_err(|e| ApiError::new(crate::errors::Code::Internal, e.to_string()))
}

/// One page of `items` from `token`, and the token of the next page.
pub(crate) fn page<T: Clone>(
    items: &[T],
    size: usize,
    token: Option<&str>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let start = page_start(token, items.len())?;
    let end = start.saturating_add(size.max(1)).min(items.len());
    let next = (end < items.len()).then(|| page_token(end));
    Ok((items[start..end].to_vec(), next))
}

/// Where the page of `token` starts among `len` items (0 without one).
pub(crate) fn page_start(token: Option<&str>, len: usize) -> Result<usize, ApiError> {
    match token.filter(|t| !t.is_empty()) {
        None => Ok(0),
        Some(t) => URL_SAFE_NO_PAD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse::<usize>().ok()))
            .filter(|n| *n <= len)
            .ok_or_else(|| ApiError::invalid_field("pageToken", format!("Invalid page token '{t}'."))),
    }
}

/// The token of a page that starts at item `start`.
pub(crate) fn page_token(start: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("offset:{start}"))
}

/// Timestamps of the world's resources: fixed, so answers are stable.
pub(crate) const CREATE_TIME: &str = "2025-01-15T09:30:00.000000Z";
pub(crate) const UPDATE_TIME: &str = "2025-01-15T09:31:12.000000Z";

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::world::World;

    #[test]
    fn pages_walk_every_item_once() {
        let items: Vec<u32> = (0..7).collect();
        let (first, t1) = page(&items, 3, None).unwrap();
        let (second, t2) = page(&items, 3, t1.as_deref()).unwrap();
        let (third, t3) = page(&items, 3, t2.as_deref()).unwrap();
        assert_eq!((first, second, third, t3), (vec![0, 1, 2], vec![3, 4, 5], vec![6], None));
        assert!(page(&items, 3, Some("garbage")).is_err());
        assert!(page(&items, 3, Some(&URL_SAFE_NO_PAD.encode("offset:99"))).is_err());
        assert_eq!(page(&items, 100, None).unwrap(), (items.clone(), None));
        assert_eq!(page::<u32>(&[], 10, None).unwrap(), (vec![], None));
    }

    /// The example estate, for the control plane's tests.
    pub(crate) fn example() -> Mutex<State> {
        let text = include_str!("../../../../examples/acme-world.yaml");
        Mutex::new(State::new(World::parse(text, "acme-world.yaml").unwrap()))
    }

    /// A GET through the whole dispatch.
    pub(crate) fn get(state: &Mutex<State>, path: &str, query: &str) -> Reply {
        dispatch(
            state,
            &ApiRequest { method: "GET".into(), path: path.into(), query: query.into(), ..Default::default() },
        )
    }

    #[test]
    fn enums_are_names_unless_ints_are_asked_for() {
        let state = example();
        let path = "/v2/projects/acme-prod/locations/us-central1/services/checkout";
        let names = get(&state, path, "").body;
        assert_eq!(names["ingress"], "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER");
        assert_eq!(names["terminalCondition"]["state"], "CONDITION_SUCCEEDED");
        assert_eq!(names["traffic"][1]["type"], "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION");
        assert_eq!(names["trafficStatuses"][1]["uri"], "https://canary---checkout-100000000001.us-central1.run.app");
        let ints = get(&state, path, "%24alt=json%3Benum-encoding%3Dint").body;
        assert_eq!(ints["ingress"], 3);
        assert_eq!(ints["launchStage"], 4);
        assert_eq!(ints["terminalCondition"]["state"], 4);
        assert_eq!(ints["traffic"][1]["type"], 2);
        assert_eq!(ints["customAudiences"], json!(["https://checkout.acme.example"]));
        // Defaults are omitted; int64 is a string.
        assert!(names.get("invokerIamDisabled").is_none() && names.get("iapEnabled").is_none());
        assert_eq!(names["generation"], "1");
        let project = get(&state, "/v3/projects/acme-prod", "%24alt=json%3Benum-encoding%3Dint").body;
        assert_eq!(project["state"], 1);
        let role = get(&state, "/v1/roles/run.invoker", "").body;
        assert_eq!(role["stage"], "GA");
    }

    #[test]
    fn resource_manager_lists_a_parents_children() {
        let state = example();
        let folders = get(&state, "/v3/folders", "parent=organizations/123456789012").body;
        let names: Vec<&str> =
            folders["folders"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["folders/200000000001", "folders/200000000002"]);
        let first = get(&state, "/v3/projects", "parent=folders/200000000001&pageSize=1").body;
        assert_eq!(first["projects"][0]["projectId"], "acme-prod");
        assert!(first.get("nextPageToken").is_none());
        assert_eq!(get(&state, "/v3/projects", "parent=organizations/123456789012").body, json!({}));
        assert_eq!(get(&state, "/v3/projects", "").status, 400);
        assert_eq!(get(&state, "/v3/projects", "parent=projects/acme-prod").status, 400);
        assert_eq!(get(&state, "/v3/folders", "parent=folders/999").status, 404);
    }

    #[test]
    fn lists_paginate_in_both_styles() {
        let state = example();
        let v2 = "/v2/projects/acme-prod/locations/europe-west1/services";
        let first = get(&state, v2, "pageSize=1").body;
        let token = first["nextPageToken"].as_str().unwrap().to_owned();
        let second = get(&state, v2, &format!("pageSize=1&pageToken={token}")).body;
        assert_eq!(first["services"][0]["name"], "projects/acme-prod/locations/europe-west1/services/hello");
        assert_eq!(second["services"][0]["name"], "projects/acme-prod/locations/europe-west1/services/orders");
        assert!(second.get("nextPageToken").is_none());
        assert_eq!(get(&state, v2, "pageToken=nope").status, 400);
        assert_eq!(get(&state, "/v2/projects/acme-prod/locations/asia-east1/services", "").body, json!({}));
        let v1 = "/v1/projects/acme-prod/locations/-/services";
        let first = get(&state, v1, "limit=3").body;
        assert_eq!(first["items"].as_array().unwrap().len(), 3);
        let token = first["metadata"]["continue"].as_str().unwrap().to_owned();
        let rest = get(&state, v1, &format!("limit=3&continue={token}")).body;
        assert_eq!(rest["items"].as_array().unwrap().len(), 1);
        assert!(rest["metadata"].get("continue").is_none());
        assert_eq!(rest["items"][0]["metadata"]["labels"]["cloud.googleapis.com/location"], "us-central1");
    }

    #[test]
    fn verbs_and_segments() {
        let r = ApiRequest {
            method: "GET".into(),
            path: "/v1/projects/-/serviceAccounts/a%40b.example:getIamPolicy".into(),
            query: "%24alt=json%3Benum-encoding%3Dint&options.requestedPolicyVersion=3".into(),
            ..Default::default()
        };
        let c = Call::parse(&r).unwrap();
        assert_eq!(c.segments, ["v1", "projects", "-", "serviceAccounts", "a@b.example"]);
        assert_eq!(c.verb.as_deref(), Some("getIamPolicy"));
        assert!(c.ints);
        assert_eq!(c.requested_version().unwrap(), 3);
        assert_eq!(c.enum_value(&[("GA", 4)], "GA"), json!(4));
        let bad = ApiRequest { method: "POST".into(), path: "/x".into(), body: b"[1]".to_vec(), ..Default::default() };
        assert!(Call::parse(&bad).is_err());
        let state = Mutex::new(State::new(World::default()));
        assert_eq!(
            dispatch(&state, &ApiRequest { method: "GET".into(), path: "/nothing".into(), ..Default::default() })
                .status,
            404
        );
    }
}
