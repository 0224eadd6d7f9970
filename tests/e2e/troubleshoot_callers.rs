//! `runiam troubleshoot SERVICE` without `--caller` (tests/e2e/data/callers-world.yaml):
//! callers (Pub/Sub, Scheduler, Cloud Tasks, Workflows) are found in every location, and a caller source that answers
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
                "Cloud Tasks queues in the locations of projects/cwp-deny: could not read (permission cloudtasks.queues.list)",
                "could not read (permission workflows.workflows.list)",
            ],
        ),
        (
            "cwp-off",
            [
                "API not enabled: pubsub.googleapis.com",
                "API not enabled: cloudscheduler.googleapis.com",
                "API not enabled: eventarc.googleapis.com",
                "API not enabled: cloudtasks.googleapis.com",
                "API not enabled: workflows.googleapis.com",
            ],
        ),
        (
            "cwp-gone",
            [
                "Pub/Sub subscriptions of projects/cwp-gone: not found",
                "Scheduler jobs in",
                "Eventarc triggers in",
                "Cloud Tasks queues in the locations of projects/cwp-gone: not found",
                "workflows in",
            ],
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
            assert_eq!(err.matches(": not found").count(), 5, "one line per source, not per location: {err}");
        }
    }

    // Queues listed, their tasks not: the unread tasks are named too.
    let (code, docs, err) = troubleshoot(&emu, home.path(), "cwp-notasks");
    assert_eq!((code, docs.len()), (2, 0), "{err}");
    assert!(err.contains("Cloud Tasks queues of projects/cwp-notasks: 1 read in"), "{err}");
    assert!(
        err.contains(
            "queued tasks of projects/cwp-notasks/locations/us-east1/queues/q: could not read (permission cloudtasks.tasks.list)"
        ),
        "{err}"
    );
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

#[test]
fn cloud_tasks_queues_and_workflow_steps_are_callers() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let (code, docs, err) = troubleshoot(&emu, home.path(), "cwp-tasks");
    assert_eq!(code, 1, "{err}");
    let callers: Vec<&str> = docs.iter().map(|d| d["caller"].as_str().unwrap()).collect();
    assert_eq!(
        callers,
        [
            "serviceAccount:hook@cwp-tasks.iam.gserviceaccount.com",
            "serviceAccount:tasks@cwp-tasks.iam.gserviceaccount.com",
            "serviceAccount:mailer@cwp-tasks.iam.gserviceaccount.com",
            "serviceAccount:flow@cwp-tasks.iam.gserviceaccount.com",
        ]
    );

    // A queue whose path override makes the default audience carry a path.
    let hook = &docs[0];
    assert_eq!(ids(hook), ["caller.oidc-audience", "iam.granted"], "{hook}");
    assert_eq!(
        hook["fix"]["command"],
        "gcloud tasks queues update hooks --location=europe-west1 \
         --http-oidc-token-audience-override=https://api-830000000016.europe-west1.run.app"
    );
    assert!(hook.to_string().contains("https://api-830000000016.europe-west1.run.app/hook"), "{hook}");

    // A queue in another location whose account may not invoke: the grant.
    let tasks = &docs[1];
    assert_eq!(tasks["verdict"], "DENIED");
    assert_eq!(ids(tasks), ["iam.no-grant"], "{tasks}");
    assert_eq!(tasks["fix"]["role"], "roles/run.invoker");
    assert_eq!(tasks["fix"]["member"], "serviceAccount:tasks@cwp-tasks.iam.gserviceaccount.com");
    assert!(tasks["logEvidence"].to_string().contains("projects/cwp-tasks/locations/us-east1/queues/jobs"), "{tasks}");

    // A queue with no host of its own: its queued tasks name the service.
    let mailer = &docs[2];
    assert_eq!((mailer["verdict"].as_str(), ids(mailer)), (Some("DENIED"), vec!["iam.no-grant"]), "{mailer}");
    assert!(mailer["logEvidence"].to_string().contains("projects/cwp-tasks/locations/us-west1/queues/mail"));

    // A workflow step in another location calling the URL with OIDC.
    let flow = &docs[3];
    assert_eq!(flow["verdict"], "ALLOWED");
    assert!(flow["logEvidence"].to_string().contains("projects/cwp-tasks/locations/asia-east1/workflows/pipeline"));
    assert!(docs.iter().all(|d| !ids(d).contains(&"caller.unreadable")), "every source was read");

    // The fix pipes: grant-invoker applies it, and the queue's account is then allowed.
    let mut c = cmd("runiam", home.path());
    // Backups go to the working directory: keep them out of the repository.
    c.current_dir(home.path()).env("RUNIAM_EMULATOR_HOST", emu.host()).args(["grant-invoker", "--apply", "--yes"]);
    let (out, _) = run(c, &serde_json::to_string(tasks).unwrap());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, docs, err) = troubleshoot(&emu, home.path(), "cwp-tasks");
    assert_eq!(docs[1]["verdict"], "ALLOWED", "{err}");
}
