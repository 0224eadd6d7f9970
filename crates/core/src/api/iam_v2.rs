//! IAM v2 deny policies: list at an attachment point (rules omitted, as
//! Google answers), then get each for its rules.

use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;
use url::Url;

use crate::config::Api;
use crate::eval::DenyPolicy;
use crate::http::{ApiError, Http, api_url};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListPoliciesResponse {
    #[serde(default)]
    policies: Vec<DenyPolicy>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// IAM v2.
#[derive(Clone)]
pub struct IamV2 {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

/// `cloudresourcemanager.googleapis.com/projects/X` for `projects/X`.
pub fn attachment_point(resource: &str) -> String {
    format!("cloudresourcemanager.googleapis.com/{resource}")
}

impl IamV2 {
    /// `policies/{urlencoded attachment point}/denypolicies`, each without rules.
    pub async fn list_deny_policies(&self, attachment: &str) -> Result<Vec<DenyPolicy>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // The attachment point is one path segment: its slashes are encoded.
            let mut url = api_url(&self.base, &["v2", "policies"]);
            url.path_segments_mut().expect("http(s) base").push(attachment).push("denypolicies");
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let page: ListPoliciesResponse = self.http.json(Api::Iam, Method::GET, url, None).await?;
            out.extend(page.policies);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// One deny policy with its rules, by the name `list` returned
    /// (`policies/{encoded attachment}/denypolicies/ID`).
    pub async fn get_deny_policy(&self, name: &str) -> Result<DenyPolicy, ApiError> {
        let mut url = api_url(&self.base, &["v2"]);
        {
            let mut segs = url.path_segments_mut().expect("http(s) base");
            let mut parts = name.splitn(3, '/');
            let (p, attachment, rest) =
                (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            let attachment = percent_encoding::percent_decode_str(attachment).decode_utf8_lossy().into_owned();
            segs.push(p).push(&attachment).extend(rest.split('/'));
        }
        self.http.json(Api::Iam, Method::GET, url, None).await
    }
}
