//! The caller's path end to end (docs/cloud-run.md "The caller's path"):
//! a real call through the emulator's front end, naming the calling
//! service or VM (never the origin), and `runiam troubleshoot
//! --caller-service`/`--caller-vm` deriving the same answer from the
//! caller's settings; then the suggested egress change, applied through
//! services.patch, lets the real call through.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{Emulator, call, cmd, mint, root, run};

const WORLD: &str = "tests/e2e/data/network-world.yaml";
const BACKEND: &str = "projects/net-proj/locations/europe-west1/services/backend";

/// A real request to `service` as `caller` (a full resource name), with a
/// valid ID token for `email`; the status.
fn invoke(emu: &Emulator, service: &str, caller: &str, email: &str) -> u16 {
    let (status, svc) = call(emu, "GET", &format!("v2/{service}"), None);
    assert_eq!(status, 200, "{svc}");
    let uri = svc["uri"].as_str().unwrap().to_owned();
    let token = mint(emu, json!({"email": email, "audience": uri}));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/", emu.url))
            .header("Host", uri.trim_start_matches("https://"))
            .header("X-Emulator-Caller", caller)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

/// troubleshoot on `service` of `project` with `extra`: (exit, Diagnosis).
fn diagnose(emu: &Emulator, home: &Path, project: &str, extra: &[&str]) -> (i32, Value) {
    let mut c = cmd("runiam", home);
    c.env("RUNIAM_EMULATOR_HOST", emu.host())
        .args(["troubleshoot", "backend", "--project", project, "--region", "europe-west1", "--no-logs", "-o", "json"])
        .args(extra);
    let (out, text) = run(c, "");
    let d: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{extra:?}: {e}\n{text}"));
    (out.status.code().unwrap_or(-1), d)
}

fn ids(d: &Value) -> Vec<&str> {
    d["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect()
}

fn run_caller(name: &str) -> String {
    format!("//run.googleapis.com/projects/net-proj/locations/europe-west1/services/{name}")
}

#[test]
fn private_ranges_egress_gets_404_until_all_traffic() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let frontend = "frontend@net-proj.iam.gserviceaccount.com";
    assert_eq!(invoke(&emu, BACKEND, &run_caller("frontend"), frontend), 404);

    let (code, d) = diagnose(&emu, home.path(), "net-proj", &["--caller-service", "frontend"]);
    assert_eq!((code, d["verdict"].as_str()), (1, Some("DENIED")), "{d}");
    assert_eq!(d["caller"], format!("serviceAccount:{frontend}"));
    assert_eq!(ids(&d), ["network.egress-not-routed", "iam.granted"], "{d}");
    let fix = d["fix"]["command"].as_str().unwrap();
    assert!(
        fix.starts_with(
            "gcloud run services update frontend --region europe-west1 --project net-proj --vpc-egress=all-traffic  # Terraform: template { vpc_access { egress = \"ALL_TRAFFIC\" } }"
        ),
        "{fix}"
    );

    // The suggested change, through Run v2's services.patch.
    let (status, op) = call(
        &emu,
        "PATCH",
        "v2/projects/net-proj/locations/europe-west1/services/frontend?updateMask=template.vpcAccess",
        Some(
            json!({"template": {"vpcAccess": {"egress": "ALL_TRAFFIC", "networkInterfaces": [{"network": "default", "subnetwork": "run-subnet"}]}}}),
        ),
    );
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["response"]["template"]["vpcAccess"]["egress"], "ALL_TRAFFIC");
    assert_eq!(invoke(&emu, BACKEND, &run_caller("frontend"), frontend), 200);
    let (code, d) = diagnose(&emu, home.path(), "net-proj", &["--caller-service", "frontend"]);
    assert_eq!((code, d["verdict"].as_str()), (0, Some("ALLOWED")), "{d}");
    assert_eq!(ids(&d), ["iam.granted"], "{d}");

    // --from still overrides what is derived.
    let (code, d) = diagnose(&emu, home.path(), "net-proj", &["--caller-service", "frontend", "--from", "external"]);
    assert_eq!((code, ids(&d)), (1, vec!["network.ingress", "iam.granted"]), "{d}");
}

#[test]
fn all_traffic_and_a_vm_on_the_subnet_arrive_as_internal() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    assert_eq!(invoke(&emu, BACKEND, &run_caller("batch"), "batch@net-proj.iam.gserviceaccount.com"), 200);
    let (code, d) = diagnose(&emu, home.path(), "net-proj", &["--caller-service", "batch"]);
    assert_eq!((code, d["verdict"].as_str(), ids(&d)), (0, Some("ALLOWED"), vec!["iam.granted"]), "{d}");

    let vm = "//compute.googleapis.com/projects/net-proj/zones/europe-west1-b/instances/vm-1";
    assert_eq!(invoke(&emu, BACKEND, vm, "vm@net-proj.iam.gserviceaccount.com"), 200);
    let (code, d) = diagnose(&emu, home.path(), "net-proj", &["--caller-vm", "europe-west1-b/vm-1"]);
    assert_eq!((code, d["verdict"].as_str(), ids(&d)), (0, Some("ALLOWED"), vec!["iam.granted"]), "{d}");
    assert_eq!(d["caller"], "serviceAccount:vm@net-proj.iam.gserviceaccount.com");
}

/// A connector's network and subnet are read (Serverless VPC Access
/// `connectors.get`, unverified), so an ALL_TRAFFIC connector on a subnet
/// with Private Google Access is internal, not undetermined.
#[test]
fn an_all_traffic_connector_arrives_as_internal() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    assert_eq!(invoke(&emu, BACKEND, &run_caller("relay"), "relay@net-proj.iam.gserviceaccount.com"), 200);
    let (code, d) = diagnose(&emu, home.path(), "net-proj", &["--caller-service", "relay"]);
    assert_eq!((code, d["verdict"].as_str(), ids(&d)), (0, Some("ALLOWED"), vec!["iam.granted"]), "{d}");
    assert_eq!(d["caller"], "serviceAccount:relay@net-proj.iam.gserviceaccount.com");
}

/// A Cloud Run job as caller: its task template's egress decides, as a
/// service's does, and the fix is the job's.
#[test]
fn a_job_with_private_ranges_egress_gets_404() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let job = "//run.googleapis.com/projects/net-proj/locations/europe-west1/jobs/nightly";
    assert_eq!(invoke(&emu, BACKEND, job, "nightly@net-proj.iam.gserviceaccount.com"), 404);
    let (code, d) = diagnose(&emu, home.path(), "net-proj", &["--caller-job", "nightly"]);
    assert_eq!((code, d["verdict"].as_str()), (1, Some("DENIED")), "{d}");
    assert_eq!(d["caller"], "serviceAccount:nightly@net-proj.iam.gserviceaccount.com");
    assert_eq!(ids(&d), ["network.egress-not-routed", "iam.granted"], "{d}");
    assert_eq!(
        d["fix"]["command"],
        "gcloud run jobs update nightly --region europe-west1 --project net-proj --vpc-egress=all-traffic  # Terraform: template { template { vpc_access { egress = \"ALL_TRAFFIC\" } } } on the google_cloud_run_v2_job"
    );
}

#[test]
fn an_unreadable_subnet_leaves_the_path_undetermined() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let (code, d) = diagnose(&emu, home.path(), "net-dark", &["--caller-service", "caller"]);
    assert_eq!((code, d["verdict"].as_str()), (1, Some("UNKNOWN")), "{d}");
    assert_eq!(ids(&d), ["network.origin-undetermined", "iam.granted"], "{d}");
    let f = &d["findings"][0];
    assert_eq!(f["severity"], "risk");
    let text = f["explanation"].as_str().unwrap();
    assert!(
        text.contains("privateIpGoogleAccess of projects/net-dark/regions/europe-west1/subnetworks/run-subnet")
            && text.contains("permission compute.subnetworks.get"),
        "{text}"
    );
}

#[test]
fn a_bad_or_missing_caller_is_a_usage_error() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    for (flag, value, says) in [
        ("--caller-vm", "nope", "--caller-vm nope: not ZONE/NAME"),
        ("--caller-vm", "europe-west1-b/vm-9", "--caller-vm europe-west1-b/vm-9: no such instance in net-proj"),
        ("--caller-job", "a/b", "--caller-job a/b: not a job name"),
        ("--caller-job", "ghost", "--caller-job projects/net-proj/locations/europe-west1/jobs/ghost: no such job"),
    ] {
        let mut c = cmd("runiam", home.path());
        c.env("RUNIAM_EMULATOR_HOST", emu.host()).args([
            "troubleshoot",
            "backend",
            "--project",
            "net-proj",
            "--region",
            "europe-west1",
            "--no-logs",
            flag,
            value,
        ]);
        let (out, text) = run(c, "");
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(out.stdout.is_empty(), "{text}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(says), "{text}");
    }
}
