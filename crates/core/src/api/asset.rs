//! Cloud Asset Inventory v1: the two searches a fleet export pages through
//! (`searchAllResources`, `searchAllIamPolicies`) and the `Asset` lines of
//! an export to Cloud Storage (docs/fleet.md).
//!
//! A Run service reaches runiam here in two forms, whatever the channel:
//! Run v1's Knative object or Run v2's `Service`. [`run_service`] is the one
//! reader of both; it yields the v2 [`Service`] that `Service::into_snapshot`
//! already turns into a ServiceSnapshot, so a snapshot from Asset Inventory
//! carries exactly the settings a snapshot from Run does.
//! `additionalAttributes` is never read: Google says not to consume it
//! programmatically.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use url::Url;

use super::run::{RevisionTemplate, Service};
use crate::config::Api;
use crate::doc::{ServiceSnapshot, SnapshotSource};
use crate::http::{ApiError, Http, api_url, decode};
use crate::ingress::Ingress;
use crate::model::{Policy, ServiceRef};

/// The asset type of a Cloud Run service.
pub const RUN_SERVICE: &str = "run.googleapis.com/Service";

/// The prefix of a Run resource's full resource name.
const RUN_PREFIX: &str = "//run.googleapis.com/";

/// The largest page both searches serve.
pub const MAX_PAGE_SIZE: u32 = 500;

/// One representation of a resource in one API version. The resource stays
/// JSON text until [`run_service`] reads the one version it needs: a page
/// of 500 services carries every version of each, megabytes that a tree of
/// `Value`s would take longer to build and to drop than the call takes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionedResource {
    #[serde(default)]
    pub version: String,
    #[serde(default = "json_null")]
    pub resource: Box<RawValue>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `ResourceSearchResult`: the fields runiam reads; the rest in `extra`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSearchResult {
    /// The full resource name (`//run.googleapis.com/projects/P/locations/R/services/S`).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub asset_type: String,
    /// `projects/NUMBER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// `folders/N`, nearest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<String>,
    /// `organizations/N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Only with `readMask` naming `versionedResources`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versioned_resources: Vec<VersionedResource>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `IamPolicySearchResult`: the policy set on one resource (only the
/// bindings a query matched, when the query names policy fields).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IamPolicySearchResult {
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub asset_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One `Asset` line of an export. Exports to Cloud Storage spell fields in
/// snake_case (`asset_type`, `iam_policy`); the API's camelCase is taken too.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    #[serde(default)]
    pub name: String,
    #[serde(default, alias = "asset_type")]
    pub asset_type: String,
    /// Present in a `--content-type=resource` export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<AssetResource>,
    /// Present in a `--content-type=iam-policy` export.
    #[serde(default, alias = "iam_policy", skip_serializing_if = "Option::is_none")]
    pub iam_policy: Option<Policy>,
    /// `projects/NUMBER`, then folders, then the organization: bottom up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<String>,
    #[serde(default, alias = "update_time", skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
}

/// An export line's name, type and policy, its resource half skipped
/// unread: what a first pass that gathers only the policies needs.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetPolicy {
    #[serde(default)]
    pub name: String,
    #[serde(default, alias = "asset_type")]
    pub asset_type: String,
    #[serde(default, alias = "iam_policy")]
    pub iam_policy: Option<Policy>,
}

/// `Resource` of an Asset: the API's own JSON in `data`, as text until
/// [`run_service`] reads it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetResource {
    #[serde(default)]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// Asset data runiam cannot read, in words that name the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AssetError(pub String);

fn bad(why: impl Into<String>) -> AssetError {
    AssetError(why.into())
}

/// The service a Run full resource name names (project by id, as Asset
/// Inventory names Run resources).
pub fn service_of(full_name: &str) -> Result<ServiceRef, AssetError> {
    let rest = full_name
        .strip_prefix(RUN_PREFIX)
        .ok_or_else(|| bad(format!("name '{full_name}' is not a Cloud Run resource (//run.googleapis.com/...)")))?;
    ServiceRef::parse_full_name(rest).map_err(|e| bad(format!("name: {e}")))
}

/// `null`, the resource of a versioned form that names none.
fn json_null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).expect("null is JSON")
}

/// The one reader of a Run service in either API version's JSON: `v2`
/// (`GoogleCloudRunV2Service`, only the fields a snapshot takes) or
/// `v1` (the Knative object, its settings in `run.googleapis.com/*`
/// annotations), as the v2 [`Service`].
pub fn run_service(version: &str, resource: &RawValue) -> Result<Service, AssetError> {
    match version {
        // Serde takes a struct from a JSON array too; a service is an object.
        "v2" if !resource.get().trim_start().starts_with('{') => Err(bad("the v2 service is not a JSON object")),
        "v2" => serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(resource.get()))
            .map(V2Settings::into_service)
            .map_err(|e| bad(format!("the v2 service at {}: {}", e.path(), e.inner()))),
        "v1" => {
            knative(&serde_json::from_str(resource.get()).map_err(|e| bad(format!("the v1 service is not JSON: {e}")))?)
        }
        other => Err(bad(format!("version '{other}' of a Run service is neither v1 nor v2"))),
    }
}

/// The fields of a v2 service that a snapshot takes, named and typed as
/// [`Service`] has them. The rest is skipped unread: `Service` keeps it in a
/// flattened `extra`, which makes a read five times slower (a page of 500
/// services is read while the next page is awaited), and a snapshot carries
/// none of it; the v1 reader leaves it empty too.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V2Settings {
    name: String,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    custom_audiences: Vec<String>,
    #[serde(default)]
    ingress: Option<String>,
    #[serde(default)]
    invoker_iam_disabled: bool,
    #[serde(default)]
    default_uri_disabled: bool,
    #[serde(default)]
    iap_enabled: bool,
    #[serde(default)]
    template: Option<V2Template>,
    #[serde(default)]
    etag: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V2Template {
    #[serde(default)]
    service_account: Option<String>,
}

impl V2Settings {
    fn into_service(self) -> Service {
        Service {
            name: self.name,
            uid: self.uid,
            uri: self.uri,
            urls: self.urls,
            custom_audiences: self.custom_audiences,
            ingress: self.ingress,
            invoker_iam_disabled: self.invoker_iam_disabled,
            default_uri_disabled: self.default_uri_disabled,
            iap_enabled: self.iap_enabled,
            template: self.template.map(|t| RevisionTemplate {
                service_account: t.service_account,
                vpc_access: None,
                extra: Map::new(),
            }),
            etag: self.etag,
            extra: Map::new(),
        }
    }
}

/// The representation to read among several: v2, else v1.
pub fn preferred(versioned: &[VersionedResource]) -> Option<&VersionedResource> {
    ["v2", "v1"].iter().find_map(|v| versioned.iter().find(|r| r.version == *v))
}

/// Run v1's Knative service as the v2 shape.
fn knative(r: &Value) -> Result<Service, AssetError> {
    if !r.is_object() {
        return Err(bad("the v1 service is not a JSON object"));
    }
    let text = |path: &str| r.pointer(path).and_then(Value::as_str);
    let annotation = |key: &str| r.get("metadata").and_then(|m| m.get("annotations")).and_then(|a| a.get(key));
    let annotation_text = |key: &str| -> Result<Option<&str>, AssetError> {
        match annotation(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(bad(format!("metadata.annotations.{key} is not a string"))),
        }
    };
    let flag = |key: &str| annotation_text(key).map(|v| v == Some("true"));
    let list = |key: &str| -> Result<Vec<String>, AssetError> {
        match annotation_text(key)? {
            None => Ok(Vec::new()),
            Some(s) => serde_json::from_str(s)
                .map_err(|e| bad(format!("metadata.annotations.{key} is not a JSON list of strings: {e}"))),
        }
    };
    let name = text("/metadata/name").ok_or_else(|| bad("metadata.name is missing"))?;
    let namespace = text("/metadata/namespace").ok_or_else(|| bad("metadata.namespace is missing"))?;
    let region = r
        .pointer("/metadata/labels/cloud.googleapis.com~1location")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("metadata.labels.cloud.googleapis.com/location is missing"))?;
    let ingress = annotation_text("run.googleapis.com/ingress")?
        .map(|g| Ingress::from_gcloud(g).map_or_else(|| g.to_owned(), |i| i.v2().to_owned()));
    let account = text("/spec/template/spec/serviceAccountName").map(str::to_owned);
    Ok(Service {
        name: format!("projects/{namespace}/locations/{region}/services/{name}"),
        uid: text("/metadata/uid").map(str::to_owned),
        uri: text("/status/url").map(str::to_owned),
        urls: list("run.googleapis.com/urls")?,
        custom_audiences: list("run.googleapis.com/custom-audiences")?,
        ingress,
        invoker_iam_disabled: flag("run.googleapis.com/invoker-iam-disabled")?,
        default_uri_disabled: flag("run.googleapis.com/default-url-disabled")?,
        iap_enabled: flag("run.googleapis.com/iap-enabled")?,
        // The v1 form's VPC access lives in revision annotations a snapshot does not carry.
        template: account.map(|a| RevisionTemplate { service_account: Some(a), vpc_access: None, extra: Map::new() }),
        etag: None,
        extra: Map::new(),
    })
}

/// Where a service sits: its project's number and the parents above it,
/// nearest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    pub project_number: String,
    pub parents: Vec<String>,
}

impl Placement {
    /// From a search result's `project`, `folders` and `organization`.
    pub fn of_search(project: Option<&str>, folders: &[String], organization: Option<&str>) -> Self {
        Self {
            project_number: project.map(|p| p.trim_start_matches("projects/").to_owned()).unwrap_or_default(),
            parents: folders.iter().cloned().chain(organization.map(str::to_owned)).collect(),
        }
    }

    /// From an Asset's `ancestors` (`projects/N`, folders, organization).
    pub fn of_ancestors(ancestors: &[String]) -> Self {
        let number = ancestors.iter().find_map(|a| a.strip_prefix("projects/")).unwrap_or_default().to_owned();
        let parents = ancestors.iter().filter(|a| !a.starts_with("projects/")).cloned().collect();
        Self { project_number: number, parents }
    }
}

/// The ServiceSnapshot of a service (`target` as [`service_of`] named it,
/// `service` as [`run_service`] read it).
pub fn finish(
    target: ServiceRef,
    service: Service,
    placement: &Placement,
    policy: Policy,
    source: SnapshotSource,
    captured_at: DateTime<Utc>,
) -> Result<ServiceSnapshot, AssetError> {
    let number = &placement.project_number;
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad(format!(
            "the project number of {} is missing or not a number ('{number}')",
            target.full_name()
        )));
    }
    let mut s = service.into_snapshot(target, number, &placement.parents, policy, captured_at);
    s.source = Some(source);
    Ok(s)
}

/// A Run service read from Asset Inventory (`name` its full resource name,
/// `resource` the service in `version`'s JSON) as a ServiceSnapshot.
pub fn snapshot(
    name: &str,
    version: &str,
    resource: &RawValue,
    placement: &Placement,
    policy: Policy,
    source: SnapshotSource,
    captured_at: DateTime<Utc>,
) -> Result<ServiceSnapshot, AssetError> {
    finish(service_of(name)?, run_service(version, resource)?, placement, policy, source, captured_at)
}

/// One page of a search.
#[derive(Clone, Debug, Default)]
pub struct Page<T> {
    pub results: Vec<T>,
    pub next_page_token: Option<String>,
}

/// A page as it arrived: its token read, its results not yet, so that the
/// next page can be asked for while this one is read.
#[derive(Debug)]
pub struct Unread<T> {
    answer: Vec<u8>,
    pub next_page_token: Option<String>,
    url: Url,
    of: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Unread<T> {
    /// The page's results, read.
    pub fn read(self) -> Result<Page<T>, ApiError> {
        let page: PageJson<T> = decode(Api::CloudAsset, &Method::GET, &self.url, &self.answer)?;
        Ok(Page { results: page.results, next_page_token: self.next_page_token })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageJson<T> {
    #[serde(default = "Vec::new")]
    results: Vec<T>,
}

/// A page's token; its results are skipped unread.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageToken {
    #[serde(default)]
    next_page_token: Option<String>,
}

/// What one search asks for, beside its scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Search<'a> {
    pub query: Option<&'a str>,
    pub asset_types: &'a [&'a str],
    /// searchAllResources only.
    pub read_mask: Option<&'a str>,
    pub page_size: Option<u32>,
    pub page_token: Option<&'a str>,
}

/// Cloud Asset Inventory v1.
#[derive(Clone)]
pub struct CloudAsset {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

impl CloudAsset {
    /// One page of `{scope}:searchAllResources` (scope `organizations/N`,
    /// `folders/N` or `projects/ID-or-NUMBER`).
    pub async fn search_all_resources(
        &self,
        scope: &str,
        search: &Search<'_>,
    ) -> Result<Unread<ResourceSearchResult>, ApiError> {
        self.page(scope, "searchAllResources", search).await
    }

    /// One page of `{scope}:searchAllIamPolicies`.
    pub async fn search_all_iam_policies(
        &self,
        scope: &str,
        search: &Search<'_>,
    ) -> Result<Unread<IamPolicySearchResult>, ApiError> {
        self.page(scope, "searchAllIamPolicies", search).await
    }

    async fn page<T>(&self, scope: &str, verb: &str, search: &Search<'_>) -> Result<Unread<T>, ApiError> {
        let mut url = api_url(&self.base, &["v1", &format!("{scope}:{verb}")]);
        {
            let mut q = url.query_pairs_mut();
            if let Some(query) = search.query {
                q.append_pair("query", query);
            }
            // Repeated keys, as the discovery document's repeated parameters go.
            for t in search.asset_types {
                q.append_pair("assetTypes", t);
            }
            if let Some(m) = search.read_mask {
                q.append_pair("readMask", m);
            }
            q.append_pair("pageSize", &search.page_size.unwrap_or(MAX_PAGE_SIZE).to_string());
            if let Some(t) = search.page_token {
                q.append_pair("pageToken", t);
            }
            // A page of 500 services' versioned forms runs to megabytes,
            // indented by default: Google's system parameter drops that.
            q.append_pair("prettyPrint", "false");
        }
        let answer = self.http.answer(Api::CloudAsset, Method::GET, &url, None).await?;
        let token: PageToken = decode(Api::CloudAsset, &Method::GET, &url, &answer)?;
        Ok(Unread { answer, next_page_token: token.next_page_token.filter(|t| !t.is_empty()), url, of: PhantomData })
    }
}

/// Policies of Run services by full resource name, as a policy search
/// returns them (one result per resource).
pub fn policies_by_resource(results: Vec<IamPolicySearchResult>) -> BTreeMap<String, Policy> {
    results.into_iter().filter(|r| r.asset_type == RUN_SERVICE).map(|r| (r.resource, r.policy)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn raw(v: &Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(v).unwrap()
    }

    fn v2() -> Value {
        json!({
            "name": "projects/acme-prod/locations/europe-west1/services/hello",
            "uri": "https://hello-100000000001.europe-west1.run.app",
            "urls": ["https://hello-100000000001.europe-west1.run.app", "https://hello-abc-ew.a.run.app"],
            "ingress": "INGRESS_TRAFFIC_INTERNAL_ONLY",
            "invokerIamDisabled": true,
            "customAudiences": ["https://hello.acme.example"],
            "template": {"serviceAccount": "run@acme-prod.iam.gserviceaccount.com"},
        })
    }

    fn v1() -> Value {
        json!({
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": {
                "name": "hello",
                "namespace": "acme-prod",
                "labels": {"cloud.googleapis.com/location": "europe-west1"},
                "annotations": {
                    "run.googleapis.com/ingress": "internal",
                    "run.googleapis.com/invoker-iam-disabled": "true",
                    "run.googleapis.com/custom-audiences": "[\"https://hello.acme.example\"]",
                    "run.googleapis.com/urls": "[\"https://hello-100000000001.europe-west1.run.app\",\"https://hello-abc-ew.a.run.app\"]",
                },
            },
            "spec": {"template": {"spec": {"serviceAccountName": "run@acme-prod.iam.gserviceaccount.com"}}},
            "status": {"url": "https://hello-100000000001.europe-west1.run.app"},
        })
    }

    #[test]
    fn both_versions_give_the_same_settings() {
        let placement =
            Placement::of_search(Some("projects/100000000001"), &["folders/2".to_owned()], Some("organizations/1"));
        let at = Utc::now();
        let name = "//run.googleapis.com/projects/acme-prod/locations/europe-west1/services/hello";
        let policy = Policy::with_grants(&[("roles/run.invoker", "user:amy@acme.example")]);
        let a =
            snapshot(name, "v2", &raw(&v2()), &placement, policy.clone(), SnapshotSource::AssetInventory, at).unwrap();
        let b = snapshot(name, "v1", &raw(&v1()), &placement, policy, SnapshotSource::AssetInventory, at).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.ingress.as_deref(), Some("INGRESS_TRAFFIC_INTERNAL_ONLY"));
        assert!(a.invoker_iam_disabled);
        assert_eq!(a.custom_audiences, ["https://hello.acme.example"]);
        assert_eq!(a.urls.len(), 2);
        assert_eq!(a.service_account.as_deref(), Some("run@acme-prod.iam.gserviceaccount.com"));
        assert_eq!(a.service.project_number.as_deref(), Some("100000000001"));
        assert_eq!(a.ancestry, ["folders/2", "organizations/1"]);
        assert_eq!(a.source, Some(SnapshotSource::AssetInventory));
    }

    /// What `Service` reads of `v`, less what a snapshot never carries.
    fn as_service_reads(v: &Value) -> Option<Service> {
        let mut s: Service = serde_json::from_value(v.clone()).ok()?;
        s.extra.clear();
        if let Some(t) = &mut s.template {
            t.extra.clear();
            t.vpc_access = None;
        }
        Some(s)
    }

    #[test]
    fn the_v2_reader_reads_what_service_reads() {
        let mut v = v2();
        v["etag"] = json!("\"abc\"");
        v["uid"] = json!("u-1");
        v["iapEnabled"] = json!(true);
        v["defaultUriDisabled"] = json!(true);
        v["template"]["vpcAccess"] = json!({"egress": "ALL_TRAFFIC"});
        v["traffic"] = json!([{"percent": 100}]);
        let read = run_service("v2", &raw(&v)).unwrap();
        assert_eq!(Some(read), as_service_reads(&v));
    }

    #[test]
    fn export_lines_in_snake_case_are_read() {
        let line = r#"{"name":"//run.googleapis.com/projects/p-1/locations/us-east1/services/s","asset_type":"run.googleapis.com/Service","iam_policy":{"bindings":[{"role":"roles/run.invoker","members":["allUsers"]}]},"ancestors":["projects/7","folders/3","organizations/1"],"update_time":"2026-01-01T00:00:00Z"}"#;
        let a: Asset = serde_json::from_str(line).unwrap();
        assert_eq!(a.asset_type, RUN_SERVICE);
        assert_eq!(a.iam_policy.unwrap().bindings[0].members, ["allUsers"]);
        let p = Placement::of_ancestors(&a.ancestors);
        assert_eq!((p.project_number.as_str(), p.parents.len()), ("7", 2));
    }

    #[test]
    fn unreadable_services_name_the_field() {
        let mut bad_audiences = v1();
        bad_audiences["metadata"]["annotations"]["run.googleapis.com/custom-audiences"] = json!("not json");
        let e = run_service("v1", &raw(&bad_audiences)).unwrap_err();
        assert!(e.0.starts_with("metadata.annotations.run.googleapis.com/custom-audiences"), "{e}");
        let e = run_service("v2", &raw(&json!({"name": "x", "urls": 5}))).unwrap_err();
        assert!(e.0.contains("urls"), "{e}");
        assert!(run_service("v3", &raw(&v2())).is_err());
        assert!(service_of("//storage.googleapis.com/b").is_err());
        assert!(preferred(&[]).is_none());
    }

    /// JSON whose keys are often the ones the readers look at.
    fn any_json() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("metadata".to_owned()),
            Just("annotations".to_owned()),
            Just("labels".to_owned()),
            Just("name".to_owned()),
            Just("namespace".to_owned()),
            Just("cloud.googleapis.com/location".to_owned()),
            Just("run.googleapis.com/ingress".to_owned()),
            Just("run.googleapis.com/urls".to_owned()),
            Just("run.googleapis.com/custom-audiences".to_owned()),
            Just("status".to_owned()),
            Just("url".to_owned()),
            Just("ingress".to_owned()),
            Just("template".to_owned()),
            Just("bindings".to_owned()),
            Just("iam_policy".to_owned()),
            Just("resource".to_owned()),
            Just("data".to_owned()),
            "[a-z_]{1,8}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
            Just(Value::from("[\"https://a\"]")),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::vec((key.clone(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn readers_never_panic(v in any_json(), version in prop_oneof![Just("v1"), Just("v2"), Just("x")]) {
            let read = run_service(version, &raw(&v));
            if version == "v2" {
                prop_assert_eq!(read.ok(), as_service_reads(&v));
            }
            let _ = serde_json::from_value::<Asset>(v.clone());
            let _ = serde_json::from_value::<ResourceSearchResult>(v.clone());
            let _ = serde_json::from_value::<IamPolicySearchResult>(v.clone());
            let placement = Placement::of_ancestors(&["projects/1".to_owned()]);
            let _ = snapshot("//run.googleapis.com/projects/p-1/locations/us-east1/services/s", version, &raw(&v), &placement, Policy::default(), SnapshotSource::AssetExport, Utc::now());
        }

        #[test]
        fn names_never_panic(name in ".{0,80}") {
            let _ = service_of(&name);
            let _ = service_of(&format!("{RUN_PREFIX}{name}"));
        }
    }
}
