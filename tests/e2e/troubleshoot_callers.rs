//! `runiam troubleshoot SERVICE` without `--caller` (tests/e2e/data/callers-world.yaml):
//! callers are found in every location, and a caller source that answers
//! 403 (a permission, an API not enabled) or 404 is reported as unread,
//! never as "no caller"; exit 2 with the --caller hint only when no caller
//! was found at all.

use std::path::Path;

use serde_json::Value;

use crate::common::{Emulator, cmd, root, run};

const WORLD: &str = "tests/e2e/data/callers-world.yaml";

/// (exit, the Diagnosis documents, stderr).
fn troubleshoot(emu: &Emulator, home: &Path, project: &str) -> (i32, Vec<Value>, String) {
    let mut c = cmd("runiam", home);
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).args([
        "troubleshoot",
        &format!("projects/{project}/locations/europe-west1/services/api"),
        "-o",
        "json",
    ]);
    let (out, _) = run(c, "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let docs = serde_json::Deserializer::from_str(&stdout).into_iter::<Value>().map(Result::unwrap).collect();
    (out.status.code().unwrap_or(-1), docs, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn ids(d: &Value) -> Vec<&str> {
    d["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect()
}

#[test]
fn a_scheduler_job_in_another_location_is_found() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let (code, docs, err) = troubleshoot(&emu, home.path(), "cwp-ok");
    assert_eq!(code, 1, "{err}");
    let callers: Vec<&str> = docs.iter().map(|d| d["caller"].as_str().unwrap()).collect();
    assert_eq!(
        callers,
        ["serviceAccount:push@cwp-ok.iam.gserviceaccount.com", "serviceAccount:sched@cwp-ok.iam.gserviceaccount.com"]
    );
    assert_eq!(docs[0]["verdict"], "ALLOWED");
    let sched = &docs[1];
    assert_eq!(sched["verdict"], "DENIED");
    assert!(ids(sched).contains(&"iam.no-grant"), "{:?}", ids(sched));
    let seen = sched["logEvidence"].to_string();
    assert!(seen.contains("projects/cwp-ok/locations/us-central1/jobs/nightly"), "{seen}");
    assert!(docs.iter().all(|d| !ids(d).contains(&"caller.unreadable")), "every source was read");
}

#[test]
fn unreadable_sources_are_never_none() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    for (project, why) in [
        (
            "cwp-deny",
            [
                "could not read (permission pubsub.subscriptions.list)",
                "could not read (permission cloudscheduler.jobs.list)",
                "could not read (permission eventarc.triggers.list)",
            ],
        ),
        (
            "cwp-off",
            [
                "API not enabled: pubsub.googleapis.com",
                "API not enabled: cloudscheduler.googleapis.com",
                "API not enabled: eventarc.googleapis.com",
            ],
        ),
        (
            "cwp-gone",
            ["Pub/Sub subscriptions of projects/cwp-gone: not found", "Scheduler jobs in", "Eventarc triggers in"],
        ),
    ] {
        let (code, docs, err) = troubleshoot(&emu, home.path(), project);
        assert_eq!(code, 2, "{project}: {err}");
        assert!(docs.is_empty(), "{project}");
        assert!(err.contains("no caller found"), "{project}: {err}");
        assert!(err.contains("--caller"), "{project}: {err}");
        assert!(err.contains("other projects"), "{project}: {err}");
        for w in why {
            assert!(err.contains(w), "{project}: {w:?} not in {err}");
        }
        if project == "cwp-gone" {
            assert_eq!(err.matches(": not found").count(), 3, "one line per source, not per location: {err}");
        }
    }
}

#[test]
fn callers_found_beside_an_unreadable_source_carry_the_doubt() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let (code, docs, err) = troubleshoot(&emu, home.path(), "cwp-mixed");
    assert_eq!(code, 0, "{err}");
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0]["verdict"], "ALLOWED");
    let f = docs[0]["findings"].as_array().unwrap().iter().find(|f| f["id"] == "caller.unreadable").unwrap();
    assert_eq!(f["severity"], "risk");
    assert!(f.to_string().contains("API not enabled: cloudscheduler.googleapis.com"), "{f}");
}
