//! `runiam verify` against the emulator: real calls as granted and
//! ungranted service accounts, grant-invoker piped into verify, a hole
//! opened behind the record's back, refused minting and users (unconfirmed,
//! never a pass), the smoke load and its caps, --id-token-cmd; and no test
//! ever sees a raw token on stdout or stderr.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{Emulator, cmd, mint, policy, put_policy, root, run};

pub(crate) const SVC: &str = "projects/ver-proj/locations/europe-west1/services/api";
pub(crate) const URL: &str = "https://api-600000000001.europe-west1.run.app";

fn sa(name: &str) -> String {
    format!("serviceAccount:{name}@ver-proj.iam.gserviceaccount.com")
}

pub(crate) fn world() -> std::path::PathBuf {
    root().join("tests/e2e/data/verify-world.yaml")
}

/// Runs `runiam ARGS` with `stdin`; returns (exit, stdout, stderr) after
/// checking that no JWT reached either stream.
pub(crate) fn runiam(emu: &Emulator, dir: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut c = cmd("runiam", dir);
    c.current_dir(dir).env("RUNIAM_EMULATOR_HOST", emu.host()).args(args);
    let (out, _) = run(c, stdin);
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    // Every token the emulator signs is a JWT, so starts with eyJ.
    for text in [&stdout, &stderr] {
        assert!(!text.contains("eyJ"), "a token leaked:\n{text}");
    }
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// The JSON reports of a `-o json` run.
pub(crate) fn reports(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

pub(crate) fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{report:#}"))
}

#[test]
fn granted_passes_ungranted_fails_with_cloud_runs_403_and_expect_deny_passes() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();

    let granted = sa("granted");
    let (code, out, err) = runiam(&emu, dir.path(), &["verify", SVC, "--as", &granted, "-o", "json"], "");
    assert_eq!(code, 0, "{out}{err}");
    let r = &reports(&out)[0];
    assert_eq!((r["passed"].as_bool(), r["as"].as_str()), (Some(true), Some(granted.as_str())));
    let invoke = check(r, "invoke");
    assert_eq!(invoke["result"], "pass");
    assert_eq!(invoke["evidence"][0]["data"]["status"], 200);
    assert_eq!(invoke["evidence"][0]["data"]["answeredBy"], "container");

    let stranger = sa("stranger");
    let (code, out, err) = runiam(&emu, dir.path(), &["verify", SVC, "--as", &stranger, "-o", "json"], "");
    assert_eq!(code, 1, "{out}{err}");
    let r = &reports(&out)[0];
    let invoke = check(r, "invoke");
    assert_eq!((r["passed"].as_bool(), invoke["result"].as_str()), (Some(false), Some("fail")));
    assert_eq!(invoke["evidence"][0]["data"]["answeredBy"], "cloudRun");
    assert_eq!(invoke["evidence"][0]["data"]["status"], 403);
    assert!(invoke["detail"].as_str().unwrap().contains("Cloud Run's 403"), "{invoke:#}");

    let (code, out, err) =
        runiam(&emu, dir.path(), &["verify", SVC, "--as", &stranger, "--expect", "deny", "-o", "json"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(check(&reports(&out)[0], "invoke")["result"], "pass");

    // Text names each check and its evidence.
    let (code, out, _) = runiam(&emu, dir.path(), &["verify", SVC, "--as", &stranger, "-o", "text"], "");
    assert_eq!(code, 1);
    assert!(out.contains("FAIL  invoke: ") && out.contains(&format!("GET {URL}/")), "{out}");
}

#[test]
fn grant_invoker_piped_into_verify_passes_and_a_later_public_grant_fails() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let newbie = sa("newbie");
    let (code, record, err) =
        runiam(&emu, dir.path(), &["grant-invoker", SVC, "--member", &newbie, "--apply", "--yes", "-o", "yaml"], "");
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = runiam(&emu, dir.path(), &["verify", "-o", "json"], &record);
    assert_eq!(code, 0, "{out}{err}");
    let r = &reports(&out)[0];
    assert_eq!(r["as"], newbie.as_str());
    assert_eq!(check(r, "invoke")["evidence"][0]["data"]["status"], 200);
    for name in ["intended-members", "no-exposure", "invoker-check"] {
        assert_eq!(check(r, name)["result"], "pass", "{name}: {r:#}");
    }

    // Someone makes the service public behind the record's back.
    let mut p = policy(&emu, SVC);
    p["bindings"].as_array_mut().unwrap().push(json!({"role": "roles/run.invoker", "members": ["allUsers"]}));
    put_policy(&emu, SVC, p);
    let (code, out, err) = runiam(&emu, dir.path(), &["verify", "-o", "json"], &record);
    assert_eq!(code, 1, "{out}{err}");
    let r = &reports(&out)[0];
    assert_eq!(r["passed"], false);
    let exposure = check(r, "no-exposure");
    assert_eq!(exposure["result"], "fail");
    assert!(exposure["detail"].as_str().unwrap().starts_with("allUsers holds roles/run.invoker"), "{exposure:#}");
    assert_eq!(check(r, "invoke")["result"], "pass");
}

#[test]
fn refused_minting_and_users_are_unconfirmed_never_a_pass() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();

    // The operator lacks getOpenIdToken on `locked`, which is granted.
    let (code, out, err) = runiam(&emu, dir.path(), &["verify", SVC, "--as", &sa("locked"), "-o", "json"], "");
    assert_eq!(code, 1, "{out}{err}");
    let invoke = check(&reports(&out)[0], "invoke").clone();
    assert_eq!(invoke["result"], "error");
    let detail = invoke["detail"].as_str().unwrap();
    assert!(detail.starts_with("unconfirmed: cannot mint an ID token for locked@"), "{detail}");
    assert!(detail.contains("iam.serviceAccounts.getOpenIdToken"), "{detail}");
    assert!(detail.contains("IAM evaluation alone says ALLOWED"), "{detail}");

    let (code, out, err) =
        runiam(&emu, dir.path(), &["verify", SVC, "--as", "user:alice@ver.example", "-o", "json"], "");
    assert_eq!(code, 1, "{out}{err}");
    let invoke = check(&reports(&out)[0], "invoke").clone();
    assert_eq!(invoke["result"], "error");
    assert!(
        invoke["detail"].as_str().unwrap().starts_with("unconfirmed: user:alice@ver.example cannot be impersonated")
    );
    let evidence = &invoke["evidence"][0];
    assert_eq!(evidence["data"]["verdict"], "ALLOWED", "{evidence:#}");
    assert_eq!(evidence["data"]["grants"][0]["member"], "user:alice@ver.example", "{evidence:#}");

    // IAM alone sees the same facts troubleshoot gathers: groups included.
    let (code, out, err) =
        runiam(&emu, dir.path(), &["verify", SVC, "--as", "user:carol@ver.example", "-o", "json"], "");
    assert_eq!(code, 1, "{out}{err}");
    let invoke = check(&reports(&out)[0], "invoke").clone();
    assert!(invoke["detail"].as_str().unwrap().contains("IAM evaluation alone says ALLOWED"), "{invoke:#}");
    assert_eq!(invoke["evidence"][0]["data"]["grants"][0]["member"], "group:api-callers@ver.example", "{invoke:#}");
}

#[test]
fn a_scheduled_callers_own_audience_reproduces_its_401() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    // Each configured in another location than the service.
    for (who, route) in [
        ("sched", "Cloud Scheduler job projects/ver-proj/locations/us-central1/jobs/nightly"),
        ("queued", "Cloud Tasks queue projects/ver-proj/locations/asia-east1/queues/reports"),
    ] {
        let caller = sa(who);
        // Granted, yet its tokens carry the target URI with its path.
        let (code, out, err) = runiam(&emu, dir.path(), &["verify", SVC, "--as", &caller, "-o", "json"], "");
        assert_eq!(code, 1, "{out}{err}");
        let invoke = check(&reports(&out)[0], "invoke").clone();
        assert_eq!(invoke["result"], "fail", "{invoke:#}");
        assert_eq!(invoke["evidence"][0]["data"]["status"], 401, "{invoke:#}");
        assert!(
            invoke["detail"].as_str().unwrap().ends_with(&format!(
                "; token audience https://api-600000000001.europe-west1.run.app/report as {route} sends it"
            )),
            "{invoke:#}"
        );
        assert_eq!(invoke["evidence"][1]["source"], route, "{invoke:#}");

        // With the audience it should use, the same caller gets through.
        let aud = "https://api-600000000001.europe-west1.run.app";
        let (code, out, err) =
            runiam(&emu, dir.path(), &["verify", SVC, "--as", &caller, "--audience", aud, "-o", "json"], "");
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(check(&reports(&out)[0], "invoke")["evidence"][0]["data"]["status"], 200);
    }
}

#[test]
fn smoke_load_histogram_percentiles_and_caps() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let granted = sa("granted");
    let args = ["verify", SVC, "--as", &granted, "--requests", "200", "--concurrency", "10", "-o", "json"];
    let (code, out, err) = runiam(&emu, dir.path(), &args, "");
    assert_eq!(code, 0, "{out}{err}");
    let load = check(&reports(&out)[0], "load").clone();
    assert_eq!(load["result"], "pass");
    let data = &load["evidence"][0]["data"];
    assert_eq!(data["statuses"], json!({"200": 200}), "{data:#}");
    assert_eq!((data["requests"].as_u64(), data["concurrency"].as_u64()), (Some(200), Some(10)));
    let ms = &data["latencyMs"];
    let (p50, p95, p99, max) = (
        ms["p50"].as_f64().unwrap(),
        ms["p95"].as_f64().unwrap(),
        ms["p99"].as_f64().unwrap(),
        ms["max"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p95 && p95 <= p99 && p99 <= max, "{ms}");
    assert!(data["throughputPerSecond"].as_f64().unwrap() > 0.0);
    assert!(load["detail"].as_str().unwrap().contains("200 × 200"), "{load:#}");

    // Too much is capped, and said so; --requests is never sent as asked.
    let args = ["verify", SVC, "--as", &granted, "--requests", "100000", "--concurrency", "500", "-o", "json"];
    let (code, out, err) = runiam(&emu, dir.path(), &args, "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("--requests 100000 capped at 1000; add --force"), "{err}");
    assert!(err.contains("--concurrency 500 capped at 50"), "{err}");
    let data = check(&reports(&out)[0], "load")["evidence"][0]["data"].clone();
    assert_eq!((data["requests"].as_u64(), data["concurrency"].as_u64()), (Some(1000), Some(50)));
}

#[test]
fn id_token_cmd_and_the_metadata_server() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let email = "granted@ver-proj.iam.gserviceaccount.com";
    let minted = mint(&emu, json!({"email": email, "audience": URL}));
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, minted).unwrap();
    let cmd_line = format!("cat '{}'", token_file.display());
    let (code, out, err) = runiam(
        &emu,
        dir.path(),
        &["verify", SVC, "--id-token-cmd", &cmd_line, "--as", &sa("granted"), "-o", "json"],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    let invoke = check(&reports(&out)[0], "invoke").clone();
    assert_eq!(invoke["result"], "pass");
    assert!(invoke["evidence"][0]["source"].as_str().unwrap().contains("--id-token-cmd"), "{invoke:#}");

    // A command that fails is bad input, and its output stays out of sight.
    let (code, _, err) = runiam(&emu, dir.path(), &["verify", SVC, "--id-token-cmd", "exit 3"], "");
    assert_eq!(code, 2, "{err}");

    // No --as: the metadata server's identity, which is granted.
    let (code, out, err) = runiam(&emu, dir.path(), &["verify", SVC, "-o", "json"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(reports(&out)[0]["as"], sa("granted").as_str());
}

#[test]
fn a_rollback_record_expects_the_state_before() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let newbie = sa("newbie");
    let (code, grant, err) =
        runiam(&emu, dir.path(), &["grant-invoker", SVC, "--member", &newbie, "--apply", "--yes", "-o", "yaml"], "");
    assert_eq!(code, 0, "{err}");
    let (code, undo, err) = runiam(&emu, dir.path(), &["rollback", "--apply", "--yes", "-o", "yaml"], &grant);
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = runiam(&emu, dir.path(), &["verify", "-o", "json"], &undo);
    assert_eq!(code, 0, "{out}{err}");
    let r = &reports(&out)[0];
    assert_eq!(r["as"], newbie.as_str());
    let invoke = check(r, "invoke");
    assert!(invoke["detail"].as_str().unwrap().ends_with("(expected deny)"), "{invoke:#}");
    assert_eq!(invoke["evidence"][0]["data"]["status"], 403);
    assert_eq!(check(r, "restored")["result"], "pass");

    // The grant's own record, verified now, fails: newbie is refused.
    let (code, out, _) = runiam(&emu, dir.path(), &["verify", "--wait", "0", "-o", "json"], &grant);
    assert_eq!(code, 1, "{out}");
    assert_eq!(check(&reports(&out)[0], "invoke")["result"], "fail");
}

#[test]
fn bad_input_is_exit_2_and_writes_nothing() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (code, plan, err) =
        runiam(&emu, dir.path(), &["grant-invoker", SVC, "--member", &sa("newbie"), "-o", "yaml"], "");
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = runiam(&emu, dir.path(), &["verify"], &plan);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("is a plan"), "{err}");
    for args in
        [&["verify", SVC, "--as", "nobody"][..], &["verify", SVC, "--wait", "soon"], &["verify", SVC, "--path", "x"]]
    {
        let (code, out, err) = runiam(&emu, dir.path(), args, "");
        assert_eq!((code, out.as_str()), (2, ""), "{args:?}: {err}");
    }
}

#[test]
fn denied_then_granted_passes_with_200s_and_after_rollback_deny_passes() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let stranger = sa("stranger");

    // Denied to begin with: Cloud Run's 403.
    let (code, out, err) =
        runiam(&emu, dir.path(), &["verify", SVC, "--as", &stranger, "--expect", "allow", "-o", "json"], "");
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(check(&reports(&out)[0], "invoke")["evidence"][0]["data"]["status"], 403);

    let (code, grant, err) =
        runiam(&emu, dir.path(), &["grant-invoker", SVC, "--member", &stranger, "--apply", "--yes", "-o", "yaml"], "");
    assert_eq!(code, 0, "{err}");
    let args = ["verify", SVC, "--as", &stranger, "--expect", "allow", "--requests", "50", "-o", "json"];
    let (code, out, err) = runiam(&emu, dir.path(), &args, "");
    assert_eq!(code, 0, "{out}{err}");
    let r = &reports(&out)[0];
    assert_eq!(check(r, "invoke")["evidence"][0]["data"]["status"], 200);
    assert_eq!(check(r, "load")["evidence"][0]["data"]["statuses"], json!({"200": 50}), "{r:#}");

    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--apply", "--yes", "-o", "yaml"], &grant);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) =
        runiam(&emu, dir.path(), &["verify", SVC, "--as", &stranger, "--expect", "deny", "-o", "json"], "");
    assert_eq!(code, 0, "{out}{err}");
    let invoke = check(&reports(&out)[0], "invoke").clone();
    assert_eq!(invoke["result"], "pass");
    assert_eq!(
        (invoke["evidence"][0]["data"]["status"].as_u64(), invoke["evidence"][0]["data"]["answeredBy"].as_str()),
        (Some(403), Some("cloudRun"))
    );
}

#[test]
fn a_grant_to_the_wrong_member_is_caught() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (newbie, stranger) = (sa("newbie"), sa("stranger"));

    // A record whose intent names newbie, while the grant it made went to stranger.
    let (code, record, err) =
        runiam(&emu, dir.path(), &["grant-invoker", SVC, "--member", &stranger, "--apply", "--yes", "-o", "json"], "");
    assert_eq!(code, 0, "{err}");
    let mut crafted: Value = serde_json::from_str(record.trim()).unwrap();
    crafted["intent"]["member"] = json!(newbie);
    let (code, out, err) = runiam(&emu, dir.path(), &["verify", "--wait", "0", "-o", "json"], &crafted.to_string());
    assert_eq!(code, 1, "{out}{err}");
    let r = &reports(&out)[0];
    assert_eq!(r["as"], newbie.as_str());
    let members = check(r, "intended-members");
    assert_eq!(members["result"], "fail", "{r:#}");
    let detail = members["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!("{stranger} gained roles/run.invoker, which the change ({newbie}")),
        "{detail}"
    );
    assert_eq!(members["evidence"][0]["data"]["members"], json!([stranger]), "{members:#}");
    assert_eq!(check(r, "invoke")["result"], "fail");

    // The intended grant made, and another member granted behind the record's back.
    let (code, record, err) =
        runiam(&emu, dir.path(), &["grant-invoker", SVC, "--member", &newbie, "--apply", "--yes", "-o", "yaml"], "");
    assert_eq!(code, 0, "{err}");
    let mut p = policy(&emu, SVC);
    p["bindings"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "roles/run.invoker", "members": ["user:bob@ver.example"]}));
    put_policy(&emu, SVC, p);
    let (code, out, err) = runiam(&emu, dir.path(), &["verify", "-o", "json"], &record);
    assert_eq!(code, 1, "{out}{err}");
    let r = &reports(&out)[0];
    assert_eq!(check(r, "invoke")["result"], "pass");
    let members = check(r, "intended-members");
    assert_eq!(members["result"], "fail");
    assert!(
        members["detail"].as_str().unwrap().contains("user:bob@ver.example gained roles/run.invoker"),
        "{members:#}"
    );
    assert_eq!(check(r, "no-exposure")["result"], "pass");
}

#[test]
fn wait_rides_out_propagation() {
    let emu = Emulator::start(&world(), &["--propagation-delay", "3s"]);
    let dir = tempfile::tempdir().unwrap();
    let newbie = sa("newbie");
    let (code, record, err) =
        runiam(&emu, dir.path(), &["grant-invoker", SVC, "--member", &newbie, "--apply", "--yes", "-o", "yaml"], "");
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = runiam(&emu, dir.path(), &["verify", "--wait", "20s", "-o", "json"], &record);
    assert_eq!(code, 0, "{out}{err}");
    let r = &reports(&out)[0];
    let data = &check(r, "invoke")["evidence"][0]["data"];
    assert_eq!(data["status"], 200, "{r:#}");
    assert!(data["attempts"].as_u64().unwrap() > 1, "the first call came before the grant propagated: {r:#}");
}

#[test]
fn a_wait_shorter_than_propagation_fails_cleanly() {
    let emu = Emulator::start(&world(), &["--propagation-delay", "3s"]);
    let dir = tempfile::tempdir().unwrap();
    let newbie = sa("newbie");
    let (code, record, err) =
        runiam(&emu, dir.path(), &["grant-invoker", SVC, "--member", &newbie, "--apply", "--yes", "-o", "yaml"], "");
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = runiam(&emu, dir.path(), &["verify", "--wait", "1s", "-o", "json"], &record);
    assert_eq!(code, 1, "{out}{err}");
    let r = &reports(&out)[0];
    assert_eq!(r["passed"], false);
    let invoke = check(r, "invoke");
    assert_eq!(invoke["result"], "fail");
    let data = &invoke["evidence"][0]["data"];
    assert_eq!((data["status"].as_u64(), data["answeredBy"].as_str()), (Some(403), Some("cloudRun")), "{r:#}");
    let detail = invoke["detail"].as_str().unwrap();
    assert!(detail.contains("Cloud Run's 403"), "{detail}");
    assert!(detail.contains("did not propagate to Cloud Run within the 1s wait"), "{detail}");
    // The control plane has the grant already: no hole, only propagation.
    assert_eq!(check(r, "intended-members")["result"], "pass");
}

/// A call to the service's front end as a caller other than verify (no
/// token, or one minted for `email` by the emulator's knob); its status.
pub(crate) fn front(emu: &Emulator, email: Option<&str>) -> u16 {
    let token = email.map(|e| mint(emu, json!({"email": e, "audience": URL})));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut req =
            reqwest::Client::new().get(format!("{}/", emu.url)).header("Host", URL.trim_start_matches("https://"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().status().as_u16()
    })
}

#[test]
fn logs_show_no_new_refusals_after_the_change_or_quote_them() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let newbie = "newbie@ver-proj.iam.gserviceaccount.com";
    // Refused before the change: not held against it.
    assert_eq!(front(&emu, Some(newbie)), 403);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (code, record, err) = runiam(
        &emu,
        dir.path(),
        &["grant-invoker", SVC, "--member", &format!("serviceAccount:{newbie}"), "--apply", "--yes", "-o", "yaml"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(front(&emu, Some(newbie)), 200);
    let (code, out, err) = runiam(&emu, dir.path(), &["verify", "--logs", "-o", "json"], &record);
    assert_eq!(code, 0, "{out}{err}");
    let logs = check(&reports(&out)[0], "logs").clone();
    assert_eq!(logs["result"], "pass", "{logs:#}");
    assert!(
        logs["detail"].as_str().unwrap().starts_with("no Cloud Run 401/403 in the request logs since "),
        "{logs:#}"
    );

    // After the change, a caller is still refused: quoted, and the check fails.
    assert_eq!(front(&emu, None), 403);
    let (code, out, err) = runiam(&emu, dir.path(), &["verify", "--logs", "-o", "json"], &record);
    assert_eq!(code, 1, "{out}{err}");
    let r = &reports(&out)[0];
    let logs = check(r, "logs");
    assert_eq!(logs["result"], "fail", "{logs:#}");
    assert!(logs["detail"].as_str().unwrap().starts_with("1 Cloud Run 401/403 in the request logs since "), "{logs:#}");
    let quoted = &logs["evidence"][0]["data"];
    assert_eq!(quoted["status"], 403, "{logs:#}");
    assert!(quoted["text"].as_str().unwrap().starts_with("The request was not authenticated"), "{logs:#}");
    assert!(quoted["trace"].as_str().unwrap().starts_with("projects/ver-proj/traces/"), "{logs:#}");
    assert!(quoted["timestamp"].as_str().is_some(), "{logs:#}");
    assert_eq!(check(r, "invoke")["result"], "pass");

    // A SERVICE has no record's appliedAt: --since gives the change time.
    let (code, out, err) = runiam(&emu, dir.path(), &["verify", SVC, "--as", &sa("granted"), "--logs"], "");
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("--logs with a SERVICE needs --since"), "{err}");
    let args = ["verify", SVC, "--as", &sa("granted"), "--logs", "--since", "1h", "-o", "json"];
    let (code, out, err) = runiam(&emu, dir.path(), &args, "");
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(check(&reports(&out)[0], "logs")["evidence"].as_array().unwrap().len(), 2, "{out}");
}

/// The smoke load and the propagation wait show a progress bar on a
/// terminal (here a pseudo-terminal from util-linux `script`), and nothing
/// in a pipe.
#[test]
fn progress_bars_on_a_terminal_only() {
    let emu = Emulator::start(&world(), &["--propagation-delay", "2s"]);
    let dir = tempfile::tempdir().unwrap();
    let granted = sa("granted");
    let load = format!("verify {SVC} --as {granted} --requests 1000 --concurrency 10");
    let on_a_terminal = |line: &str| {
        let mut c = std::process::Command::new("script");
        c.env_clear()
            .env("HOME", dir.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TERM", "xterm")
            .current_dir(dir.path())
            .env("RUNIAM_EMULATOR_HOST", emu.host());
        c.args(["-qec", &format!("{} {line}", crate::common::bin("runiam").display()), "/dev/null"]);
        let out = c.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let seen = on_a_terminal(&load);
    assert!(seen.contains("smoke load [") && seen.contains("] 1,000/1,000 "), "{seen:?}");
    assert!(seen.contains("PASS") && !seen.contains("waiting for IAM propagation"), "{seen:?}");
    let (code, _, err) = runiam(&emu, dir.path(), &load.split(' ').collect::<Vec<_>>(), "");
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("smoke load"), "{err}");

    // A grant younger than propagation: verify waits, and shows it.
    let ungranted = sa("stranger");
    let (code, _, err) =
        runiam(&emu, dir.path(), &["grant-invoker", SVC, "--member", &ungranted, "--apply", "--yes", "-o", "yaml"], "");
    assert_eq!(code, 0, "{err}");
    let seen = on_a_terminal(&format!("verify {SVC} --as {ungranted} --wait 30s"));
    assert!(seen.contains("waiting for IAM propagation: attempt 1 got 403"), "{seen:?}");
    assert!(seen.contains("s of 30s"), "{seen:?}");
    assert!(seen.contains("PASS"), "{seen:?}");
}
