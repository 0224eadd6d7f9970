//! `cargo xtask bench proxy`: what `runiam proxy` adds. wrk calls the
//! emulator's Cloud Run front end directly (Host and Authorization set, the
//! token minted by the knob) and through `runiam-proxy`, which sends the
//! same token (`--id-token-cmd cat`), in the same run: one connection for
//! the added latency (p50, p99), 64 for throughput. The two alternate for
//! `ROUNDS` rounds and the medians are compared. Figures, not pass/fail;
//! the target is at most 0.2 ms added at p50.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

use crate::bench::{FRONT_HOST, ensure_tools, front_emulator, mint_front_token};
use crate::figures::Figure;
use crate::verify_bench::{Figures, medians, run_wrk};

const SERVICE: &str = "projects/bench-proj/locations/europe-west1/services/hello";
const PATH: &str = "/bench";
const ROUNDS: usize = 3;
/// (name, wrk settings): one connection shows the latency a request pays,
/// 64 the throughput.
const LOADS: [(&str, [&str; 6]); 2] = [
    ("1 connection", ["-t1", "-c1", "-d2s", "--latency", "--timeout", "5s"]),
    ("64 connections", ["-t2", "-c64", "-d2s", "--latency", "--timeout", "5s"]),
];

/// A running runiam-proxy, stopped on drop.
struct Proxy(Child, String);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_proxy(bin: &Path, emulator: &str, token_file: &Path) -> anyhow::Result<Proxy> {
    let mut child = Command::new(bin.join("runiam-proxy"))
        .args([SERVICE, "--port", "0", "--quiet"])
        .args(["--id-token-cmd", &format!("cat '{}'", token_file.display())])
        .env("RUNIAM_EMULATOR_HOST", emulator.trim_start_matches("http://"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting runiam-proxy")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("proxy stdout")?).read_line(&mut line)?;
    let url = line.trim().to_owned();
    if url.is_empty() {
        bail!("runiam-proxy printed no URL");
    }
    Ok(Proxy(child, url))
}

pub fn proxy_bench(root: &Path) -> anyhow::Result<Vec<Figure>> {
    ensure_tools()?;
    let (bin, dir, emu) = front_emulator(root, &["runiam-emulator", "runiam-proxy"], "runiam-bench-proxy")?;
    let token = mint_front_token(&emu.1)?;
    let token_file = dir.join("token");
    std::fs::write(&token_file, &token)?;
    let proxy = start_proxy(&bin, &emu.1, &token_file);
    let _ = std::fs::remove_file(&token_file);
    let proxy = proxy?;

    let headers = [format!("Host: {FRONT_HOST}"), format!("Authorization: Bearer {token}")];
    let direct_url = format!("{}{PATH}", emu.1);
    let proxied_url = format!("{}{PATH}", proxy.1);
    println!("allowed requests to the emulator's front end, direct and through runiam-proxy, {ROUNDS} rounds each:");
    println!("  {:<30} {:>10} {:>9} {:>9}", "", "req/s", "p50 ms", "p99 ms");
    let row = |name: &str, f: &Figures| println!("  {name:<30} {:>10.0} {:>9.3} {:>9.3}", f.rps, f.p50, f.p99);
    let mut figures = Vec::new();
    for (load, settings) in LOADS {
        let mut direct = Vec::with_capacity(ROUNDS);
        let mut proxied = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            direct.push(run_wrk(&settings, &direct_url, &headers)?);
            proxied.push(run_wrk(&settings, &proxied_url, &[])?);
        }
        let (direct, proxied) = (medians(&direct), medians(&proxied));
        row(&format!("{load}: direct"), &direct);
        row(&format!("{load}: through the proxy"), &proxied);
        println!(
            "  {:<30} {:>10.2} {:>+9.3} {:>+9.3}",
            format!("{load}: proxy/direct, added"),
            proxied.rps / direct.rps.max(1e-9),
            proxied.p50 - direct.p50,
            proxied.p99 - direct.p99
        );
        let added = proxied.p50 - direct.p50;
        let figure = Figure::new(
            format!("`proxy`, {load}: through the proxy"),
            format!("{:.0} req/s, p50 {:.3} ms (+{added:.3} ms)", proxied.rps, proxied.p50),
        )
        .peer(format!("direct: {:.0} req/s, p50 {:.3} ms", direct.rps, direct.p50), proxied.rps / direct.rps.max(1e-9));
        // The latency target is for one request at a time; 64 connections measure throughput.
        figures.push(if load == LOADS[0].0 { figure.target("≤ 0.2 ms added at p50", added <= 0.2) } else { figure });
    }
    Ok(figures)
}
