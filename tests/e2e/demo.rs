//! `runiam demo`: every act shows its finding and outcome in order, and the
//! transcript is true: each command it printed, replayed by hand in a shell
//! against `--keep-running`, prints the same.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::{cmd, run};

const SCHED: &str = "serviceAccount:reports-sched@acme-shop.iam.gserviceaccount.com";

/// What each act must show, in order: its command, its finding, its outcome.
fn story() -> Vec<String> {
    let svc = |s: &str| format!("projects/acme-shop/locations/europe-west1/services/{s}");
    vec![
        "━━ Act 1. A Scheduler job whose account lacks invoke".into(),
        format!("{} as {SCHED}: FAIL", svc("reports")),
        "Cloud Run's 403".into(),
        format!("DENIED: {SCHED} on {}", svc("reports")),
        "cause [iam.no-grant]".into(),
        "━━ Act 2. A Pub/Sub push whose token audience carries a path".into(),
        "cause [caller.oidc-audience]".into(),
        "--push-auth-token-audience=https://orders-300000000001.europe-west1.run.app".into(),
        "Cloud Run's 401".into(),
        "━━ Act 3. A service-to-service call whose egress is not routed".into(),
        "cause [network.egress-not-routed]".into(),
        "--vpc-egress=all-traffic".into(),
        format!("ALLOWED: serviceAccount:checkout-runtime@acme-shop.iam.gserviceaccount.com on {}", svc("payments")),
        "━━ Act 4. A public service under domain restricted sharing".into(),
        "risk [org.public-blocked]".into(),
        "runiam-grant-invoker: error: org.public-blocked".into(),
        format!("{}: invoker IAM check on -> off", svc("storefront")),
        format!("ALLOWED: allUsers on {}", svc("storefront")),
        "━━ Act 5. A contractor behind a deny policy".into(),
        "cause [iam.denied]".into(),
        "a grant cannot help".into(),
        "━━ Act 6. An expired time-bound grant".into(),
        "cause [iam.condition-false]".into(),
        format!("{}: applied", svc("inventory")),
        ": PASS".into(),
        "━━ Act 7. The exposure audit".into(),
        "audit.invoker-check-off".into(),
        "audit.basic-role".into(),
        "━━ Act 8. The reviewed fix: plan, apply, prove, record, undo".into(),
        "$ runiam grant-invoker -f plan.yaml --apply --yes > change.yaml".into(),
        "alert policy projects/acme-shop/alertPolicies/".into(),
        format!("{} as {SCHED}: PASS", svc("reports")),
        "pass  load: ".into(),
        "## Change\n### Applied ".into(),
        "## Rollback\n## Alert".into(),
        format!("{}: rolled back", svc("reports")),
        format!("DENIED: {SCHED} on {}", svc("reports")),
    ]
}

#[test]
fn every_act_shows_its_finding_and_outcome_in_order() {
    let home = tempfile::tempdir().unwrap();
    let mut c = cmd("runiam", home.path());
    c.arg("demo");
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(0), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut rest: &str = &stdout;
    for step in story() {
        let at = rest.find(&step).unwrap_or_else(|| panic!("missing {step:?} after what came before in:\n{stdout}"));
        rest = &rest[at + step.len()..];
    }
    // One act alone, and a bad act number.
    let mut c = cmd("runiam", home.path());
    c.args(["demo", "--act", "5"]);
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("━━ Act 5.") && !text.contains("━━ Act 4.") && !text.contains("━━ Act 6."), "{text}");
    let mut c = cmd("runiam", home.path());
    c.args(["demo", "--act", "9"]);
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("--act 9: the demo has acts 1 to 8"), "{text}");
}

/// Times, latencies, rates and backup names differ between two runs.
fn normalized(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_inclusive([' ', '\n', '/', '(', ')', '"', ',']) {
        let bare = word.trim_end_matches([' ', '\n', '/', '(', ')', '"', ',']);
        let tail = &word[bare.len()..];
        let timeish = bare.chars().filter(char::is_ascii_digit).count() >= 6 && bare.contains(['T', ':']);
        let measured = bare.parse::<f64>().is_ok();
        out.push_str(if timeish {
            "[TIME]"
        } else if measured {
            "[N]"
        } else {
            bare
        });
        out.push_str(tail);
    }
    out
}

/// The transcript's commands with the output each printed.
fn commands(transcript: &str) -> Vec<(String, String)> {
    let mut steps: Vec<(String, String)> = Vec::new();
    for line in transcript.lines() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            steps.push((cmd.to_owned(), String::new()));
        } else if line.starts_with("━━ ") {
            // An act's header and story end the step before.
            steps.push((String::new(), String::new()));
        } else if let Some((_, out)) = steps.last_mut() {
            out.push_str(line);
            out.push('\n');
        }
    }
    steps.into_iter().filter(|(c, _)| !c.is_empty()).map(|(c, o)| (c, o.trim_end().to_owned())).collect()
}

#[test]
fn the_transcript_replays_by_hand_against_keep_running() {
    let home = tempfile::tempdir().unwrap();
    let mut c = cmd("runiam", home.path());
    c.args(["demo", "--keep-running"]).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut demo = c.spawn().unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let mut transcript = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let last = line.contains("Ctrl-C stops the emulator");
        transcript.push_str(&line);
        transcript.push('\n');
        if last {
            break;
        }
    }
    let (_, replay) = transcript.split_once("━━ The emulator is still running").expect("the replay instructions");
    let exports: Vec<(String, String)> = replay
        .lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.trim_matches('\'').to_owned())
        })
        .collect();
    let work =
        replay.lines().find_map(|l| l.trim().strip_prefix("cd '")).unwrap().split('\'').next().unwrap().to_owned();
    let reset =
        replay.lines().find_map(|l| l.trim().strip_prefix("curl ")).unwrap().split('#').next().unwrap().to_owned();
    let shell = |line: &str| {
        let mut c = std::process::Command::new("bash");
        c.env_clear().env("HOME", home.path()).envs(exports.iter().map(|(k, v)| (k, v))).current_dir(&work);
        c.args(["-c", &format!("set -o pipefail; {{ {line} ; }} 2>&1")]);
        let out = c.output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    };
    // The estate as it began, then every printed command in order.
    shell(&format!("curl -s {reset}"));
    let steps = commands(transcript.split("━━ The emulator is still running").next().unwrap());
    assert_eq!(steps.len(), 24, "{transcript}");
    for (line, printed) in &steps {
        assert_eq!(normalized(&shell(line)), normalized(printed), "replaying `{line}`");
    }

    // Ctrl-C (here SIGTERM) stops it cleanly and removes its directory.
    let pid = demo.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert_eq!(demo.wait().unwrap().code(), Some(0));
    assert!(!std::path::Path::new(&work).exists(), "{work} is left behind");
}
