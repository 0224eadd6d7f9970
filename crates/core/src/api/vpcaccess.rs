//! Serverless VPC Access v1: a connector's network (`connectors.get`), for
//! the caller's path (docs/cloud-run.md "The caller's path"). There is no
//! Serverless VPC Access discovery document in this repository: the path
//! and fields here are unverified.

use std::sync::Arc;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::config::Api;
use crate::http::{ApiError, Http, api_url};

/// A connector, the fields read here (unverified).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connector {
    #[serde(default)]
    pub name: String,
    /// The network's short name, in the connector's project or, with a
    /// `subnet` of another project, in that (host) project.
    #[serde(default)]
    pub network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<ConnectorSubnet>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The subnet a connector takes its addresses from (unverified).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorSubnet {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}

impl Connector {
    /// `projects/P/global/networks/N` and `projects/P/regions/R/subnetworks/S`
    /// of a connector of `project` in `region`: the network's project is
    /// the subnet's (a Shared VPC host) when it names one; the subnet is
    /// named like the network when none is given.
    pub fn network_and_subnet(&self, project: &str, region: &str) -> (String, String) {
        let network = self.network.rsplit('/').next().unwrap_or(&self.network);
        let home = match self.subnet.as_ref().and_then(|s| s.project_id.as_deref()).filter(|p| !p.is_empty()) {
            Some(p) => p,
            None => crate::ingress::network_project(&self.network, project),
        };
        let subnet = self.subnet.as_ref().map(|s| s.name.as_str()).filter(|s| !s.is_empty()).unwrap_or(network);
        (
            format!("projects/{home}/global/networks/{network}"),
            format!("projects/{home}/regions/{region}/subnetworks/{}", subnet.rsplit('/').next().unwrap_or(subnet)),
        )
    }
}

/// Serverless VPC Access v1.
#[derive(Clone)]
pub struct VpcAccessApi {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

impl VpcAccessApi {
    /// `projects/P/locations/L/connectors/C`.
    pub async fn get_connector(&self, name: &str) -> Result<Connector, ApiError> {
        let url = api_url(&self.base, &["v1", name]);
        self.http.json(Api::VpcAccess, Method::GET, url, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connector_gives_its_network_and_subnet() {
        let c = |v: Value| serde_json::from_value::<Connector>(v).unwrap().network_and_subnet("svc", "europe-west1");
        assert_eq!(
            c(serde_json::json!({"name": "projects/svc/locations/europe-west1/connectors/c", "network": "default"})),
            (
                "projects/svc/global/networks/default".to_owned(),
                "projects/svc/regions/europe-west1/subnetworks/default".to_owned()
            )
        );
        assert_eq!(
            c(serde_json::json!({"network": "shared", "subnet": {"name": "conn-subnet", "projectId": "host"}})),
            (
                "projects/host/global/networks/shared".to_owned(),
                "projects/host/regions/europe-west1/subnetworks/conn-subnet".to_owned()
            )
        );
    }
}
