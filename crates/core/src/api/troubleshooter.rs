//! Policy Troubleshooter v3: Google's own answer to "may P do X on R",
//! asked with `--remote` to cross-check runiam's evaluation.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

use crate::config::Api;
use crate::http::{ApiError, Http, api_url};

/// Policy Troubleshooter v3.
#[derive(Clone)]
pub struct Troubleshooter {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

impl Troubleshooter {
    /// `overallAccessState` and the whole explanation, verbatim.
    pub async fn troubleshoot(
        &self,
        principal_email: &str,
        full_resource_name: &str,
        permission: &str,
    ) -> Result<Value, ApiError> {
        let url = api_url(&self.base, &["v3", "iam:troubleshoot"]);
        let body = json!({"accessTuple": {
            "principal": principal_email,
            "fullResourceName": full_resource_name,
            "permission": permission,
        }});
        self.http.json(Api::PolicyTroubleshooter, Method::POST, url, Some(&body)).await
    }
}
