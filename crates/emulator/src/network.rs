//! Where a named caller's requests arrive from (docs/emulator.md
//! "Networks and callers"): the caller's settings and the world's networks
//! (crate::vpc; unverified Compute shapes) gathered into runiam-core's
//! facts and decided by [`derive`](runiam_core::ingress::derive), as
//! troubleshoot decides; and the `template.vpcAccess` services.patch takes.

use runiam_core::api::run::VpcAccess;
use runiam_core::ingress::{Caller, Path, PathFacts, Product, SharedVpc, derive, direct_subnetwork, network_project};

use crate::errors::ApiError;
use crate::vpc::{short, zone_region};
use crate::world::{Project, World};

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
/// name, `//run.googleapis.com/projects/P/locations/R/services/S` (or
/// `.../jobs/J`),
/// `//compute.googleapis.com/projects/P/zones/Z/instances/I`, or a
/// Pub/Sub subscription, Scheduler job, Tasks queue, Eventarc trigger or
/// workflow) arrive from when they call a service of `target_project`.
/// The world knows every fact, so the path is never undetermined unless
/// the world itself leaves one out. `Err` names a caller the world lacks.
pub fn caller_path(world: &World, caller: &str, target_project: &str) -> Result<Path, String> {
    caller_facts(world, caller, target_project).map(|g| derive(&g.facts))
}

/// A caller's network facts as the world gives them, and the subnetwork
/// they were read from (`projects/P/regions/R/subnetworks/S`; none for a
/// caller outside any VPC): what ingress's path and the Connectivity Tests
/// packet model (`control::packet`) both read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gathered {
    pub facts: PathFacts,
    pub subnetwork: Option<String>,
}

/// The facts of [`caller_path`], before they are decided.
pub fn caller_facts(world: &World, caller: &str, target_project: &str) -> Result<Gathered, String> {
    let (api, rest) = caller
        .strip_prefix("//")
        .and_then(|c| c.split_once('/'))
        .ok_or_else(|| format!("'{caller}' is not a full resource name (//API/projects/...)"))?;
    let segs: Vec<&str> = rest.split('/').collect();
    let target = project(world, target_project)?;
    let mut facts = PathFacts {
        target_project: target.id.clone(),
        shared_vpc: Some(SharedVpc { host: target.shared_vpc_host.clone() }),
        ..Default::default()
    };
    let mut subnetwork = None;
    match (api, segs.as_slice()) {
        ("run.googleapis.com", ["projects", p, "locations", r, kind @ ("services" | "jobs"), s]) => {
            let proj = project(world, p)?;
            let vpc = if *kind == "services" {
                let svc = proj.services.iter().find(|x| x.region == *r && x.name == *s);
                svc.ok_or_else(|| format!("no service {s} in {r} of {p}"))?.vpc_access.clone()
            } else {
                let job = proj.run_jobs.iter().find(|x| x.region == *r && x.name == *s);
                job.ok_or_else(|| format!("no job {s} in {r} of {p}"))?.vpc_access.clone()
            };
            subnetwork = cloud_run_caller(world, proj, r, vpc.unwrap_or_default(), &mut facts)?;
        }
        ("compute.googleapis.com", ["projects", p, "zones", z, "instances", i]) => {
            subnetwork = Some(vm_facts(world, (p, z, i), &mut facts)?);
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
            facts.same_perimeter = Some(crate::acm::same_perimeter(world, &proj.id, &target.id));
            facts.caller = Caller::Product { product, project: proj.id.clone() };
        }
        _ => return Err(format!("'{caller}' names no caller the emulator knows")),
    }
    Ok(Gathered { facts, subnetwork })
}

/// A VM's network and its subnetwork's Private Google Access into
/// `facts`; the subnetwork, `projects/P/regions/R/subnetworks/S`.
fn vm_facts(world: &World, (p, z, i): (&str, &str, &str), facts: &mut PathFacts) -> Result<String, String> {
    let proj = project(world, p)?;
    let vm = proj
        .instances
        .iter()
        .find(|x| x.zone == z && x.name == i)
        .ok_or_else(|| format!("no instance {i} in {z} of {p}"))?;
    let network = vm.network.as_deref().unwrap_or("default");
    let subnet = vm.subnetwork.as_deref().unwrap_or(short(network));
    let home = network_project(network, &proj.id);
    facts.private_google_access = Some(private_google_access(world, subnet, home, zone_region(z)));
    facts.caller = Caller::Vm {
        project: proj.id.clone(),
        network: Some(format!("projects/{home}/global/networks/{}", short(network))),
    };
    Ok(format!("projects/{}/regions/{}/subnetworks/{}", network_project(subnet, home), zone_region(z), short(subnet)))
}

/// The facts of an address in `network` (`projects/P/global/networks/N`):
/// a caller on that network with the Private Google Access of the
/// subnetwork whose `ipCidrRange` holds it. `Err` when none does.
pub fn address_facts(world: &World, ip: std::net::IpAddr, network: &str) -> Result<Gathered, String> {
    let p = network_project(network, "");
    let sub = project(world, p)?
        .subnetworks
        .iter()
        .find(|s| s.network() == short(network) && s.holds(ip))
        .ok_or_else(|| format!("no subnetwork of {network} holds {ip}"))?;
    let facts = PathFacts {
        target_project: p.to_owned(),
        caller: Caller::Vm { project: p.to_owned(), network: Some(network.to_owned()) },
        private_google_access: Some(sub.private_ip_google_access),
        ..Default::default()
    };
    Ok(Gathered { facts, subnetwork: Some(format!("projects/{p}/regions/{}/subnetworks/{}", sub.region, sub.name)) })
}

/// The facts of a Cloud Run service or job of `proj` in `region` as caller,
/// from its `vpcAccess`: a connector's network, the subnet's Private Google
/// Access; the subnetwork its packets leave from, if any.
fn cloud_run_caller(
    world: &World,
    proj: &Project,
    region: &str,
    vpc: VpcAccess,
    facts: &mut PathFacts,
) -> Result<Option<String>, String> {
    let subnet = match &vpc.connector {
        Some(c) => {
            let conn = proj
                .vpc_connectors
                .iter()
                .find(|x| x.name == short(c))
                .ok_or_else(|| format!("no connector {c} in {}", proj.id))?;
            facts.connector_network = Some(format!(
                "projects/{}/global/networks/{}",
                network_project(&conn.network, &proj.id),
                short(&conn.network)
            ));
            let name = conn.subnetwork.as_deref().unwrap_or(short(&conn.network));
            let home = network_project(&conn.network, &proj.id);
            Some(format!("projects/{home}/regions/{}/subnetworks/{}", conn.region, short(name)))
        }
        None => direct_subnetwork(&proj.id, region, &vpc),
    };
    facts.private_google_access =
        Some(subnet.as_ref().is_some_and(|s| private_google_access(world, s, &proj.id, region)));
    facts.caller = Caller::CloudRun { project: proj.id.clone(), region: region.to_owned(), vpc_access: Some(vpc) };
    Ok(subnet)
}

/// `template.vpcAccess` of a services.patch body: `None` clears it.
pub(crate) fn patched_vpc_access(
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<VpcAccess>, ApiError> {
    let Some(v) = body.get("template").and_then(|t| t.get("vpcAccess")) else { return Ok(None) };
    let vpc: VpcAccess = serde_json::from_value(v.clone())
        .map_err(|e| ApiError::invalid_field("service.template.vpc_access", format!("Invalid vpcAccess: {e}")))?;
    match vpc.egress_problem() {
        None => Ok(Some(vpc)),
        Some(why) => Err(ApiError::invalid_field("service.template.vpc_access.egress", why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        let text = r#"{"projects": [{"id": "acme-p", "number": "100000000001",
            "services": [{"name": "s", "region": "europe-west1"}],
            "instances": [{"name": "i", "zone": "europe-west1-b"}],
            "pubsubSubscriptions": [{"name": "sub", "topic": "t"}]}]}"#;
        World::parse(text, "w").unwrap()
    }

    #[test]
    fn callers_are_named_by_full_resource_name() {
        let w = world();
        let known = |c: &str| caller_path(&w, c, "acme-p").map(|p| p.origin());
        assert_eq!(
            known("//run.googleapis.com/projects/acme-p/locations/europe-west1/services/s"),
            Ok(Some(runiam_core::ingress::Origin::External))
        );
        assert_eq!(
            known("//pubsub.googleapis.com/projects/acme-p/subscriptions/sub"),
            Ok(Some(runiam_core::ingress::Origin::Internal))
        );
        // A VM without a subnetwork the world lists has no Private Google Access.
        assert_eq!(
            known("//compute.googleapis.com/projects/acme-p/zones/europe-west1-b/instances/i"),
            Ok(Some(runiam_core::ingress::Origin::External))
        );
        for bad in [
            "",
            "//",
            "run.googleapis.com/projects/acme-p",
            "//pubsub.googleapis.com/projects/acme-p/subscriptions/nope",
            "//x.googleapis.com/projects/acme-p/a/b",
        ] {
            assert!(caller_path(&w, bad, "acme-p").is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        /// The header comes from outside: any value is an answer or an error, never a panic.
        #[test]
        fn any_caller_header_is_answered(caller in "(//[a-z.]{0,30}/)?[a-z0-9/-]{0,60}") {
            let _ = caller_path(&world(), &caller, "acme-p");
        }
    }
}
