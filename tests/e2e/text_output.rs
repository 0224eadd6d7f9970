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

/// Colour: off in a pipe by default; `--color always` and CLICOLOR_FORCE
/// colour the verdict, the cause and the plan's diff; NO_COLOR and
/// `--color never` (or `--no-color`) win over CLICOLOR_FORCE.
#[test]
fn colour_follows_the_flag_and_the_conventions() {
    let emu = Emulator::start(&root().join("tests/e2e/data/troubleshoot-world.yaml"), &[]);
    let dir = tempfile::tempdir().unwrap();
    let troubleshoot = ["troubleshoot", SVC, "--caller", CALLER, "--no-logs", "-o", "text"];
    let with = |flags: &[&str], env: &[(&str, &str)]| {
        let mut c = cmd("runiam", dir.path());
        c.env("RUNIAM_EMULATOR_HOST", emu.host()).args(troubleshoot).args(flags);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8(out.stdout).unwrap()
    };
    let red_denied = "\x1b[1;31mDENIED\x1b[0m: ";
    let red_cause = "\x1b[1;31mcause [iam.no-grant]\x1b[0m";
    for (flags, env, coloured) in [
        (&[][..], &[][..], false),
        (&["--color", "always"][..], &[][..], true),
        (&["--color", "always"][..], &[("NO_COLOR", "1")][..], true),
        (&[][..], &[("CLICOLOR_FORCE", "1")][..], true),
        (&[][..], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")][..], false),
        (&["--color", "never"][..], &[("CLICOLOR_FORCE", "1")][..], false),
        (&["--no-color"][..], &[("CLICOLOR_FORCE", "1")][..], false),
    ] {
        let out = with(flags, env);
        assert_eq!(out.contains(red_denied) && out.contains(red_cause), coloured, "{flags:?} {env:?}:\n{out}");
        assert_eq!(out.contains('\x1b'), coloured, "{flags:?} {env:?}:\n{out}");
    }

    // The plan's diff goes to stderr: added lines green there.
    let mut c = cmd("runiam", dir.path());
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).args([
        "grant-invoker",
        SVC,
        "--member",
        CALLER,
        "-o",
        "text",
        "--color",
        "always",
    ]);
    let out = c.output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&format!("\x1b[32m+  - {CALLER}\x1b[0m\n")), "{err}");
    assert!(err.contains("\x1b[31m-{}\x1b[0m\n"), "{err}");
    // Documents never carry colour, whatever the flag.
    let mut c = cmd("runiam", dir.path());
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).args([
        "troubleshoot",
        SVC,
        "--caller",
        CALLER,
        "--no-logs",
        "-o",
        "yaml",
        "--color",
        "always",
    ]);
    let out = c.output().unwrap();
    assert!(!String::from_utf8(out.stdout).unwrap().contains('\x1b'));
}
