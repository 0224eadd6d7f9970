//! Cloud Monitoring v3 `projects.alertPolicies` (create, list, delete):
//! the log-match alert policy that watches a service's request log on
//! Google's side once a fix is verified.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::config::Api;
use crate::http::{ApiError, Http, api_url};

/// `AlertPolicy`, the fields runiam reads; the rest kept in `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertPolicy {
    /// `projects/P/alertPolicies/ID`, assigned by Monitoring.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notification_channels: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    #[serde(default)]
    alert_policies: Vec<AlertPolicy>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// Cloud Monitoring v3.
#[derive(Clone)]
pub struct Monitoring {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

impl Monitoring {
    /// Creates `policy` in `project`; Monitoring names it.
    pub async fn create_alert_policy(&self, project: &str, policy: &AlertPolicy) -> Result<AlertPolicy, ApiError> {
        let url = api_url(&self.base, &["v3", "projects", project, "alertPolicies"]);
        let body = serde_json::to_value(policy).expect("alert policies serialize");
        self.http.json(Api::Monitoring, Method::POST, url, Some(&body)).await
    }

    /// Every alert policy of `project`, all pages.
    pub async fn list_alert_policies(&self, project: &str) -> Result<Vec<AlertPolicy>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = api_url(&self.base, &["v3", "projects", project, "alertPolicies"]);
            url.query_pairs_mut().append_pair("pageSize", "1000");
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let page: ListResponse = self.http.json(Api::Monitoring, Method::GET, url, None).await?;
            out.extend(page.alert_policies);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// The policy `name` (`projects/P/alertPolicies/ID`).
    pub async fn get_alert_policy(&self, name: &str) -> Result<AlertPolicy, ApiError> {
        let url = api_url(&self.base, &["v3", name]);
        self.http.json(Api::Monitoring, Method::GET, url, None).await
    }

    /// Deletes `name` (`projects/P/alertPolicies/ID`).
    pub async fn delete_alert_policy(&self, name: &str) -> Result<(), ApiError> {
        let url = api_url(&self.base, &["v3", name]);
        let _: Value = self.http.json(Api::Monitoring, Method::DELETE, url, None).await?;
        Ok(())
    }
}
