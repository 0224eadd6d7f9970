//! Cloud Run Admin API v1, as gcloud uses it: locations, Knative services
//! (`apis/serving.knative.dev/v1/namespaces/P/services[/S]`, the region
//! coming from the Host prefix), the `v1/projects/P/locations/{R|-}/services`
//! listings, and the IAM verbs over the same state as v2.

use runiam_core::model::check_region;
use serde_json::{Map, Value, json};

use super::run_v2::{derived, find, project};
use super::{Answer, CREATE_TIME, Call, Target, iam_verbs, page};
use crate::authz::require;
use crate::errors::ApiError;
use crate::state::{State, service_key};
use crate::world::{Project, REGION_CODES, Service, World};

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    if let Err(e) = check(state, call, segs) {
        return Some(Err(e));
    }
    let world = &state.world;
    match segs {
        ["v1", "projects", p, "locations"] if call.verb.is_none() && call.is("GET") => Some(locations(world, call, p)),
        ["v1", "projects", p, "locations", l, "services"] if call.verb.is_none() && call.is("GET") => {
            let region = if *l == "-" { None } else { Some(*l) };
            Some(list(world, call, p, region))
        }
        ["v1", "projects", p, "locations", l, "services", s] => match call.verb {
            None if call.is("GET") => Some(find(world, p, l, s).map(|(proj, svc)| knative(proj, svc))),
            None => None,
            Some(_) => {
                let key = match find(world, p, l, s) {
                    Ok((proj, svc)) => service_key(&proj.id, &svc.region, &svc.name),
                    Err(e) => return Some(Err(e)),
                };
                let target = Target {
                    key: &key,
                    shown: &key,
                    permissions: "run.services",
                    enforced: true,
                    service_name: "run.googleapis.com",
                    set_method: "google.cloud.run.v1.Services.SetIamPolicy",
                };
                iam_verbs(state, call, &target, &["GET", "POST"])
            }
        },
        ["apis", "serving.knative.dev", "v1", "namespaces", p, "services"] if call.verb.is_none() && call.is("GET") => {
            Some(list(world, call, p, host_region(call.host)))
        }
        ["apis", "serving.knative.dev", "v1", "namespaces", p, "services", s]
            if call.verb.is_none() && call.is("GET") =>
        {
            Some(namespaced_get(world, p, s, host_region(call.host)))
        }
        _ => None,
    }
}

/// The operator's permission for the reads served here (the IAM verbs
/// check their own); an unknown project or service is left to the route's 404.
fn check(state: &State, call: &Call, segs: &[&str]) -> Result<(), ApiError> {
    if call.verb.is_some() || !call.is("GET") {
        return Ok(());
    }
    let world = &state.world;
    let (p, permission, shown) = match segs {
        ["v1", "projects", p, "locations"] => {
            return match world.project(p) {
                Some(proj) => require(
                    state,
                    &format!("projects/{}", proj.id),
                    &locations_permission(call.host, "run.locations.list"),
                    &format!("projects/{p}"),
                ),
                None => Ok(()),
            };
        }
        ["v1", "projects", p, "locations", l, "services"] => {
            (*p, "run.services.list", format!("projects/{p}/locations/{l}"))
        }
        ["apis", "serving.knative.dev", "v1", "namespaces", p, "services"] => {
            (*p, "run.services.list", format!("namespaces/{p}"))
        }
        ["v1", "projects", p, "locations", l, "services", s] => {
            return match find(world, p, l, s) {
                Ok((proj, svc)) => {
                    let key = service_key(&proj.id, &svc.region, &svc.name);
                    require(state, &key, "run.services.get", &key)
                }
                Err(_) => Ok(()),
            };
        }
        ["apis", "serving.knative.dev", "v1", "namespaces", p, "services", s] => {
            let region = host_region(call.host);
            let found = world.project(p).and_then(|proj| {
                proj.services.iter().find(|x| x.name == *s && region.is_none_or(|r| x.region == r)).map(|x| (proj, x))
            });
            return match found {
                Some((proj, svc)) => {
                    let key = service_key(&proj.id, &svc.region, &svc.name);
                    require(state, &key, "run.services.get", &format!("namespaces/{p}/services/{s}"))
                }
                None => Ok(()),
            };
        }
        _ => return Ok(()),
    };
    match world.project(p) {
        Some(proj) => require(state, &format!("projects/{}", proj.id), permission, &shown),
        None => Ok(()),
    }
}

/// The region of a locational endpoint's host: `us-central1-runiam-emulator`,
/// `europe-west1-run.googleapis.com`; `None` for the global endpoint.
pub fn host_region(host: &str) -> Option<&str> {
    let label = host.split(['.', ':']).next().unwrap_or_default();
    label
        .char_indices()
        .filter(|(_, c)| *c == '-')
        .map(|(i, _)| &label[..i])
        .find(|prefix| prefix.contains('-') && check_region(prefix).is_ok())
}

/// The permission a `locations.list` checks. Its path is the same in
/// every API, so only the host tells them apart: in gcloud's proxy mode it
/// names the API (`cloudscheduler.googleapis.com`), whose own permission is
/// checked (`cloudscheduler.locations.list`, as Google does); on the
/// emulator's own host, `fallback`, because the offline role table keeps
/// no `*.locations.*` permission but Run's.
pub(crate) fn locations_permission(host: &str, fallback: &str) -> String {
    const APIS: [&str; 5] = ["run", "cloudscheduler", "eventarc", "cloudtasks", "workflows"];
    let name = host.split(':').next().unwrap_or_default();
    match name.strip_suffix(".googleapis.com") {
        Some(api) if APIS.contains(&api) => format!("{api}.locations.list"),
        _ => fallback.to_owned(),
    }
}

/// A project's locations, every region the emulator knows; Cloud Tasks'
/// v2 list answers the same.
pub(crate) fn locations(world: &World, call: &Call, p: &str) -> Answer {
    let proj = project(world, p)?;
    let mut regions: Vec<&str> = REGION_CODES.iter().map(|(r, _)| *r).collect();
    regions.extend(world.regions());
    regions.sort_unstable();
    regions.dedup();
    let size = call.count_param(&["pageSize", "page_size"])?.filter(|n| *n > 0).unwrap_or(usize::MAX);
    let (shown, next) = page(&regions, size, call.param(&["pageToken", "page_token"]))?;
    let items: Vec<Value> = shown
        .iter()
        .map(|r| {
            json!({
                "name": format!("projects/{}/locations/{r}", proj.id),
                "locationId": r,
                "displayName": r,
                "labels": {"cloud.googleapis.com/region": r},
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert("locations".into(), Value::Array(items));
    if let Some(t) = next {
        out.insert("nextPageToken".into(), json!(t));
    }
    Ok(Value::Object(out))
}

/// A Knative ServiceList of one region, or of all regions when `None`.
fn list(world: &World, call: &Call, p: &str, region: Option<&str>) -> Answer {
    if let Some(r) = region {
        check_region(r).map_err(|why| ApiError::invalid_field("parent", why.to_string()))?;
    }
    let proj = project(world, p)?;
    let services: Vec<&Service> = proj.services.iter().filter(|s| region.is_none_or(|r| s.region == r)).collect();
    let size = call.count_param(&["limit"])?.filter(|n| *n > 0).unwrap_or(usize::MAX);
    let (shown, next) = page(&services, size, call.param(&["continue"]))?;
    let mut metadata = Map::new();
    if let Some(t) = next {
        metadata.insert("continue".into(), json!(t));
    }
    Ok(json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "ServiceList",
        "metadata": metadata,
        "items": shown.iter().map(|s| knative(proj, s)).collect::<Vec<_>>(),
    }))
}

/// A Knative get on a locational endpoint; on the global one, the service
/// must exist in exactly one region.
fn namespaced_get(world: &World, p: &str, name: &str, region: Option<&str>) -> Answer {
    if let Some(r) = region {
        return find(world, p, r, name).map(|(proj, svc)| knative(proj, svc));
    }
    let proj = project(world, p)?;
    let found: Vec<&Service> = proj.services.iter().filter(|s| s.name == name).collect();
    match found.as_slice() {
        [only] => Ok(knative(proj, only)),
        [] => Err(ApiError::not_found(format!("Resource '{name}' of kind 'SERVICE' in project '{p}' does not exist."))),
        many => Err(ApiError::invalid(format!(
            "Service '{name}' exists in several regions ({}); use a regional endpoint.",
            many.iter().map(|s| s.region.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// A service in the Knative shape Run v1 serves.
pub(crate) fn knative(p: &Project, s: &Service) -> Value {
    let d = derived(p, s);
    let mut labels = Map::new();
    for (k, v) in &s.labels {
        labels.insert(k.clone(), json!(v));
    }
    labels.insert("cloud.googleapis.com/location".into(), json!(s.region));
    let mut annotations = Map::new();
    annotations.insert("run.googleapis.com/ingress".into(), json!(s.ingress().gcloud()));
    annotations.insert("run.googleapis.com/ingress-status".into(), json!(s.ingress().gcloud()));
    annotations
        .insert("serving.knative.dev/creator".into(), json!(format!("deployer@{}.iam.gserviceaccount.com", p.id)));
    annotations
        .insert("serving.knative.dev/lastModifier".into(), json!(format!("deployer@{}.iam.gserviceaccount.com", p.id)));
    if s.invoker_iam_disabled {
        annotations.insert("run.googleapis.com/invoker-iam-disabled".into(), json!("true"));
    }
    if s.default_uri_disabled {
        annotations.insert("run.googleapis.com/default-url-disabled".into(), json!("true"));
    }
    if !s.custom_audiences.is_empty() {
        annotations.insert("run.googleapis.com/custom-audiences".into(), json!(json!(s.custom_audiences).to_string()));
    }
    annotations.insert("run.googleapis.com/urls".into(), json!(json!(d.urls).to_string()));
    let account = s.service_account.clone().unwrap_or_else(|| p.default_compute_account());
    let traffic: Vec<Value> = if s.traffic.is_empty() {
        vec![json!({"percent": 100, "latestRevision": true})]
    } else {
        s.traffic
            .iter()
            .map(|t| {
                let mut o = Map::new();
                if t.percent != 0 {
                    o.insert("percent".into(), json!(t.percent));
                }
                match &t.revision {
                    Some(r) => o.insert("revisionName".into(), json!(r)),
                    None => o.insert("latestRevision".into(), json!(true)),
                };
                if let Some(tag) = &t.tag {
                    o.insert("tag".into(), json!(tag));
                }
                Value::Object(o)
            })
            .collect()
    };
    let ready = |kind: &str| json!({"type": kind, "status": "True", "lastTransitionTime": CREATE_TIME});
    json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {
            "name": s.name,
            "namespace": p.number,
            "selfLink": format!("/apis/serving.knative.dev/v1/namespaces/{}/services/{}", p.number, s.name),
            "uid": d.uid,
            "resourceVersion": d.etag.trim_matches('"'),
            "generation": 1,
            "creationTimestamp": CREATE_TIME,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            "template": {
                "metadata": {"annotations": {"autoscaling.knative.dev/maxScale": "100"}},
                "spec": {
                    "containerConcurrency": 80,
                    "timeoutSeconds": 300,
                    "serviceAccountName": account,
                    "containers": [{
                        "image": s.image(),
                        "ports": [{"name": "http1", "containerPort": 8080}],
                        "resources": {"limits": {"cpu": "1000m", "memory": "512Mi"}},
                    }],
                },
            },
            "traffic": traffic,
        },
        "status": {
            "observedGeneration": 1,
            "conditions": [ready("Ready"), ready("ConfigurationsReady"), ready("RoutesReady")],
            "latestReadyRevisionName": d.revision,
            "latestCreatedRevisionName": d.revision,
            "traffic": [{"revisionName": d.revision, "percent": 100, "latestRevision": true}],
            "url": d.uri,
            "address": {"url": d.uri},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_from_host() {
        assert_eq!(host_region("us-central1-runiam-emulator"), Some("us-central1"));
        assert_eq!(host_region("europe-west1-run.googleapis.com"), Some("europe-west1"));
        assert_eq!(host_region("us-central1-localhost:8080"), Some("us-central1"));
        assert_eq!(host_region("northamerica-northeast1-run.googleapis.com"), Some("northamerica-northeast1"));
        assert_eq!(host_region("run.googleapis.com"), None);
        assert_eq!(host_region("127.0.0.1:8785"), None);
        assert_eq!(host_region("runiam-emulator"), None);
        assert_eq!(host_region(""), None);
    }

    #[test]
    fn a_locations_list_checks_the_permission_of_the_api_its_host_names() {
        let cases = [
            ("cloudscheduler.googleapis.com", "cloudscheduler.locations.list"),
            ("eventarc.googleapis.com", "eventarc.locations.list"),
            ("workflows.googleapis.com", "workflows.locations.list"),
            ("cloudtasks.googleapis.com", "cloudtasks.locations.list"),
            ("run.googleapis.com", "run.locations.list"),
            ("127.0.0.1:8785", "run.locations.list"),
            ("eventarc.googleapis.com:80", "eventarc.locations.list"),
            ("pubsub.googleapis.com", "run.locations.list"),
            ("cloudscheduler.googleapis.com.evil.example", "run.locations.list"),
        ];
        for (host, want) in cases {
            assert_eq!(locations_permission(host, "run.locations.list"), want, "{host}");
        }
    }
}
