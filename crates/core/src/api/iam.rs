//! IAM v1: roles (predefined and custom) and service accounts.

use std::sync::Arc;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use super::is_false;
use crate::config::Api;
use crate::http::{ApiError, Http, api_url};
use crate::model::Policy;

/// IAM `Role`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included_permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// IAM `ServiceAccount`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccount {
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// IAM v1.
#[derive(Clone)]
pub struct Iam {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

impl Iam {
    /// `roles/X`, `projects/P/roles/X` or `organizations/N/roles/X`.
    pub async fn get_role(&self, name: &str) -> Result<Role, ApiError> {
        self.http.json(Api::Iam, Method::GET, api_url(&self.base, &["v1", name]), None).await
    }

    /// A service account by email (`projects/-` lets IAM find its project).
    pub async fn get_service_account(&self, email: &str) -> Result<ServiceAccount, ApiError> {
        let url = api_url(&self.base, &["v1", "projects", "-", "serviceAccounts", email]);
        self.http.json(Api::Iam, Method::GET, url, None).await
    }

    /// Who may act as, or mint tokens for, the service account.
    pub async fn get_service_account_iam_policy(&self, email: &str) -> Result<Policy, ApiError> {
        let mut url =
            api_url(&self.base, &["v1", "projects", "-", "serviceAccounts", &format!("{email}:getIamPolicy")]);
        url.query_pairs_mut().append_pair("options.requestedPolicyVersion", "3");
        self.http.json(Api::Iam, Method::POST, url, None).await
    }

    /// The account's user-managed keys: each lets its holder sign as the
    /// account, so mint its tokens, from anywhere.
    pub async fn list_user_managed_keys(&self, email: &str) -> Result<Vec<AccountKey>, ApiError> {
        let mut url = api_url(&self.base, &["v1", "projects", "-", "serviceAccounts", email, "keys"]);
        url.query_pairs_mut().append_pair("keyTypes", "USER_MANAGED");
        let list: KeyList = self.http.json(Api::Iam, Method::GET, url, None).await?;
        Ok(list.keys)
    }
}

/// `ServiceAccountKey`, without key material (keys.list never returns it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountKey {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_after_time: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct KeyList {
    #[serde(default)]
    keys: Vec<AccountKey>,
}
