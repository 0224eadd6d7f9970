//! Compute Engine v1 network reads: a subnetwork's Private Google Access,
//! an instance's network, a service project's Shared VPC host. There is no
//! Compute discovery document in this repository: the paths and fields
//! here are unverified (docs/cloud-run.md "The caller's path").

use std::sync::Arc;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::config::Api;
use crate::http::{ApiError, Http, api_url};

/// `compute#subnetwork`, the fields read here (unverified).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnetwork {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub network: String,
    #[serde(default)]
    pub private_ip_google_access: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `compute#instance`, the fields read here (unverified).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub network_interfaces: Vec<InstanceInterface>,
    #[serde(default)]
    pub service_accounts: Vec<InstanceAccount>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceInterface {
    #[serde(default)]
    pub network: String,
    #[serde(default)]
    pub subnetwork: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceAccount {
    #[serde(default)]
    pub email: String,
}

/// `projects.getXpnHost`'s answer: the host project, or nothing (unverified).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XpnHost {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The path of a `projects/P/regions/R/subnetworks/S` or `projects/P/zones/Z/instances/I`
/// name inside a full Compute URL, which is how Compute links resources.
pub fn relative(name: &str) -> &str {
    name.find("projects/").map_or(name, |i| &name[i..])
}

/// Compute Engine v1.
#[derive(Clone)]
pub struct Compute {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

impl Compute {
    /// `projects/P/regions/R/subnetworks/S` (or a URL holding it).
    pub async fn get_subnetwork(&self, name: &str) -> Result<Subnetwork, ApiError> {
        let url = api_url(&self.base, &["compute", "v1", relative(name)]);
        self.http.json(Api::Compute, Method::GET, url, None).await
    }

    pub async fn get_instance(&self, project: &str, zone: &str, name: &str) -> Result<Instance, ApiError> {
        let url = api_url(&self.base, &["compute", "v1", "projects", project, "zones", zone, "instances", name]);
        self.http.json(Api::Compute, Method::GET, url, None).await
    }

    /// The Shared VPC host `project` is attached to, if any.
    pub async fn get_xpn_host(&self, project: &str) -> Result<XpnHost, ApiError> {
        let url = api_url(&self.base, &["compute", "v1", "projects", project, "getXpnHost"]);
        self.http.json(Api::Compute, Method::GET, url, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_links_reduce_to_their_relative_name() {
        assert_eq!(
            relative("https://www.googleapis.com/compute/v1/projects/p/regions/r/subnetworks/s"),
            "projects/p/regions/r/subnetworks/s"
        );
        assert_eq!(relative("projects/p/zones/z/instances/i"), "projects/p/zones/z/instances/i");
        assert_eq!(relative("default"), "default");
    }
}
