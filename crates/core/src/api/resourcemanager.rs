//! Cloud Resource Manager v3 (projects, folders, organizations and their
//! allow policies) and v1 `getAncestry` (the whole chain in one call).

use std::sync::Arc;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use super::get_policy_options;
use crate::config::Api;
use crate::http::{ApiError, Http, api_url};
use crate::model::Policy;

/// v3 `Project`: `name` is always `projects/NUMBER`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub name: String,
    #[serde(default)]
    pub project_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Project {
    /// The project number, from `projects/NUMBER`.
    pub fn number(&self) -> &str {
        self.name.strip_prefix("projects/").unwrap_or(&self.name)
    }
}

/// v3 `Folder`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Folder {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// v3 `Organization`; `directoryCustomerId` is what domain restricted
/// sharing lists.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_customer_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One step of a project's ancestry, as `projects/ID`, `folders/N` or
/// `organizations/N`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ancestor {
    pub kind: String,
    pub id: String,
}

impl Ancestor {
    /// The resource name (`folders/123`).
    pub fn resource(&self) -> String {
        format!("{}s/{}", self.kind, self.id)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectList {
    #[serde(default)]
    projects: Vec<Project>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FolderList {
    #[serde(default)]
    folders: Vec<Folder>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct AncestryResponse {
    #[serde(default)]
    ancestor: Vec<AncestorJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AncestorJson {
    resource_id: ResourceId,
}

#[derive(Deserialize)]
struct ResourceId {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

/// Cloud Resource Manager.
#[derive(Clone)]
pub struct ResourceManager {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

impl ResourceManager {
    /// A project by id or number.
    pub async fn get_project(&self, project: &str) -> Result<Project, ApiError> {
        let url = api_url(&self.base, &["v3", "projects", project]);
        self.http.json(Api::CloudResourceManager, Method::GET, url, None).await
    }

    /// A folder by `folders/N`.
    pub async fn get_folder(&self, name: &str) -> Result<Folder, ApiError> {
        let url = api_url(&self.base, &["v3", name]);
        self.http.json(Api::CloudResourceManager, Method::GET, url, None).await
    }

    /// An organization by `organizations/N`.
    pub async fn get_organization(&self, name: &str) -> Result<Organization, ApiError> {
        let url = api_url(&self.base, &["v3", name]);
        self.http.json(Api::CloudResourceManager, Method::GET, url, None).await
    }

    /// The allow policy of `projects/X`, `folders/N` or `organizations/N`.
    pub async fn get_iam_policy(&self, resource: &str) -> Result<Policy, ApiError> {
        let url = api_url(&self.base, &["v3", &format!("{resource}:getIamPolicy")]);
        self.http.json(Api::CloudResourceManager, Method::POST, url, Some(&get_policy_options())).await
    }

    /// The projects directly under `parent` (`folders/N`, `organizations/N`), across pages.
    pub async fn list_projects(&self, parent: &str) -> Result<Vec<Project>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let url = self.list_url("projects", parent, token.as_deref());
            let page: ProjectList = self.http.json(Api::CloudResourceManager, Method::GET, url, None).await?;
            out.extend(page.projects);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// The folders directly under `parent`, across pages.
    pub async fn list_folders(&self, parent: &str) -> Result<Vec<Folder>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let url = self.list_url("folders", parent, token.as_deref());
            let page: FolderList = self.http.json(Api::CloudResourceManager, Method::GET, url, None).await?;
            out.extend(page.folders);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    fn list_url(&self, kind: &str, parent: &str, token: Option<&str>) -> Url {
        let mut url = api_url(&self.base, &["v3", kind]);
        url.query_pairs_mut().append_pair("parent", parent).append_pair("pageSize", "1000");
        if let Some(t) = token {
            url.query_pairs_mut().append_pair("pageToken", t);
        }
        url
    }

    /// The project, its folders and its organization, bottom to top.
    pub async fn get_ancestry(&self, project: &str) -> Result<Vec<Ancestor>, ApiError> {
        let url = api_url(&self.base, &["v1", "projects", &format!("{project}:getAncestry")]);
        let r: AncestryResponse =
            self.http.json(Api::CloudResourceManager, Method::POST, url, Some(&serde_json::json!({}))).await?;
        Ok(r.ancestor.into_iter().map(|a| Ancestor { kind: a.resource_id.kind, id: a.resource_id.id }).collect())
    }
}
