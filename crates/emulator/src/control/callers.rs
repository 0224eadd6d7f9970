//! The callers of Cloud Run that carry OIDC settings, read-only from the
//! world: Pub/Sub push subscriptions, Cloud Scheduler HTTP jobs, Eventarc
//! triggers with a Cloud Run destination, Cloud Tasks queues (v2, with
//! their locations) and workflows; and Cloud Functions (v2 `functions.list`),
//! workloads of a grant's blast radius.

use serde_json::{Map, Value, json};

use super::{Answer, CREATE_TIME, Call, UPDATE_TIME, page};
use crate::authz::{observe, require};
use crate::errors::{ApiError, Code};
use crate::state::State;
use crate::world::{
    ApiFault, CloudFunction, EventarcTrigger, FunctionEnvironment, OidcToken, Project, PubsubSubscription, QueuedTask,
    SchedulerJob, TasksQueue, Workflow, World, sha256,
};

/// The page size when the client gives none.
const DEFAULT_PAGE: usize = 100;

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    if call.verb.is_some() || !call.is("GET") {
        return None;
    }
    let answer = match segs {
        ["v1", "projects", p, "subscriptions"] => read(state, p, "pubsub.subscriptions.list", |proj| {
            listing(call, "subscriptions", proj.pubsub_subscriptions.iter().map(|s| subscription(proj, s)).collect())
        }),
        ["v1", "projects", p, "subscriptions", s] => read(state, p, "pubsub.subscriptions.get", |proj| {
            let sub = proj.pubsub_subscriptions.iter().find(|x| x.name == *s);
            sub.map(|x| subscription(proj, x))
                .ok_or_else(|| ApiError::not_found("Resource not found (resource=".to_owned() + s + ")."))
        }),
        ["v1", "projects", p, "locations", l, "jobs"] => read(state, p, "cloudscheduler.jobs.list", |proj| {
            let jobs = proj.scheduler_jobs.iter().filter(|j| j.region == *l).map(|j| job(proj, j)).collect();
            listing(call, "jobs", jobs)
        }),
        ["v1", "projects", p, "locations", l, "jobs", j] => read(state, p, "cloudscheduler.jobs.get", |proj| {
            let found = proj.scheduler_jobs.iter().find(|x| x.region == *l && x.name == *j);
            found
                .map(|x| job(proj, x))
                .ok_or_else(|| ApiError::not_found(format!("Job not found: projects/{p}/locations/{l}/jobs/{j}.")))
        }),
        ["v1", "projects", p, "locations", l, "triggers"] => read(state, p, "eventarc.triggers.list", |proj| {
            let triggers = proj.eventarc_triggers.iter().filter(|t| t.region == *l).map(|t| trigger(proj, t)).collect();
            listing(call, "triggers", triggers)
        }),
        ["v1", "projects", p, "locations", l, "triggers", t] => read(state, p, "eventarc.triggers.get", |proj| {
            let found = proj.eventarc_triggers.iter().find(|x| x.region == *l && x.name == *t);
            found.map(|x| trigger(proj, x)).ok_or_else(|| {
                ApiError::not_found(format!("Resource 'projects/{p}/locations/{l}/triggers/{t}' was not found"))
            })
        }),
        // Cloud Tasks' own locations (v2).
        ["v2", "projects", p, "locations"] => {
            let permission = super::run_v1::locations_permission(call.host, "cloudtasks.queues.list");
            read(state, p, &permission, |_| super::run_v1::locations(&state.world, call, p))
        }
        ["v2", "projects", p, "locations", l, "queues"] => read(state, p, "cloudtasks.queues.list", |proj| {
            let queues = proj.cloud_tasks_queues.iter().filter(|q| q.region == *l).map(|q| queue(proj, q)).collect();
            listing(call, "queues", queues)
        }),
        ["v2", "projects", p, "locations", l, "queues", q] => read(state, p, "cloudtasks.queues.get", |proj| {
            let found = proj.cloud_tasks_queues.iter().find(|x| x.region == *l && x.name == *q);
            found.map(|x| queue(proj, x)).ok_or_else(|| ApiError::not_found("Requested entity was not found."))
        }),
        ["v2", "projects", p, "locations", l, "queues", q, "tasks"] => {
            read(state, p, "cloudtasks.tasks.list", |proj| {
                let found = proj.cloud_tasks_queues.iter().find(|x| x.region == *l && x.name == *q);
                let queue = found.ok_or_else(|| ApiError::not_found("Requested entity was not found."))?;
                let full = call.param(&["responseView", "response_view"]).is_some_and(|v| v == "FULL" || v == "2");
                if full {
                    require(
                        state,
                        &format!("projects/{}", proj.id),
                        "cloudtasks.tasks.fullView",
                        &format!("projects/{p}"),
                    )?;
                }
                let tasks = queue.tasks.iter().map(|t| task(proj, queue, t, full)).collect();
                listing(call, "tasks", tasks)
            })
        }
        ["v1", "projects", p, "locations", l, "workflows"] => read(state, p, "workflows.workflows.list", |proj| {
            let flows = proj.workflows.iter().filter(|w| w.region == *l).map(|w| workflow(proj, w)).collect();
            listing(call, "workflows", flows)
        }),
        ["v1", "projects", p, "locations", l, "workflows", w] => read(state, p, "workflows.workflows.get", |proj| {
            let found = proj.workflows.iter().find(|x| x.region == *l && x.name == *w);
            found.map(|x| workflow(proj, x)).ok_or_else(|| {
                ApiError::not_found(format!("Resource 'projects/{p}/locations/{l}/workflows/{w}' was not found"))
            })
        }),
        // Cloud Functions v2, one location or every one (`-`).
        ["v2", "projects", p, "locations", l, "functions"] => functions(state, call, p, l),
        _ => return None,
    };
    Some(answer)
}

/// Finds the project, checks the operator's `permission` on it, answers.
pub(crate) fn read(state: &State, p: &str, permission: &str, answer: impl FnOnce(&Project) -> Answer) -> Answer {
    let proj = faulty(state, p, permission)?;
    require(state, &format!("projects/{}", proj.id), permission, &format!("projects/{p}"))?;
    answer(proj)
}

/// Finds the project and applies its `apiErrors` for the API `permission` belongs to.
fn faulty<'a>(state: &'a State, p: &str, permission: &str) -> Result<&'a Project, ApiError> {
    let world: &World = &state.world;
    let proj = world.project(p).ok_or_else(|| ApiError::not_found(format!("Project '{p}' not found.")))?;
    let api = format!("{}.googleapis.com", permission.split('.').next().unwrap_or_default());
    match proj.api_errors.get(&api) {
        Some(ApiFault::Disabled) => {
            return Err(ApiError::new(
                Code::PermissionDenied,
                format!("{api} has not been used in project {} before or it is disabled.", proj.number),
            )
            .with_reason(
                "SERVICE_DISABLED",
                "googleapis.com",
                json!({"service": api, "consumer": format!("projects/{}", proj.number)}),
            ));
        }
        Some(ApiFault::NotFound) => {
            return Err(ApiError::not_found(format!("Requested entity was not found in projects/{p}.")));
        }
        None => {}
    }
    Ok(proj)
}

/// `functions.list`: `cloudfunctions.functions.list` is recorded, not
/// enforced (the offline role table lacks it, so no predefined role could
/// hold it).
fn functions(state: &State, call: &Call, p: &str, l: &str) -> Answer {
    let permission = "cloudfunctions.functions.list";
    let proj = faulty(state, p, permission)?;
    observe(state, &format!("projects/{}", proj.id), permission);
    let items = proj.cloud_functions.iter().filter(|f| *l == *"-" || f.region == l).map(|f| function(proj, f));
    listing(call, "functions", items.collect())
}

fn function(proj: &Project, f: &CloudFunction) -> Value {
    let mut config = Map::new();
    if let Some(a) = &f.service_account {
        config.insert("serviceAccountEmail".into(), json!(a));
    }
    if let Some(s) = &f.service {
        config.insert("service".into(), json!(format!("projects/{}/locations/{}/services/{s}", proj.id, f.region)));
    }
    let environment = match f.environment {
        FunctionEnvironment::Gen1 => "GEN_1",
        FunctionEnvironment::Gen2 => "GEN_2",
    };
    json!({
        "name": format!("projects/{}/locations/{}/functions/{}", proj.id, f.region, f.name),
        "environment": environment,
        "state": "ACTIVE",
        "serviceConfig": config,
    })
}

fn listing(call: &Call, field: &str, items: Vec<Value>) -> Answer {
    listing_at_most(call, field, &items, usize::MAX)
}

/// One page of `items` under `field`, `pageSize` (default 100) capped at `max`.
pub(crate) fn listing_at_most(call: &Call, field: &str, items: &[Value], max: usize) -> Answer {
    let size = call.count_param(&["pageSize", "page_size"])?.filter(|n| *n > 0).unwrap_or(DEFAULT_PAGE).min(max);
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

fn oidc(t: &OidcToken) -> Value {
    let mut out = Map::new();
    out.insert("serviceAccountEmail".into(), json!(t.service_account_email));
    // Proto3 JSON leaves an empty string out.
    if !t.audience.is_empty() {
        out.insert("audience".into(), json!(t.audience));
    }
    Value::Object(out)
}

fn subscription(p: &Project, s: &PubsubSubscription) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(format!("projects/{}/subscriptions/{}", p.id, s.name)));
    let topic = if s.topic.starts_with("projects/") {
        s.topic.clone()
    } else {
        format!("projects/{}/topics/{}", p.id, s.topic)
    };
    out.insert("topic".into(), json!(topic));
    if let Some(push) = &s.push_config {
        let mut config = Map::new();
        config.insert("pushEndpoint".into(), json!(push.push_endpoint));
        if let Some(t) = &push.oidc_token {
            config.insert("oidcToken".into(), oidc(t));
        }
        out.insert("pushConfig".into(), Value::Object(config));
    }
    out.insert("ackDeadlineSeconds".into(), json!(10));
    out.insert("messageRetentionDuration".into(), json!("604800s"));
    out.insert("expirationPolicy".into(), json!({"ttl": "2678400s"}));
    out.insert("state".into(), json!("ACTIVE"));
    Value::Object(out)
}

fn job(p: &Project, j: &SchedulerJob) -> Value {
    let mut target = Map::new();
    target.insert("uri".into(), json!(j.http_target.uri));
    target.insert("httpMethod".into(), json!(j.http_target.http_method.as_deref().unwrap_or("POST")));
    if let Some(t) = &j.http_target.oidc_token {
        target.insert("oidcToken".into(), oidc(t));
    }
    json!({
        "name": format!("projects/{}/locations/{}/jobs/{}", p.id, j.region, j.name),
        "httpTarget": target,
        "userUpdateTime": UPDATE_TIME,
        "state": "ENABLED",
        "schedule": "0 3 * * *",
        "timeZone": "Etc/UTC",
        "attemptDeadline": "180s",
    })
}

fn trigger(p: &Project, t: &EventarcTrigger) -> Value {
    let name = format!("projects/{}/locations/{}/triggers/{}", p.id, t.region, t.name);
    let d = sha256(format!("trigger:{name}").as_bytes());
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    let mut run = Map::new();
    run.insert("service".into(), json!(t.destination.cloud_run.service));
    run.insert("region".into(), json!(t.destination.cloud_run.region));
    if let Some(path) = &t.destination.cloud_run.path {
        run.insert("path".into(), json!(path));
    }
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    out.insert(
        "uid".into(),
        json!(format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])),
    );
    out.insert("createTime".into(), json!(CREATE_TIME));
    out.insert("updateTime".into(), json!(UPDATE_TIME));
    if let Some(sa) = &t.service_account {
        out.insert("serviceAccount".into(), json!(sa));
    }
    out.insert("destination".into(), json!({ "cloudRun": run }));
    out.insert("etag".into(), json!(&hex[32..48]));
    Value::Object(out)
}

fn queue(p: &Project, q: &TasksQueue) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(format!("projects/{}/locations/{}/queues/{}", p.id, q.region, q.name)));
    if let Some(t) = &q.http_target {
        let mut target = Map::new();
        if let Some(o) = &t.uri_override {
            let mut uri = Map::new();
            if let Some(scheme) = &o.scheme {
                uri.insert("scheme".into(), json!(scheme));
            }
            uri.insert("host".into(), json!(o.host));
            // An int64: a string in proto3 JSON.
            if let Some(port) = o.port {
                uri.insert("port".into(), json!(port.to_string()));
            }
            if let Some(path) = &o.path_override {
                uri.insert("pathOverride".into(), json!({"path": path.path}));
            }
            uri.insert("uriOverrideEnforceMode".into(), json!("ALWAYS"));
            target.insert("uriOverride".into(), Value::Object(uri));
        }
        if let Some(m) = &t.http_method {
            target.insert("httpMethod".into(), json!(m));
        }
        if let Some(token) = &t.oidc_token {
            target.insert("oidcToken".into(), oidc(token));
        }
        out.insert("httpTarget".into(), Value::Object(target));
    }
    out.insert(
        "rateLimits".into(),
        json!({"maxDispatchesPerSecond": 500, "maxBurstSize": 100, "maxConcurrentDispatches": 1000}),
    );
    out.insert(
        "retryConfig".into(),
        json!({"maxAttempts": 100, "minBackoff": "0.100s", "maxBackoff": "3600s", "maxDoublings": 16}),
    );
    out.insert("state".into(), json!("RUNNING"));
    Value::Object(out)
}

fn workflow(p: &Project, w: &Workflow) -> Value {
    let name = format!("projects/{}/locations/{}/workflows/{}", p.id, w.region, w.name);
    let d = sha256(format!("workflow:{name}:{}", w.source_contents).as_bytes());
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    // Google answers the account in full, the default compute one when none was set.
    let account = w.service_account.clone().unwrap_or_else(|| p.default_compute_account());
    json!({
        "name": name,
        "state": "ACTIVE",
        "revisionId": format!("000001-{}", &hex[0..3]),
        "createTime": CREATE_TIME,
        "updateTime": UPDATE_TIME,
        "revisionCreateTime": UPDATE_TIME,
        "serviceAccount": format!("projects/{}/serviceAccounts/{account}", p.id),
        "sourceContents": w.source_contents,
        "callLogLevel": "LOG_ERRORS_ONLY",
        "executionHistoryLevel": "EXECUTION_HISTORY_BASIC",
    })
}

fn task(p: &Project, q: &TasksQueue, t: &QueuedTask, full: bool) -> Value {
    let mut request = Map::new();
    request.insert("url".into(), json!(t.http_request.url));
    request.insert("httpMethod".into(), json!(t.http_request.http_method.as_deref().unwrap_or("POST")));
    if let Some(token) = &t.http_request.oidc_token {
        request.insert("oidcToken".into(), oidc(token));
    }
    json!({
        "name": format!("projects/{}/locations/{}/queues/{}/tasks/{}", p.id, q.region, q.name, t.name),
        "httpRequest": request,
        "scheduleTime": UPDATE_TIME,
        "createTime": CREATE_TIME,
        "dispatchDeadline": "600s",
        "view": if full { "FULL" } else { "BASIC" },
    })
}
