//! `cargo xtask bench export`, `troubleshoot`, `emulator` and `logs`: figures,
//! not pass/fail.
//!
//! `export`:
//! Builds the release binaries, starts `runiam-emulator` on a generated
//! world of 500 services in two regions with `--latency 50ms`, and
//! measures (1) how to enumerate the services: one Run v1 all-regions
//! listing against one v2 list per Cloud Run region, and (2) a whole
//! `runiam export --all`: wall time and API calls made.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::figures::Figure;

const SERVICES: usize = 500;
const REGIONS: [&str; 2] = ["europe-west1", "us-central1"];

/// A world with `SERVICES` services split across `REGIONS`.
fn world() -> String {
    let mut w = String::from("projects:\n  - id: bench-proj\n    number: \"300000000001\"\n    services:\n");
    for i in 0..SERVICES {
        let region = REGIONS[i % REGIONS.len()];
        let _ = write!(
            w,
            "      - name: svc-{i:03}\n        region: {region}\n        iamPolicy:\n          bindings:\n            - role: roles/run.invoker\n              members: [\"serviceAccount:caller-{i}@bench-proj.iam.gserviceaccount.com\"]\n"
        );
    }
    w
}

pub(crate) struct Emulator(Child, pub(crate) String);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn start_emulator(bin: &Path, world: &Path, extra: &[&str]) -> anyhow::Result<Emulator> {
    let mut child = Command::new(bin.join("runiam-emulator"))
        .args(["--world", world.to_str().context("utf-8 path")?, "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting runiam-emulator")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("emulator stdout")?).read_line(&mut line)?;
    let url = line.trim().to_owned();
    if url.is_empty() {
        bail!("runiam-emulator printed no URL");
    }
    Ok(Emulator(child, url))
}

/// Builds `bins` in release mode; returns the directory they are in.
pub(crate) fn build_release(root: &Path, bins: &[&str]) -> anyhow::Result<std::path::PathBuf> {
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args(["build", "--release"]).current_dir(root);
    for b in bins {
        cargo.args(["--bin", b]);
    }
    if !cargo.status()?.success() {
        bail!("release build failed");
    }
    Ok(root.join("target/release"))
}

/// Runs `runiam-export` with `--verbose` and counts the API calls it traced.
fn export(bin: &Path, url: &str, args: &[&str]) -> anyhow::Result<(f64, usize, usize)> {
    let started = Instant::now();
    let out = Command::new(bin.join("runiam-export"))
        .args(args)
        .args(["--project", "bench-proj", "-o", "json", "--verbose", "--no-color"])
        .env("RUNIAM_EMULATOR_HOST", url)
        .env("HOME", "/nonexistent")
        .output()
        .context("running runiam-export")?;
    let secs = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("runiam-export failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let calls = String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains(" call ")).count();
    let docs = out.stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
    Ok((secs, calls, docs))
}

/// Times a listing strategy with plain HTTP (what each costs on the wire).
fn time_listing(url: &str, paths: &[String]) -> anyhow::Result<(f64, usize)> {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let total = runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut total = 0usize;
        for p in paths {
            let v: serde_json::Value = client.get(format!("{url}/{p}")).send().await?.json().await?;
            total += v.get("services").or_else(|| v.get("items")).and_then(|s| s.as_array()).map_or(0, Vec::len);
        }
        anyhow::Ok(total)
    })?;
    Ok((started.elapsed().as_secs_f64(), total))
}

fn fetch(url: &str) -> anyhow::Result<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async { Ok(reqwest::get(url).await?.json().await?) })
}

pub fn export_bench(root: &Path) -> anyhow::Result<Vec<Figure>> {
    let bin = build_release(root, &["runiam-emulator", "runiam-export"])?;
    let dir = std::env::temp_dir().join("runiam-bench");
    std::fs::create_dir_all(&dir)?;
    let world_path = dir.join("world.yaml");
    std::fs::write(&world_path, world())?;
    let emu = start_emulator(&bin, &world_path, &["--latency", "50ms"])?;

    // The regions a v2-per-region enumeration must ask: every Cloud Run region.
    let locations = fetch(&format!("{}/v1/projects/bench-proj/locations", emu.1))?;
    let regions: Vec<String> = locations["locations"]
        .as_array()
        .map(|a| a.iter().filter_map(|l| l["locationId"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let v1 = time_listing(&emu.1, &["v1/projects/bench-proj/locations/-/services?limit=500".to_owned()])?;
    let v2_paths: Vec<String> =
        regions.iter().map(|r| format!("v2/projects/bench-proj/locations/{r}/services?pageSize=500")).collect();
    let v2 = time_listing(&emu.1, &v2_paths)?;
    println!("enumerate {SERVICES} services at 50 ms latency (sequential pages):");
    println!("  v1 locations/-/services        {:>6.2} s  {} services", v1.0, v1.1);
    println!("  v2 list x {} regions           {:>6.2} s  {} services", regions.len(), v2.0, v2.1);
    println!("  ratio v2/v1                     {:>6.1}x", v2.0 / v1.0.max(1e-9));

    let (secs, calls, docs) = export(&bin, &emu.1, &["--all"])?;
    println!("runiam export --all ({SERVICES} services, 50 ms latency):");
    println!("  wall {secs:.2} s, {calls} API calls, {docs} snapshots, {:.1} services/s", docs as f64 / secs);
    let sequential = calls as f64 * 0.05;
    Ok(vec![
        Figure::new(
            format!("enumerate {SERVICES} services in 2 regions, 50 ms a call"),
            format!("{:.2} s (v1 locations/-)", v1.0),
        )
        .peer(format!("{:.2} s (v2 list × {} regions)", v2.0, regions.len()), v2.0 / v1.0.max(1e-9)),
        Figure::new(
            format!("`export --all`, {SERVICES} services, 50 ms a call"),
            format!("{secs:.2} s, {calls} calls"),
        )
        .peer(format!("{sequential:.1} s (the same calls one after another)"), sequential / secs.max(1e-9)),
    ])
}

/// The service and caller of the front-end bench.
pub(crate) const FRONT_HOST: &str = "hello-300000000001.europe-west1.run.app";
pub(crate) const FRONT_CALLER: &str = "caller@bench-proj.iam.gserviceaccount.com";
/// wrk settings, the same for the emulator and nginx.
const WRK: [&str; 6] = ["-t2", "-c64", "-d5s", "--latency", "--timeout", "5s"];
/// The emulator and nginx alternate this many times; medians are compared,
/// so that one round disturbed by whatever else the cores do decides nothing.
const ROUNDS: usize = 3;

/// The release `bins` and an emulator serving the front-end world, for
/// the benches that call its Cloud Run front end; their files go to `dir`
/// under the temporary directory.
pub(crate) fn front_emulator(root: &Path, bins: &[&str], dir: &str) -> anyhow::Result<(PathBuf, PathBuf, Emulator)> {
    let bin = build_release(root, bins)?;
    let dir = std::env::temp_dir().join(dir);
    std::fs::create_dir_all(&dir)?;
    let world_path = dir.join("world.yaml");
    std::fs::write(&world_path, front_world())?;
    let emu = start_emulator(&bin, &world_path, &[])?;
    Ok((bin, dir, emu))
}

pub(crate) fn front_world() -> String {
    format!(
        "projects:\n  - id: bench-proj\n    number: \"300000000001\"\n    serviceAccounts: [{{email: {FRONT_CALLER}}}]\n    services:\n      - name: hello\n        region: europe-west1\n        iamPolicy:\n          bindings:\n            - role: roles/run.invoker\n              members: [\"serviceAccount:{FRONT_CALLER}\"]\n"
    )
}

/// Installs wrk and nginx with apt when either is missing.
pub(crate) fn ensure_tools() -> anyhow::Result<()> {
    let present =
        |tool: &str| Command::new("which").arg(tool).stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    if present("wrk") && present("nginx") {
        return Ok(());
    }
    let status = Command::new("apt-get").args(["install", "-y", "wrk", "nginx"]).status().context("running apt-get")?;
    if !status.success() {
        bail!("apt-get install -y wrk nginx failed");
    }
    Ok(())
}

/// nginx with as many workers as the emulator has runtime threads (2),
/// answering a static 200 on `port`.
struct Nginx(Child);

impl Drop for Nginx {
    /// SIGTERM, which the master passes on to its workers; SIGKILL would
    /// leave them running as orphans, taking the cores of later runs.
    fn drop(&mut self) {
        let terminated = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        if !terminated.is_ok_and(|s| s.success()) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

fn start_nginx(dir: &Path, port: u16) -> anyhow::Result<Nginx> {
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("logs"))?;
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes 2;\ndaemon off;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\nevents {{ worker_connections 1024; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n  server {{\n    listen 127.0.0.1:{port};\n    location / {{ default_type application/json; return 200 '{{\"service\":\"hello\"}}'; }}\n  }}\n}}\n",
            p = prefix.display()
        ),
    )?;
    let child = Command::new("nginx")
        .args(["-p", prefix.to_str().context("utf-8 path")?, "-c", conf.to_str().context("utf-8 path")?])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nginx")?;
    let nginx = Nginx(child);
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(nginx);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bail!("nginx did not start on port {port} (see {})", prefix.join("logs/error.log").display())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs wrk with `settings` and returns its report; any non-2xx answer fails.
pub(crate) fn wrk(settings: &[&str], url: &str, headers: &[String]) -> anyhow::Result<String> {
    let mut cmd = Command::new("wrk");
    cmd.args(settings);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || text.contains("Non-2xx") {
        bail!("wrk against {url} failed or saw non-2xx answers:\n{text}{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(text)
}

/// The `Requests/sec` of a wrk report.
pub(crate) fn wrk_rps(report: &str) -> anyhow::Result<f64> {
    report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:").and_then(|n| n.trim().parse::<f64>().ok()))
        .with_context(|| format!("no Requests/sec in wrk output:\n{report}"))
}

/// The middle value (the upper one of an even count); 0 for none.
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// An ID token for the front-end bench's caller, minted by the emulator's
/// knob, and checked to get the bench request through.
pub(crate) fn mint_front_token(emulator: &str) -> anyhow::Result<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let minted: serde_json::Value = http
            .post(format!("{emulator}/emulator/v1/idTokens"))
            .json(&serde_json::json!({"email": FRONT_CALLER, "audience": format!("https://{FRONT_HOST}")}))
            .send()
            .await?
            .json()
            .await?;
        let token = minted["token"].as_str().context("the knob minted no token")?.to_owned();
        let probe = http
            .get(format!("{emulator}/bench"))
            .header("host", FRONT_HOST)
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await?;
        if probe.status() != 200 {
            bail!("the front end answered {} to the bench request", probe.status());
        }
        anyhow::Ok(token)
    })
}

/// The Cloud Run front end's hot path: an allowed request with a valid
/// token, beside nginx answering a static 200 under the same wrk settings.
pub fn emulator_bench(root: &Path) -> anyhow::Result<Vec<Figure>> {
    ensure_tools()?;
    let (_, dir, emu) = front_emulator(root, &["runiam-emulator"], "runiam-bench-front")?;
    let token = mint_front_token(&emu.1)?;
    let port = free_port()?;
    let nginx = start_nginx(&dir, port)?;
    let headers = [format!("Host: {FRONT_HOST}"), format!("Authorization: Bearer {token}")];
    let (mut fronts, mut statics) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
    for _ in 0..ROUNDS {
        fronts.push(wrk_rps(&wrk(&WRK, &format!("{}/bench", emu.1), &headers)?)?);
        statics.push(wrk_rps(&wrk(&WRK, &format!("http://127.0.0.1:{port}/bench"), &headers)?)?);
    }
    drop(nginx);
    let rounds = |v: &[f64]| v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(" ");
    println!("front end, allowed request with a valid ID token (wrk {}), {ROUNDS} alternating rounds:", WRK.join(" "));
    println!("  runiam-emulator   rounds {}", rounds(&fronts));
    println!("  nginx static 200  rounds {}", rounds(&statics));
    let (front, static_200) = (median(fronts), median(statics));
    println!("  runiam-emulator   {front:>10.0} req/s (median)");
    println!("  nginx static 200  {static_200:>10.0} req/s (median)");
    let ratio = front / static_200.max(1e-9);
    println!("  ratio             {ratio:>10.2}");
    Ok(vec![
        Figure::new("emulator front end, allowed call with an ID token (wrk)", format!("{front:.0} req/s"))
            .peer(format!("nginx static 200: {static_200:.0} req/s"), ratio)
            .target("≥ 20,000 req/s and ≥ 0.5× nginx", front >= 20_000.0 && ratio >= 0.5),
    ])
}

/// A three-level ancestry with deny policies and a group grant.
const TROUBLESHOOT_WORLD: &str = r#"
organization:
  id: "800000000001"
  domain: bench.example
  customerId: C0bench01
  iamPolicy: {bindings: [{role: roles/run.viewer, members: [group:auditors@bench.example]}]}
folders:
  - id: "810000000001"
    parent: organizations/800000000001
    iamPolicy: {bindings: [{role: roles/run.invoker, members: [group:callers@bench.example]}]}
  - id: "810000000002"
    parent: folders/810000000001
    iamPolicy: {bindings: []}
projects:
  - id: bench-ts
    number: "820000000001"
    parent: folders/810000000002
    services:
      - name: api
        region: europe-west1
        iamPolicy: {bindings: [{role: roles/run.invoker, members: ["serviceAccount:other@bench-ts.iam.gserviceaccount.com"]}]}
groups:
  - email: callers@bench.example
    members: [user:dev@bench.example]
  - email: auditors@bench.example
    members: [user:audit@bench.example]
denyPolicies:
  - attachmentPoint: organizations/800000000001
    policyId: no-contractors
    rules: [{deniedPrincipals: [principalSet://goog/group/contractors@bench.example], deniedPermissions: [run.googleapis.com/routes.invoke]}]
  - attachmentPoint: projects/bench-ts
    policyId: no-interns
    rules: [{deniedPrincipals: ["principal://goog/subject/intern@bench.example"], deniedPermissions: [run.googleapis.com/routes.invoke]}]
"#;

pub fn troubleshoot_bench(root: &Path) -> anyhow::Result<Vec<Figure>> {
    let bin = build_release(root, &["runiam-emulator", "runiam-troubleshoot"])?;
    let dir = std::env::temp_dir().join("runiam-bench");
    std::fs::create_dir_all(&dir)?;
    let world_path = dir.join("troubleshoot-world.yaml");
    std::fs::write(&world_path, TROUBLESHOOT_WORLD)?;
    let mut child = Command::new(bin.join("runiam-emulator"))
        .args(["--world", world_path.to_str().context("utf-8 path")?, "--listen", "127.0.0.1:0", "--latency", "100ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("emulator stdout")?).read_line(&mut line)?;
    let emu = Emulator(child, line.trim().to_owned());
    let started = Instant::now();
    let out = Command::new(bin.join("runiam-troubleshoot"))
        .args([
            "projects/bench-ts/locations/europe-west1/services/api",
            "--caller",
            "user:dev@bench.example",
            "-o",
            "json",
            "--verbose",
            "--no-color",
        ])
        .env("RUNIAM_EMULATOR_HOST", &emu.1)
        .env("HOME", "/nonexistent")
        .output()?;
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let calls = stderr.lines().filter(|l| l.contains(" call ")).count();
    let rounds = stderr
        .lines()
        .find_map(|l| {
            l.split("rounds=").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|r| r.parse::<u32>().ok())
        })
        .unwrap_or(0);
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    println!("runiam troubleshoot, 3-level ancestry, 2 deny policies, group grant, 100 ms latency:");
    println!(
        "  verdict {}, wall {secs:.2} s, {calls} API calls, {rounds} dependent rounds in the gather",
        verdict["verdict"]
    );
    println!(
        "  the same calls one after another would take {:.1} s: {:.1}x faster",
        calls as f64 * 0.1,
        calls as f64 * 0.1 / secs
    );
    Ok(vec![
        Figure::new(
            "`troubleshoot`, 3-level ancestry, deny policies, a group, 100 ms a call",
            format!("{secs:.2} s, {calls} calls, {rounds} rounds"),
        )
        .peer(
            format!("{:.1} s (the same calls one after another)", calls as f64 * 0.1),
            calls as f64 * 0.1 / secs.max(1e-9),
        )
        .target("≤ 4 dependent rounds", rounds > 0 && rounds <= 4),
    ])
}

/// Request-log entries `bench logs` classifies.
const LOG_ENTRIES: usize = 1_000_000;

/// One generated LogEntry a line: front-end and container denials,
/// throttling, 404s, VPC-SC and SetIamPolicy audit entries, in the
/// proportions of a noisy public service.
fn log_line(i: usize, out: &mut String) {
    let x = (i as u64).wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407) >> 33;
    let svc = format!("svc{:02}", x % 40);
    let ts = format!(
        "2026-11-28T{:02}:{:02}:{:02}.{:06}Z",
        (i / 3_600_000) % 24,
        (i / 60_000) % 60,
        (i / 1000) % 60,
        i % 1_000_000
    );
    let ip = format!("198.51.{}.{}", x % 250, (x >> 8) % 250);
    let request = |status: u16, text: &str, latency: &str, ua: &str| {
        let text = if text.is_empty() { String::new() } else { format!(r#""textPayload":"{text}","#) };
        format!(
            r#"{{{text}"insertId":"{i:024x}","httpRequest":{{"requestMethod":"GET","requestUrl":"https://{svc}-100.europe-west1.run.app/","status":{status},"userAgent":"{ua}","remoteIp":"{ip}","latency":"{latency}","protocol":"HTTP/1.1"}},"resource":{{"type":"cloud_run_revision","labels":{{"location":"europe-west1","project_id":"bench","service_name":"{svc}","revision_name":"{svc}-00001-abc","configuration_name":"{svc}"}}}},"timestamp":"{ts}","severity":"WARNING","logName":"projects/bench/logs/run.googleapis.com%2Frequests","trace":"projects/bench/traces/{x:032x}","spanId":"{x:016x}","traceSampled":true}}"#
        )
    };
    let line = match x % 20 {
        0..=7 => request(
            403,
            "The request was not authenticated. Either allow unauthenticated invocations or set the proper Authorization header. Read more at https://cloud.google.com/run/docs/securing/authenticating",
            "0s",
            "Mozilla/5.0 (X11; Linux x86_64) Chrome/141.0",
        ),
        8..=11 => request(
            401,
            "The request was not authorized to invoke this service. The access token could not be verified.",
            "0s",
            "python-requests/2.32",
        ),
        12..=13 => request(403, "", "0.021s", "curl/8.5.0"),
        14..=15 => request(
            429,
            "The request was aborted because there was no available instance.",
            "0s",
            "Google-Cloud-Scheduler",
        ),
        16 => request(503, "", "1.2s", "APIs-Google"),
        17 => request(404, "", "0.003s", "Mozilla/5.0 zgrab/0.x"),
        18 => format!(
            r#"{{"insertId":"{i:024x}","logName":"projects/bench/logs/cloudaudit.googleapis.com%2Fpolicy","resource":{{"type":"audited_resource","labels":{{"method":"run.googleapis.com/HttpIngress","service":"run.googleapis.com"}}}},"timestamp":"{ts}","severity":"ERROR","protoPayload":{{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","methodName":"run.googleapis.com/HttpIngress","resourceName":"projects/bench/locations/europe-west1/services/{svc}"}}}}"#
        ),
        _ => format!(
            r#"{{"insertId":"{i:024x}","logName":"projects/bench/logs/cloudaudit.googleapis.com%2Factivity","resource":{{"type":"cloud_run_revision","labels":{{"service_name":"","location":"europe-west1"}}}},"timestamp":"{ts}","severity":"NOTICE","protoPayload":{{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","methodName":"google.cloud.run.v2.Services.SetIamPolicy","resourceName":"projects/bench/locations/europe-west1/services/{svc}","serviceData":{{"policyDelta":{{"bindingDeltas":[{{"action":"ADD","role":"roles/run.invoker","member":"user:dev@bench.example"}}]}}}}}}}}"#
        ),
    };
    out.push_str(&line);
    out.push('\n');
}

/// The process's peak resident memory (VmHWM), in kB.
fn peak_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `cargo xtask bench logs`: classifies `LOG_ENTRIES` generated request-log
/// entries (JSON lines, streamed from a file) with troubleshoot's own
/// classifier. A debug xtask re-runs itself in release: the figure is for
/// the shipped code.
pub fn logs_bench() -> anyhow::Result<Vec<Figure>> {
    use runiam_troubleshoot::logs::{Class, Entry, classify};
    use std::io::Write as _;
    let dir = std::env::temp_dir().join("runiam-bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("request-logs.jsonl");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut buf = String::new();
        for i in 0..LOG_ENTRIES {
            buf.clear();
            log_line(i, &mut buf);
            w.write_all(buf.as_bytes())?;
        }
        w.flush()?;
    }
    let bytes = std::fs::metadata(&path)?.len();
    let before = peak_kb().unwrap_or(0);
    let started = Instant::now();
    let mut counts = [0usize; 7];
    let mut unreadable = 0usize;
    let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(&path)?);
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 {
        match serde_json::from_str::<Entry>(&line) {
            Ok(v) => {
                let slot = match classify(&v) {
                    Class::FrontEnd(_) => 0,
                    Class::App(_) => 1,
                    Class::Throttled(_) => 2,
                    Class::Other(_) => 3,
                    Class::VpcSc => 4,
                    Class::IamChange => 5,
                    Class::Ignored => 6,
                };
                counts[slot] += 1;
            }
            Err(_) => unreadable += 1,
        }
        line.clear();
    }
    let secs = started.elapsed().as_secs_f64();
    let peak = peak_kb().unwrap_or(0);
    std::fs::remove_file(&path)?;
    let total: usize = counts.iter().sum::<usize>() + unreadable;
    println!(
        "runiam troubleshoot's request-log classifier, {total} entries ({:.0} MB of JSON lines):",
        bytes as f64 / 1e6
    );
    println!("  {secs:.2} s, {:.0} entries/s (target: 1,000,000 in 3 s)", total as f64 / secs);
    println!(
        "  front end {}, container {}, throttled {}, other {}, VPC-SC {}, SetIamPolicy {}, ignored {}, unreadable {unreadable}",
        counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6]
    );
    println!(
        "  peak memory (VmHWM) {:.1} MB ({:.1} MB before classifying)",
        peak as f64 / 1024.0,
        before as f64 / 1024.0
    );
    Ok(vec![
        Figure::new(
            format!("request-log classifier, {total} entries"),
            format!("{secs:.2} s, peak {:.0} MB", peak as f64 / 1024.0),
        )
        .target("1,000,000 in ≤ 3 s", secs <= 3.0 && total >= LOG_ENTRIES),
    ])
}
