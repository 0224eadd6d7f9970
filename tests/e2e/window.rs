//! Plans replayed against the window's denials (tests/e2e/data/window-world.yaml,
//! docs/documents.md): the denials are made by real calls through the
//! emulator's front end, as each configured caller makes them; the plan
//! says which it fixes and why the others stay denied, and after --apply
//! the same calls answer exactly as the plan predicted.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{Emulator, bin, grants, mint, pipe, policy, root, runiam};

const WORLD: &str = "tests/e2e/data/window-world.yaml";
const ORDERS: &str = "projects/win-proj/locations/europe-west1/services/orders";
const HOST: &str = "orders-850000000001.europe-west1.run.app";
const PUSH_AGENT: &str = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)";
const SCHEDULER_AGENT: &str = "Google-Cloud-Scheduler";
const TASKS_AGENT: &str = "Google-Cloud-Tasks";

fn sa(name: &str) -> String {
    format!("{name}@win-proj.iam.gserviceaccount.com")
}

/// One configured caller: its account, the audience it signs for, the
/// path it calls and its product's user agent.
struct Caller {
    email: String,
    audience: &'static str,
    host: &'static str,
    path: &'static str,
    agent: &'static str,
}

fn caller(email: &str, audience: &'static str, host: &'static str, path: &'static str, agent: &'static str) -> Caller {
    Caller { email: email.to_owned(), audience, host, path, agent }
}

fn callers() -> [Caller; 3] {
    let own = "https://orders-850000000001.europe-west1.run.app";
    [
        caller(&sa("push"), own, HOST, "/push", PUSH_AGENT),
        caller(&sa("sched"), "https://orders.win.example", HOST, "/nightly", SCHEDULER_AGENT),
        caller(&sa("tasks"), own, HOST, "/mail", TASKS_AGENT),
    ]
}

/// A real request through the front end, as `c` makes it (or, without a
/// caller, a browser without a token, to orders); its status.
fn deliver(emu: &Emulator, c: Option<&Caller>, path: &str) -> u16 {
    let token = c.map(|c| mint(emu, json!({"email": c.email, "audience": c.audience})));
    let agent = c.map_or("Mozilla/5.0 (X11; Linux x86_64)", |c| c.agent);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new()
            .post(format!("{}{path}", emu.url))
            .header("Host", c.map_or(HOST, |c| c.host))
            .header("User-Agent", agent);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().status().as_u16()
    })
}

fn plan(emu: &Emulator, dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let push = format!("serviceAccount:{}", sa("push"));
    let mut args = vec!["grant-invoker", ORDERS, "--member", &push, "-o", "json"];
    args.extend_from_slice(extra);
    runiam(emu, dir, &args, "")
}

#[test]
fn a_plan_replays_the_window_and_the_calls_after_apply_answer_as_it_predicted() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let dir = tempfile::tempdir().unwrap();
    let before: Vec<u16> = callers().iter().map(|c| deliver(&emu, Some(c), c.path)).collect();
    assert_eq!(before, [403, 401, 403], "not granted, wrong audience, denied");

    let (code, out, err) = plan(&emu, dir.path(), &[]);
    assert_eq!(code, 0, "{err}");
    let record: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let ev = &record["evidence"];
    assert_eq!(
        (&ev["denials"], &ev["fixed"], &ev["stillDenied"], &ev["unattributed"]),
        (&json!(3), &json!(1), &json!(2), &json!(0)),
        "{ev:#}"
    );
    let said: Vec<&str> = err.lines().filter(|l| l.starts_with("evidence:") || l.starts_with("  ")).collect();
    let head = said.iter().find(|l| l.starts_with("evidence:")).unwrap();
    assert!(head.starts_with(&format!("evidence: fixes 1 of 3 denials of {ORDERS} since ")), "{err}");
    assert!(
        head.ends_with(&format!(
            "(callers serviceAccount:{}); still denied: 2 (why: token audience, deny policy); unattributed: 0",
            sa("push")
        )),
        "{head}"
    );
    let line = |state: &str, who: &str| {
        said.iter()
            .find(|l| l.starts_with(&format!("  {state}: serviceAccount:{}", sa(who))))
            .copied()
            .unwrap_or_else(|| panic!("{err}"))
    };
    assert!(
        line("fixed", "push")
            .contains("(Pub/Sub subscription projects/win-proj/subscriptions/orders-push, 1 denial(s))")
    );
    assert!(line("still denied", "sched").ends_with(
        ": token audience: its tokens are for https://orders.win.example, which the service does not accept"
    ));
    assert!(line("still denied", "tasks").contains(": deny policy: "), "{err}");
    assert!(!err.contains("FIXES NONE"), "{err}");
    // The page for the change ticket carries the same replay.
    let (code, page, err) = runiam(&emu, dir.path(), &["runbook"], &out);
    assert_eq!(code, 0, "{err}");
    assert!(
        page.contains("What it fixes, replayed on the window's denials:\n\n- evidence: fixes 1 of 3 denials"),
        "{page}"
    );
    assert!(page.contains(&format!("- still denied: serviceAccount:{} (Cloud Scheduler job", sa("sched"))), "{page}");

    // Applied: each caller's real call answers as the plan said.
    let (code, out, err) = plan(&emu, dir.path(), &["--apply", "--yes"]);
    assert_eq!(code, 0, "{err}");
    let applied: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(applied["applied"], true);
    let predicted: Vec<(String, bool)> = applied["evidence"]["callers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["member"].as_str().unwrap().to_owned(), c["outcome"] == "fixed"))
        .collect();
    assert_eq!(predicted.len(), 3, "{applied:#}");
    for c in callers() {
        let want = predicted.iter().find(|(m, _)| m == &format!("serviceAccount:{}", c.email)).unwrap().1;
        let status = deliver(&emu, Some(&c), c.path);
        assert_eq!(status == 200, want, "{} answered {status}", c.email);
    }
}

#[test]
fn require_evidence_refuses_a_plan_that_fixes_nothing_and_writes_nothing() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let dir = tempfile::tempdir().unwrap();
    let [_, sched, tasks] = callers();
    assert_eq!(deliver(&emu, Some(&sched), sched.path), 401);
    assert_eq!(deliver(&emu, Some(&tasks), tasks.path), 403);
    assert_eq!(deliver(&emu, None, "/wp-login.php"), 403, "a scanner");
    let live = grants(&policy(&emu, ORDERS));

    let other = format!("serviceAccount:{}", sa("other"));
    let args = ["grant-invoker", ORDERS, "--member", &other, "--require-evidence", "--apply", "--yes", "-o", "json"];
    let (code, out, err) = runiam(&emu, dir.path(), &args, "");
    assert_eq!(code, 4, "{err}");
    assert_eq!(out, "", "no record: nothing was written");
    assert!(err.contains(&format!("evidence: fixes 0 of 3 denials of {ORDERS} since ")), "{err}");
    assert!(err.contains("; still denied: 2 (why: token audience, deny policy); unattributed: 1"), "{err}");
    assert!(
        err.contains(&format!("warning: THIS PLAN FIXES NONE of the 3 denials of {ORDERS} observed since ")),
        "{err}"
    );
    assert!(err.contains("--require-evidence: the plan for"), "{err}");
    assert!(err.contains("it fixes none of the 3 denials logged since"), "{err}");
    assert_eq!(grants(&policy(&emu, ORDERS)), live, "the policy is untouched");
    assert!(!dir.path().join("runiam-backups").exists(), "not even a backup");

    // Without --require-evidence the same plan says so loudly and goes on.
    let (code, _, err) = runiam(&emu, dir.path(), &["grant-invoker", ORDERS, "--member", &other, "-o", "json"], "");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: THIS PLAN FIXES NONE"), "{err}");
}

const BATCH: &str = "tests/e2e/data/batch-world.yaml";

fn batch_callers() -> [Caller; 5] {
    let orders = "orders-860000000001.europe-west1.run.app";
    let billing = "billing-860000000001.europe-west1.run.app";
    let (o, b) =
        ("https://orders-860000000001.europe-west1.run.app", "https://billing-860000000001.europe-west1.run.app");
    let bat = |n: &str| format!("{n}@bat-proj.iam.gserviceaccount.com");
    [
        caller(&bat("push"), o, orders, "/push", PUSH_AGENT),
        caller(&bat("sched"), o, orders, "/nightly", SCHEDULER_AGENT),
        caller(&bat("tasks"), o, orders, "/mail", TASKS_AGENT),
        caller(&bat("feed"), b, billing, "/feed", PUSH_AGENT),
        caller(&bat("cron"), b, billing, "/run", SCHEDULER_AGENT),
    ]
}

/// A service's policy without its etag (a write always makes a new one).
fn kept(emu: &Emulator, service: &str) -> String {
    let mut p = policy(emu, service);
    p.as_object_mut().unwrap().remove("etag");
    serde_json::to_string(&p).unwrap()
}

#[test]
fn a_window_of_five_denied_callers_on_two_services_is_one_plan_and_one_rollback() {
    let emu = Emulator::start(&root().join(BATCH), &[]);
    let dir = tempfile::tempdir().unwrap();
    let services: Vec<String> = ["orders", "billing", "quiet"]
        .iter()
        .map(|s| format!("projects/bat-proj/locations/europe-west1/services/{s}"))
        .collect();
    let before: Vec<String> = services.iter().map(|s| kept(&emu, s)).collect();
    for c in batch_callers() {
        assert_eq!(deliver(&emu, Some(&c), c.path), 403, "{}", c.email);
    }

    let r = bin("runiam").display().to_string();
    let diagnose = format!(
        "({r} troubleshoot orders --project bat-proj --region europe-west1 --since 1h -o json; \
          {r} troubleshoot billing --project bat-proj --region europe-west1 --since 1h -o json)"
    );
    let (out, text) = pipe(&emu, dir.path(), &format!("{diagnose} | {r} grant-invoker --verbose -o json > plan.json"));
    assert_eq!(out.status.code(), Some(0), "{text}");
    // One read of the window for the project, whatever the number of its
    // services planned, and one audit-log read per service (the Terraform
    // check of the blast radius).
    let lists = text.lines().filter(|l| l.contains("entries:list") && l.contains("status=200")).count();
    assert_eq!(lists, 1 + 2, "{text}");
    let plan = std::fs::read_to_string(dir.path().join("plan.json")).unwrap();
    let records: Vec<Value> = plan.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 2, "one ChangeRecord per service: {plan}");
    let members = |r: &Value| -> Vec<String> {
        let mut m: Vec<String> = std::iter::once(&r["intent"]["member"])
            .chain(r["intent"]["members"].as_array().into_iter().flatten())
            .map(|m| m.as_str().unwrap().trim_start_matches("serviceAccount:").split('@').next().unwrap().to_owned())
            .collect();
        m.sort();
        m
    };
    assert_eq!(records[0]["service"]["name"], "orders");
    assert_eq!(members(&records[0]), ["push", "sched", "tasks"]);
    assert_eq!(members(&records[1]), ["cron", "feed"]);
    let (_, page, _) = runiam(&emu, dir.path(), &["runbook"], &plan);
    let bat = |n: &str| format!("`serviceAccount:{n}@bat-proj.iam.gserviceaccount.com`");
    assert!(page.contains(&format!("grant `roles/run.invoker` to {}, {}", bat("feed"), bat("cron"))), "{page}");
    for (r, n) in records.iter().zip([3, 2]) {
        let ev = &r["evidence"];
        assert_eq!((&ev["denials"], &ev["fixed"], &ev["stillDenied"]), (&json!(n), &json!(n), &json!(0)), "{ev:#}");
    }

    // One confirmation for the whole batch: every diff is shown before the
    // one question (no terminal here to answer it), and nothing is written.
    let (out, text) = pipe(&emu, dir.path(), &format!("{r} grant-invoker -f plan.json --apply -o json"));
    assert_eq!(out.status.code(), Some(2), "{text}");
    let err = String::from_utf8_lossy(&out.stderr);
    let asked = err.find("--apply needs confirmation").unwrap_or_else(|| panic!("{err}"));
    for s in &services[..2] {
        assert!(err.find(&format!("+++ {s} (planned)")).is_some_and(|at| at < asked), "{err}");
    }
    assert_eq!(err.matches("needs confirmation").count(), 1, "{err}");
    assert_eq!(services.iter().map(|s| kept(&emu, s)).collect::<Vec<_>>(), before, "nothing written");

    let (out, text) =
        pipe(&emu, dir.path(), &format!("{r} grant-invoker -f plan.json --apply --yes -o json > applied.json"));
    assert_eq!(out.status.code(), Some(0), "{text}");
    let applied = std::fs::read_to_string(dir.path().join("applied.json")).unwrap();
    assert_eq!(applied.lines().count(), 2, "{applied}");
    for c in batch_callers() {
        assert_eq!(deliver(&emu, Some(&c), c.path), 200, "{} after the batch", c.email);
    }

    let (out, text) = pipe(&emu, dir.path(), &format!("{r} rollback --apply --yes -o json < applied.json"));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(services.iter().map(|s| kept(&emu, s)).collect::<Vec<_>>(), before, "both policies restored");
    for c in batch_callers() {
        assert_eq!(deliver(&emu, Some(&c), c.path), 403, "{} after the rollback", c.email);
    }
}
