//! VPC Service Controls end to end (docs/cloud-run.md "VPC Service
//! Controls"): a real call through the emulator's front end from a service
//! in a project outside an enforced perimeter that restricts
//! run.googleapis.com, and `runiam troubleshoot --caller-service` naming the
//! perimeter and the missing ingress rule from the perimeters themselves;
//! the rule, added through Access Context Manager's servicePerimeters.patch,
//! lets the real call through. A dry-run-only perimeter is reported and
//! denies nothing; an access policy the operator cannot read is partial
//! visibility, never "no perimeter".

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{Emulator, call, cmd, mint, root, run};

const WORLD: &str = "tests/e2e/data/perimeter-world.yaml";
const FRONTEND: &str = "frontend@fence-dev.iam.gserviceaccount.com";
const CALLER: &str = "projects/fence-dev/locations/europe-west1/services/frontend";

/// A real request from the frontend service to backend of `project`, with
/// the frontend's ID token; the status.
fn invoke(emu: &Emulator, project: &str) -> u16 {
    let (status, svc) =
        call(emu, "GET", &format!("v2/projects/{project}/locations/europe-west1/services/backend"), None);
    assert_eq!(status, 200, "{svc}");
    let uri = svc["uri"].as_str().unwrap().to_owned();
    let token = mint(emu, json!({"email": FRONTEND, "audience": uri}));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/", emu.url))
            .header("Host", uri.trim_start_matches("https://"))
            .header("X-Emulator-Caller", format!("//run.googleapis.com/{CALLER}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

/// troubleshoot backend of `project` as called by the frontend service: (exit, Diagnosis).
fn diagnose(emu: &Emulator, home: &Path, project: &str) -> (i32, Value) {
    let mut c = cmd("runiam", home);
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).args([
        "troubleshoot",
        "backend",
        "--project",
        project,
        "--region",
        "europe-west1",
        "--caller-service",
        CALLER,
        "--no-logs",
        "-o",
        "json",
    ]);
    let (out, text) = run(c, "");
    let d: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{project}: {e}\n{text}"));
    (out.status.code().unwrap_or(-1), d)
}

fn finding<'d>(d: &'d Value, id: &str) -> Option<&'d Value> {
    d["findings"].as_array().unwrap().iter().find(|f| f["id"] == id)
}

#[test]
fn a_perimeter_denies_the_outside_caller_until_an_ingress_rule_admits_it() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    assert_eq!(invoke(&emu, "fence-prod"), 403);

    let (code, d) = diagnose(&emu, home.path(), "fence-prod");
    assert_eq!((code, d["verdict"].as_str()), (1, Some("DENIED")), "{d}");
    assert_eq!(d["caller"], format!("serviceAccount:{FRONTEND}"));
    let fenced = finding(&d, "network.perimeter").unwrap_or_else(|| panic!("{d}"));
    let explanation = fenced["explanation"].as_str().unwrap();
    assert!(explanation.contains("perimeter accessPolicies/42/servicePerimeters/prod"), "{explanation}");
    assert!(explanation.contains(&format!("serviceAccount:{FRONTEND} from projects/500000000002")), "{explanation}");
    let rule = fenced["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["data"].get("ingressPolicy"))
        .unwrap_or_else(|| panic!("{fenced}"))
        .clone();
    assert_eq!(
        rule,
        json!({
            "ingressFrom": {"identities": [format!("serviceAccount:{FRONTEND}")], "sources": [{"resource": "projects/500000000002"}]},
            "ingressTo": {"resources": ["projects/500000000001"], "operations": [{"serviceName": "run.googleapis.com", "methodSelectors": [{"method": "*"}]}]},
        })
    );
    let fix = d["fix"]["command"].as_str().unwrap();
    assert!(
        fix.contains(
            "gcloud access-context-manager perimeters update prod --policy=42 --set-ingress-policies=ingress.yaml"
        ),
        "{fix}"
    );

    // The missing rule, added as the fix says.
    let (status, op) = call(
        &emu,
        "PATCH",
        "v1/accessPolicies/42/servicePerimeters/prod?updateMask=status.ingressPolicies",
        Some(json!({"status": {"ingressPolicies": [rule]}})),
    );
    assert_eq!((status, &op["done"]), (200, &json!(true)), "{op}");
    assert_eq!(invoke(&emu, "fence-prod"), 200);
    let (code, d) = diagnose(&emu, home.path(), "fence-prod");
    assert_eq!((code, d["verdict"].as_str()), (0, Some("ALLOWED")), "{d}");
    assert!(finding(&d, "network.perimeter").is_none(), "{d}");
}

#[test]
fn a_dry_run_perimeter_is_reported_and_denies_nothing() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    assert_eq!(invoke(&emu, "fence-next"), 200);
    let (code, d) = diagnose(&emu, home.path(), "fence-next");
    assert_eq!((code, d["verdict"].as_str()), (0, Some("ALLOWED")), "{d}");
    let dry = finding(&d, "network.perimeter-dry-run").unwrap_or_else(|| panic!("{d}"));
    assert_eq!(dry["severity"], "risk");
    let explanation = dry["explanation"].as_str().unwrap();
    assert!(explanation.contains("accessPolicies/42/servicePerimeters/next would deny"), "{explanation}");
    assert!(finding(&d, "network.perimeter").is_none(), "{d}");
}

#[test]
fn an_unreadable_access_policy_is_reported_as_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world.yaml");
    let text = std::fs::read_to_string(root().join(WORLD)).unwrap();
    std::fs::write(&world, format!("{text}operator: user:ops@fence.example\n")).unwrap();
    let emu = Emulator::start(&world, &[]);
    let (_, d) = diagnose(&emu, dir.path(), "fence-prod");
    let unread = finding(&d, "network.perimeter-unreadable").unwrap_or_else(|| panic!("{d}"));
    let explanation = unread["explanation"].as_str().unwrap();
    assert!(explanation.contains("permission accesscontextmanager.policies.list"), "{explanation}");
    assert!(finding(&d, "network.perimeter").is_none(), "{d}");
}
