//! Org Policy v2: the effective policy of a constraint on a resource, for
//! domain restricted sharing (`iam.allowedPolicyMemberDomains`).

use std::sync::Arc;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::config::Api;
use crate::http::{ApiError, Http, api_url};

/// The constraint behind domain restricted sharing.
pub const DRS: &str = "iam.allowedPolicyMemberDomains";

/// `GoogleCloudOrgpolicyV2Policy`, the fields that matter here.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgPolicy {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<PolicySpec>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<StringValues>,
    #[serde(default)]
    pub allow_all: bool,
    #[serde(default)]
    pub deny_all: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StringValues {
    #[serde(default)]
    pub allowed_values: Vec<String>,
    #[serde(default)]
    pub denied_values: Vec<String>,
}

impl OrgPolicy {
    /// The customer ids DRS allows, or None when the constraint does not restrict.
    pub fn allowed_customers(&self) -> Option<Vec<String>> {
        let rules = &self.spec.as_ref()?.rules;
        if rules.is_empty() || rules.iter().any(|r| r.allow_all) {
            return None;
        }
        Some(rules.iter().filter_map(|r| r.values.as_ref()).flat_map(|v| v.allowed_values.iter().cloned()).collect())
    }
}

/// Org Policy v2.
#[derive(Clone)]
pub struct OrgPolicyApi {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

impl OrgPolicyApi {
    /// The effective `constraint` on `resource` (`projects/P`, ...), inherited policies merged.
    pub async fn get_effective_policy(&self, resource: &str, constraint: &str) -> Result<OrgPolicy, ApiError> {
        let url = api_url(&self.base, &["v2", resource, "policies", &format!("{constraint}:getEffectivePolicy")]);
        self.http.json(Api::OrgPolicy, Method::GET, url, None).await
    }
}
