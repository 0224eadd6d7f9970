//! `cargo xtask bench streams`: an organization collected by Asset
//! Inventory and audited here, in one streaming pass.
//!
//! The bench writes the export files of a generated estate
//! (`runiam_emulator::estate`, 200 projects; resources and IAM policies as
//! Google writes them to Cloud Storage, by the emulator's renderer) and runs
//! `runiam-export --from-asset-export RESOURCES --from-asset-export POLICIES
//! | runiam-troubleshoot --audit` against an emulator that holds the
//! projects, folders and organization (the audit reads their policies):
//!
//! - 100,000 services as JSON lines: wall time and each command's peak
//!   memory (targets: under 10 s, under 100 MB);
//! - the same pipe as a YAML stream at 10,000 and 100,000 documents: the
//!   reading command's peak memory must not grow with the stream (export's
//!   grows with the policies it holds to pair, and is shown beside it).
//!
//! The generated files stay in the temporary directory, never in the tree.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use runiam_emulator::control::asset::{ExportContent, export};
use runiam_emulator::estate::{ORG, Size, fleet};

use crate::bench::{build_release, start_emulator};
use crate::figures::Figure;
use crate::fleet_bench::vm_hwm;

const PROJECTS: usize = 200;

/// One pipe's figures.
struct Run {
    secs: f64,
    /// Peak resident memory of export and of the audit, in kB.
    peaks: [u64; 2],
    findings: usize,
}

/// Writes the resource and IAM-policy export files of `services` services.
fn export_files(dir: &Path, services: usize) -> anyhow::Result<[PathBuf; 2]> {
    let size = Size { projects: PROJECTS, services };
    let world = runiam_emulator::World::from_value(fleet(size, false), "estate").map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = runiam_emulator::State::new(world);
    let paths = [dir.join(format!("resources-{services}.json")), dir.join(format!("iam-policy-{services}.json"))];
    for (path, content) in paths.iter().zip([ExportContent::Resource, ExportContent::IamPolicy]) {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        export(&state, &format!("organizations/{ORG}"), content, &mut file)?;
    }
    Ok(paths)
}

/// `export --from-asset-export … -o FORMAT | troubleshoot --audit -o json`,
/// polling both commands' peak memory while they run.
fn audit_pipe(bin: &Path, url: &str, files: &[PathBuf; 2], format: &str) -> anyhow::Result<Run> {
    let started = Instant::now();
    let mut export = Command::new(bin.join("runiam-export"))
        .args(["--from-asset-export", path_str(&files[0])?, "--from-asset-export", path_str(&files[1])?])
        .args(["-o", format, "--quiet"])
        .env("HOME", "/nonexistent")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running runiam-export")?;
    let piped = export.stdout.take().context("export stdout")?;
    let mut audit = Command::new(bin.join("runiam-troubleshoot"))
        .args(["--audit", "-o", "json", "--quiet"])
        .env("RUNIAM_EMULATOR_HOST", url.trim_start_matches("http://"))
        .env("HOME", "/nonexistent")
        .stdin(piped)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running runiam-troubleshoot")?;
    let mut out = audit.stdout.take().context("audit stdout")?;
    let counter = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut lines = 0usize;
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            lines += buf[..n].iter().filter(|b| **b == b'\n').count();
        }
        lines
    });
    let mut peaks = [0u64; 2];
    let mut children: [(&mut Child, bool); 2] = [(&mut export, false), (&mut audit, false)];
    while children.iter().any(|(_, done)| !done) {
        for (i, (child, done)) in children.iter_mut().enumerate() {
            if *done {
                continue;
            }
            if let Some(kb) =
                std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok().as_deref().and_then(vm_hwm)
            {
                peaks[i] = peaks[i].max(kb);
            }
            *done = child.try_wait()?.is_some();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let secs = started.elapsed().as_secs_f64();
    let findings = counter.join().map_err(|_| anyhow::anyhow!("the line counter panicked"))?;
    if !export.wait()?.success() {
        bail!("runiam-export --from-asset-export failed");
    }
    // 1: the estate holds risks, as planted; anything else is a failure.
    if audit.wait()?.code() != Some(1) {
        bail!("runiam-troubleshoot --audit did not report the estate's risks");
    }
    Ok(Run { secs, peaks, findings })
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("utf-8 path")
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

pub fn stream_bench(root: &Path) -> anyhow::Result<Vec<Figure>> {
    let bin = build_release(root, &["runiam-emulator", "runiam-export", "runiam-troubleshoot"])?;
    let dir = std::env::temp_dir().join("runiam-bench");
    std::fs::create_dir_all(&dir)?;
    // The audit reads the projects', folders' and organization's policies live.
    let ancestors = dir.join("streams-ancestors.json");
    std::fs::write(&ancestors, serde_json::to_string(&fleet(Size { projects: PROJECTS, services: 0 }, false))?)?;
    let emu = start_emulator(&bin, &ancestors, &[])?;
    let small = export_files(&dir, 10_000)?;
    let large = export_files(&dir, 100_000)?;
    let bytes: u64 = large.iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
    let json = audit_pipe(&bin, &emu.1, &large, "json")?;
    let yaml_small = audit_pipe(&bin, &emu.1, &small, "yaml")?;
    let yaml_large = audit_pipe(&bin, &emu.1, &large, "yaml")?;
    println!(
        "export --from-asset-export | troubleshoot --audit: {PROJECTS} projects, export files of 100,000 services {:.0} MB",
        bytes as f64 / 1e6
    );
    for (label, r) in [
        ("100,000 services, JSON lines", &json),
        ("10,000 services, YAML stream", &yaml_small),
        ("100,000 services, YAML stream", &yaml_large),
    ] {
        println!(
            "  {label}: wall {:.2} s, {} findings; peak memory export {:.1} MB, audit {:.1} MB",
            r.secs,
            r.findings,
            mb(r.peaks[0]),
            mb(r.peaks[1])
        );
    }
    let peak = |r: &Run| r.peaks.iter().copied().max().unwrap_or(0);
    // The stream's reader must not grow: ten times the documents, at most a
    // quarter more memory. export grows by the policies it holds to pair
    // (docs/fleet.md), which the figure shows beside it.
    let constant = yaml_large.peaks[1] as f64 <= yaml_small.peaks[1] as f64 * 1.25;
    Ok(vec![
        Figure::new(
            "`export --from-asset-export`, 100,000 services, piped into `troubleshoot --audit` (JSON lines)",
            format!(
                "{:.2} s; peak {:.0} MB export, {:.0} MB audit",
                json.secs,
                mb(json.peaks[0]),
                mb(json.peaks[1])
            ),
        )
        .target("< 10 s, < 100 MB each", json.secs < 10.0 && peak(&json) < 100 * 1024),
        Figure::new(
            "the same pipe as a YAML stream: 100,000 documents beside 10,000",
            format!(
                "audit peak {:.1} MB at 100,000, {:.1} MB at 10,000; export (holding the policies) {:.0} / {:.0} MB; {:.2} s at 100,000",
                mb(yaml_large.peaks[1]),
                mb(yaml_small.peaks[1]),
                mb(yaml_large.peaks[0]),
                mb(yaml_small.peaks[0]),
                yaml_large.secs
            ),
        )
        .target("the reader in constant memory: ≤ 1.25× its 10,000-document peak", constant),
    ])
}
