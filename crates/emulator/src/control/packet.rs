//! The Connectivity Tests packet model (docs/emulator.md "Connectivity
//! Tests"): a simplified trace from a Cloud Run revision or a Compute
//! Engine instance to an address, derived from the same network facts as
//! ingress's path ([`caller_facts`]) and routed by runiam-core's one rule
//! for what goes through the VPC ([`VpcAccess::through_vpc`],
//! [`private_range`]). It models routes, VPC egress and Private Google
//! Access only — never ingress, IAM or perimeters, which a real test does
//! not simulate either. Step states and drop causes are Network
//! Management v1's.

use std::net::IpAddr;

use runiam_core::api::compute::relative;
use runiam_core::ingress::{Caller, private_range};
use serde_json::{Value, json};

use super::run_v2::derived;
use crate::network::{Gathered, address_facts, caller_facts};
use crate::vpc::short;
use crate::world::World;

/// A test's source, as the world knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `projects/P/locations/R/revisions/REV`, and its service's full resource name.
    Revision { uri: String, service: String },
    /// `projects/P/zones/Z/instances/I`.
    Instance { uri: String },
    /// An address in a network, `projects/P/global/networks/N`.
    Address { ip: IpAddr, network: String },
}

impl Source {
    /// The source of a test body's `source` endpoint. `Err` says what the
    /// model cannot take, in words for an INVALID_ARGUMENT.
    pub fn of(world: &World, source: &Value) -> Result<Source, String> {
        let revision = source.get("cloudRunRevision").and_then(|r| r.get("uri")).and_then(Value::as_str);
        let instance = source.get("instance").and_then(Value::as_str);
        let address = source.get("ipAddress").and_then(Value::as_str);
        match (revision, instance) {
            (None, None) if address.is_some() => address_source(address.unwrap_or_default(), source),
            (Some(uri), None) => revision_source(world, relative(uri)),
            (None, Some(uri)) => {
                let uri = relative(uri);
                match uri.split('/').collect::<Vec<_>>().as_slice() {
                    ["projects", _, "zones", _, "instances", _] => Ok(Source::Instance { uri: uri.to_owned() }),
                    _ => Err(format!("source.instance '{uri}' is not projects/P/zones/Z/instances/I")),
                }
            }
            (Some(_), Some(_)) => Err("source names both a Cloud Run revision and an instance".to_owned()),
            (None, None) => Err(
                "the emulator's packet model takes a source.cloudRunRevision.uri, a source.instance, or a source.ipAddress with its source.network (docs/emulator.md)"
                    .to_owned(),
            ),
        }
    }

    /// The project the source lives in.
    pub fn project(&self) -> &str {
        let uri = match self {
            Source::Revision { uri, .. } | Source::Instance { uri } => uri,
            Source::Address { network, .. } => network,
        };
        uri.split('/').nth(1).unwrap_or_default()
    }
}

/// `source.ipAddress` in `source.network` (`projects/P/global/networks/N`).
fn address_source(ip: &str, source: &Value) -> Result<Source, String> {
    let ip = ip.parse().map_err(|_| format!("source.ipAddress '{ip}' is not an IP address"))?;
    let network = relative(source.get("network").and_then(Value::as_str).unwrap_or_default());
    match network.split('/').collect::<Vec<_>>().as_slice() {
        ["projects", _, "global", "networks", _] => Ok(Source::Address { ip, network: network.to_owned() }),
        _ => Err(format!(
            "source.network '{network}' is not projects/P/global/networks/N (an address needs its network)"
        )),
    }
}

/// A revision is its service's: the one the service serves or one its
/// traffic names (every revision of a service shares its template here).
fn revision_source(world: &World, uri: &str) -> Result<Source, String> {
    let ["projects", p, "locations", r, "revisions", rev] = uri.split('/').collect::<Vec<_>>()[..] else {
        return Err(format!("source.cloudRunRevision.uri '{uri}' is not projects/P/locations/L/revisions/R"));
    };
    let proj = world.project(p).ok_or_else(|| format!("no project {p}"))?;
    let svc = proj
        .services
        .iter()
        .filter(|s| s.region == r)
        .find(|s| derived(proj, s).revision == rev || s.traffic.iter().any(|t| t.revision.as_deref() == Some(rev)))
        .ok_or_else(|| format!("no revision {rev} in {r} of {p}"))?;
    Ok(Source::Revision {
        uri: format!("projects/{}/locations/{r}/revisions/{rev}", proj.id),
        service: format!("projects/{}/locations/{r}/services/{}", proj.id, svc.name),
    })
}

/// The trip's end.
enum End {
    Deliver(&'static str),
    Drop(&'static str),
}

/// `reachabilityDetails` of a trip from `source` to `destination`;
/// `front_end` says whether the address is Cloud Run's front end (a
/// Google API), as the emulator's own address is.
pub fn trace(world: &World, source: &Source, destination: IpAddr, front_end: bool) -> Result<Value, String> {
    let project = source.project().to_owned();
    let Gathered { facts, subnetwork } = match source {
        Source::Revision { service, .. } => caller_facts(world, &format!("//run.googleapis.com/{service}"), &project)?,
        Source::Instance { uri } => caller_facts(world, &format!("//compute.googleapis.com/{uri}"), &project)?,
        Source::Address { ip, network } => address_facts(world, *ip, network)?,
    };
    let private = private_range(destination);
    let mut steps = Vec::new();
    let network = match (&facts.caller, source) {
        (Caller::CloudRun { vpc_access, region, .. }, Source::Revision { uri, service }) => {
            let vpc = vpc_access.clone().unwrap_or_default();
            let info = json!({"displayName": short(uri), "uri": uri, "location": region, "serviceUri": service});
            steps.push(step(&project, "START_FROM_CLOUD_RUN_REVISION", Some(("cloudRunRevision", info))));
            if !vpc.through_vpc(private) {
                let end = if private {
                    End::Drop("VPC_CONNECTOR_NOT_SET")
                } else {
                    steps.push(step(
                        &project,
                        "SERVERLESS_EXTERNAL_CONNECTION",
                        Some(("serverlessExternalConnection", json!({}))),
                    ));
                    End::Deliver(if front_end { "GOOGLE_API" } else { "INTERNET" })
                };
                return Ok(finish(steps, end, destination, &project));
            }
            match (&vpc.connector, &facts.connector_network) {
                (Some(c), network) => {
                    let info = json!({"displayName": short(c), "uri": c, "location": region});
                    steps.push(step(&project, "ARRIVE_AT_VPC_CONNECTOR", Some(("vpcConnector", info))));
                    network.clone()
                }
                (None, _) => {
                    let network = subnetwork.as_deref().and_then(|s| network_of(world, s));
                    let info = json!({"networkUri": network, "subnetworkUri": subnetwork, "region": region});
                    steps.push(step(
                        &project,
                        "DIRECT_VPC_EGRESS_CONNECTION",
                        Some(("directVpcEgressConnection", info)),
                    ));
                    network
                }
            }
        }
        (Caller::Vm { network, .. }, Source::Instance { uri }) => {
            let info = json!({"displayName": short(uri), "uri": uri, "networkUri": network, "running": true});
            steps.push(step(&project, "START_FROM_INSTANCE", Some(("instance", info))));
            network.clone()
        }
        (Caller::Vm { network, .. }, Source::Address { network: uri, .. }) => {
            let info = json!({"displayName": short(uri), "uri": uri, "matchedSubnetUri": subnetwork});
            steps.push(step(&project, "START_FROM_PRIVATE_NETWORK", Some(("network", info))));
            network.clone()
        }
        _ => return Err(format!("{source:?} is not a source the packet model takes")),
    };
    // In the network: an internal address the model cannot place, or the
    // default route to the internet gateway, which reaches Google APIs
    // only with Private Google Access (no VM or connector here has an
    // external address or Cloud NAT).
    if private {
        return Ok(finish(steps, End::Drop("UNKNOWN_INTERNAL_ADDRESS"), destination, &project));
    }
    let route = json!({"displayName": "default-internet-gateway", "routeType": "STATIC", "destIpRange": "0.0.0.0/0",
        "nextHopType": "NEXT_HOP_INTERNET_GATEWAY", "networkUri": network});
    steps.push(step(&project, "APPLY_ROUTE", Some(("route", route))));
    let end = match (front_end, facts.private_google_access == Some(true)) {
        (true, true) => End::Deliver("GOOGLE_API"),
        (true, false) => End::Drop("PRIVATE_GOOGLE_ACCESS_DISALLOWED"),
        (false, _) => End::Drop("NO_EXTERNAL_ADDRESS"),
    };
    if matches!(end, End::Drop(_))
        && let Some(last) = steps.last_mut()
    {
        last["causesDrop"] = json!(true);
    }
    Ok(finish(steps, end, destination, &project))
}

/// The network a subnetwork of the world belongs to, `projects/P/global/networks/N`.
fn network_of(world: &World, subnetwork: &str) -> Option<String> {
    let ["projects", p, "regions", r, "subnetworks", s] = subnetwork.split('/').collect::<Vec<_>>()[..] else {
        return None;
    };
    let net = world.project(p)?.subnetworks.iter().find(|x| x.region == r && x.name == s).map(|x| x.network())?;
    Some(format!("projects/{}/global/networks/{}", runiam_core::ingress::network_project(net, p), short(net)))
}

fn finish(mut steps: Vec<Value>, end: End, destination: IpAddr, project: &str) -> Value {
    let result = match end {
        End::Deliver(target) => {
            steps.push(step(
                project,
                "DELIVER",
                Some(("deliver", json!({"target": target, "ipAddress": destination.to_string()}))),
            ));
            "REACHABLE"
        }
        End::Drop(cause) => {
            let mut s = step(
                project,
                "DROP",
                Some(("drop", json!({"cause": cause, "destinationIp": destination.to_string()}))),
            );
            s["causesDrop"] = json!(true);
            steps.push(s);
            "UNREACHABLE"
        }
    };
    json!({"result": result, "verifyTime": super::UPDATE_TIME, "traces": [{"steps": steps, "forwardTraceId": 1}]})
}

/// One step of a trace in `project`, with its state's info.
fn step(project: &str, state: &str, info: Option<(&str, Value)>) -> Value {
    let mut s = json!({"state": state, "description": describe(state), "projectId": project});
    if let Some((k, v)) = info {
        s[k] = v;
    }
    s
}

/// Each state's description, as the API's enum documents it.
fn describe(state: &str) -> &'static str {
    match state {
        "START_FROM_CLOUD_RUN_REVISION" => "Initial state: packet originating from a Cloud Run revision.",
        "START_FROM_INSTANCE" => "Initial state: packet originating from a Compute Engine instance.",
        "START_FROM_PRIVATE_NETWORK" => {
            "Initial state: packet originating from a VPC or on-premises network with internal source IP."
        }
        "SERVERLESS_EXTERNAL_CONNECTION" => {
            "Forwarding state: for packets originating from a serverless endpoint forwarded through public (external) connectivity."
        }
        "DIRECT_VPC_EGRESS_CONNECTION" => {
            "Forwarding state: for packets originating from a serverless endpoint forwarded through Direct VPC egress."
        }
        "ARRIVE_AT_VPC_CONNECTOR" => "Forwarding state: arriving at a VPC connector.",
        "APPLY_ROUTE" => "Config checking state: verify route.",
        "DELIVER" => "Final state: packet could be delivered.",
        _ => "Final state: packet could be dropped.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        let text = r#"{"projects": [{"id": "acme-p", "number": "100000000001",
            "subnetworks": [{"name": "pga", "region": "europe-west1", "privateIpGoogleAccess": true, "ipCidrRange": "10.1.0.0/24"},
                            {"name": "dark", "region": "europe-west1", "ipCidrRange": "10.2.0.0/24"}],
            "instances": [{"name": "vm", "zone": "europe-west1-b", "subnetwork": "dark"}],
            "vpcConnectors": [{"name": "conn", "region": "europe-west1", "network": "default", "subnetwork": "pga"}],
            "services": [
              {"name": "open", "region": "europe-west1"},
              {"name": "ranges", "region": "europe-west1", "vpcAccess": {"networkInterfaces": [{"subnetwork": "pga"}]}},
              {"name": "all", "region": "europe-west1", "vpcAccess": {"egress": "ALL_TRAFFIC", "networkInterfaces": [{"subnetwork": "pga"}]}},
              {"name": "nopga", "region": "europe-west1", "vpcAccess": {"egress": "ALL_TRAFFIC", "networkInterfaces": [{"subnetwork": "dark"}]}},
              {"name": "viaconn", "region": "europe-west1", "vpcAccess": {"egress": "ALL_TRAFFIC", "connector": "projects/acme-p/locations/europe-west1/connectors/conn"}}
            ]}]}"#;
        World::parse(text, "w").unwrap()
    }

    fn run(source: Source, to: &str, front_end: bool) -> (String, Vec<String>, Option<String>) {
        let w = world();
        let d = trace(&w, &source, to.parse().unwrap(), front_end).unwrap();
        let steps = d["traces"][0]["steps"].as_array().unwrap();
        let states = steps.iter().map(|s| s["state"].as_str().unwrap().to_owned()).collect();
        let cause = steps.last().unwrap()["drop"]["cause"].as_str().map(str::to_owned);
        (d["result"].as_str().unwrap().to_owned(), states, cause)
    }

    fn revision(service: &str) -> Source {
        let w = world();
        let p = w.project("acme-p").unwrap();
        let s = p.services.iter().find(|s| s.name == service).unwrap();
        let uri = format!("projects/acme-p/locations/europe-west1/revisions/{}", derived(p, s).revision);
        Source::of(&w, &json!({"cloudRunRevision": {"uri": uri}})).unwrap()
    }

    #[test]
    fn serverless_egress_follows_the_egress_setting_and_private_google_access() {
        let external = ["START_FROM_CLOUD_RUN_REVISION", "SERVERLESS_EXTERNAL_CONNECTION", "DELIVER"];
        assert_eq!(
            run(revision("open"), "127.0.0.1", true),
            ("REACHABLE".into(), external.map(String::from).to_vec(), None)
        );
        assert_eq!(run(revision("ranges"), "127.0.0.1", true).1, external);
        let direct = ["START_FROM_CLOUD_RUN_REVISION", "DIRECT_VPC_EGRESS_CONNECTION", "APPLY_ROUTE", "DELIVER"];
        assert_eq!(run(revision("all"), "127.0.0.1", true).1, direct);
        let (result, states, cause) = run(revision("nopga"), "127.0.0.1", true);
        assert_eq!((result.as_str(), cause.as_deref()), ("UNREACHABLE", Some("PRIVATE_GOOGLE_ACCESS_DISALLOWED")));
        assert_eq!(states[1..3], ["DIRECT_VPC_EGRESS_CONNECTION", "APPLY_ROUTE"]);
        assert_eq!(run(revision("viaconn"), "127.0.0.1", true).1[1], "ARRIVE_AT_VPC_CONNECTOR");
        // A private address goes through the VPC under PRIVATE_RANGES_ONLY too.
        assert_eq!(run(revision("ranges"), "10.0.0.5", false).1[1], "DIRECT_VPC_EGRESS_CONNECTION");
        assert_eq!(run(revision("open"), "10.0.0.5", false).2.as_deref(), Some("VPC_CONNECTOR_NOT_SET"));
        // Another public address needs an external address or Cloud NAT.
        assert_eq!(run(revision("all"), "8.8.8.8", false).2.as_deref(), Some("NO_EXTERNAL_ADDRESS"));
    }

    #[test]
    fn an_instance_without_private_google_access_is_dropped_at_the_route() {
        let w = world();
        let src = Source::of(&w, &json!({"instance": "projects/acme-p/zones/europe-west1-b/instances/vm"})).unwrap();
        let (result, states, cause) = run(src, "127.0.0.1", true);
        assert_eq!(states, ["START_FROM_INSTANCE", "APPLY_ROUTE", "DROP"]);
        assert_eq!((result.as_str(), cause.as_deref()), ("UNREACHABLE", Some("PRIVATE_GOOGLE_ACCESS_DISALLOWED")));
    }

    #[test]
    fn an_address_takes_the_private_google_access_of_the_subnetwork_holding_it() {
        let w = world();
        let from = |ip: &str| {
            Source::of(&w, &json!({"ipAddress": ip, "network": "projects/acme-p/global/networks/default"})).unwrap()
        };
        let (result, states, _) = run(from("10.1.0.7"), "127.0.0.1", true);
        assert_eq!(result, "REACHABLE");
        assert_eq!(states, ["START_FROM_PRIVATE_NETWORK", "APPLY_ROUTE", "DELIVER"]);
        assert_eq!(run(from("10.2.0.7"), "127.0.0.1", true).2.as_deref(), Some("PRIVATE_GOOGLE_ACCESS_DISALLOWED"));
        assert!(trace(&w, &from("10.3.0.7"), "127.0.0.1".parse().unwrap(), true).is_err());
    }

    #[test]
    fn sources_the_model_cannot_take_are_refused_in_words() {
        let w = world();
        for bad in [
            json!({}),
            json!({"ipAddress": "10.0.0.1"}),
            json!({"ipAddress": "nope", "network": "projects/acme-p/global/networks/default"}),
            json!({"instance": "vm"}),
            json!({"cloudRunRevision": {"uri": "projects/acme-p/locations/europe-west1/revisions/nope"}}),
            json!({"cloudRunRevision": {"uri": "x"}, "instance": "projects/acme-p/zones/z-a/instances/i"}),
        ] {
            assert!(Source::of(&w, &bad).is_err(), "{bad}");
        }
        let missing = Source::Instance { uri: "projects/acme-p/zones/europe-west1-b/instances/gone".into() };
        assert!(trace(&w, &missing, "127.0.0.1".parse().unwrap(), true).is_err());
    }

    proptest::proptest! {
        /// Test bodies come from outside: any source is a trace or an error.
        #[test]
        fn no_source_panics(uri in "[a-z0-9/:.-]{0,60}", kind in 0..2usize) {
            let w = world();
            let body = if kind == 0 { json!({"cloudRunRevision": {"uri": uri}}) } else { json!({"instance": uri}) };
            if let Ok(s) = Source::of(&w, &body) {
                let _ = trace(&w, &s, "127.0.0.1".parse().unwrap(), true);
            }
        }
    }
}
