//! Cloud Logging v2 `entries.list` (docs/cloud-run.md).
//! Entries stay `serde_json::Value`: request logs, audit logs and
//! whatever a container wrote share no schema worth fixing here.

use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::config::Api;
use crate::http::{ApiError, Http, api_url};

/// Logging's largest page.
const PAGE_SIZE: u32 = 1000;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    #[serde(default)]
    entries: Vec<Value>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// Cloud Logging v2.
#[derive(Clone)]
pub struct Logging {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

impl Logging {
    /// Entries of `resource` (`projects/P`) matching `filter`, newest first,
    /// at most `limit`. Pages on even when a page comes back empty (Logging
    /// does that when it ran out of time, not of entries).
    pub async fn list_entries(&self, resource: &str, filter: &str, limit: usize) -> Result<Vec<Value>, ApiError> {
        let url = api_url(&self.base, &["v2", "entries:list"]);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({
                "resourceNames": [resource],
                "filter": filter,
                "orderBy": "timestamp desc",
                "pageSize": PAGE_SIZE,
            });
            if let Some(t) = &token {
                body["pageToken"] = json!(t);
            }
            let page: ListResponse = self.http.json(Api::Logging, Method::POST, url.clone(), Some(&body)).await?;
            out.extend(page.entries);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) if out.len() < limit => token = Some(t),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }
}
