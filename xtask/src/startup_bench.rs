//! `cargo xtask bench startup`: what a user waits for on every command —
//! `runiam export SERVICE` (start, read one service and its policy, print)
//! beside Google's official Python client doing the same two calls
//! (`xtask/peers/get_service.py`), both against the emulator, both measured
//! by the same harness (`xtask/peers/measure.py`: wall time and peak RSS),
//! alternating for `ROUNDS` rounds; medians are compared.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::bench::{front_emulator, median};
use crate::figures::Figure;

const ROUNDS: usize = 9;
const SERVICE: &str = "projects/bench-proj/locations/europe-west1/services/hello";

/// A Python with `packages` (pip names) importable as `modules`, in a venv
/// under target/ that the conformance run shares.
pub(crate) fn python_with(root: &Path, modules: &str, packages: &[&str]) -> anyhow::Result<PathBuf> {
    let venv = root.join("target/conformance-venv");
    let python = venv.join("bin/python");
    let importable =
        |p: &Path| Command::new(p).args(["-c", &format!("import {modules}")]).status().is_ok_and(|s| s.success());
    if python.exists() && importable(&python) {
        return Ok(python);
    }
    if !python.exists() && !Command::new("python3").arg("-m").arg("venv").arg(&venv).status()?.success() {
        bail!("python3 -m venv {} failed", venv.display());
    }
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(packages)
        .status()
        .context("running pip")?;
    if !pip.success() || !importable(&python) {
        bail!("pip install {} failed", packages.join(" "));
    }
    Ok(python)
}

/// One run under the harness: (seconds, peak kB).
pub(crate) fn measure(
    python: &Path,
    root: &Path,
    command: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<(f64, f64)> {
    let out = Command::new(python)
        .arg(root.join("xtask/peers/measure.py"))
        .args(command)
        .envs(env.iter().copied())
        .output()
        .context("running the measuring harness")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("`{}` failed: {}{text}", command.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    let mut figures = text.split_whitespace().map(str::parse::<f64>);
    match (figures.next(), figures.next()) {
        (Some(Ok(secs)), Some(Ok(kb))) => Ok((secs, kb)),
        _ => bail!("the harness printed {text:?}"),
    }
}

pub fn startup_bench(root: &Path) -> anyhow::Result<Vec<Figure>> {
    let python = python_with(root, "google.cloud.run_v2", &["google-cloud-run"])?;
    let (bin, _, emu) = front_emulator(root, &["runiam-emulator", "runiam"], "runiam-bench-startup")?;
    let runiam = bin.join("runiam").display().to_string();
    let peer = root.join("xtask/peers/get_service.py").display().to_string();
    let python_s = python.display().to_string();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.push(measure(
            &python,
            root,
            &[&runiam, "export", SERVICE, "-o", "json"],
            &[("RUNIAM_EMULATOR_HOST", &emu.1), ("HOME", "/nonexistent")],
        )?);
        theirs.push(measure(&python, root, &[&python_s, &peer, &emu.1, SERVICE], &[])?);
    }
    let pick = |v: &[(f64, f64)], i: usize| median(v.iter().map(|f| if i == 0 { f.0 } else { f.1 }).collect());
    let (ms, kb) = (pick(&ours, 0) * 1e3, pick(&ours, 1));
    let (peer_ms, peer_kb) = (pick(&theirs, 0) * 1e3, pick(&theirs, 1));
    println!("one service and its IAM policy, start to finish, against the emulator ({ROUNDS} rounds, medians):");
    println!("  runiam export SERVICE              {ms:>8.1} ms {:>8.1} MB peak", kb / 1024.0);
    println!("  google-cloud-run (Python, REST)    {peer_ms:>8.1} ms {:>8.1} MB peak", peer_kb / 1024.0);
    Ok(vec![
        Figure::new("start-up: one service and its policy, start to finish", format!("{ms:.0} ms"))
            .peer(format!("google-cloud-run (Python): {peer_ms:.0} ms"), peer_ms / ms.max(1e-9))
            .target("≥ 5× faster", peer_ms >= 5.0 * ms),
        Figure::new("start-up: peak memory", format!("{:.1} MB", kb / 1024.0))
            .peer(format!("google-cloud-run (Python): {:.1} MB", peer_kb / 1024.0), peer_kb / kb.max(1e-9))
            .target("≤ half the peer's", 2.0 * kb <= peer_kb),
    ])
}
