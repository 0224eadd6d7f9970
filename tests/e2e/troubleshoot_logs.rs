//! `runiam troubleshoot` II: tokens (minted by the emulator, sent to its
//! front end, then inspected), request logs (written by the front end or
//! seeded in the world), and callers found without `--caller`. Ids,
//! buckets, severities, verdicts and exit codes are asserted, never prose;
//! every run asserts the raw token appears nowhere in what was printed.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::{Emulator, cmd, mint, root, run};

const WORLD: &str = "tests/e2e/data/troubleshoot-logs-world.yaml";
const AMY: &str = "user:amy@acme.example";

/// The world with `@T-N@` replaced by the time N seconds ago.
fn world(dir: &Path) -> PathBuf {
    let mut text = std::fs::read_to_string(root().join(WORLD)).unwrap();
    while let Some(start) = text.find("@T-") {
        let end = start + 3 + text[start + 3..].find('@').unwrap();
        let secs: i64 = text[start + 3..end].parse().unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        text.replace_range(start..=end, &rfc3339(now - secs));
    }
    let path = dir.join("world.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (Howard Hinnant's civil-from-days).
fn rfc3339(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

fn url(service: &str) -> String {
    format!("https://{service}-610000000001.europe-west1.run.app")
}

/// A request to the emulator's front end for `service`, as a caller would send it.
fn send(emu: &Emulator, service: &str, token: Option<&str>) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let host = url(service).trim_start_matches("https://").to_owned();
        let mut req = reqwest::Client::new().get(format!("{}/", emu.url)).header("Host", host);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().status().as_u16()
    })
}

/// Runs troubleshoot (with `token`, written to a file, when given) and
/// returns (exit, every Diagnosis, the whole output). Asserts the token's
/// text is nowhere in it.
fn troubleshoot(emu: &Emulator, home: &Path, args: &[&str], token: Option<&str>) -> (i32, Vec<Value>, String) {
    let mut c = cmd("runiam", home);
    c.env("RUNIAM_EMULATOR_HOST", emu.host())
        .args(["troubleshoot", "--project", "logs-proj", "--region", "europe-west1", "-o", "json"])
        .args(args);
    if let Some(t) = token {
        let file = home.join("token.txt");
        std::fs::write(&file, t).unwrap();
        c.arg("--token-file").arg(&file);
    }
    let (out, text) = run(c, "");
    if let Some(t) = token {
        for piece in t.split(|c: char| c.is_whitespace()).filter(|p| p.len() > 20) {
            assert!(!text.contains(piece), "the raw token was printed:\n{text}");
            // The signature alone is secret enough to matter.
            if let Some(sig) = piece.rsplit('.').next().filter(|s| s.len() > 20 && *s != "SIGNATURE_REMOVED_BY_GOOGLE")
            {
                assert!(!text.contains(sig), "a token signature was printed:\n{text}");
            }
        }
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let docs = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}\n{text}")))
        .collect();
    (out.status.code().unwrap_or(-1), docs, text)
}

/// (bucket, severity) of finding `id`, if reported.
fn finding(d: &Value, id: &str) -> Option<(String, String)> {
    d["findings"]
        .as_array()?
        .iter()
        .find(|f| f["id"] == id)
        .map(|f| (f["bucket"].as_str().unwrap().to_owned(), f["severity"].as_str().unwrap().to_owned()))
}

fn has(d: &Value, id: &str, bucket: &str, severity: &str, text: &str) {
    assert_eq!(finding(d, id), Some((bucket.to_owned(), severity.to_owned())), "{id} in\n{text}");
}

/// (id, bucket, severity, verdict, exit) expected.
type Expect<'a> = (&'a str, &'a str, &'a str, &'a str, i32);

fn ids(d: &Value) -> Vec<String> {
    d["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn tokens_are_judged_without_being_printed() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(&world(dir.path()), &[]);
    let home = tempfile::tempdir().unwrap();
    let good = mint(&emu, json!({"email": "amy@acme.example", "audience": url("granted")}));
    let path_aud = mint(&emu, json!({"email": "amy@acme.example", "audience": format!("{}/push", url("granted"))}));
    let domain_aud = mint(&emu, json!({"email": "amy@acme.example", "audience": "https://granted.acme.example"}));
    let firebase = mint(
        &emu,
        json!({"email": "amy@acme.example", "audience": url("granted"), "issuer": "https://securetoken.google.com/logs-proj"}),
    );
    let no_email = mint(&emu, json!({"audience": url("granted")}));
    let (signed, _) = good.rsplit_once('.').unwrap();
    let removed = format!("{signed}.SIGNATURE_REMOVED_BY_GOOGLE");
    let forged = format!("{signed}.{}", "A".repeat(342));
    let two_headers = format!("Authorization: Bearer {good}\nAuthorization: Bearer {good}\n");
    // (token, caller flag, id, bucket, severity, verdict, exit)
    let cases: Vec<(String, &[&str], Expect)> = vec![
        (
            "ya29.a0AfH6SMBx-emulator-access-token-0123456789".into(),
            &["--caller", AMY],
            ("token.not-id-token", "token", "cause", "DENIED", 1),
        ),
        (path_aud, &[], ("token.audience-mismatch", "token", "cause", "DENIED", 1)),
        (domain_aud, &[], ("token.audience-mismatch", "token", "cause", "DENIED", 1)),
        (firebase, &[], ("token.issuer", "token", "cause", "DENIED", 1)),
        (removed, &[], ("token.issuer", "token", "cause", "DENIED", 1)),
        (forged, &[], ("token.issuer", "token", "cause", "DENIED", 1)),
        (two_headers, &[], ("token.multiple", "token", "cause", "DENIED", 1)),
        (no_email, &["--caller", AMY], ("token.no-email", "token", "risk", "ALLOWED", 0)),
    ];
    for (token, flags, (id, bucket, severity, verdict, exit)) in &cases {
        let mut args = vec!["granted"];
        args.extend(*flags);
        let (code, docs, text) = troubleshoot(&emu, home.path(), &args, Some(token));
        let d = &docs[0];
        has(d, id, bucket, severity, &text);
        assert_eq!(d["verdict"], *verdict, "{id}\n{text}");
        assert_eq!(code, *exit, "{id}\n{text}");
    }
    // A good token: no token finding, and it names the caller.
    let (code, docs, text) = troubleshoot(&emu, home.path(), &["granted"], Some(&good));
    assert_eq!(code, 0, "{text}");
    assert_eq!(docs[0]["caller"], AMY);
    assert!(ids(&docs[0]).iter().all(|i| !i.starts_with("token.")), "{text}");
    // The token on stdin and in an environment variable.
    let mut c = cmd("runiam", home.path());
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).env("MY_TOKEN", &good).args([
        "troubleshoot",
        "granted",
        "--project",
        "logs-proj",
        "--region",
        "europe-west1",
        "--token-env",
        "MY_TOKEN",
        "-o",
        "json",
    ]);
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains(&good));
    let mut c = cmd("runiam", home.path());
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).args([
        "troubleshoot",
        "granted",
        "--project",
        "logs-proj",
        "--region",
        "europe-west1",
        "--token-file",
        "-",
        "-o",
        "text",
    ]);
    let (out, text) = run(
        c,
        &format!(
            "Bearer {path_aud_again}",
            path_aud_again = mint(&emu, json!({"email": "amy@acme.example", "audience": "http://x.example"}))
        ),
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("token.audience-mismatch") && !text.contains("eyJ"), "{text}");
}

#[test]
fn an_expired_token_is_judged_at_the_logged_denial() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(&world(dir.path()), &[]);
    let home = tempfile::tempdir().unwrap();
    // Valid when sent (and refused by IAM), expired since: not the cause.
    let short = mint(&emu, json!({"email": "amy@acme.example", "audience": url("nogrant"), "expiresInSeconds": 2}));
    assert_eq!(send(&emu, "nogrant", Some(&short)), 403);
    std::thread::sleep(std::time::Duration::from_millis(3100));
    let (code, docs, text) = troubleshoot(&emu, home.path(), &["nogrant"], Some(&short));
    assert_eq!(code, 1, "{text}");
    assert_eq!(finding(&docs[0], "token.expired"), None, "{text}");
    has(&docs[0], "iam.no-grant", "iam", "cause", &text);
    // Expired when sent: the cause.
    let old = mint(&emu, json!({"email": "amy@acme.example", "audience": url("granted"), "expiresInSeconds": -60}));
    assert_eq!(send(&emu, "granted", Some(&old)), 401);
    let (code, docs, text) = troubleshoot(&emu, home.path(), &["granted"], Some(&old));
    assert_eq!(code, 1, "{text}");
    has(&docs[0], "token.expired", "token", "cause", &text);
    assert_eq!(docs[0]["verdict"], "DENIED");
}

#[test]
fn request_logs_are_classified() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(&world(dir.path()), &[]);
    let home = tempfile::tempdir().unwrap();
    // No credential at all: the front end logs 403 "not authenticated".
    assert_eq!(send(&emu, "granted", None), 403);
    // A grant made a moment ago (the emulator writes its audit entry).
    let fresh = "projects/logs-proj/locations/europe-west1/services/fresh";
    crate::common::put_policy(&emu, fresh, json!({"bindings": [{"role": "roles/run.invoker", "members": [AMY]}]}));
    // (service, extra flags, id, bucket, severity, verdict, exit)
    let cases: &[(&str, &[&str], Expect)] = &[
        ("granted", &[], ("token.missing", "token", "cause", "ALLOWED", 0)),
        ("appdeny", &[], ("app.denied", "app", "cause", "ALLOWED", 0)),
        ("busy", &[], ("quota.throttled", "quota", "cause", "ALLOWED", 0)),
        ("fenced", &[], ("network.vpc-sc", "network", "cause", "DENIED", 1)),
        ("quiet", &["--saw", "403"], ("network.no-request-log", "network", "risk", "ALLOWED", 0)),
        ("fresh", &[], ("iam.propagation", "iam", "risk", "ALLOWED", 0)),
    ];
    for (service, flags, (id, bucket, severity, verdict, exit)) in cases {
        let mut args = vec![*service, "--caller", AMY];
        args.extend(*flags);
        let (code, docs, text) = troubleshoot(&emu, home.path(), &args, None);
        has(&docs[0], id, bucket, severity, &text);
        assert_eq!(docs[0]["verdict"], *verdict, "{id}\n{text}");
        assert_eq!(code, *exit, "{id}\n{text}");
    }
    // Browser noise groups into one line beside the real caller's.
    let (_, docs, text) = troubleshoot(&emu, home.path(), &["appdeny", "--caller", AMY], None);
    let groups = docs[0]["logEvidence"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{text}");
    assert_eq!(groups[0]["userAgent"], "curl/8.5.0");
    assert_eq!((groups[1]["count"].as_u64(), groups[1]["distinctRemoteIps"].as_u64()), (Some(2), Some(2)));
    // --no-logs reads nothing.
    let (_, docs, text) = troubleshoot(&emu, home.path(), &["appdeny", "--caller", AMY, "--no-logs"], None);
    assert_eq!(finding(&docs[0], "app.denied"), None, "{text}");
    // The same 403 does not blame a missing token when a token was given, nor a caller IAM refuses.
    let (_, docs, text) = troubleshoot(&emu, home.path(), &["nogrant", "--caller", AMY], None);
    assert_eq!(finding(&docs[0], "token.missing"), None, "{text}");
}

#[test]
fn forty_services_read_the_logs_once() {
    let dir = tempfile::tempdir().unwrap();
    let services: String = (0..40)
        .map(|i| format!("      - {{name: svc{i:02}, region: europe-west1, iamPolicy: {{bindings: [{{role: roles/run.invoker, members: [\"{AMY}\"]}}]}}}}\n"))
        .collect();
    let path = dir.path().join("forty.yaml");
    std::fs::write(
        &path,
        format!("projects:\n  - id: logs-proj\n    number: \"610000000001\"\n    services:\n{services}"),
    )
    .unwrap();
    let emu = Emulator::start(&path, &[]);
    let home = tempfile::tempdir().unwrap();
    let mut c = cmd("runiam", home.path());
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).args(["export", "--all", "--project", "logs-proj", "-o", "yaml"]);
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(0), "{text}");
    let snapshots = String::from_utf8(out.stdout).unwrap();
    let mut c = cmd("runiam", home.path());
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).args(["troubleshoot", "--caller", AMY, "--verbose", "-o", "json"]);
    let (out, text) = run(c, &snapshots);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().filter(|l| !l.is_empty()).count(), 40, "{text}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lists = stderr.lines().filter(|l| l.contains("entries:list") && l.contains("status=200")).count();
    assert_eq!(lists, 1, "{stderr}");
}

#[test]
fn callers_are_found_and_each_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(&world(dir.path()), &[]);
    let home = tempfile::tempdir().unwrap();
    let (code, docs, text) = troubleshoot(&emu, home.path(), &["target", "--verbose"], None);
    assert_eq!(code, 1, "{text}");
    // The service and its policy are read once for all four callers.
    for read in ["/services/target ", "/services/target:getIamPolicy"] {
        assert_eq!(text.lines().filter(|l| l.contains(read) && l.contains("status=200")).count(), 1, "{read}\n{text}");
    }
    let of = |email: &str| {
        docs.iter()
            .find(|d| d["caller"] == format!("serviceAccount:{email}"))
            .unwrap_or_else(|| panic!("no diagnosis for {email}\n{text}"))
    };
    // Pub/Sub: invoker granted, but the service agent cannot mint its tokens.
    let push = of("push@logs-proj.iam.gserviceaccount.com");
    has(push, "caller.pubsub-token-creator", "iam", "cause", &text);
    assert_eq!(finding(push, "caller.oidc-audience"), None, "{text}");
    assert_eq!(push["verdict"], "DENIED");
    // Scheduler: invoker granted, audience defaulted to a target URL with a path.
    let sched = of("sched@logs-proj.iam.gserviceaccount.com");
    has(sched, "caller.oidc-audience", "token", "cause", &text);
    assert_eq!(finding(sched, "caller.scheduler-agent"), None, "{text}");
    assert_eq!(sched["verdict"], "DENIED");
    // Eventarc: the trigger's account holds no invoker.
    let events = of("events@logs-proj.iam.gserviceaccount.com");
    has(events, "iam.no-grant", "iam", "cause", &text);
    assert_eq!(events["verdict"], "DENIED");
    // Another service, seen in the logs by its trace.
    let front = of("front@logs-proj.iam.gserviceaccount.com");
    has(front, "caller.runtime-identity", "iam", "cause", &text);
    assert_eq!(docs.len(), 4, "{text}");

    // A project whose Scheduler service agent lost its role.
    let mut c = cmd("runiam", home.path());
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).args([
        "troubleshoot",
        "report",
        "--project",
        "sched-proj",
        "--region",
        "europe-west1",
        "-o",
        "json",
    ]);
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(1), "{text}");
    let d: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    has(&d, "caller.scheduler-agent", "iam", "cause", &text);
    assert_eq!(d["verdict"], "DENIED");
}
