//! `cargo xtask bench export`: figures, not pass/fail.
//!
//! Builds the release binaries, starts `runiam-emulator` on a generated
//! world of 500 services in two regions with `--latency 50ms`, and
//! measures (1) how to enumerate the services: one Run v1 all-regions
//! listing against one v2 list per Cloud Run region, and (2) a whole
//! `runiam export --all`: wall time and API calls made.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

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

struct Emulator(Child, String);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_emulator(bin: &Path, world: &Path) -> anyhow::Result<Emulator> {
    let mut child = Command::new(bin.join("runiam-emulator"))
        .args(["--world", world.to_str().context("utf-8 path")?, "--listen", "127.0.0.1:0", "--latency", "50ms"])
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

pub fn export_bench(root: &Path) -> anyhow::Result<()> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--bin", "runiam-emulator", "--bin", "runiam-export"])
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("release build failed");
    }
    let bin = root.join("target/release");
    let dir = std::env::temp_dir().join("runiam-bench");
    std::fs::create_dir_all(&dir)?;
    let world_path = dir.join("world.yaml");
    std::fs::write(&world_path, world())?;
    let emu = start_emulator(&bin, &world_path)?;

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
    Ok(())
}
