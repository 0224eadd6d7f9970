//! Cloud Run Admin API v2 (services, IAM, operations) and v1 (locations,
//! Knative services, the all-regions list gcloud uses).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use reqwest::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use super::{is_false, set_policy_body};
use crate::config::Api;
use crate::doc::ServiceSnapshot;
use crate::http::{ApiError, Http, api_url};
use crate::model::{Policy, ServiceRef};

/// `GoogleCloudRunV2Service`, the fields runiam reads; the rest in `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_audiences: Vec<String>,
    /// `INGRESS_TRAFFIC_ALL`, `INGRESS_TRAFFIC_INTERNAL_ONLY`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub invoker_iam_disabled: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub default_uri_disabled: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub iap_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<RevisionTemplate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}

/// `GoogleCloudRunV2RevisionTemplate`: the runtime identity and the VPC
/// access that decides where its calls arrive from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_access: Option<VpcAccess>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}

/// `GoogleCloudRunV2Job`, the fields read: its executions' task template
/// (the account its tasks run as and their VPC access), for a job as caller
/// and in a blast radius.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ExecutionTemplate>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GoogleCloudRunV2ExecutionTemplate`: its `template` is a
/// `GoogleCloudRunV2TaskTemplate`, which names `serviceAccount` and
/// `vpcAccess` as a revision template does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<RevisionTemplate>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

// VPC access is a fact of a caller's path: its types live with the rule
// that reads them (`ingress::derive`).
pub use crate::ingress::{NetworkInterface, VpcAccess};

/// `GoogleLongrunningOperation`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub name: String,
    #[serde(default)]
    pub done: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Job {
    /// The account its tasks run as, when set (else the project's default compute account).
    pub fn service_account(&self) -> Option<&str> {
        self.template.as_ref()?.template.as_ref()?.service_account.as_deref()
    }
}

/// Cloud Run Admin API v2.
#[derive(Clone)]
pub struct RunV2 {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

/// Cloud Run's audience rule, in one place because it is our reading of an
/// open question (docs/cloud-run.md): any URL of the service (`urls` as
/// [`Service::all_urls`] gives them), with or without one trailing `/`, or
/// a custom audience exactly. An audience with a path, another service's
/// URL or a custom domain is refused. The emulator's front end and
/// troubleshoot's token check both ask here.
pub fn audience_accepted(aud: &str, urls: &[String], custom_audiences: &[String]) -> bool {
    custom_audiences.iter().any(|c| c == aud) || urls.iter().any(|u| u == aud.strip_suffix('/').unwrap_or(aud))
}

/// The OAuth client ids a user's Google ID token carries as `aud` when
/// minted by Google's own tools: `gcloud auth print-identity-token`
/// (gcloud's client) and application default credentials (ADC's client).
/// Cloud Run documents that such tokens of a user who holds invoke are
/// accepted (docs/cloud-run.md); IAM then decides.
pub const USER_TOKEN_AUDIENCES: [&str; 2] = [
    "32555940559.apps.googleusercontent.com",
    "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com",
];

/// [`audience_accepted`], plus a Google user's token (an `email` that is
/// no service account's) whose `aud` is one of [`USER_TOKEN_AUDIENCES`].
/// The emulator's front end and troubleshoot's token check both ask here.
pub fn token_audience_accepted(aud: &str, email: Option<&str>, urls: &[String], custom_audiences: &[String]) -> bool {
    let user = email.is_some_and(|e| e.contains('@') && !e.ends_with(".gserviceaccount.com"));
    audience_accepted(aud, urls, custom_audiences) || (user && USER_TOKEN_AUDIENCES.contains(&aud))
}

impl Service {
    /// The traffic targets Cloud Run reports (`trafficStatuses`).
    fn traffic_statuses(&self) -> impl Iterator<Item = &Value> {
        self.extra.get("trafficStatuses").and_then(Value::as_array).into_iter().flatten()
    }

    /// The URL of the traffic tag `tag`, when the service has that tag.
    pub fn tag_uri(&self, tag: &str) -> Option<String> {
        self.traffic_statuses()
            .find(|t| t.get("tag").and_then(Value::as_str) == Some(tag))
            .and_then(|t| t.get("uri").and_then(Value::as_str))
            .map(str::to_owned)
    }

    /// The ServiceSnapshot of this service, its policy and its project's
    /// facts (`parents` above the project, nearest first).
    pub fn into_snapshot(
        self,
        mut target: ServiceRef,
        project_number: &str,
        parents: &[String],
        policy: Policy,
        captured_at: DateTime<Utc>,
    ) -> ServiceSnapshot {
        target.project_number = Some(project_number.to_owned());
        ServiceSnapshot {
            service: target,
            uri: self.uri,
            urls: self.urls,
            ingress: self.ingress,
            invoker_iam_disabled: self.invoker_iam_disabled,
            default_uri_disabled: self.default_uri_disabled,
            iap_enabled: self.iap_enabled,
            custom_audiences: self.custom_audiences,
            service_account: self.template.and_then(|t| t.service_account),
            etag: self.etag,
            iam_policy: policy,
            ancestry: parents.to_vec(),
            captured_at,
            source: None,
        }
    }

    /// The revisions traffic is pinned to with a share, with their
    /// percent, largest first (`traffic[].revision`, short names).
    pub fn pinned_revisions(&self) -> Vec<(&str, i64)> {
        let mut pinned: Vec<(&str, i64)> = self
            .extra
            .get("traffic")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let percent = t.get("percent").and_then(Value::as_i64).unwrap_or(0);
                let revision = t.get("revision").and_then(Value::as_str).filter(|r| !r.is_empty())?;
                (percent > 0).then_some((revision, percent))
            })
            .collect();
        pinned.sort_by_key(|(_, p)| -p);
        pinned
    }

    /// The revision that serves most traffic, as a short name: the pinned
    /// one with the largest share, else `latestReadyRevision`.
    pub fn serving_revision(&self) -> Option<String> {
        if let Some((r, _)) = self.pinned_revisions().first() {
            return Some((*r).to_owned());
        }
        let latest = self.extra.get("latestReadyRevision").and_then(Value::as_str)?;
        latest.rsplit('/').next().filter(|r| !r.is_empty()).map(str::to_owned)
    }

    /// Every URL Cloud Run accepts as `aud` for the service: `uri`, `urls`,
    /// and the traffic tags' URLs, without trailing `/`, sorted.
    pub fn all_urls(&self) -> Vec<String> {
        let tags = self.traffic_statuses().filter_map(|t| t.get("uri").and_then(Value::as_str));
        let mut out: Vec<String> = self
            .uri
            .iter()
            .map(String::as_str)
            .chain(self.urls.iter().map(String::as_str))
            .chain(tags)
            .map(|u| u.trim_end_matches('/').to_owned())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

impl RunV2 {
    fn url(&self, path: &str) -> Url {
        api_url(&self.base, &["v2", path])
    }

    pub async fn get_service(&self, s: &ServiceRef) -> Result<Service, ApiError> {
        self.http.json(Api::Run, Method::GET, self.url(&s.full_name()), None).await
    }

    /// `projects/P/locations/R/jobs/J`.
    pub async fn get_job(&self, name: &str) -> Result<Job, ApiError> {
        self.http.json(Api::Run, Method::GET, self.url(name), None).await
    }

    /// Every service of one region, across pages.
    pub async fn list_services(&self, project: &str, region: &str) -> Result<Vec<Service>, ApiError> {
        self.paged(&format!("projects/{project}/locations/{region}/services"), "services").await
    }

    /// Every Cloud Run job of one region, across pages.
    pub async fn list_jobs(&self, project: &str, region: &str) -> Result<Vec<Job>, ApiError> {
        self.paged(&format!("projects/{project}/locations/{region}/jobs"), "jobs").await
    }

    /// Every item (`field`) of a v2 list, across pages.
    async fn paged<T: serde::de::DeserializeOwned>(&self, path: &str, field: &str) -> Result<Vec<T>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = self.url(path);
            url.query_pairs_mut().append_pair("pageSize", "500");
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let mut page: Map<String, Value> = self.http.json(Api::Run, Method::GET, url.clone(), None).await?;
            if let Some(items) = page.remove(field) {
                out.extend(serde_json::from_value::<Vec<T>>(items).map_err(|e| ApiError::Decode {
                    api: Api::Run,
                    method: "GET".into(),
                    url: url.to_string(),
                    detail: e.to_string(),
                })?);
            }
            match page.get("nextPageToken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(out),
            }
        }
    }

    /// The service's allow policy, at version 3 so conditions come back whole.
    pub async fn get_iam_policy(&self, s: &ServiceRef) -> Result<Policy, ApiError> {
        let mut url = self.url(&format!("{}:getIamPolicy", s.full_name()));
        url.query_pairs_mut().append_pair("options.requestedPolicyVersion", "3");
        self.http.json(Api::Run, Method::GET, url, None).await
    }

    /// Writes `policy` as is: its etag guards against concurrent writers.
    pub async fn set_iam_policy(&self, s: &ServiceRef, policy: &Policy) -> Result<Policy, ApiError> {
        let url = self.url(&format!("{}:setIamPolicy", s.full_name()));
        self.http.json(Api::Run, Method::POST, url, Some(&set_policy_body(policy))).await
    }

    /// The subset of `permissions` the caller of this API holds on the service.
    pub async fn test_iam_permissions(&self, s: &ServiceRef, permissions: &[&str]) -> Result<Vec<String>, ApiError> {
        let url = self.url(&format!("{}:testIamPermissions", s.full_name()));
        let body = serde_json::json!({ "permissions": permissions });
        let v: Value = self.http.json(Api::Run, Method::POST, url, Some(&body)).await?;
        Ok(v.get("permissions")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect())
            .unwrap_or_default())
    }

    /// Patches the fields named in `update_mask` (comma-separated camelCase).
    pub async fn patch_service(&self, service: &Service, update_mask: &str) -> Result<Operation, ApiError> {
        let mut url = self.url(&service.name);
        url.query_pairs_mut().append_pair("updateMask", update_mask);
        let body = serde_json::to_value(service).expect("services serialize");
        self.http.json(Api::Run, Method::PATCH, url, Some(&body)).await
    }

    pub async fn get_operation(&self, name: &str) -> Result<Operation, ApiError> {
        self.http.json(Api::Run, Method::GET, self.url(name), None).await
    }
}

/// A Knative `Service` from Run v1: metadata, spec and status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KnativeService {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Value,
    #[serde(default)]
    pub status: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Kubernetes `ObjectMeta` as Run v1 fills it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl KnativeService {
    /// The region, from the `cloud.googleapis.com/location` label Run sets.
    pub fn region(&self) -> Option<&str> {
        self.metadata.labels.get("cloud.googleapis.com/location").map(String::as_str)
    }
}

/// `{locations: [{name, locationId, ...}], nextPageToken}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub location_id: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListLocationsResponse {
    #[serde(default)]
    locations: Vec<Location>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct KnativeList {
    #[serde(default)]
    items: Vec<KnativeService>,
    #[serde(default)]
    metadata: KnativeListMeta,
    #[serde(default)]
    unreachable: Vec<String>,
}

#[derive(Default, Deserialize)]
struct KnativeListMeta {
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

/// Services listed across regions, with the regions that did not answer.
#[derive(Clone, Debug, Default)]
pub struct KnativeListing {
    pub services: Vec<KnativeService>,
    pub unreachable: Vec<String>,
}

/// Cloud Run Admin API v1.
#[derive(Clone)]
pub struct RunV1 {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

impl RunV1 {
    /// The regions Cloud Run serves for this project.
    pub async fn list_locations(&self, project: &str) -> Result<Vec<Location>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = api_url(&self.base, &["v1", "projects", project, "locations"]);
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let page: ListLocationsResponse = self.http.json(Api::Run, Method::GET, url, None).await?;
            out.extend(page.locations);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// `v1/projects/P/locations/-/services`: every region in one listing,
    /// as gcloud does for `run services list` without `--region`.
    pub async fn list_services_all_regions(&self, project: &str) -> Result<KnativeListing, ApiError> {
        self.list_knative(api_url(&self.base, &["v1", "projects", project, "locations", "-", "services"])).await
    }

    /// `apis/serving.knative.dev/v1/namespaces/P/services` on this client's
    /// endpoint (the global endpoint lists across regions).
    pub async fn list_namespace_services(&self, project: &str) -> Result<KnativeListing, ApiError> {
        self.list_knative(api_url(
            &self.base,
            &["apis", "serving.knative.dev", "v1", "namespaces", project, "services"],
        ))
        .await
    }

    async fn list_knative(&self, base: Url) -> Result<KnativeListing, ApiError> {
        let mut out = KnativeListing::default();
        let mut token: Option<String> = None;
        loop {
            let mut url = base.clone();
            url.query_pairs_mut().append_pair("limit", "500");
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("continue", t);
            }
            let page: KnativeList = self.http.json(Api::Run, Method::GET, url, None).await?;
            out.services.extend(page.items);
            out.unreachable.extend(page.unreachable);
            match page.metadata.continue_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_tokens_of_googles_tools_are_accepted_for_users_only() {
        let urls = vec!["https://a-1.r.run.app".to_owned()];
        for aud in USER_TOKEN_AUDIENCES {
            assert!(token_audience_accepted(aud, Some("alice@example.com"), &urls, &[]));
            assert!(!token_audience_accepted(aud, Some("sa@p.iam.gserviceaccount.com"), &urls, &[]));
            assert!(!token_audience_accepted(aud, None, &urls, &[]));
        }
        assert!(!token_audience_accepted("1-other.apps.googleusercontent.com", Some("alice@example.com"), &urls, &[]));
        assert!(token_audience_accepted("https://a-1.r.run.app/", Some("sa@p.iam.gserviceaccount.com"), &urls, &[]));
    }

    #[test]
    fn tag_urls_come_from_traffic_statuses() {
        let service: Service = serde_json::from_value(serde_json::json!({
            "name": "projects/p/locations/r/services/a",
            "uri": "https://a-1.r.run.app",
            "trafficStatuses": [{"percent": 100}, {"tag": "blue", "uri": "https://blue---a-1.r.run.app"}],
        }))
        .unwrap();
        assert_eq!(service.tag_uri("blue").as_deref(), Some("https://blue---a-1.r.run.app"));
        assert_eq!(service.tag_uri("green"), None);
        assert_eq!(service.all_urls(), ["https://a-1.r.run.app", "https://blue---a-1.r.run.app"]);
    }
}
