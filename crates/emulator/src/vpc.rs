//! The world's networks (docs/emulator.md "Networks and callers"):
//! subnetworks, Compute Engine instances, Serverless VPC Access
//! connectors, and the Cloud Run jobs that call through them. Compute Engine and Serverless VPC Access have no discovery
//! document in this repository: these shapes are unverified.

use runiam_core::model::check_region;
use serde::Deserialize;

/// A subnetwork (unverified shape).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subnetwork {
    pub name: String,
    pub region: String,
    /// The network's short name; `default` when absent.
    #[serde(default)]
    pub network: Option<String>,
    #[serde(default)]
    pub private_ip_google_access: bool,
    #[serde(default)]
    pub ip_cidr_range: Option<String>,
}

impl Subnetwork {
    pub fn network(&self) -> &str {
        self.network.as_deref().unwrap_or("default")
    }
}

/// A Compute Engine instance with one network interface (unverified shape).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Instance {
    pub name: String,
    pub zone: String,
    /// `N` (this project's) or `projects/P/global/networks/N`; `default` when absent.
    #[serde(default)]
    pub network: Option<String>,
    /// `S` or `projects/P/regions/R/subnetworks/S`; named like the network when absent.
    #[serde(default)]
    pub subnetwork: Option<String>,
    #[serde(default)]
    pub service_account: Option<String>,
}

/// A Serverless VPC Access connector (unverified shape).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Connector {
    pub name: String,
    pub region: String,
    /// `N` (this project's) or `projects/P/global/networks/N`.
    pub network: String,
    /// The subnetwork it takes addresses from; named like the network when absent.
    #[serde(default)]
    pub subnetwork: Option<String>,
}

/// A Cloud Run job, as a caller: its task template's runtime identity and
/// VPC access (Run v2 `Job.template.template`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunJob {
    pub name: String,
    pub region: String,
    #[serde(default)]
    pub service_account: Option<String>,
    #[serde(default)]
    pub vpc_access: Option<runiam_core::api::run::VpcAccess>,
}

/// A project's Cloud Run jobs; errors name the field below the project.
pub(crate) fn check_jobs(jobs: &[RunJob]) -> Result<(), (String, String)> {
    for (j, job) in jobs.iter().enumerate() {
        check_region(&job.region).map_err(|why| (format!("runJobs[{j}].region"), why.to_string()))?;
        if let Some(why) = job.vpc_access.as_ref().and_then(|v| v.egress_problem()) {
            return Err((format!("runJobs[{j}].vpcAccess.egress"), why));
        }
    }
    Ok(())
}

/// The last segment of a name or URL.
pub fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// A zone's region (`europe-west1-b` → `europe-west1`).
pub fn zone_region(zone: &str) -> &str {
    zone.rsplit_once('-').map_or(zone, |(r, _)| r)
}

/// The network fields of one project; errors name the field below the project.
pub(crate) fn check(
    subnetworks: &[Subnetwork],
    connectors: &[Connector],
    instances: &[Instance],
) -> Result<(), (String, String)> {
    let region = |field: String, r: &str| check_region(r).map_err(|why| (field, why.to_string()));
    for (j, s) in subnetworks.iter().enumerate() {
        region(format!("subnetworks[{j}].region"), &s.region)?;
    }
    for (j, c) in connectors.iter().enumerate() {
        region(format!("vpcConnectors[{j}].region"), &c.region)?;
    }
    for (j, i) in instances.iter().enumerate() {
        if !i.zone.contains('-') {
            return Err((format!("instances[{j}].zone"), format!("'{}' is not a zone (REGION-LETTER)", i.zone)));
        }
        region(format!("instances[{j}].zone"), zone_region(&i.zone))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_give_regions() {
        assert_eq!(zone_region("europe-west1-b"), "europe-west1");
        assert_eq!(zone_region("x"), "x");
    }
}
