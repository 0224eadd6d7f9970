//! The self-healing loop (tests/e2e/data/heal-world.yaml, docs/self-healing.md):
//! `runiam troubleshoot --watch | runiam grant-invoker --heal-policy` fixes
//! the denied callers the policy admits within one poll, refuses the rest,
//! and counts both in the emulator's Cloud Monitoring store; a second run
//! adds nothing; scanners trigger nothing.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{Emulator, bin, call, grants, pipe, policy, root};

const WORLD: &str = "tests/e2e/data/heal-world.yaml";
const ORDERS: &str = "projects/heal-proj/locations/europe-west1/services/orders";
const PUSH: &str = "serviceAccount:push@heal-proj.iam.gserviceaccount.com";
const SCHED: &str = "serviceAccount:sched@heal-proj.iam.gserviceaccount.com";
const MAILER: &str = "serviceAccount:mailer@other-proj.iam.gserviceaccount.com";
const LOOP: &str = "runiam troubleshoot --watch --project heal-proj --since 5m --interval 1s --polls 1 -o json \
    | runiam grant-invoker --heal-policy heal.yaml --apply --yes --allow-empty -o json";

/// Runs a pipeline of `runiam` commands (the binary under test) in `dir`.
fn shell(emu: &Emulator, dir: &Path, line: &str) -> (std::process::Output, String) {
    let runiam = bin("runiam").display().to_string();
    pipe(emu, dir, &line.replace("runiam ", &format!("{runiam} ")))
}

/// The world with each `@T-N@` replaced by the time N seconds ago.
fn world(dir: &Path) -> PathBuf {
    let mut text = std::fs::read_to_string(root().join(WORLD)).unwrap();
    while let Some(start) = text.find("@T-") {
        let end = start + 3 + text[start + 3..].find('@').unwrap();
        let secs: i64 = text[start + 3..end].parse().unwrap();
        let at = chrono::Utc::now() - chrono::Duration::seconds(secs);
        text.replace_range(start..=end, &at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    let path = dir.join("world.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn heal_policy(dir: &Path, fixes_per_hour: u32) {
    let text = format!(
        "members:\n  - serviceAccount:*@heal-proj.iam.gserviceaccount.com\nservices:\n  - projects/heal-proj/locations/*/services/orders\nmax_expires: 2h\nfixes_per_hour: {fixes_per_hour}\n"
    );
    std::fs::write(dir.join("heal.yaml"), text).unwrap();
}

/// Every point of `metric` in the emulator's store: (member, value).
fn points(emu: &Emulator, metric: &str) -> Vec<(String, String)> {
    let now = chrono::Utc::now();
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let filter = format!("metric.type = \"custom.googleapis.com/runiam/{metric}\"");
    let url = reqwest::Url::parse_with_params(
        "http://emulator/v3/projects/heal-proj/timeSeries",
        [
            ("filter", filter),
            ("interval.startTime", stamp(now - chrono::Duration::hours(1))),
            ("interval.endTime", stamp(now + chrono::Duration::seconds(5))),
        ],
    )
    .unwrap();
    let (status, body) = call(emu, "GET", &format!("v3/projects/heal-proj/timeSeries?{}", url.query().unwrap()), None);
    if status == 404 {
        return Vec::new();
    }
    assert_eq!(status, 200, "{body:#}");
    let mut out: Vec<(String, String)> = body["timeSeries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            let member = s["metric"]["labels"]["member"].as_str().unwrap().to_owned();
            assert_eq!(s["metric"]["labels"]["service"], ORDERS);
            assert!(s["metric"]["labels"]["finding"].as_str().is_some_and(|f| !f.is_empty()), "{s:#}");
            s["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |p| (member.clone(), p["value"]["int64Value"].as_str().unwrap().to_owned()))
        })
        .collect();
    out.sort();
    out
}

fn invokers(emu: &Emulator) -> Vec<String> {
    let live: Value = policy(emu, ORDERS);
    grants(&live).into_iter().filter(|g| g.contains("roles/run.invoker")).collect()
}

#[test]
fn the_loop_fixes_the_admitted_callers_refuses_the_other_and_counts_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(&world(dir.path()), &[]);
    heal_policy(dir.path(), 10);
    let (out, text) = shell(&emu, dir.path(), LOOP);
    assert_eq!(out.status.code(), Some(4), "the mailer is refused: {text}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("auto-fix refused: {MAILER} matches no member")), "{stderr}");
    let fixed = invokers(&emu);
    assert_eq!(fixed.len(), 2, "{fixed:?}");
    assert!(fixed.iter().any(|g| g.contains(PUSH)) && fixed.iter().any(|g| g.contains(SCHED)), "{fixed:?}");
    assert!(fixed.iter().all(|g| g.contains("request.time < timestamp(")), "time-bound by max_expires: {fixed:?}");
    let records: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r["applied"] == true && r["backupPath"].is_string()), "{records:#?}");
    let count = [(PUSH.to_owned(), "1".to_owned()), (SCHED.to_owned(), "1".to_owned())];
    assert_eq!(points(&emu, "autofix_count"), count);
    assert_eq!(points(&emu, "autofix_refused"), [(MAILER.to_owned(), "1".to_owned())]);

    // Monitoring takes one point a series each 5 seconds: wait them out,
    // so that nothing below is missing only because it was refused.
    std::thread::sleep(std::time::Duration::from_secs(6));
    let (again, text) = shell(&emu, dir.path(), LOOP);
    assert_eq!(again.status.code(), Some(4), "{text}");
    assert_eq!(invokers(&emu), fixed, "nothing more granted");
    assert_eq!(points(&emu, "autofix_count"), count, "a second run adds nothing");
    assert_eq!(points(&emu, "autofix_refused"), [(MAILER.to_owned(), "1".to_owned())]);
}

#[test]
fn scanners_trigger_nothing_and_the_excess_over_the_hourly_limit_is_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(&world(dir.path()), &[]);
    let watch = shell(&emu, dir.path(), "runiam troubleshoot --watch --project heal-proj --since 5m --polls 1 -o json");
    let callers: Vec<String> = String::from_utf8_lossy(&watch.0.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["caller"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(callers, [MAILER, PUSH, SCHED], "one Diagnosis per caller, none for the scanners: {}", watch.1);

    heal_policy(dir.path(), 1);
    let (out, text) = shell(&emu, dir.path(), LOOP);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(text.contains("fixes per hour are used up"), "{text}");
    assert_eq!(invokers(&emu).len(), 1, "{text}");
    assert_eq!(points(&emu, "autofix_count").len(), 1);
    let refused: Vec<String> = points(&emu, "autofix_refused").into_iter().map(|(m, _)| m).collect();
    assert_eq!(refused.len(), 2, "the mailer and the one over the limit: {refused:?}");
    assert!(refused.contains(&MAILER.to_owned()));
}

#[test]
fn a_bad_heal_policy_is_exit_2_naming_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(&world(dir.path()), &[]);
    std::fs::write(
        dir.path().join("heal.yaml"),
        "members: ['serviceAccount:*@heal-proj.iam.gserviceaccount.com']\nservices: [orders]\nfixes_per_hour: 1\n",
    )
    .unwrap();
    let (out, text) = shell(&emu, dir.path(), LOOP);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("heal.yaml: services[0]:"), "{text}");
    assert!(invokers(&emu).is_empty());
    assert!(points(&emu, "autofix_count").is_empty() && points(&emu, "autofix_refused").is_empty());
}

#[test]
fn the_watch_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(&world(dir.path()), &[]);
    let mut c = crate::common::cmd("runiam", dir.path());
    c.env("RUNIAM_EMULATOR_HOST", emu.host())
        .args(["troubleshoot", "--watch", "--project", "heal-proj", "--since", "5m", "--interval", "60s", "-o", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()), &mut first).unwrap();
    assert!(first.contains("\"kind\":\"Diagnosis\""), "a Diagnosis streams before the poll ends: {first}");
    let started = std::time::Instant::now();
    let killed = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "stopped without waiting out the interval");
}

#[test]
fn a_watch_that_never_ends_is_healed_within_its_first_interval() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(&world(dir.path()), &[]);
    heal_policy(dir.path(), 10);
    let runiam = |args: &[&str]| {
        let mut c = crate::common::cmd("runiam", dir.path());
        c.current_dir(dir.path()).env("RUNIAM_EMULATOR_HOST", emu.host()).args(args).stderr(Stdio::piped());
        c
    };
    let mut watch = runiam(&[
        "troubleshoot",
        "--watch",
        "--project",
        "heal-proj",
        "--since",
        "5m",
        "--interval",
        "60s",
        "-o",
        "json",
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let heal = runiam(&["grant-invoker", "--heal-policy", "heal.yaml", "--apply", "--yes", "-o", "json"])
        .stdin(Stdio::from(watch.stdout.take().unwrap()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while invokers(&emu).len() < 2 && started.elapsed() < std::time::Duration::from_secs(50) {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(invokers(&emu).len(), 2, "fixed while the watch still runs, within its first 60 s interval");
    std::process::Command::new("kill").args(["-TERM", &watch.id().to_string()]).status().unwrap();
    assert_eq!(watch.wait().unwrap().code(), Some(143));
    let out = heal.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2, "a ChangeRecord per fix");
    assert_eq!(points(&emu, "autofix_count").len(), 2);
    assert_eq!(points(&emu, "autofix_refused"), [(MAILER.to_owned(), "1".to_owned())]);
}

const LOOP_ACCOUNT: &str = "serviceAccount:runiam-heal@heal-proj.iam.gserviceaccount.com";
const EVENTS: &str = "serviceAccount:events@heal-proj.iam.gserviceaccount.com";

/// The `permissions` of deploy/main.tf's `google_project_iam_custom_role`,
/// read with an HCL parser: the list the deployed loop runs with.
fn deployed_role() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("deploy/main.tf")).unwrap();
    let body = hcl::parse(&text).unwrap();
    let roles: Vec<&hcl::Block> = body
        .blocks()
        .filter(|b| b.identifier() == "resource" && b.labels()[0].as_str() == "google_project_iam_custom_role")
        .collect();
    assert_eq!(roles.len(), 1, "deploy/main.tf declares one custom role");
    let permissions = roles[0].body().attributes().find(|a| a.key() == "permissions").unwrap();
    let hcl::Expression::Array(items) = permissions.expr() else { panic!("permissions is a list: {permissions:?}") };
    items
        .iter()
        .map(|e| match e {
            hcl::Expression::String(s) => s.clone(),
            other => panic!("a permission is a string literal, not {other:?}"),
        })
        .collect()
}

/// deploy/'s Terraform parses, and every variable and resource it refers
/// to is declared (no `terraform validate` here: it needs the provider).
#[test]
fn the_terraform_declares_everything_it_refers_to() {
    let mut text = String::new();
    let mut declared = std::collections::BTreeSet::new();
    for file in ["main.tf", "variables.tf", "outputs.tf"] {
        let source = std::fs::read_to_string(root().join("deploy").join(file)).unwrap();
        let body = hcl::parse(&source).unwrap_or_else(|e| panic!("deploy/{file}: {e}"));
        for b in body.blocks() {
            let labels: Vec<&str> = b.labels().iter().map(hcl::BlockLabel::as_str).collect();
            match (b.identifier(), labels.as_slice()) {
                ("variable", [name]) => declared.insert(format!("var.{name}")),
                ("resource", [kind, name]) => declared.insert(format!("{kind}.{name}")),
                _ => false,
            };
        }
        text.push_str(&source);
    }
    let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'));
    let refs: std::collections::BTreeSet<String> = words
        .filter(|w| w.starts_with("var.") || (w.starts_with("google_") && w.contains('.')))
        .map(|w| w.splitn(3, '.').take(2).collect::<Vec<_>>().join("."))
        .collect();
    let missing: Vec<&String> = refs.iter().filter(|r| !declared.contains(*r)).collect();
    assert!(missing.is_empty(), "referred to, never declared: {missing:?}");
    assert!(refs.contains("google_project_iam_custom_role.heal") && refs.contains("var.heal_policy_file"), "{refs:?}");
}

/// The heal world run by the deployed loop's account, which holds only
/// `permissions` (as a project custom role), with an Eventarc trigger
/// whose deliveries to orders are denied too and a queue without a host.
fn deployed_world(dir: &Path, permissions: &[String]) -> PathBuf {
    let path = world(dir);
    let mut w: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let role = "projects/heal-proj/roles/runiam_heal_loop";
    w["operator"] = LOOP_ACCOUNT.into();
    let project = &mut w["projects"][0];
    project["customRoles"] = serde_json::json!([{"name": role, "includedPermissions": permissions}]);
    project["iamPolicy"] = serde_json::json!({"bindings": [{"role": role, "members": [LOOP_ACCOUNT]}]});
    project["serviceAccounts"].as_array_mut().unwrap().extend([
        serde_json::json!({"email": "runiam-heal@heal-proj.iam.gserviceaccount.com"}),
        serde_json::json!({"email": "events@heal-proj.iam.gserviceaccount.com"}),
    ]);
    // A queue whose tasks name their own URLs: the loop reads its queued tasks.
    project["cloudTasksQueues"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "bulk", "region": "europe-west1"}));
    project["eventarcTriggers"] = serde_json::json!([{
        "name": "uploads",
        "region": "europe-west1",
        "serviceAccount": "events@heal-proj.iam.gserviceaccount.com",
        "destination": {"cloudRun": {"service": "orders", "region": "europe-west1", "path": "/events"}},
    }]);
    let mut denied = w["logEntries"][0].clone();
    denied["insertId"] = "heal00000000000000000007".into();
    denied["httpRequest"]["requestUrl"] = "https://orders-840000000001.europe-west1.run.app/events".into();
    w["logEntries"].as_array_mut().unwrap().push(denied);
    std::fs::write(&path, serde_json::to_string(&w).unwrap()).unwrap();
    path
}

/// The deployed loop's custom role (deploy/main.tf) is exactly what its
/// calls need: run with only that role, every API request it makes is
/// permission-checked, every check passes, each on the project or below,
/// and the permissions checked are the role's, none missing, none extra.
/// The loop runs in gcloud's proxy mode, so each request reaches the
/// emulator under its API's own host and `locations.list` checks that
/// API's permission. "Needed" covers the optional reads too (a denied one
/// would fail the test); reads above the project are left out
/// (deploy/README.md).
#[test]
fn the_deployed_role_holds_exactly_the_permissions_the_loop_checks() {
    let dir = tempfile::tempdir().unwrap();
    let role = deployed_role();
    let emu = Emulator::start(&deployed_world(dir.path(), &role), &[]);
    heal_policy(dir.path(), 10);
    let runiam = bin("runiam").display().to_string();
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg(LOOP.replace("runiam ", &format!("{runiam} ")))
        .current_dir(dir.path())
        .env_clear()
        .env("HOME", dir.path())
        .env("CLOUDSDK_CONFIG", dir.path().join("gcloud"))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HTTP_PROXY", &emu.url)
        .env("CLOUDSDK_AUTH_ACCESS_TOKEN", "ya29.loop");
    for api in runiam_core::config::Api::ALL {
        sh.env(format!("CLOUDSDK_API_ENDPOINT_OVERRIDES_{}", api.override_key()), format!("http://{api}/"));
    }
    let (out, text) = crate::common::run(sh, "");
    assert_eq!(out.status.code(), Some(4), "only the mailer is refused: {text}");
    let fixed = invokers(&emu);
    for member in [PUSH, SCHED, EVENTS] {
        assert!(fixed.iter().any(|g| g.contains(member)), "{member} is fixed: {fixed:?}\n{text}");
    }
    assert_eq!(fixed.len(), 3, "{fixed:?}");

    let (status, record) = call(&emu, "GET", "emulator/v1/checks", None);
    assert_eq!(status, 200);
    let requests = record["requests"].as_array().unwrap();
    let line = |r: &Value| format!("{} {}{}", r["method"], r["host"], r["path"]);
    // Cloud Identity answers by group visibility, which no IAM role grants;
    // a call that found nothing (the mailer's account lives in a project
    // the world does not hold) needs nothing either.
    let unchecked: Vec<String> = requests
        .iter()
        .filter(|r| r["checks"].as_array().unwrap().is_empty() && r["status"] == 200)
        .filter(|r| r["host"] != "cloudidentity.googleapis.com")
        .map(line)
        .collect();
    assert!(unchecked.is_empty(), "every call the loop makes is permission-checked: {unchecked:#?}");
    let checks: Vec<&Value> = requests.iter().flat_map(|r| r["checks"].as_array().unwrap()).collect();
    let refused: Vec<&&Value> = checks.iter().filter(|c| c["granted"] != true).collect();
    assert!(refused.is_empty(), "the role lacks what the loop checked: {refused:#?}");
    let above: Vec<&&Value> =
        checks.iter().filter(|c| !c["resource"].as_str().unwrap().starts_with("projects/heal-proj")).collect();
    assert!(above.is_empty(), "a project role suffices: {above:#?}");
    let checked: std::collections::BTreeSet<&str> = checks.iter().map(|c| c["permission"].as_str().unwrap()).collect();
    let held: std::collections::BTreeSet<&str> = role.iter().map(String::as_str).collect();
    assert_eq!(held.len(), role.len(), "no permission is listed twice");
    assert_eq!(checked, held, "the role is exactly what the loop's calls check");
}
