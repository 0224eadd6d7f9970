//! IAM Credentials v1: ID tokens minted for a service account by
//! impersonation (`generateIdToken`), for `runiam verify` to call a service
//! as that account.

use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;
use url::Url;

use crate::auth::Secret;
use crate::config::Api;
use crate::http::{ApiError, Http, api_url};

#[derive(Deserialize)]
struct GenerateIdTokenResponse {
    #[serde(default)]
    token: String,
}

/// IAM Credentials v1.
#[derive(Clone)]
pub struct IamCredentials {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

impl IamCredentials {
    /// An ID token for `email` with `aud` = `audience` and the `email`
    /// claim (Cloud Run authorizes by it). The caller needs
    /// `iam.serviceAccounts.getOpenIdToken` on the account.
    pub async fn generate_id_token(&self, email: &str, audience: &str) -> Result<Secret, ApiError> {
        let url = api_url(&self.base, &["v1", "projects", "-", "serviceAccounts", &format!("{email}:generateIdToken")]);
        let body = serde_json::json!({ "audience": audience, "includeEmail": true });
        let r: GenerateIdTokenResponse =
            self.http.json(Api::IamCredentials, Method::POST, url.clone(), Some(&body)).await?;
        if r.token.is_empty() {
            return Err(ApiError::Decode {
                api: Api::IamCredentials,
                method: "POST".to_owned(),
                url: url.to_string(),
                detail: "the answer carried no token".to_owned(),
            });
        }
        Ok(Secret::new(r.token))
    }
}
