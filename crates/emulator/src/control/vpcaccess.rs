//! Serverless VPC Access reads (docs/emulator.md "Networks and callers"):
//! `connectors.get`, from a project's `vpcConnectors` (crate::vpc). There
//! is no Serverless VPC Access discovery document in this repository: the
//! shape is unverified. A project's `apiErrors` for
//! `vpcaccess.googleapis.com` and the operator's permission apply as for
//! the caller APIs.

use serde_json::json;

use super::callers::read;
use super::{Answer, Call};
use crate::errors::ApiError;
use crate::state::State;
use crate::vpc::short;

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    if call.verb.is_some() || !call.is("GET") {
        return None;
    }
    match segs {
        ["v1", "projects", p, "locations", l, "connectors", c] => Some(connector(state, p, l, c)),
        _ => None,
    }
}

fn connector(state: &State, p: &str, l: &str, c: &str) -> Answer {
    read(state, p, "vpcaccess.connectors.get", |proj| {
        let name = format!("projects/{p}/locations/{l}/connectors/{c}");
        let conn = proj
            .vpc_connectors
            .iter()
            .find(|x| x.region == l && x.name == c)
            .ok_or_else(|| ApiError::not_found(format!("Resource '{name}' was not found")))?;
        let home = runiam_core::ingress::network_project(&conn.network, &proj.id);
        let subnet = conn.subnetwork.as_deref().map_or_else(|| short(&conn.network), short);
        Ok(json!({
            "name": name,
            "network": short(&conn.network),
            "subnet": {"name": subnet, "projectId": home},
            "state": "READY",
        }))
    })
}
