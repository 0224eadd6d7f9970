//! The estate's networks (docs/emulator.md "Networks and callers"):
//! subnetworks with Private Google Access, Compute Engine instances,
//! Serverless VPC Access connectors and a project's Shared VPC host, and
//! the one thing the front end asks of them: where a named caller's
//! requests arrive from, derived through runiam-core's
//! [`derive`](runiam_core::ingress::derive) as troubleshoot derives it.
//!
//! Compute Engine and Serverless VPC Access have no discovery document in
//! this repository: the shapes here (`privateIpGoogleAccess`,
//! `networkInterfaces[].network`/`subnetwork`, a connector's `network`,
//! `getXpnHost`) are unverified.

use runiam_core::ingress::{Caller, Path, PathFacts, Product, SharedVpc, derive, direct_subnetwork, network_project};
use runiam_core::model::check_region;
use serde::Deserialize;

use runiam_core::api::run::VpcAccess;

use crate::errors::ApiError;
use crate::world::{Project, World};

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

/// The last segment of a name or URL.
pub(crate) fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// A zone's region (`europe-west1-b` → `europe-west1`).
pub fn zone_region(zone: &str) -> &str {
    zone.rsplit_once('-').map_or(zone, |(r, _)| r)
}

fn project<'w>(world: &'w World, id: &str) -> Result<&'w Project, String> {
    world.project(id).ok_or_else(|| format!("no project {id} in the world"))
}

/// Private Google Access of `projects/P/regions/R/subnetworks/S`: a
/// subnetwork the world does not list has none, as a new subnet's default.
fn private_google_access(world: &World, subnetwork: &str, home: &str, region: &str) -> bool {
    let owner = network_project(subnetwork, home);
    project(world, owner).is_ok_and(|p| {
        p.subnetworks.iter().any(|s| s.region == region && s.name == short(subnetwork) && s.private_ip_google_access)
    })
}

/// Where requests from the caller named by `caller` (a full resource
/// name, `//run.googleapis.com/projects/P/locations/R/services/S`,
/// `//compute.googleapis.com/projects/P/zones/Z/instances/I`, or a
/// Pub/Sub subscription, Scheduler job, Tasks queue, Eventarc trigger or
/// workflow) arrive from when they call a service of `target_project`.
/// The world knows every fact, so the path is never undetermined unless
/// the world itself leaves one out. `Err` names a caller the world lacks.
pub fn caller_path(world: &World, caller: &str, target_project: &str) -> Result<Path, String> {
    let (api, rest) = caller
        .strip_prefix("//")
        .and_then(|c| c.split_once('/'))
        .ok_or_else(|| format!("'{caller}' is not a full resource name (//API/projects/...)"))?;
    let segs: Vec<&str> = rest.split('/').collect();
    let target = project(world, target_project)?;
    let mut facts = PathFacts {
        target_project: target.id.clone(),
        shared_vpc: Some(SharedVpc { host: target.shared_vpc_host.clone() }),
        // The emulator serves no perimeters: none holds both projects.
        same_perimeter: Some(false),
        ..Default::default()
    };
    match (api, segs.as_slice()) {
        ("run.googleapis.com", ["projects", p, "locations", r, "services", s]) => {
            let proj = project(world, p)?;
            let svc = proj
                .services
                .iter()
                .find(|x| x.region == *r && x.name == *s)
                .ok_or_else(|| format!("no service {s} in {r} of {p}"))?;
            let vpc = svc.vpc_access.clone().unwrap_or_default();
            let subnet = match &vpc.connector {
                Some(c) => {
                    let conn = proj
                        .vpc_connectors
                        .iter()
                        .find(|x| x.name == short(c))
                        .ok_or_else(|| format!("no connector {c} in {p}"))?;
                    facts.connector_network = Some(format!(
                        "projects/{}/global/networks/{}",
                        network_project(&conn.network, &proj.id),
                        short(&conn.network)
                    ));
                    let name = conn.subnetwork.as_deref().unwrap_or(short(&conn.network));
                    let home = network_project(&conn.network, &proj.id);
                    Some(format!("projects/{home}/regions/{}/subnetworks/{}", conn.region, short(name)))
                }
                None => direct_subnetwork(&proj.id, r, &vpc),
            };
            facts.private_google_access = Some(subnet.is_some_and(|s| private_google_access(world, &s, &proj.id, r)));
            facts.caller =
                Caller::CloudRun { project: proj.id.clone(), region: (*r).to_owned(), vpc_access: Some(vpc) };
        }
        ("compute.googleapis.com", ["projects", p, "zones", z, "instances", i]) => {
            let proj = project(world, p)?;
            let vm = proj
                .instances
                .iter()
                .find(|x| x.zone == *z && x.name == *i)
                .ok_or_else(|| format!("no instance {i} in {z} of {p}"))?;
            let network = vm.network.as_deref().unwrap_or("default");
            let subnet = vm.subnetwork.as_deref().unwrap_or(short(network));
            facts.private_google_access =
                Some(private_google_access(world, subnet, network_project(network, &proj.id), zone_region(z)));
            facts.caller = Caller::Vm {
                project: proj.id.clone(),
                network: Some(format!(
                    "projects/{}/global/networks/{}",
                    network_project(network, &proj.id),
                    short(network)
                )),
            };
        }
        (api, ["projects", p, ..]) => {
            let proj = project(world, p)?;
            let name = short(rest);
            let (product, found) = match (api, segs.as_slice()) {
                ("pubsub.googleapis.com", [_, _, "subscriptions", _]) => {
                    (Product::Pubsub, proj.pubsub_subscriptions.iter().any(|x| short(&x.name) == name))
                }
                ("cloudscheduler.googleapis.com", [_, _, "locations", _, "jobs", _]) => {
                    (Product::Scheduler, proj.scheduler_jobs.iter().any(|x| short(&x.name) == name))
                }
                ("cloudtasks.googleapis.com", [_, _, "locations", _, "queues", _]) => {
                    (Product::Tasks, proj.cloud_tasks_queues.iter().any(|x| short(&x.name) == name))
                }
                ("eventarc.googleapis.com", [_, _, "locations", _, "triggers", _]) => {
                    (Product::Eventarc, proj.eventarc_triggers.iter().any(|x| short(&x.name) == name))
                }
                ("workflows.googleapis.com", [_, _, "locations", _, "workflows", _]) => {
                    (Product::Workflows, proj.workflows.iter().any(|x| short(&x.name) == name))
                }
                _ => return Err(format!("'{caller}' names no caller the emulator knows")),
            };
            if !found {
                return Err(format!("no {} {name} in {p}", product.describe()));
            }
            facts.caller = Caller::Product { product, project: proj.id.clone() };
        }
        _ => return Err(format!("'{caller}' names no caller the emulator knows")),
    }
    Ok(derive(&facts))
}

/// `template.vpcAccess` of a services.patch body: `None` clears it.
pub(crate) fn patched_vpc_access(
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<VpcAccess>, ApiError> {
    let Some(v) = body.get("template").and_then(|t| t.get("vpcAccess")) else { return Ok(None) };
    let vpc: VpcAccess = serde_json::from_value(v.clone())
        .map_err(|e| ApiError::invalid_field("service.template.vpc_access", format!("Invalid vpcAccess: {e}")))?;
    match vpc.egress.as_deref() {
        None | Some("ALL_TRAFFIC" | "PRIVATE_RANGES_ONLY") => Ok(Some(vpc)),
        Some(e) => Err(ApiError::invalid_field(
            "service.template.vpc_access.egress",
            format!("'{e}' is not a VpcEgress value; use ALL_TRAFFIC or PRIVATE_RANGES_ONLY"),
        )),
    }
}

/// The network fields of one project; errors name the field below it.
pub(crate) fn check(p: &Project) -> Result<(), (String, String)> {
    let region = |field: String, r: &str| check_region(r).map_err(|why| (field, why.to_string()));
    for (j, s) in p.subnetworks.iter().enumerate() {
        region(format!("subnetworks[{j}].region"), &s.region)?;
    }
    for (j, c) in p.vpc_connectors.iter().enumerate() {
        region(format!("vpcConnectors[{j}].region"), &c.region)?;
    }
    for (j, i) in p.instances.iter().enumerate() {
        if !i.zone.contains('-') {
            return Err((format!("instances[{j}].zone"), format!("'{}' is not a zone (REGION-LETTER)", i.zone)));
        }
        region(format!("instances[{j}].zone"), zone_region(&i.zone))?;
    }
    for (j, s) in p.services.iter().enumerate() {
        if let Some(e) = s.vpc_access.as_ref().and_then(|v| v.egress.as_deref())
            && !["ALL_TRAFFIC", "PRIVATE_RANGES_ONLY"].contains(&e)
        {
            return Err((
                format!("services[{j}].vpcAccess.egress"),
                format!("'{e}' is not an egress setting; use ALL_TRAFFIC or PRIVATE_RANGES_ONLY"),
            ));
        }
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
