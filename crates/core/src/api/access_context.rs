//! Access Context Manager v1: an organization's access policies
//! (`accessPolicies.list`, which needs `parent=organizations/N`) and their
//! service perimeters (`accessPolicies.servicePerimeters.list`), the facts
//! VPC Service Controls decides a call on (crate::perimeter). Paths, field
//! names and enum spellings follow Access Context Manager's v1 discovery
//! document.

use std::sync::Arc;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::config::Api;
use crate::http::{ApiError, Http, api_url};

/// The permissions the two lists need, for partial-visibility findings.
pub const POLICIES_LIST: &str = "accesscontextmanager.policies.list";
pub const PERIMETERS_LIST: &str = "accesscontextmanager.servicePerimeters.list";

/// `AccessPolicy`: `name` is `accessPolicies/N`, `parent` `organizations/N`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicy {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub parent: String,
    #[serde(default)]
    pub title: String,
    /// A scoped policy's `projects/N` or `folders/N`; empty for the
    /// organization's own policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `ServicePerimeter`: `status` is enforced; `spec` is the dry-run
/// configuration, and only counts when `useExplicitDryRunSpec` is set
/// (otherwise the dry run is the enforced configuration itself).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePerimeter {
    /// `accessPolicies/N/servicePerimeters/NAME`.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub title: String,
    /// `PERIMETER_TYPE_REGULAR` (the default, left out) or `PERIMETER_TYPE_BRIDGE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perimeter_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PerimeterConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<PerimeterConfig>,
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub use_explicit_dry_run_spec: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ServicePerimeter {
    pub fn is_bridge(&self) -> bool {
        self.perimeter_type.as_deref() == Some("PERIMETER_TYPE_BRIDGE")
    }

    /// The perimeter's short name, the last segment of `name`.
    pub fn short_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }

    /// The access policy it belongs to, `accessPolicies/N`.
    pub fn policy(&self) -> &str {
        self.name.split_once("/servicePerimeters/").map_or(&self.name, |(p, _)| p)
    }
}

/// `ServicePerimeterConfig`, the fields VPC Service Controls judges an
/// ingress on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerimeterConfig {
    /// `projects/NUMBER`, `folders/N`, or a VPC network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restricted_services: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_levels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress_policies: Vec<IngressPolicy>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_from: Option<IngressFrom>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_to: Option<IngressTo>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressFrom {
    /// Members: `user:`, `serviceAccount:`, `group:`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<String>,
    /// `ANY_IDENTITY`, `ANY_USER_ACCOUNT`, `ANY_SERVICE_ACCOUNT`; unset:
    /// only `identities`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<IngressSource>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressSource {
    /// `accessPolicies/P/accessLevels/L`, or `*` for every source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_level: Option<String>,
    /// `projects/NUMBER`, `folders/N`, `organizations/N` or a VPC network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressTo {
    /// `projects/NUMBER` (or folders, organizations), or `*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<ApiOperation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiOperation {
    /// `run.googleapis.com`, or `*` for every service.
    #[serde(default)]
    pub service_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub method_selectors: Vec<MethodSelector>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PoliciesPage {
    #[serde(default)]
    access_policies: Vec<AccessPolicy>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PerimetersPage {
    #[serde(default)]
    service_perimeters: Vec<ServicePerimeter>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// Access Context Manager v1.
#[derive(Clone)]
pub struct AccessContext {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

impl AccessContext {
    /// The access policies of `organizations/N`, across pages.
    pub async fn list_policies(&self, organization: &str) -> Result<Vec<AccessPolicy>, ApiError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let url = self.page_url(&["v1", "accessPolicies"], Some(organization), token.as_deref());
            let page: PoliciesPage = self.http.json(Api::AccessContextManager, Method::GET, url, None).await?;
            out.extend(page.access_policies);
            token = page.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// The service perimeters of `accessPolicies/N`, across pages.
    pub async fn list_perimeters(&self, policy: &str) -> Result<Vec<ServicePerimeter>, ApiError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let url = self.page_url(&["v1", policy, "servicePerimeters"], None, token.as_deref());
            let page: PerimetersPage = self.http.json(Api::AccessContextManager, Method::GET, url, None).await?;
            out.extend(page.service_perimeters);
            token = page.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    fn page_url(&self, segments: &[&str], parent: Option<&str>, token: Option<&str>) -> Url {
        let mut url = api_url(&self.base, segments);
        {
            let mut q = url.query_pairs_mut();
            if let Some(p) = parent {
                q.append_pair("parent", p);
            }
            q.append_pair("pageSize", "100");
            if let Some(t) = token {
                q.append_pair("pageToken", t);
            }
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perimeter_reads_as_the_discovery_document_spells_it() {
        let p: ServicePerimeter = serde_json::from_value(serde_json::json!({
            "name": "accessPolicies/42/servicePerimeters/prod",
            "title": "prod",
            "perimeterType": "PERIMETER_TYPE_REGULAR",
            "status": {
                "resources": ["projects/1"],
                "restrictedServices": ["run.googleapis.com"],
                "ingressPolicies": [{
                    "ingressFrom": {"identityType": "ANY_IDENTITY", "sources": [{"resource": "projects/2"}]},
                    "ingressTo": {"resources": ["*"], "operations": [{"serviceName": "run.googleapis.com", "methodSelectors": [{"method": "*"}]}]}
                }],
                "vpcAccessibleServices": {"enableRestriction": false}
            },
            "useExplicitDryRunSpec": true,
            "etag": "e"
        }))
        .unwrap();
        assert_eq!((p.short_name(), p.policy(), p.is_bridge()), ("prod", "accessPolicies/42", false));
        let status = p.status.as_ref().unwrap();
        assert_eq!(
            status.ingress_policies[0].ingress_to.as_ref().unwrap().operations[0].service_name,
            "run.googleapis.com"
        );
        // What runiam does not name survives a round trip.
        let back = serde_json::to_value(&p).unwrap();
        assert_eq!(back["status"]["vpcAccessibleServices"]["enableRestriction"], false);
        assert_eq!(back["etag"], "e");
    }
}
