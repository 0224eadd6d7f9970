//! The emulator's front end against the VPC Service Controls table,
//! `crates/core/tests/data/perimeter_cases.yaml`: for each row with a
//! `status` (rows runiam cannot settle are left out), a world holding the
//! row's perimeters, the service's and the caller's projects in their
//! folders, and a service (ingress `all`) the caller's identity may invoke;
//! a real request with a token of that identity, naming a calling service in
//! the caller's project in `X-Emulator-Caller` (none for the internet), gets
//! the row's status. A 403 writes no request log and one Policy Denied
//! audit entry naming the perimeter.

use std::path::Path;

use runiam_emulator::world::World;
use runiam_emulator::{Options, start};
use serde_json::{Value, json};

const REGION: &str = "europe-west1";
const HOST: &str = "target-100000000001.europe-west1.run.app";

fn table() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/data/perimeter_cases.yaml");
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The row's world: projects and folders as the table's header names them.
fn world_of(perimeters: Vec<Value>, identity: &str) -> World {
    let project = |id: &str, number: &str, folder: &str, services: Value| json!({"id": id, "number": number, "parent": folder, "services": services});
    let invoker = json!({"bindings": [{"role": "roles/run.invoker", "members": [identity]}]});
    let world = json!({
        "organization": {"id": "1", "domain": "acme.example"},
        "folders": [{"id": "300", "parent": "organizations/1"}, {"id": "301", "parent": "organizations/1"}],
        "projects": [
            project("acme-prod", "100000000001", "folders/300", json!([{"name": "target", "region": REGION, "iamPolicy": invoker}])),
            project("acme-dev", "100000000002", "folders/301", json!([{"name": "caller", "region": REGION}])),
            project("acme-data", "100000000003", "folders/301", json!([])),
        ],
        "accessPolicies": [{"name": "accessPolicies/42", "parent": "organizations/1", "servicePerimeters": perimeters}],
    });
    World::parse(&world.to_string(), "row world").expect("the row's world is valid")
}

#[tokio::test]
async fn the_front_end_fences_as_the_table_says() {
    let table = table();
    let http = reqwest::Client::new();
    let mut checked = 0;
    let mut failures = Vec::new();
    for case in table["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let Some(want) = case["expect"]["status"].as_u64() else { continue };
        let mut call = table["defaults"].as_object().unwrap().clone();
        call.extend(case.get("call").and_then(Value::as_object).cloned().unwrap_or_default());
        let identity = call["identity"].as_str().unwrap();
        let perimeters: Vec<Value> = case["perimeters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| table["perimeters"][p.as_str().unwrap()].clone())
            .collect();
        let emu =
            start(world_of(perimeters, identity), Options::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let email = identity.split_once(':').unwrap().1;
        let token = runiam_emulator::client::Client::new(&emu.url())
            .mint(json!({"email": email, "audience": format!("https://{HOST}")}))
            .await
            .unwrap();
        let mut req = http.get(format!("{}/", emu.url())).header("host", HOST).bearer_auth(token);
        if !call["caller"].as_array().unwrap().is_empty() {
            req = req.header(
                "x-emulator-caller",
                format!("//run.googleapis.com/projects/acme-dev/locations/{REGION}/services/caller"),
            );
        }
        let before = emu.state().lock().unwrap().logs.len();
        let status = req.send().await.unwrap().status().as_u16();
        let entries: Vec<Value> =
            emu.state().lock().unwrap().logs[before..].iter().map(|r| r.to_value().into_owned()).collect();
        let log_names: Vec<&str> = entries.iter().map(|e| e["logName"].as_str().unwrap_or_default()).collect();
        let expected_logs: Vec<String> = if want == 403 {
            vec!["projects/acme-prod/logs/cloudaudit.googleapis.com%2Fpolicy".to_owned()]
        } else {
            vec!["projects/acme-prod/logs/run.googleapis.com%2Frequests".to_owned()]
        };
        if u64::from(status) != want || log_names != expected_logs {
            failures.push(format!("{name}: want {want} with {expected_logs:?}, got {status} with {log_names:?}"));
        } else if want == 403 {
            let meta = &entries[0]["protoPayload"]["metadata"];
            let perimeter = case["expect"]["enforced"]["perimeter"].as_str().unwrap();
            if meta["securityPolicyInfo"]["servicePerimeterName"]
                != format!("accessPolicies/42/servicePerimeters/{perimeter}")
                || meta["violationReason"] != case["expect"]["enforced"]["reason"]
            {
                failures.push(format!("{name}: the audit entry names {meta}"));
            }
        }
        checked += 1;
    }
    assert!(checked >= 18, "only {checked} rows could be emulated");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Under an internal ingress the same denial is a 404, as Cloud Run documents.
#[tokio::test]
async fn a_fenced_internal_service_answers_404() {
    let text = r#"{"organization": {"id": "1"},
        "projects": [{"id": "acme-prod", "number": "100000000001", "parent": "organizations/1",
                      "services": [{"name": "target", "region": "europe-west1", "ingress": "INGRESS_TRAFFIC_INTERNAL_ONLY",
                                    "iamPolicy": {"bindings": [{"role": "roles/run.invoker", "members": ["allUsers"]}]}}]}],
        "accessPolicies": [{"name": "accessPolicies/42", "parent": "organizations/1", "servicePerimeters": [
            {"name": "accessPolicies/42/servicePerimeters/prod",
             "status": {"resources": ["projects/100000000001"], "restrictedServices": ["run.googleapis.com"]}}]}]}"#;
    let emu =
        start(World::parse(text, "w").unwrap(), Options::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let status =
        reqwest::Client::new().get(format!("{}/", emu.url())).header("host", HOST).send().await.unwrap().status();
    assert_eq!(status.as_u16(), 404);
    let logs = emu.state().lock().unwrap().logs.iter().map(|r| r.to_value().into_owned()).collect::<Vec<_>>();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["protoPayload"]["methodName"], "run.googleapis.com/HttpIngress");
    assert_eq!(logs[0]["protoPayload"]["metadata"]["violationReason"], "NO_MATCHING_ACCESS_LEVEL");
}
