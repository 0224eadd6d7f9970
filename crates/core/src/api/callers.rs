//! The Google services that call Cloud Run with OIDC tokens, read only
//! (reference gcp-api-wire-shapes §13): Pub/Sub push subscriptions, Cloud
//! Scheduler HTTP jobs, Eventarc triggers.

use std::sync::Arc;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::config::Api;
use crate::http::{ApiError, Http, api_url};

/// `OidcToken` of Pub/Sub push and Scheduler targets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcToken {
    #[serde(default)]
    pub service_account_email: String,
    /// Empty: the endpoint (push) or target URI (Scheduler) is used.
    #[serde(default)]
    pub audience: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushConfig {
    #[serde(default)]
    pub push_endpoint: String,
    #[serde(default)]
    pub oidc_token: Option<OidcToken>,
}

/// Pub/Sub `Subscription`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub name: String,
    #[serde(default)]
    pub push_config: Option<PushConfig>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpTarget {
    #[serde(default)]
    pub uri: String,
    #[serde(default)]
    pub oidc_token: Option<OidcToken>,
}

/// Cloud Scheduler `Job`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub name: String,
    #[serde(default)]
    pub http_target: Option<HttpTarget>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudRunDestination {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    #[serde(default)]
    pub cloud_run: Option<CloudRunDestination>,
}

/// Eventarc `Trigger`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    pub name: String,
    #[serde(default)]
    pub service_account: Option<String>,
    #[serde(default)]
    pub destination: Option<Destination>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Pub/Sub, Cloud Scheduler and Eventarc, for listing callers.
#[derive(Clone)]
pub struct Callers {
    pub(crate) http: Arc<Http>,
    pub(crate) pubsub: Url,
    pub(crate) scheduler: Url,
    pub(crate) eventarc: Url,
}

impl Callers {
    /// Every item of a paged list (`field` holds them, `nextPageToken` pages).
    async fn all<T: serde::de::DeserializeOwned>(&self, api: Api, url: Url, field: &str) -> Result<Vec<T>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut u = url.clone();
            u.query_pairs_mut().append_pair("pageSize", "1000");
            if let Some(t) = &token {
                u.query_pairs_mut().append_pair("pageToken", t);
            }
            let mut page: Map<String, Value> = self.http.json(api, Method::GET, u, None).await?;
            if let Some(items) = page.remove(field) {
                let items: Vec<T> = serde_json::from_value(items).map_err(|e| ApiError::Decode {
                    api,
                    method: "GET".into(),
                    url: url.to_string(),
                    detail: e.to_string(),
                })?;
                out.extend(items);
            }
            match page.get("nextPageToken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(out),
            }
        }
    }

    pub async fn subscriptions(&self, project: &str) -> Result<Vec<Subscription>, ApiError> {
        let url = api_url(&self.pubsub, &["v1", "projects", project, "subscriptions"]);
        self.all(Api::PubSub, url, "subscriptions").await
    }

    pub async fn scheduler_jobs(&self, project: &str, location: &str) -> Result<Vec<Job>, ApiError> {
        let url = api_url(&self.scheduler, &["v1", "projects", project, "locations", location, "jobs"]);
        self.all(Api::CloudScheduler, url, "jobs").await
    }

    pub async fn eventarc_triggers(&self, project: &str, location: &str) -> Result<Vec<Trigger>, ApiError> {
        let url = api_url(&self.eventarc, &["v1", "projects", project, "locations", location, "triggers"]);
        self.all(Api::Eventarc, url, "triggers").await
    }
}
