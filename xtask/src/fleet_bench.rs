//! `cargo xtask bench fleet`: `runiam export --organization` on the
//! generated estate (`runiam_emulator::estate`: 1 organization, 5 folders,
//! 40 projects, 2,000 services in 3 regions unless `--services`) with the
//! emulator at `--latency 50ms`, in one run:
//!
//! - through Asset Inventory, and through the per-project fallback (an
//!   operator who may not search Asset Inventory), each beside its lower
//!   bound: total calls ÷ allowed concurrency × latency;
//! - a sequential script over Google's official Python client
//!   (google-cloud-run: list per region + get_iam_policy per service);
//! - calls and 429s per API (`--verbose`), and the export's peak memory
//!   (VmHWM, polled while it runs).
//!
//! Each export is timed several times and its median is the figure. The
//! emulator's `--latency` is how long each answer takes (counted from the
//! request), so a client that wasted nothing would meet the bound.
//!
//! Figures, not pass/fail. The issue's targets (within 1.3x of the bound,
//! 50x faster than the script, no 429, under 100 MB) are the Asset
//! Inventory route's; the fallback is held to its own bound, no 429 and
//! 100 MB, since it makes the script's calls, at most 16 at once.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::figures::Figure;
use crate::startup_bench::python_with;
use runiam_emulator::estate::{ORG, REGIONS, Size, fleet};

use crate::bench::{Emulator, build_release, start_emulator};

/// The emulator's added latency, in ms.
const LATENCY_MS: f64 = 50.0;
/// Calls in flight at once: runiam's HTTP layer default.
const CONCURRENCY: f64 = 16.0;

/// Exports timed per route: the median is the figure (a quarter-second run
/// on a shared 2-core machine moves by tens of ms from one run to the next).
const INVENTORY_RUNS: usize = 7;
const FALLBACK_RUNS: usize = 3;

/// One export's figures.
struct Run {
    secs: f64,
    /// Fastest and slowest of the runs the median came from.
    spread: (f64, f64),
    snapshots: usize,
    calls: u64,
    exhausted: u64,
    /// The `--verbose` summary line.
    summary: String,
    peak_kb: u64,
}

/// Runs `runiam-export --organization` against `emu`, polling its peak memory.
fn export(bin: &Path, emu: &Emulator) -> anyhow::Result<Run> {
    let started = Instant::now();
    let mut child = Command::new(bin.join("runiam-export"))
        .args(["--organization", ORG, "-o", "json", "--verbose", "--no-color", "--quiet"])
        .env("RUNIAM_EMULATOR_HOST", emu.1.trim_start_matches("http://"))
        .env("HOME", "/nonexistent")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running runiam-export")?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut stdout = child.stdout.take().context("export stdout")?;
    let counter = std::thread::spawn(move || {
        // Counts snapshot lines as they stream, holding none of them.
        let mut buf = vec![0u8; 1 << 16];
        let mut lines = 0usize;
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            lines += buf[..n].iter().filter(|b| **b == b'\n').count();
        }
        lines
    });
    // `--verbose` traces every call: drained while it runs, or the pipe fills and blocks it.
    let mut stderr_pipe = child.stderr.take().context("export stderr")?;
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    let mut peak_kb = 0;
    while child.try_wait()?.is_none() {
        if let Some(kb) = std::fs::read_to_string(&status_file).ok().as_deref().and_then(vm_hwm) {
            peak_kb = peak_kb.max(kb);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let stderr = errors.join().map_err(|_| anyhow::anyhow!("the stderr reader panicked"))?;
    let secs = started.elapsed().as_secs_f64();
    let snapshots = counter.join().map_err(|_| anyhow::anyhow!("the line counter panicked"))?;
    if !child.wait()?.success() {
        bail!(
            "runiam-export failed: {}",
            stderr.lines().filter(|l| !l.contains(" call ")).collect::<Vec<_>>().join("\n")
        );
    }
    let summary = stderr
        .lines()
        .find_map(|l| l.strip_prefix("runiam-export: API calls: "))
        .context("no calls summary from --verbose")?
        .to_owned();
    let (calls, exhausted) = totals(&summary);
    Ok(Run { secs, spread: (secs, secs), snapshots, calls, exhausted, summary, peak_kb })
}

/// The run of median wall time among `n`, with the spread of all of them
/// and the worst of their peak memory and 429s.
fn median_of(n: usize, mut run: impl FnMut() -> anyhow::Result<Run>) -> anyhow::Result<Run> {
    let mut runs = (0..n.max(1)).map(|_| run()).collect::<anyhow::Result<Vec<Run>>>()?;
    runs.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    let spread = (runs[0].secs, runs[runs.len() - 1].secs);
    let peak_kb = runs.iter().map(|r| r.peak_kb).max().unwrap_or(0);
    let exhausted = runs.iter().map(|r| r.exhausted).max().unwrap_or(0);
    let mut median = runs.swap_remove(runs.len() / 2);
    median.spread = spread;
    median.peak_kb = peak_kb;
    median.exhausted = exhausted;
    Ok(median)
}

/// `VmHWM:  1234 kB` of a /proc status file.
pub(crate) fn vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Calls and 429s summed over `run 2160 (0 answered 429), cloudasset 1 (...)`.
fn totals(summary: &str) -> (u64, u64) {
    summary.split(", ").fold((0, 0), |(c, e), part| {
        let mut words = part.split_whitespace();
        let calls = words.nth(1).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        let exhausted = words.next().and_then(|n| n.trim_start_matches('(').parse::<u64>().ok()).unwrap_or(0);
        (c + calls, e + exhausted)
    })
}

/// The Python script: Google's google-cloud-run client, one call at a time.
const SCRIPT: &str = r#"
import sys, time
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2
url, regions, projects = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
c = run_v2.ServicesClient(credentials=AnonymousCredentials(), transport="rest", client_options=ClientOptions(api_endpoint=url))
started, services, calls = time.time(), 0, 0
for p in projects:
    for r in regions:
        calls += 1
        for s in c.list_services(request={"parent": f"projects/{p}/locations/{r}", "page_size": 500}):
            c.get_iam_policy(request={"resource": s.name})
            services += 1
            calls += 1
print(f"{time.time() - started:.2f} {services} {calls}")
"#;

pub fn fleet_bench(root: &Path, services: Option<usize>) -> anyhow::Result<Vec<Figure>> {
    let size = Size { projects: 40, services: services.unwrap_or(2000) };
    let bin = build_release(root, &["runiam-emulator", "runiam-export"])?;
    let py = python_with(root, "google.cloud.run_v2", &["google-cloud-run"])?;
    let dir = std::env::temp_dir().join("runiam-bench");
    std::fs::create_dir_all(&dir)?;
    let latency = format!("{}ms", LATENCY_MS as u64);
    let mut runs = Vec::new();
    for (label, operator) in [("through Asset Inventory", false), ("fallback, each project through Run", true)] {
        let path = dir.join(if operator { "fleet-operator.json" } else { "fleet.json" });
        std::fs::write(&path, serde_json::to_string(&fleet(size, operator))?)?;
        let emu = start_emulator(&bin, &path, &["--latency", &latency])?;
        runs.push((label, median_of(if operator { FALLBACK_RUNS } else { INVENTORY_RUNS }, || export(&bin, &emu))?));
        if !operator {
            let projects: Vec<String> = (0..size.projects).map(|p| format!("fleet-{p:02}")).collect();
            let out = Command::new(&py)
                .args(["-c", SCRIPT, &emu.1, &REGIONS.join(","), &projects.join(",")])
                .output()
                .context("running the Python script")?;
            if !out.status.success() {
                bail!("the Python script failed: {}", String::from_utf8_lossy(&out.stderr));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let figures: Vec<f64> = text.split_whitespace().filter_map(|w| w.parse().ok()).collect();
            let [secs, listed, calls] = figures[..] else { bail!("the Python script printed {text}") };
            runs.push((
                "sequential google-cloud-run script",
                Run {
                    secs,
                    spread: (secs, secs),
                    snapshots: listed as usize,
                    calls: calls as u64,
                    exhausted: 0,
                    summary: format!("run {calls}"),
                    peak_kb: 0,
                },
            ));
        }
    }
    println!(
        "runiam export --organization: {} services, {} projects, {} regions, {LATENCY_MS} ms latency, {CONCURRENCY} calls in flight",
        size.services,
        size.projects,
        REGIONS.len()
    );
    let script = runs.iter().find(|(l, _)| l.starts_with("sequential")).map_or(f64::NAN, |(_, r)| r.secs);
    let mut figures = Vec::new();
    for (label, r) in &runs {
        // Asset Inventory's pages depend on each other (a page token each):
        // its bound is the longer of the two searches' chains, which run at
        // once; the fallback's calls are independent within the cap.
        let bound = if label.starts_with("through Asset Inventory") {
            (r.calls as f64 / 2.0).ceil() * LATENCY_MS / 1000.0
        } else {
            r.calls as f64 / CONCURRENCY * LATENCY_MS / 1000.0
        };
        println!("  {label}:");
        println!(
            "    wall {:.3} s{}, {} snapshots, {} calls, {} answered 429 ({})",
            r.secs,
            if r.spread.0 < r.spread.1 {
                format!(" (median; {:.3}–{:.3} s)", r.spread.0, r.spread.1)
            } else {
                String::new()
            },
            r.snapshots,
            r.calls,
            r.exhausted,
            r.summary
        );
        if !label.starts_with("sequential") {
            println!(
                "    lower bound {bound:.2} s ({} calls at {LATENCY_MS} ms, as many at once as they can be): {:.2}x of it; {:.0}x faster than the script; peak memory {:.1} MB",
                r.calls,
                r.secs / bound.max(1e-9),
                script / r.secs.max(1e-9),
                r.peak_kb as f64 / 1024.0
            );
            let (target, met) = target(label, r, bound, script);
            figures.push(
                Figure::new(
                    format!("`export --organization`, {} services, {label}", size.services),
                    format!(
                        "{:.3} s (median of {}: {:.3}–{:.3}), {} calls, {} × 429, peak {:.0} MB",
                        r.secs,
                        if label.starts_with("through Asset Inventory") { INVENTORY_RUNS } else { FALLBACK_RUNS },
                        r.spread.0,
                        r.spread.1,
                        r.calls,
                        r.exhausted,
                        r.peak_kb as f64 / 1024.0
                    ),
                )
                .peer(format!("sequential google-cloud-run script: {script:.2} s"), script / r.secs.max(1e-9))
                .target(target, met),
            );
        }
    }
    Ok(figures)
}

/// The target a route is held to, and whether `r` meets it: the issue's
/// targets are the Asset Inventory route's; the fallback makes the script's
/// calls, at most 16 at once (16× the script at best), so it is held to its
/// own bound instead.
fn target(label: &str, r: &Run, bound: f64, script: f64) -> (String, bool) {
    let ratio = r.secs / bound.max(1e-9);
    let (text, met) = if label.starts_with("through Asset Inventory") {
        (
            format!(
                "the issue's targets: ≤ 1.3× the bound ({bound:.2} s: the longer search's {} pages × {LATENCY_MS} ms; here {ratio:.2}×), ≥ 50× the script, no 429, < 100 MB",
                (r.calls as f64 / 2.0).ceil()
            ),
            ratio <= 1.3 && script >= 50.0 * r.secs,
        )
    } else {
        (
            format!(
                "its own bound: ≤ 1.3× ({bound:.2} s: {} calls ÷ {CONCURRENCY} in flight × {LATENCY_MS} ms; here {ratio:.2}×), no 429, < 100 MB; the 50× target is the Asset Inventory route's (this route makes the script's calls, {CONCURRENCY} at a time)",
                r.calls
            ),
            ratio <= 1.3,
        )
    };
    (text, met && r.exhausted == 0 && r.peak_kb < 100 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issues_targets_are_the_asset_inventory_routes() {
        let run = |secs: f64, calls: u64| Run {
            secs,
            spread: (secs, secs),
            snapshots: 2000,
            calls,
            exhausted: 0,
            summary: String::new(),
            peak_kb: 60 * 1024,
        };
        // 15x the script within its own bound: the fallback meets its target.
        let (text, met) = target("fallback, each project through Run", &run(7.8, 2254), 7.04, 117.0);
        assert!(
            met && text.starts_with("its own bound") && text.contains("the 50× target is the Asset Inventory route's")
        );
        // The Asset Inventory route is held to 1.3x its bound and 50x the script.
        assert!(target("through Asset Inventory", &run(0.25, 8), 0.2, 117.0).1);
        assert!(!target("through Asset Inventory", &run(0.52, 8), 0.2, 117.0).1);
        assert!(!target("through Asset Inventory", &run(0.25, 8), 0.2, 10.0).1);
    }

    #[test]
    fn the_figure_is_the_median_run() {
        let mut runs = [(0.31, 0, 40), (0.25, 1, 30), (0.27, 0, 20)].into_iter();
        let run = median_of(3, || {
            let (secs, exhausted, peak_kb) = runs.next().unwrap();
            Ok(Run { secs, spread: (secs, secs), snapshots: 0, calls: 0, exhausted, summary: String::new(), peak_kb })
        })
        .unwrap();
        assert_eq!((run.secs, run.spread, run.exhausted, run.peak_kb), (0.27, (0.25, 0.31), 1, 40));
    }

    #[test]
    fn summaries_add_up() {
        assert_eq!(
            totals(
                "run 2160 (3 answered 429), cloudresourcemanager 92 (0 answered 429), cloudasset 1 (1 answered 429)"
            ),
            (2253, 4)
        );
        assert_eq!(totals("none"), (0, 0));
        assert_eq!(vm_hwm("Name: x\nVmHWM:\t  5120 kB\n"), Some(5120));
    }
}
