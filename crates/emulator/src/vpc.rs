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

    /// Whether `ip` is in `ipCidrRange` (none when the range is absent or
    /// no `ADDRESS/PREFIX`).
    pub fn holds(&self, ip: std::net::IpAddr) -> bool {
        let Some((base, prefix)) = self.ip_cidr_range.as_deref().and_then(|r| r.split_once('/')) else {
            return false;
        };
        let (Ok(base), Ok(prefix)) = (base.parse::<std::net::IpAddr>(), prefix.parse::<u32>()) else {
            return false;
        };
        let masked = |bits: u128, width: u32| {
            let keep = prefix.min(width);
            if keep == 0 { 0 } else { bits >> (width - keep) }
        };
        match (base, ip) {
            (std::net::IpAddr::V4(b), std::net::IpAddr::V4(i)) if prefix <= 32 => {
                masked(u32::from(b).into(), 32) == masked(u32::from(i).into(), 32)
            }
            (std::net::IpAddr::V6(b), std::net::IpAddr::V6(i)) if prefix <= 128 => {
                masked(u128::from(b), 128) == masked(u128::from(i), 128)
            }
            _ => false,
        }
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
    fn ranges_hold_their_addresses() {
        let sub = |r: &str| Subnetwork { ip_cidr_range: Some(r.into()), ..Default::default() };
        let ip = |s: &str| s.parse().unwrap();
        assert!(sub("10.8.0.0/24").holds(ip("10.8.0.255")));
        assert!(!sub("10.8.0.0/24").holds(ip("10.8.1.0")));
        assert!(sub("0.0.0.0/0").holds(ip("8.8.8.8")));
        assert!(sub("fd00::/8").holds(ip("fd12::1")) && !sub("fd00::/8").holds(ip("10.0.0.1")));
        for bad in ["10.8.0.0", "10.8.0.0/33", "x/8", "10.8.0.0/-1"] {
            assert!(!sub(bad).holds(ip("10.8.0.1")), "{bad}");
        }
        assert!(!Subnetwork::default().holds(ip("10.8.0.1")));
    }

    proptest::proptest! {
        /// Ranges come from the world file: any text is a yes or a no, never a panic.
        #[test]
        fn no_range_panics(range in ".{0,24}", a in proptest::num::u32::ANY) {
            let sub = Subnetwork { ip_cidr_range: Some(range), ..Default::default() };
            let _ = sub.holds(std::net::IpAddr::V4(a.into()));
        }
    }

    #[test]
    fn zones_give_regions() {
        assert_eq!(zone_region("europe-west1-b"), "europe-west1");
        assert_eq!(zone_region("x"), "x");
    }
}
