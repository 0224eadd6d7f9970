//! The emulator's front end against the (caller path × ingress) table,
//! `crates/core/tests/data/origin_cases.yaml`: for each row whose facts a
//! world can hold (the emulator knows every fact, so it never answers
//! `undetermined`), a world with that caller (and, where the row says so, a
//! perimeter holding both projects)
//! and one service per ingress setting, open to everyone so that only
//! ingress decides; a real request naming the caller in `X-Emulator-Caller`
//! gets 200 where the table says `allowed` and 404 (no request log) where
//! it says `404`.

use std::collections::BTreeMap;
use std::path::Path;

use runiam_core::ingress::{Ingress, direct_subnetwork, network_project};
use runiam_emulator::world::World;
use runiam_emulator::{Options, start};
use serde_json::{Map, Value, json};

const REGION: &str = "europe-west1";

fn table() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/data/origin_cases.yaml");
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The projects of one world, by id, built up as the row needs them.
#[derive(Default)]
struct Estate(BTreeMap<String, Map<String, Value>>);

impl Estate {
    fn project(&mut self, id: &str) -> &mut Map<String, Value> {
        let n = self.0.len() + 1;
        self.0.entry(id.to_owned()).or_insert_with(|| {
            let mut p = Map::new();
            p.insert("id".into(), json!(id));
            p.insert("number".into(), json!(format!("10000000000{n}")));
            p
        })
    }

    fn push(&mut self, id: &str, list: &str, item: Value) {
        let p = self.project(id);
        p.entry(list).or_insert_with(|| json!([])).as_array_mut().unwrap().push(item);
    }

    /// A subnetwork `projects/P/regions/R/subnetworks/S` with Private Google Access as given.
    fn subnet(&mut self, name: &str, network: &str, pga: bool) {
        let parts: Vec<&str> = name.split('/').collect();
        let (p, r, s) = (parts[1], parts[3], parts[5]);
        let network = network.rsplit('/').next().unwrap();
        self.push(p, "subnetworks", json!({"name": s, "region": r, "network": network, "privateIpGoogleAccess": pga}));
    }
}

/// The world of one row, and the caller to name (`None`: the internet).
fn world_of(facts: &Value) -> Option<(World, Option<String>)> {
    let target = facts["targetProject"].as_str().unwrap();
    let mut estate = Estate::default();
    let open = json!({"bindings": [{"role": "roles/run.invoker", "members": ["allUsers"]}]});
    for i in Ingress::ALL {
        let name = format!("to-{}", i.gcloud());
        estate.push(target, "services", json!({"name": name, "region": REGION, "ingress": i.v2(), "iamPolicy": open}));
    }
    if let Some(host) = facts["sharedVpc"].get("host") {
        estate.project(target).insert("sharedVpcHost".into(), host.clone());
    }
    let pga = facts.get("privateGoogleAccess").and_then(Value::as_bool).unwrap_or(false);
    let caller = &facts["caller"];
    let named = if caller == "internet" {
        None
    } else if let Some(run) = caller.get("cloudRun") {
        let (p, r) = (run["project"].as_str().unwrap(), run["region"].as_str().unwrap());
        let vpc = run.get("vpcAccess")?.clone();
        let access: runiam_core::api::run::VpcAccess = serde_json::from_value(vpc.clone()).unwrap();
        match (&access.connector, facts.get("connectorNetwork").and_then(Value::as_str)) {
            (Some(c), Some(network)) => {
                let short = c.rsplit('/').next().unwrap();
                estate.push(p, "vpcConnectors", json!({"name": short, "region": r, "network": network}));
                let home = network_project(network, p);
                let n = network.rsplit('/').next().unwrap();
                estate.subnet(&format!("projects/{home}/regions/{r}/subnetworks/{n}"), network, pga);
            }
            (Some(c), None) => estate.push(
                p,
                "vpcConnectors",
                json!({"name": c.rsplit('/').next().unwrap(), "region": r, "network": "default"}),
            ),
            (None, _) => {
                if let Some(sub) = direct_subnetwork(p, r, &access) {
                    let nic = &access.network_interfaces[0];
                    let network = nic.network.clone().unwrap_or_else(|| sub.rsplit('/').next().unwrap().to_owned());
                    estate.subnet(&sub, &network, pga);
                }
            }
        }
        estate.push(p, "services", json!({"name": "caller", "region": r, "vpcAccess": vpc}));
        Some(format!("//run.googleapis.com/projects/{p}/locations/{r}/services/caller"))
    } else if let Some(vm) = caller.get("vm") {
        let p = vm["project"].as_str().unwrap();
        let network = vm.get("network")?.as_str().unwrap();
        let home = network_project(network, p);
        let n = network.rsplit('/').next().unwrap();
        estate.subnet(&format!("projects/{home}/regions/{REGION}/subnetworks/{n}"), network, pga);
        estate.push(p, "instances", json!({"name": "vm-1", "zone": "europe-west1-b", "network": network}));
        Some(format!("//compute.googleapis.com/projects/{p}/zones/europe-west1-b/instances/vm-1"))
    } else {
        let product = &caller["product"];
        let p = product["project"].as_str().unwrap();
        let (list, item, name) = match product["product"].as_str().unwrap() {
            "pubsub" => (
                "pubsubSubscriptions",
                json!({"name": "caller", "topic": "t"}),
                format!("//pubsub.googleapis.com/projects/{p}/subscriptions/caller"),
            ),
            "scheduler" => (
                "schedulerJobs",
                json!({"name": "caller", "region": REGION, "httpTarget": {"uri": "https://example.com/"}}),
                format!("//cloudscheduler.googleapis.com/projects/{p}/locations/{REGION}/jobs/caller"),
            ),
            "tasks" => (
                "cloudTasksQueues",
                json!({"name": "caller", "region": REGION}),
                format!("//cloudtasks.googleapis.com/projects/{p}/locations/{REGION}/queues/caller"),
            ),
            "eventarc" => (
                "eventarcTriggers",
                json!({"name": "caller", "region": REGION, "destination": {"cloudRun": {"service": "to-all", "region": REGION}}}),
                format!("//eventarc.googleapis.com/projects/{p}/locations/{REGION}/triggers/caller"),
            ),
            "workflows" => (
                "workflows",
                json!({"name": "caller", "region": REGION, "sourceContents": "main:\n  steps: []\n"}),
                format!("//workflows.googleapis.com/projects/{p}/locations/{REGION}/workflows/caller"),
            ),
            other => panic!("unknown product {other}"),
        };
        estate.push(p, list, item);
        Some(name)
    };
    let mut world = json!({});
    if facts.get("samePerimeter") == Some(&json!(true)) {
        // One enforced perimeter restricting Cloud Run holds every project of the row.
        let numbers: Vec<String> =
            estate.0.values().map(|p| format!("projects/{}", p["number"].as_str().unwrap())).collect();
        world = json!({"organization": {"id": "1"}, "accessPolicies": [{"name": "accessPolicies/42", "parent": "organizations/1",
            "servicePerimeters": [{"name": "accessPolicies/42/servicePerimeters/shared",
                "status": {"resources": numbers, "restrictedServices": ["run.googleapis.com"]}}]}]});
    }
    world["projects"] = Value::Array(estate.0.into_values().map(Value::Object).collect());
    let text = serde_json::to_string(&world).unwrap();
    Some((World::parse(&text, "row world").expect("the row's world is valid"), named))
}

#[tokio::test]
async fn the_front_end_answers_as_the_table_says() {
    let table = table();
    let defaults = table["defaults"].as_object().unwrap().clone();
    let http = reqwest::Client::new();
    let mut checked = 0;
    let mut failures = Vec::new();
    for case in table["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if case["expect"]["origin"] == "undetermined" {
            continue;
        }
        let mut facts = defaults.clone();
        facts.extend(case["facts"].as_object().unwrap().clone());
        let Some((world, caller)) = world_of(&Value::Object(facts)) else { continue };
        let number = world.projects.iter().find(|p| p.id == "acme-prod").unwrap().number.clone();
        let emu = start(world, Options::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        for i in Ingress::ALL {
            let host = format!("to-{}-{number}.{REGION}.run.app", i.gcloud());
            let mut req = http.get(format!("{}/", emu.url())).header("host", host);
            if let Some(c) = &caller {
                req = req.header("x-emulator-caller", c);
            }
            let logs = emu.state().lock().unwrap().logs.len();
            let status = req.send().await.unwrap().status().as_u16();
            let logged = emu.state().lock().unwrap().logs.len() > logs;
            // `404` reads as a number, the other answers as words.
            let want = match &case["expect"]["answers"][i.gcloud()] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let got = match (status, logged) {
                (200, true) => "allowed",
                (404, false) => "404",
                _ => "something else",
            };
            if got != want {
                failures.push(format!("{name}, ingress {i}: want {want}, got {status} (logged: {logged})"));
            }
        }
        checked += 1;
    }
    assert!(checked >= 19, "only {checked} rows could be emulated");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_caller_the_world_lacks_or_two_knobs_are_refused() {
    let text = r#"{"projects": [{"id": "acme-prod", "number": "100000000001", "services": [{"name": "s", "region": "europe-west1"}]}]}"#;
    let emu =
        start(World::parse(text, "w").unwrap(), Options::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let http = reqwest::Client::new();
    let host = "s-100000000001.europe-west1.run.app";
    let cases: [&[(&str, &str)]; 3] = [
        &[("x-emulator-caller", "//run.googleapis.com/projects/acme-prod/locations/europe-west1/services/nope")],
        &[("x-emulator-caller", "projects/acme-prod")],
        &[
            ("x-emulator-caller", "//run.googleapis.com/projects/acme-prod/locations/europe-west1/services/s"),
            ("x-emulator-origin", "internal"),
        ],
    ];
    for headers in cases {
        let mut req = http.get(format!("{}/", emu.url())).header("host", host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{headers:?}");
        assert!(resp.text().await.unwrap().contains("X-Emulator-"), "{headers:?}");
    }
}

#[test]
fn a_world_egress_that_is_no_setting_is_refused_by_field() {
    let text = r#"{"projects": [{"id": "acme-prod", "services": [{"name": "s", "region": "europe-west1", "vpcAccess": {"egress": "EVERYTHING"}}]}]}"#;
    let err = World::parse(text, "w").unwrap_err().to_string();
    assert!(err.contains("projects[0].services[0].vpcAccess.egress") && err.contains("ALL_TRAFFIC"), "{err}");
}
