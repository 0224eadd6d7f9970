//! Compute Engine reads (docs/emulator.md "Networks and callers"):
//! `subnetworks.get`, `instances.get` and `projects.getXpnHost`, in the
//! shapes the world's networks give (crate::vpc). There is no Compute
//! discovery document in this repository: these shapes are unverified.
//! A project's `apiErrors` for `compute.googleapis.com` and the operator's
//! permissions apply as for the caller APIs.

use serde_json::{Map, Value, json};

use super::callers::read;
use super::{Answer, Call};
use crate::errors::ApiError;
use crate::state::State;
use crate::vpc::{short, zone_region};
use crate::world::Project;

const BASE: &str = "https://www.googleapis.com/compute/v1";

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    if call.verb.is_some() || !call.is("GET") {
        return None;
    }
    match segs {
        ["compute", "v1", "projects", p, "regions", r, "subnetworks", s] => Some(subnetwork(state, p, r, s)),
        ["compute", "v1", "projects", p, "zones", z, "instances", i] => Some(instance(state, p, z, i)),
        ["compute", "v1", "projects", p, "getXpnHost"] => Some(xpn_host(state, p)),
        _ => None,
    }
}

fn network_url(project: &str, network: &str) -> String {
    format!(
        "{BASE}/projects/{}/global/networks/{}",
        runiam_core::ingress::network_project(network, project),
        short(network)
    )
}

fn subnetwork(state: &State, p: &str, r: &str, s: &str) -> Answer {
    read(state, p, "compute.subnetworks.get", |proj| subnetwork_json(proj, p, r, s))
}

fn subnetwork_json(proj: &Project, p: &str, r: &str, s: &str) -> Answer {
    let id = proj.id.clone();
    let sub = proj.subnetworks.iter().find(|x| x.region == r && x.name == s).ok_or_else(|| {
        ApiError::not_found(format!("The resource 'projects/{p}/regions/{r}/subnetworks/{s}' was not found"))
    })?;
    let mut out = Map::new();
    out.insert("kind".into(), json!("compute#subnetwork"));
    out.insert("name".into(), json!(sub.name));
    out.insert("network".into(), json!(network_url(&id, sub.network())));
    out.insert("region".into(), json!(format!("{BASE}/projects/{id}/regions/{r}")));
    out.insert("selfLink".into(), json!(format!("{BASE}/projects/{id}/regions/{r}/subnetworks/{s}")));
    if let Some(range) = &sub.ip_cidr_range {
        out.insert("ipCidrRange".into(), json!(range));
    }
    out.insert("privateIpGoogleAccess".into(), json!(sub.private_ip_google_access));
    Ok(Value::Object(out))
}

fn instance(state: &State, p: &str, z: &str, i: &str) -> Answer {
    read(state, p, "compute.instances.get", |proj| instance_json(proj, p, z, i))
}

fn instance_json(proj: &Project, p: &str, z: &str, i: &str) -> Answer {
    let id = proj.id.clone();
    let vm = proj.instances.iter().find(|x| x.zone == z && x.name == i).ok_or_else(|| {
        ApiError::not_found(format!("The resource 'projects/{p}/zones/{z}/instances/{i}' was not found"))
    })?;
    let network = vm.network.as_deref().unwrap_or("default");
    let subnet = vm.subnetwork.as_deref().unwrap_or(short(network));
    let subnet_project =
        runiam_core::ingress::network_project(subnet, runiam_core::ingress::network_project(network, &id));
    let mut out = json!({
        "kind": "compute#instance",
        "name": vm.name,
        "zone": format!("{BASE}/projects/{id}/zones/{z}"),
        "status": "RUNNING",
        "networkInterfaces": [{
            "name": "nic0",
            "network": network_url(&id, network),
            "subnetwork": format!("{BASE}/projects/{subnet_project}/regions/{}/subnetworks/{}", zone_region(z), short(subnet)),
        }],
        "selfLink": format!("{BASE}/projects/{id}/zones/{z}/instances/{i}"),
    });
    if let Some(sa) = &vm.service_account {
        out["serviceAccounts"] = json!([{"email": sa, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}]);
    }
    Ok(out)
}

/// The host project's resource, or `{}` for a project attached to none.
fn xpn_host(state: &State, p: &str) -> Answer {
    read(state, p, "compute.projects.get", |proj| {
        Ok(match &proj.shared_vpc_host {
            Some(h) => json!({"kind": "compute#project", "name": h, "xpnProjectStatus": "HOST"}),
            None => json!({}),
        })
    })
}
