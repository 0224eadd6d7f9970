//! Cloud Run Admin API v2: services get/list and the IAM verbs, with
//! services in the `GoogleCloudRunV2Service` shape, defaults omitted.

use runiam_core::ingress::Ingress;
use runiam_core::model::check_region;
use serde_json::{Map, Value, json};

use super::{Answer, CREATE_TIME, Call, Target, UPDATE_TIME, iam_verbs, page};
use crate::authz::require;
use crate::errors::{ApiError, Code};
use crate::state::{State, service_key};
use crate::vpc::RunJob;
use crate::world::{Project, Service, World, deterministic_url, hash_url, sha256, tag_url};

pub(crate) const LAUNCH_STAGE: [(&str, i64); 8] = [
    ("LAUNCH_STAGE_UNSPECIFIED", 0),
    ("EARLY_ACCESS", 1),
    ("ALPHA", 2),
    ("BETA", 3),
    ("GA", 4),
    ("DEPRECATED", 5),
    ("UNIMPLEMENTED", 6),
    ("PRELAUNCH", 7),
];

const CONDITION_STATE: [(&str, i64); 5] = [
    ("STATE_UNSPECIFIED", 0),
    ("CONDITION_PENDING", 1),
    ("CONDITION_RECONCILING", 2),
    ("CONDITION_FAILED", 3),
    ("CONDITION_SUCCEEDED", 4),
];

const TRAFFIC_TYPE: [(&str, i64); 3] = [
    ("TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED", 0),
    ("TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", 1),
    ("TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", 2),
];

/// Run v2's default and largest page sizes.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    match segs {
        ["v2", "projects", p, "locations", l, "services"] if call.verb.is_none() && call.is("GET") => {
            let parent = format!("projects/{p}/locations/{l}");
            let checked = project(&state.world, p)
                .and_then(|proj| require(state, &format!("projects/{}", proj.id), "run.services.list", &parent));
            Some(checked.and_then(|()| list(&state.world, call, p, l)))
        }
        ["v2", "projects", p, "locations", l, "services", s] => match call.verb {
            None if call.is("GET") => Some(find(&state.world, p, l, s).and_then(|(proj, svc)| {
                let key = service_key(&proj.id, &svc.region, &svc.name);
                require(state, &key, "run.services.get", &key)?;
                Ok(service_json(call, proj, svc))
            })),
            None if call.is("PATCH") => Some(patch(state, call, p, l, s)),
            None => None,
            Some(_) => {
                let key = match find(&state.world, p, l, s) {
                    Ok((proj, svc)) => service_key(&proj.id, &svc.region, &svc.name),
                    Err(e) => return Some(Err(e)),
                };
                let target = Target {
                    key: &key,
                    shown: &key,
                    permissions: "run.services",
                    enforced: true,
                    service_name: "run.googleapis.com",
                    set_method: "google.cloud.run.v2.Services.SetIamPolicy",
                };
                iam_verbs(state, call, &target, &["GET", "POST"])
            }
        },
        ["v2", "projects", p, "locations", l, "jobs"] if call.verb.is_none() && call.is("GET") => {
            let parent = format!("projects/{p}/locations/{l}");
            let checked = project(&state.world, p)
                .and_then(|proj| require(state, &format!("projects/{}", proj.id), "run.jobs.list", &parent));
            Some(checked.and_then(|()| list_jobs(&state.world, call, p, l)))
        }
        ["v2", "projects", p, "locations", l, "operations", op] if call.verb.is_none() && call.is("GET") => {
            let name = format!("projects/{p}/locations/{l}/operations/{op}");
            Some(
                state
                    .operations
                    .get(&name)
                    .cloned()
                    .ok_or_else(|| ApiError::not_found(format!("Operation '{name}' not found."))),
            )
        }
        _ => None,
    }
}

/// The settings `services.patch` may change here: the invoker-relevant ones.
const PATCHABLE: [&str; 6] =
    ["invokerIamDisabled", "ingress", "defaultUriDisabled", "iapEnabled", "customAudiences", "template.vpcAccess"];

/// `services.patch` of the invoker-relevant settings named in `updateMask`,
/// guarded by the body's etag, answered as a finished long-running
/// operation (Cloud Run's own finish in seconds; the emulator's at once).
fn patch(state: &mut State, call: &Call, p: &str, l: &str, s: &str) -> Answer {
    let (key, project_id) = {
        let (proj, svc) = find(&state.world, p, l, s)?;
        (service_key(&proj.id, &svc.region, &svc.name), proj.id.clone())
    };
    require(state, &key, "run.services.update", &key)?;
    let mask: Vec<String> = call
        .param(&["updateMask"])
        .map(|m| m.split(',').map(|f| f.trim().to_owned()).filter(|f| !f.is_empty()).collect())
        .unwrap_or_default();
    if mask.is_empty() {
        return Err(ApiError::invalid_field("update_mask", "the emulator patches only the fields an updateMask names"));
    }
    if let Some(bad) = mask.iter().find(|f| !PATCHABLE.contains(&f.as_str())) {
        return Err(ApiError::invalid_field(
            "update_mask",
            format!("field '{bad}' cannot be patched here; patchable: {}", PATCHABLE.join(", ")),
        ));
    }
    let body = &call.body;
    let current = {
        let (proj, svc) = find(&state.world, p, l, s)?;
        derived(proj, svc).etag
    };
    if let Some(etag) = body.get("etag").and_then(Value::as_str)
        && etag != current
    {
        return Err(ApiError::new(
            Code::Aborted,
            format!("Etag mismatch: the service changed since it was read (etag {current} now)."),
        ));
    }
    let flag = |f: &str| body.get(f).and_then(Value::as_bool).unwrap_or(false);
    let ingress = match body.get("ingress") {
        None => None,
        Some(v) => Some(parse_ingress(v)?),
    };
    let audiences: Vec<String> = body
        .get("customAudiences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let vpc_access = crate::network::patched_vpc_access(body)?;
    let validate_only = call.param(&["validateOnly"]) == Some("true");
    if !validate_only {
        state.before_change();
    }
    let project = state
        .world
        .projects
        .iter_mut()
        .find(|x| x.id == project_id)
        .ok_or_else(|| ApiError::not_found(format!("Project '{p}' not found.")))?;
    let svc = project.services.iter_mut().find(|x| x.region == l && x.name == s).ok_or_else(|| {
        ApiError::not_found(format!(
            "Resource '{s}' of kind 'SERVICE' in region '{l}' in project '{p}' does not exist."
        ))
    })?;
    if !validate_only {
        for f in &mask {
            match f.as_str() {
                "invokerIamDisabled" => svc.invoker_iam_disabled = flag(f),
                "defaultUriDisabled" => svc.default_uri_disabled = flag(f),
                "iapEnabled" => svc.iap_enabled = flag(f),
                "ingress" => svc.ingress = ingress.clone(),
                "customAudiences" => svc.custom_audiences = audiences.clone(),
                "template.vpcAccess" => svc.vpc_access = vpc_access.clone(),
                _ => {}
            }
        }
        svc.generation += 1;
    }
    let generation = svc.generation;
    if !validate_only {
        state.service_changed();
    }
    let (proj, svc) = find(&state.world, p, l, s)?;
    let mut service = service_json(call, proj, svc);
    if let Some(o) = service.as_object_mut() {
        let mut typed = Map::new();
        typed.insert("@type".into(), json!("type.googleapis.com/google.cloud.run.v2.Service"));
        typed.extend(std::mem::take(o));
        *o = typed;
    }
    let name = format!("projects/{project_id}/locations/{l}/operations/{}", operation_id(&key, generation));
    let op = json!({"name": name, "metadata": service, "done": true, "response": service});
    if !validate_only {
        state.operations.insert(name, op.clone());
    }
    Ok(op)
}

/// Ingress from its enum name or number.
fn parse_ingress(v: &Value) -> Result<String, ApiError> {
    Ingress::from_name_or_number(v)
        .map(|i| i.v2().to_owned())
        .ok_or_else(|| ApiError::invalid_field("service.ingress", format!("{v} is not an IngressTraffic value")))
}

/// A stable operation id from the service and its generation.
fn operation_id(key: &str, generation: u64) -> String {
    let d = sha256(format!("op:{key}:{generation}").as_bytes());
    let h: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// The project, by id or number, or Run's 404.
pub(crate) fn project<'w>(world: &'w World, p: &str) -> Result<&'w Project, ApiError> {
    world.project(p).ok_or_else(|| ApiError::not_found(format!("Project '{p}' not found.")))
}

/// A service, or Cloud Run's own 404 text.
pub(crate) fn find<'w>(
    world: &'w World,
    p: &str,
    region: &str,
    name: &str,
) -> Result<(&'w Project, &'w Service), ApiError> {
    check_region(region).map_err(|why| ApiError::invalid_field("name", why.to_string()))?;
    let proj = project(world, p)?;
    let svc = proj.service(region, name).ok_or_else(|| {
        ApiError::not_found(format!(
            "Resource '{name}' of kind 'SERVICE' in region '{region}' in project '{p}' does not exist."
        ))
    })?;
    Ok((proj, svc))
}

fn list(world: &World, call: &Call, p: &str, region: &str) -> Answer {
    if region == "-" {
        return Err(ApiError::invalid_field(
            "parent",
            "Location must be a valid Google Cloud region, and cannot be the \"-\" wildcard.",
        ));
    }
    check_region(region).map_err(|why| ApiError::invalid_field("parent", why.to_string()))?;
    let proj = project(world, p)?;
    let services: Vec<&Service> = proj.services.iter().filter(|s| s.region == region).collect();
    let size = call.count_param(&["pageSize", "page_size"])?.filter(|n| *n > 0).unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
    let (shown, next) = page(&services, size, call.param(&["pageToken", "page_token"]))?;
    let mut out = Map::new();
    if !shown.is_empty() {
        out.insert("services".into(), shown.iter().map(|s| service_json(call, proj, s)).collect());
    }
    if let Some(t) = next {
        out.insert("nextPageToken".into(), json!(t));
    }
    Ok(Value::Object(out))
}

/// `jobs.list` of one region, each job as `jobs.get` answers it.
fn list_jobs(world: &World, call: &Call, p: &str, region: &str) -> Answer {
    check_region(region).map_err(|why| ApiError::invalid_field("parent", why.to_string()))?;
    let proj = project(world, p)?;
    let jobs: Vec<&RunJob> = proj.run_jobs.iter().filter(|j| j.region == region).collect();
    let size = call.count_param(&["pageSize", "page_size"])?.filter(|n| *n > 0).unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
    let (shown, next) = page(&jobs, size, call.param(&["pageToken", "page_token"]))?;
    let mut out = Map::new();
    if !shown.is_empty() {
        out.insert("jobs".into(), shown.iter().map(|j| super::run_jobs::job_json(proj, j)).collect());
    }
    if let Some(t) = next {
        out.insert("nextPageToken".into(), json!(t));
    }
    Ok(Value::Object(out))
}

/// What Cloud Run derives for a service: URLs, ids, revision, etag.
pub(crate) struct Derived {
    pub uri: String,
    pub urls: Vec<String>,
    pub uid: String,
    pub revision: String,
    pub etag: String,
}

pub(crate) fn derived(p: &Project, s: &Service) -> Derived {
    let uri = deterministic_url(&s.name, &p.number, &s.region);
    let urls = vec![uri.clone(), hash_url(&p.id, &s.name, &s.region)];
    let d = sha256(format!("service:{}/{}/{}", p.id, s.region, s.name).as_bytes());
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    let uid = format!("{}-{}-4{}-8{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32]);
    let revision = format!("{}-00001-{}", s.name, &hex[32..35]);
    // The etag moves with every patch; the ids above never do.
    let e = sha256(format!("service:{}/{}/{}:{}", p.id, s.region, s.name, s.generation).as_bytes());
    let etag = format!("\"{}\"", e.iter().take(12).map(|b| format!("{b:02x}")).collect::<String>());
    Derived { uri, urls, uid, revision, etag }
}

pub(crate) fn service_json(call: &Call, p: &Project, s: &Service) -> Value {
    let d = derived(p, s);
    let full = service_key(&p.id, &s.region, &s.name);
    let mut out = Map::new();
    out.insert("name".into(), json!(full));
    out.insert("uid".into(), json!(d.uid));
    let generation = (s.generation + 1).to_string();
    out.insert("generation".into(), json!(generation));
    if !s.labels.is_empty() {
        out.insert("labels".into(), json!(s.labels));
    }
    out.insert("createTime".into(), json!(CREATE_TIME));
    out.insert("updateTime".into(), json!(UPDATE_TIME));
    out.insert("creator".into(), json!(format!("deployer@{}.iam.gserviceaccount.com", p.id)));
    out.insert("lastModifier".into(), json!(format!("deployer@{}.iam.gserviceaccount.com", p.id)));
    out.insert("ingress".into(), call.enum_value(&ingress_table(), s.ingress().v2()));
    out.insert("launchStage".into(), call.enum_value(&LAUNCH_STAGE, "GA"));
    let account = s.service_account.clone().unwrap_or_else(|| p.default_compute_account());
    out.insert(
        "template".into(),
        json!({
            "serviceAccount": account,
            "containers": [{
                "image": s.image(),
                "ports": [{"name": "http1", "containerPort": 8080}],
                "resources": {"limits": {"cpu": "1000m", "memory": "512Mi"}, "cpuIdle": true, "startupCpuBoost": true},
            }],
            "scaling": {"maxInstanceCount": 100},
            "timeout": "300s",
            "maxInstanceRequestConcurrency": 80,
        }),
    );
    if let (Some(vpc), Some(t)) = (&s.vpc_access, out.get_mut("template").and_then(Value::as_object_mut)) {
        t.insert("vpcAccess".into(), json!(vpc));
    }
    let (traffic, statuses) = traffic(call, p, s, &d.revision);
    out.insert("traffic".into(), Value::Array(traffic));
    out.insert("observedGeneration".into(), json!(generation));
    let succeeded = call.enum_value(&CONDITION_STATE, "CONDITION_SUCCEEDED");
    match &s.failed {
        None => {
            out.insert(
                "terminalCondition".into(),
                json!({"type": "Ready", "state": succeeded, "lastTransitionTime": UPDATE_TIME}),
            );
            out.insert(
                "conditions".into(),
                json!([
                    {"type": "RoutesReady", "state": succeeded, "lastTransitionTime": UPDATE_TIME},
                    {"type": "ConfigurationsReady", "state": succeeded, "lastTransitionTime": CREATE_TIME},
                ]),
            );
            out.insert("latestReadyRevision".into(), json!(format!("{full}/revisions/{}", d.revision)));
        }
        Some(f) => {
            let failed = call.enum_value(&CONDITION_STATE, "CONDITION_FAILED");
            // Revision reasons and common reasons are separate fields.
            let field = if f.reason.starts_with("HEALTH_CHECK") || f.reason.starts_with("MIN_INSTANCES") {
                "revisionReason"
            } else {
                "reason"
            };
            let condition = |kind: &str| json!({"type": kind, "state": failed, field: f.reason, "message": f.message, "lastTransitionTime": UPDATE_TIME});
            out.insert("terminalCondition".into(), condition("Ready"));
            out.insert("conditions".into(), json!([condition("ConfigurationsReady")]));
        }
    }
    out.insert("latestCreatedRevision".into(), json!(format!("{full}/revisions/{}", d.revision)));
    out.insert("trafficStatuses".into(), Value::Array(statuses));
    out.insert("uri".into(), json!(d.uri));
    out.insert("urls".into(), json!(d.urls));
    if s.invoker_iam_disabled {
        out.insert("invokerIamDisabled".into(), json!(true));
    }
    if s.default_uri_disabled {
        out.insert("defaultUriDisabled".into(), json!(true));
    }
    if s.iap_enabled {
        out.insert("iapEnabled".into(), json!(true));
    }
    if !s.custom_audiences.is_empty() {
        out.insert("customAudiences".into(), json!(s.custom_audiences));
    }
    out.insert("etag".into(), json!(d.etag));
    Value::Object(out)
}

fn ingress_table() -> [(&'static str, i64); 4] {
    Ingress::ALL.map(|i| (i.v2(), i.number()))
}

/// `traffic` and `trafficStatuses`; tagged targets get their tag URL.
fn traffic(call: &Call, p: &Project, s: &Service, revision: &str) -> (Vec<Value>, Vec<Value>) {
    if s.traffic.is_empty() {
        let t =
            json!({"type": call.enum_value(&TRAFFIC_TYPE, "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"), "percent": 100});
        return (vec![t.clone()], vec![t]);
    }
    let mut targets = Vec::new();
    let mut statuses = Vec::new();
    for t in &s.traffic {
        let kind = t.kind.clone().unwrap_or_else(|| {
            if t.revision.is_some() {
                "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
            } else {
                "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
            }
            .to_owned()
        });
        let mut target = Map::new();
        target.insert("type".into(), call.enum_value(&TRAFFIC_TYPE, &kind));
        if kind.ends_with("REVISION") {
            target.insert("revision".into(), json!(t.revision.clone().unwrap_or_else(|| revision.to_owned())));
        }
        if t.percent != 0 {
            target.insert("percent".into(), json!(t.percent));
        }
        let mut status = target.clone();
        if let Some(tag) = &t.tag {
            target.insert("tag".into(), json!(tag));
            status.insert("tag".into(), json!(tag));
            status.insert("uri".into(), json!(tag_url(tag, &s.name, &p.number, &s.region)));
        }
        targets.push(Value::Object(target));
        statuses.push(Value::Object(status));
    }
    (targets, statuses)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn ingress_patches_take_a_setting_by_name_or_number_never_unspecified() {
        assert_eq!(
            super::parse_ingress(&json!("INGRESS_TRAFFIC_INTERNAL_ONLY")).unwrap(),
            "INGRESS_TRAFFIC_INTERNAL_ONLY"
        );
        assert_eq!(super::parse_ingress(&json!(3)).unwrap(), "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER");
        for bad in [json!("INGRESS_TRAFFIC_UNSPECIFIED"), json!(0), json!("internal"), json!(9)] {
            let e = super::parse_ingress(&bad).unwrap_err();
            assert!(e.message.contains("is not an IngressTraffic value"), "{bad}: {}", e.message);
        }
    }
}
