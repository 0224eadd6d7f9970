//! Cloud Identity Groups: is the caller in a group? The transitive check
//! where the edition has it, else the direct members for a walk.

use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::config::Api;
use crate::http::{ApiError, Http, api_url};

/// Cloud Identity v1.
#[derive(Clone)]
pub struct CloudIdentity {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MembershipsPage {
    #[serde(default)]
    memberships: Vec<Value>,
    #[serde(default)]
    next_page_token: Option<String>,
}

impl CloudIdentity {
    /// `groups/ID` for a group email.
    pub async fn lookup_group(&self, email: &str) -> Result<String, ApiError> {
        let mut url = api_url(&self.base, &["v1", "groups:lookup"]);
        url.query_pairs_mut().append_pair("groupKey.id", email);
        let v: Value = self.http.json(Api::CloudIdentity, Method::GET, url, None).await?;
        Ok(v.get("name").and_then(Value::as_str).unwrap_or_default().to_owned())
    }

    /// Whether `member_email` is in the group, directly or through nested groups.
    pub async fn check_transitive_membership(&self, group: &str, member_email: &str) -> Result<bool, ApiError> {
        let mut url = api_url(&self.base, &["v1", group, "memberships:checkTransitiveMembership"]);
        url.query_pairs_mut().append_pair("query", &format!("member_key_id == '{member_email}'"));
        let v: Value = self.http.json(Api::CloudIdentity, Method::GET, url, None).await?;
        Ok(v.get("hasMembership").and_then(Value::as_bool).unwrap_or(false))
    }

    /// Every group `member_email` belongs to, directly or not (emails), in
    /// one call: where the edition has it, no per-group lookups are needed.
    pub async fn search_transitive_groups(&self, member_email: &str) -> Result<Vec<String>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = api_url(&self.base, &["v1", "groups", "-", "memberships:searchTransitiveGroups"]);
            url.query_pairs_mut().append_pair(
                "query",
                &format!("member_key_id == '{member_email}' && 'cloudidentity.googleapis.com/groups.discussion_forum' in labels"),
            );
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let page: MembershipsPage = self.http.json(Api::CloudIdentity, Method::GET, url, None).await?;
            out.extend(
                page.memberships
                    .iter()
                    .filter_map(|m| m.pointer("/groupKey/id").and_then(Value::as_str))
                    .map(str::to_owned),
            );
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// Direct members as IAM member strings (`user:`, `serviceAccount:`, `group:`).
    pub async fn list_members(&self, group: &str) -> Result<Vec<String>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = api_url(&self.base, &["v1", group, "memberships"]);
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let page: MembershipsPage = self.http.json(Api::CloudIdentity, Method::GET, url, None).await?;
            for m in page.memberships {
                let id = m.pointer("/preferredMemberKey/id").and_then(Value::as_str).unwrap_or_default();
                let kind = match m.get("type").and_then(Value::as_str) {
                    Some("GROUP") => "group",
                    Some("SERVICE_ACCOUNT") => "serviceAccount",
                    _ if id.ends_with(".gserviceaccount.com") => "serviceAccount",
                    _ => "user",
                };
                if !id.is_empty() {
                    out.push(format!("{kind}:{id}"));
                }
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }
}
