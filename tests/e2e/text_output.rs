//! What a person reads: the `-o text` output of troubleshoot,
//! grant-invoker, verify and rollback through one incident, each as one
//! snapshot of stdout, stderr and the exit status (as jj's tests do), with
//! ports, times, latencies and temporary paths filtered out.

use std::path::Path;

use crate::common::{Emulator, cmd, root, run};

const SVC: &str = "projects/tsh-proj/locations/europe-west1/services/nogrant";
const CALLER: &str = "serviceAccount:robot@tsh-proj.iam.gserviceaccount.com";

/// Runs `runiam ARGS` and renders it for a snapshot.
fn shown(emu: &Emulator, dir: &Path, args: &[&str], stdin: &str) -> String {
    let mut c = cmd("runiam", dir);
    c.current_dir(dir).env("RUNIAM_EMULATOR_HOST", emu.host()).args(args);
    let (_, text) = run(c, stdin);
    text.replace(emu.host(), "[EMULATOR]").replace(&dir.display().to_string(), "[DIR]")
}

pub(crate) fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\d{8}T\d{6}\.\d{6}Z", "[TIME]");
    s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[TIME]");
    s.add_filter(r"in \d+ ms", "in [N] ms");
    s.add_filter(r"\d+(\.\d+)? ms", "[N] ms");
    s.add_filter(r"\d+(\.\d+)? req/s", "[N] req/s");
    s
}

#[test]
fn one_incident_as_a_person_reads_it() {
    let emu = Emulator::start(&root().join("tests/e2e/data/troubleshoot-world.yaml"), &[]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let settings = settings();
    let _guard = settings.bind_to_scope();

    insta::assert_snapshot!(
        "troubleshoot_denied",
        shown(&emu, d, &["troubleshoot", SVC, "--caller", CALLER, "--no-logs", "-o", "text"], "")
    );
    insta::assert_snapshot!(
        "grant_invoker_plan",
        shown(&emu, d, &["grant-invoker", SVC, "--member", CALLER, "--reason", "INC-9", "-o", "text"], "")
    );
    let mut c = cmd("runiam", d);
    c.current_dir(d).env("RUNIAM_EMULATOR_HOST", emu.host()).args([
        "grant-invoker",
        SVC,
        "--member",
        CALLER,
        "--apply",
        "--yes",
        "-o",
        "yaml",
    ]);
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(0), "{text}");
    let change = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!("verify_after_the_grant", shown(&emu, d, &["verify", "-o", "text"], &change));
    insta::assert_snapshot!("rollback", shown(&emu, d, &["rollback", "--apply", "--yes", "-o", "text"], &change));
    insta::assert_snapshot!(
        "grant_invoker_refused",
        shown(
            &emu,
            d,
            &["grant-invoker", SVC, "--member", "domain:acme.example", "--apply", "--yes", "-o", "text"],
            ""
        )
    );
}
