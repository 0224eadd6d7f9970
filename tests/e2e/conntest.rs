//! `runiam troubleshoot --connectivity-test` end to end (docs/cloud-run.md
//! "Connectivity Tests"): a real Connectivity Test created in the
//! emulator's Network Management API from the calling service's serving
//! revision or VM, its trace reported as evidence next to the caller's
//! path, and the test deleted afterwards unless `--keep`.

use std::path::Path;

use serde_json::Value;

use crate::common::{Emulator, call, cmd, root, run};

const WORLD: &str = "tests/e2e/data/network-world.yaml";
const TESTS: &str = "v1/projects/net-proj/locations/global/connectivityTests";
const PRICING: &str = "https://cloud.google.com/network-intelligence-center/pricing";

/// troubleshoot on `backend` of net-proj with `extra`: (exit, Diagnosis, stderr).
fn diagnose(emu: &Emulator, home: &Path, extra: &[&str]) -> (i32, Value, String) {
    let mut c = cmd("runiam", home);
    c.env("RUNIAM_EMULATOR_HOST", emu.host())
        .args([
            "troubleshoot",
            "backend",
            "--project",
            "net-proj",
            "--region",
            "europe-west1",
            "--no-logs",
            "-o",
            "json",
        ])
        .args(extra);
    let (out, text) = run(c, "");
    let d: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{extra:?}: {e}\n{text}"));
    (out.status.code().unwrap_or(-1), d, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn finding<'d>(d: &'d Value, id: &str) -> &'d Value {
    d["findings"].as_array().unwrap().iter().find(|f| f["id"] == id).unwrap_or_else(|| panic!("no {id} in {d}"))
}

fn ids(d: &Value) -> Vec<&str> {
    d["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect()
}

/// The states of the trace a finding quotes.
fn states(f: &Value) -> Vec<&str> {
    f["evidence"][0]["data"]["reachabilityDetails"]["traces"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect()
}

fn listed(emu: &Emulator) -> Value {
    let (status, list) = call(emu, "GET", TESTS, None);
    assert_eq!(status, 200, "{list}");
    list
}

#[test]
fn a_private_ranges_caller_is_traced_leaving_as_external_and_the_test_is_deleted_unless_kept() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let (code, d, stderr) = diagnose(&emu, home.path(), &["--caller-service", "frontend", "--connectivity-test"]);
    assert_eq!((code, d["verdict"].as_str()), (1, Some("DENIED")), "{d}");
    assert_eq!(ids(&d), ["network.egress-not-routed", "iam.granted", "network.connectivity-test"], "{d}");
    let t = finding(&d, "network.connectivity-test");
    assert_eq!(t["severity"], "info");
    assert_eq!(
        t["explanation"],
        "a Connectivity Test from cloud run service projects/net-proj/locations/europe-west1/services/frontend to the service's address on TCP 443 is REACHABLE: the packet leaves through SERVERLESS_EXTERNAL_CONNECTION (step 2), so the call arrives at Cloud Run as external, which ingress internal answers with 404 and no request log"
    );
    assert_eq!(states(t), ["START_FROM_CLOUD_RUN_REVISION", "SERVERLESS_EXTERNAL_CONNECTION", "DELIVER"]);
    let notes: Vec<&str> = t["evidence"].as_array().unwrap().iter().map(|e| e["detail"].as_str().unwrap()).collect();
    assert!(notes.iter().any(|n| n.contains(PRICING)), "{notes:?}");
    assert!(notes.iter().any(|n| n.ends_with("was deleted afterwards")), "{notes:?}");
    assert!(stderr.contains("Google charges for each analysis") && stderr.contains(PRICING), "{stderr}");
    assert_eq!(listed(&emu), serde_json::json!({}), "the test is deleted afterwards");

    // --keep leaves it, with the serving revision as its source.
    let (code, d, _) = diagnose(&emu, home.path(), &["--caller-service", "frontend", "--connectivity-test", "--keep"]);
    assert_eq!(code, 1, "{d}");
    let kept = &listed(&emu)["resources"];
    assert_eq!(kept.as_array().map(Vec::len), Some(1), "{kept}");
    let name = kept[0]["name"].as_str().unwrap();
    let note = finding(&d, "network.connectivity-test")["evidence"].to_string();
    assert!(note.contains(&format!("{name} is kept (--keep)")), "{note}");
    let (_, frontend) = call(&emu, "GET", "v2/projects/net-proj/locations/europe-west1/services/frontend", None);
    let revision = frontend["latestReadyRevision"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        kept[0]["source"]["cloudRunRevision"]["uri"],
        format!("projects/net-proj/locations/europe-west1/revisions/{revision}")
    );
    assert_eq!(kept[0]["destination"]["port"], 443);
    assert_eq!(kept[0]["reachabilityDetails"]["result"], "REACHABLE");
}

#[test]
fn through_the_vpc_is_internal_and_a_vm_without_private_google_access_is_dropped() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let (code, d, _) = diagnose(&emu, home.path(), &["--caller-service", "batch", "--connectivity-test"]);
    assert_eq!((code, ids(&d)), (0, vec!["iam.granted", "network.connectivity-test"]), "{d}");
    let t = finding(&d, "network.connectivity-test");
    assert_eq!(states(t), ["START_FROM_CLOUD_RUN_REVISION", "DIRECT_VPC_EGRESS_CONNECTION", "APPLY_ROUTE", "DELIVER"]);

    let (code, d, _) = diagnose(&emu, home.path(), &["--caller-vm", "europe-west1-b/vm-dark", "--connectivity-test"]);
    assert_eq!((code, d["verdict"].as_str()), (1, Some("DENIED")), "{d}");
    assert_eq!(
        ids(&d),
        ["network.egress-not-routed", "network.path-dropped", "iam.granted", "network.connectivity-test"],
        "{d}"
    );
    let dropped = finding(&d, "network.path-dropped");
    assert!(
        dropped["explanation"].as_str().unwrap().contains("at step 2 (APPLY_ROUTE) (PRIVATE_GOOGLE_ACCESS_DISALLOWED)"),
        "{dropped}"
    );
    assert_eq!(states(dropped), ["START_FROM_INSTANCE", "APPLY_ROUTE", "DROP"]);
    assert_eq!(listed(&emu), serde_json::json!({}));
}

#[test]
fn a_connectivity_test_needs_a_calling_service_or_vm() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let mut c = cmd("runiam", home.path());
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).args([
        "troubleshoot",
        "backend",
        "--project",
        "net-proj",
        "--region",
        "europe-west1",
        "--caller",
        "user:ana@example.com",
        "--connectivity-test",
    ]);
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(out.stdout.is_empty(), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--connectivity-test traces from the caller"), "{text}");
    assert_eq!(listed(&emu), serde_json::json!({}));
}

#[test]
fn a_test_the_operator_may_not_create_is_partial_visibility_naming_the_permission() {
    let emu = Emulator::start(&root().join("tests/e2e/data/conntest-viewer-world.yaml"), &[]);
    let home = tempfile::tempdir().unwrap();
    let (code, d, _) = diagnose(&emu, home.path(), &["--caller-service", "frontend", "--connectivity-test"]);
    assert_eq!((code, d["verdict"].as_str()), (1, Some("DENIED")), "{d}");
    assert!(ids(&d).contains(&"network.egress-not-routed"), "{d}");
    let unread = finding(&d, "network.connectivity-test-unread");
    assert_eq!(unread["severity"], "risk");
    assert_eq!(
        unread["explanation"],
        "the Connectivity Test from cloud run service projects/net-proj/locations/europe-west1/services/frontend could not be run (could not read (permission networkmanagement.connectivitytests.create)), so the packet path was not simulated"
    );
    assert!(!ids(&d).contains(&"network.connectivity-test"), "{d}");
    assert_eq!(listed(&emu), serde_json::json!({}));
}

#[test]
fn an_address_in_a_network_is_traced_from_its_subnetwork() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let vm = "serviceAccount:vm@net-proj.iam.gserviceaccount.com";
    let from =
        |ip: &'static str| ["--caller", vm, "--caller-ip", ip, "--caller-network", "default", "--connectivity-test"];
    let (_, d, _) = diagnose(&emu, home.path(), &from("10.8.0.9"));
    let t = finding(&d, "network.connectivity-test");
    assert_eq!(states(t), ["START_FROM_PRIVATE_NETWORK", "APPLY_ROUTE", "DELIVER"], "{d}");
    assert!(t["explanation"].as_str().unwrap().starts_with(
        "a Connectivity Test from address 10.8.0.9 in projects/net-proj/global/networks/default to the service's address on TCP 443 is REACHABLE"
    ));

    let (code, d, _) = diagnose(&emu, home.path(), &from("10.9.0.9"));
    assert_eq!(code, 1, "{d}");
    let dropped = finding(&d, "network.path-dropped");
    assert_eq!(states(dropped), ["START_FROM_PRIVATE_NETWORK", "APPLY_ROUTE", "DROP"]);
    assert_eq!(listed(&emu), serde_json::json!({}));

    // An address names no identity, and a short network name needs a project.
    let mut c = cmd("runiam", home.path());
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).args([
        "troubleshoot",
        "projects/net-proj/locations/europe-west1/services/backend",
        "--caller-ip",
        "10.8.0.9",
        "--caller-network",
        "default",
        "--connectivity-test",
    ]);
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--caller-ip names an address, not who calls"), "{text}");
}
