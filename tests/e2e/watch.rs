//! `runiam verify --watch` and `--create-alert` against the emulator: the
//! watch fails within one interval of Cloud Run's 403s returning after a
//! rollback and passes a quiet window; a signal stops it cleanly; the
//! alert policy is left in Monitoring, read back, not duplicated, and
//! removed by `--delete-alert`; and the Markdown page of a whole change.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Emulator, call, cmd};
use crate::verify::{SVC, check, front, reports, runiam, world};

const NEWBIE: &str = "newbie@ver-proj.iam.gserviceaccount.com";

/// grant-invoker --apply for newbie: the ChangeRecord as YAML.
fn grant(emu: &Emulator, dir: &Path) -> String {
    let member = format!("serviceAccount:{NEWBIE}");
    let (code, record, err) =
        runiam(emu, dir, &["grant-invoker", SVC, "--member", &member, "--apply", "--yes", "-o", "yaml"], "");
    assert_eq!(code, 0, "{err}");
    record
}

/// Starts `runiam verify ARGS -v` on `stdin` and waits for the watch's
/// first Logging read (traced by --verbose), so that what the test does
/// next happens during the watch.
fn watching(emu: &Emulator, dir: &Path, args: &[&str], stdin: &str) -> (Child, std::thread::JoinHandle<String>) {
    use std::io::Write;
    let mut c = cmd("runiam", dir);
    c.current_dir(dir)
        .env("RUNIAM_EMULATOR_HOST", emu.host())
        .args(args)
        .arg("-v")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let lines = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("entries:list") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(Duration::from_secs(60)).expect("the watch reads the request log");
    (child, lines)
}

fn finish(child: Child, lines: std::thread::JoinHandle<String>) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), lines.join().unwrap())
}

#[test]
fn the_watch_fails_within_an_interval_of_denials_returning_after_a_rollback() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let record = grant(&emu, dir.path());
    let (child, lines) =
        watching(&emu, dir.path(), &["verify", "--watch", "2m", "--interval", "1s", "-o", "json"], &record);
    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--apply", "--yes", "-o", "yaml"], &record);
    assert_eq!(code, 0, "{err}");
    assert_eq!(front(&emu, Some(NEWBIE)), 403);
    let denied = Instant::now();
    let (code, out, err) = finish(child, lines);
    // One interval (1s) and the time of a read, far from the 2m window.
    assert!(denied.elapsed() < Duration::from_secs(6), "took {:?}", denied.elapsed());
    assert_eq!(code, 1, "{out}{err}");
    let r = &reports(&out)[0];
    assert_eq!(r["passed"], false);
    assert_eq!(check(r, "invoke")["result"], "pass");
    let watch = check(r, "watch");
    assert_eq!(watch["result"], "fail", "{watch:#}");
    let detail = watch["detail"].as_str().unwrap();
    assert!(detail.starts_with("1 Cloud Run 401/403 in the request logs at 20"), "{detail}");
    assert!(detail.ends_with("callers are refused again"), "{detail}");
    assert!(detail.contains(" into the 2m watch from "), "{detail}");
    let quoted = &watch["evidence"][0]["data"];
    assert_eq!(quoted["status"], 403, "{watch:#}");
    assert!(quoted["trace"].as_str().unwrap().starts_with("projects/ver-proj/traces/"), "{watch:#}");
}

#[test]
fn a_quiet_window_passes_and_a_signal_stops_the_watch() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let record = grant(&emu, dir.path());
    let started = Instant::now();
    let (code, out, err) =
        runiam(&emu, dir.path(), &["verify", "--watch", "3s", "--interval", "1s", "-o", "json"], &record);
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!(code, 0, "{out}{err}");
    let watch = check(&reports(&out)[0], "watch").clone();
    assert_eq!(watch["result"], "pass", "{watch:#}");
    let detail = watch["detail"].as_str().unwrap();
    assert!(detail.starts_with("no Cloud Run 401/403 in the request logs during the 3s watch from "), "{detail}");
    // Stdout holds the report only; nothing of the progress in a pipe.
    assert!(!err.contains("watching"), "{err}");

    let (child, lines) =
        watching(&emu, dir.path(), &["verify", "--watch", "1h", "--interval", "1s", "-o", "json"], &record);
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let (code, out, err) = finish(child, lines);
    assert_eq!(code, 130, "{out}{err}");
    let watch = check(&reports(&out)[0], "watch").clone();
    assert_eq!(watch["result"], "error", "{watch:#}");
    assert!(watch["detail"].as_str().unwrap().starts_with("stopped by a signal after "), "{watch:#}");
}

#[test]
fn watch_flags_are_checked_before_any_call() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (&["--watch", "10m", "--timeout", "5m"][..], "--timeout 5m ends the --watch 10m before its window is over"),
        (&["--watch", "10m", "--interval", "500ms"][..], "--interval 500ms is shorter than 1s"),
        (&["--watch", "0"][..], "--watch 0 watches nothing"),
        (&["--interval", "5s"][..], "--watch <DURATION>"),
        (&["--create-alert", "--notify", "email:me@x"][..], "--notify 'email:me@x' is not a notification channel"),
    ] {
        let mut all = vec!["verify", SVC, "--as", "serviceAccount:granted@ver-proj.iam.gserviceaccount.com"];
        all.extend(args);
        let (code, out, err) = runiam(&emu, dir.path(), &all, "");
        assert_eq!((code, out.as_str()), (2, ""), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

fn alert_id(report: &Value) -> String {
    check(report, "alert")["evidence"][0]["data"]["name"].as_str().unwrap().to_owned()
}

#[test]
fn create_alert_leaves_a_policy_read_back_once_and_delete_alert_removes_it() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let record = grant(&emu, dir.path());
    let args = ["verify", "--create-alert", "--notify", "42", "-o", "json"];
    let (code, out, err) = runiam(&emu, dir.path(), &args, &record);
    assert_eq!(code, 0, "{out}{err}");
    let r = &reports(&out)[0];
    let name = alert_id(r);
    let detail = check(r, "alert")["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains(" created: "), "{detail}");
    assert!(detail.ends_with(&format!("delete it with: runiam verify --delete-alert {name}")), "{detail}");
    assert!(err.contains(&format!("runiam verify --delete-alert {name}")), "{err}");

    let (status, policy) = call(&emu, "GET", &format!("v3/{name}"), None);
    assert_eq!(status, 200, "{policy:#}");
    assert_eq!(
        policy["displayName"],
        "runiam: Cloud Run 401/403 on projects/ver-proj/locations/europe-west1/services/api"
    );
    assert_eq!(policy["notificationChannels"], json!(["projects/ver-proj/notificationChannels/42"]));
    assert_eq!(policy["alertStrategy"]["notificationRateLimit"]["period"], "300s");
    assert_eq!(policy["userLabels"]["runiam"], "verify");
    let filter = policy["conditions"][0]["conditionMatchedLog"]["filter"].as_str().unwrap();
    assert!(filter.contains("resource.labels.service_name=\"api\""), "{filter}");
    assert!(filter.contains("httpRequest.status=(401 OR 403)"), "{filter}");
    assert!(!filter.contains("timestamp"), "{filter}");

    // Again: reported, not duplicated.
    let (code, out, err) = runiam(&emu, dir.path(), &args, &record);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(alert_id(&reports(&out)[0]), name);
    assert!(check(&reports(&out)[0], "alert")["detail"].as_str().unwrap().contains("already there (not duplicated)"));
    let (_, list) = call(&emu, "GET", "v3/projects/ver-proj/alertPolicies", None);
    assert_eq!(list["alertPolicies"].as_array().unwrap().len(), 1, "{list:#}");

    // Someone else's policy is not runiam's to delete.
    let theirs =
        json!({"displayName": "theirs", "conditions": [{"conditionAbsent": {"filter": "x", "duration": "60s"}}]});
    let (status, made) = call(&emu, "POST", "v3/projects/ver-proj/alertPolicies", Some(theirs));
    assert_eq!(status, 200, "{made:#}");
    let other = made["name"].as_str().unwrap();
    let (code, _, err) = runiam(&emu, dir.path(), &["verify", "--delete-alert", other], "");
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("was not made by runiam verify --create-alert"), "{err}");
    assert_eq!(call(&emu, "GET", &format!("v3/{other}"), None).0, 200);

    let (code, _, err) = runiam(&emu, dir.path(), &["verify", "--delete-alert", &name], "");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("deleted alert policy {name}")), "{err}");
    assert_eq!(call(&emu, "GET", &format!("v3/{name}"), None).0, 404);
    let (code, _, err) = runiam(&emu, dir.path(), &["verify", "--delete-alert", &name], "");
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = runiam(&emu, dir.path(), &["verify", "--delete-alert", "alertPolicies/1"], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not an alert policy name"), "{err}");
}

#[test]
fn the_emulator_refuses_a_log_match_policy_without_a_rate_limit() {
    let emu = Emulator::start(&world(), &[]);
    let body = json!({
        "displayName": "no limit",
        "conditions": [{"displayName": "d", "conditionMatchedLog": {"filter": "severity>=ERROR"}}],
    });
    let (status, answer) = call(&emu, "POST", "v3/projects/ver-proj/alertPolicies", Some(body));
    assert_eq!(status, 400, "{answer:#}");
    assert_eq!(answer["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(
        answer["error"]["details"][0]["fieldViolations"][0]["field"],
        "alert_policy.alert_strategy.notification_rate_limit"
    );
    let (status, _) = call(&emu, "POST", "v3/projects/nope/alertPolicies", Some(json!({})));
    assert_eq!(status, 404);
}

/// Diagnosis → plan → apply → verify (with an alert) → rollback, rendered
/// by `runiam runbook` as one page; a command's own `-o markdown` is the
/// same page for its own documents.
#[test]
fn a_whole_change_as_one_runbook_page() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let caller = format!("serviceAccount:{NEWBIE}");
    assert_eq!(front(&emu, Some(NEWBIE)), 403);
    let (code, diagnosis, err) = runiam(&emu, d, &["troubleshoot", SVC, "--caller", &caller, "-o", "yaml"], "");
    assert_eq!(code, 1, "{err}");
    let (code, plan, err) = runiam(&emu, d, &["grant-invoker", "--reason", "INC-7", "-o", "yaml"], &diagnosis);
    assert_eq!(code, 0, "{err}");
    let (code, change, err) = runiam(&emu, d, &["grant-invoker", "--apply", "--yes", "-f", "-", "-o", "yaml"], &plan);
    assert_eq!(code, 0, "{err}");
    let (code, verified, err) = runiam(&emu, d, &["verify", "--create-alert", "--notify", "42", "-o", "yaml"], &change);
    assert_eq!(code, 0, "{err}");
    let (code, undone, err) = runiam(&emu, d, &["rollback", "--apply", "--yes", "-o", "yaml"], &change);
    assert_eq!(code, 0, "{err}");
    let stream = [diagnosis.as_str(), &plan, &change, &verified, &undone].join("---\n");
    let (code, page, err) = runiam(&emu, d, &["runbook"], &stream);
    assert_eq!(code, 0, "{err}");

    let mut settings = crate::text_output::settings();
    settings.add_filter(r"traces/[0-9a-f]+", "traces/[TRACE]");
    settings.add_filter(r"runiam-backups/\S+\.yaml", "runiam-backups/[BACKUP].yaml");
    let _guard = settings.bind_to_scope();
    insta::assert_snapshot!("runbook_page", page.replace(emu.host(), "[EMULATOR]"));

    let (code, own, err) = runiam(&emu, d, &["runbook", "-"], &verified);
    assert_eq!(code, 0, "{err}");
    let (code, rendered, err) = runiam(&emu, d, &["rollback", "-o", "markdown"], &change);
    assert_eq!(code, 0, "{err}");
    assert!(rendered.starts_with("# Cloud Run invoke: `projects/ver-proj/locations/europe-west1/services/api`\n"));
    assert!(own.contains("## Alert\n"), "{own}");
    let title = "# Cloud Run invoke: `projects/ver-proj/locations/europe-west1/services/api`\n\n";
    let (code, diagnosed, err) =
        runiam(&emu, d, &["troubleshoot", SVC, "--caller", &caller, "--no-logs", "-o", "markdown"], "");
    assert_eq!(code, 1, "{err}");
    assert!(diagnosed.starts_with(&format!("{title}## Symptom\n")), "{diagnosed}");
    assert!(diagnosed.contains("## Cause\n") && diagnosed.contains("`iam.no-grant`"), "{diagnosed}");
    let (code, planned, err) = runiam(&emu, d, &["grant-invoker", "-o", "markdown"], &diagnosis);
    assert_eq!(code, 0, "{err}");
    assert!(planned.starts_with(&format!("{title}## Change\n\n### Planned ")), "{planned}");
    assert!(planned.contains("- blast radius: serviceAccount:newbie@"), "{planned}");
    let (code, _, err) = runiam(&emu, d, &["runbook"], "");
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = runiam(&emu, d, &["runbook"], "apiVersion: runiam/v1\nkind: ServiceSnapshot\n");
    assert_eq!(code, 2, "{err}");
}
