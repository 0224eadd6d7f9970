//! `cargo xtask bench verify`: `runiam verify`'s smoke load against the
//! emulator's Cloud Run front end, beside wrk on the same URL with the same
//! ID token in the same run: throughput, its ratio, and p50/p95/p99 of both.
//! Figures, not pass/fail; the target is ≥ 10,000 req/s and percentiles
//! within 15 % of wrk's. A verify load lasts half a second, so one round
//! is at the mercy of whatever else the cores do: the two alternate for
//! `ROUNDS` rounds and the medians are compared, each round shown.

use std::process::Command;

use anyhow::{Context, bail};

use crate::figures::Figure;

use crate::bench::{FRONT_HOST, ensure_tools, front_emulator, median, mint_front_token, wrk, wrk_rps};

const REQUESTS: &str = "20000";
const CONCURRENCY: &str = "64";
const SERVICE: &str = "projects/bench-proj/locations/europe-west1/services/hello";
const PATH: &str = "/bench";
const WRK: [&str; 6] = ["-t2", "-c64", "-d2s", "--latency", "--timeout", "5s"];
const ROUNDS: usize = 5;

/// Throughput and latency percentiles (ms) of one load generator.
#[derive(Clone, Copy)]
pub(crate) struct Figures {
    pub rps: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

/// wrk's `Requests/sec` and its latency distribution; wrk prints 50/75/90/99
/// only, so p95 is interpolated between 90 and 99 (linear in rank).
pub(crate) fn run_wrk(settings: &[&str], url: &str, headers: &[String]) -> anyhow::Result<Figures> {
    let text = wrk(settings, url, headers)?;
    let rps = wrk_rps(&text)?;
    let pct = |p: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(p).map(|v| ms(v.trim())))
            .flatten()
            .with_context(|| format!("no {p} line in wrk output:\n{text}"))
    };
    let (p50, p90, p99) = (pct("50%")?, pct("90%")?, pct("99%")?);
    Ok(Figures { rps, p50, p95: p90 + (p99 - p90) * 5.0 / 9.0, p99 })
}

/// wrk's `812.00us`, `1.23ms`, `1.02s` in milliseconds.
fn ms(v: &str) -> Option<f64> {
    let (n, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    n.parse::<f64>().ok().map(|x| x * scale)
}

/// runiam-verify's load check, from its JSON report.
fn run_verify(bin: &std::path::Path, emulator: &str, token_file: &std::path::Path) -> anyhow::Result<Figures> {
    let out = Command::new(bin.join("runiam-verify"))
        .args([SERVICE, "--path", PATH, "--requests", REQUESTS, "--concurrency", CONCURRENCY, "--force"])
        .args(["--id-token-cmd", &format!("cat '{}'", token_file.display()), "-o", "json", "--quiet"])
        .env("RUNIAM_EMULATOR_HOST", emulator.trim_start_matches("http://"))
        .output()
        .context("running runiam-verify")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("runiam-verify failed ({}):\n{text}{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let report: serde_json::Value = serde_json::from_str(text.trim()).context("runiam-verify's report")?;
    let load = report["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == "load"))
        .context("no load check in the report")?;
    let data = &load["evidence"][0]["data"];
    let f = |v: &serde_json::Value| v.as_f64().with_context(|| format!("no figure in {data}"));
    Ok(Figures {
        rps: f(&data["throughputPerSecond"])?,
        p50: f(&data["latencyMs"]["p50"])?,
        p95: f(&data["latencyMs"]["p95"])?,
        p99: f(&data["latencyMs"]["p99"])?,
    })
}

/// Each figure's median over the rounds, taken figure by figure.
pub(crate) fn medians(rounds: &[Figures]) -> Figures {
    let of = |pick: fn(&Figures) -> f64| median(rounds.iter().map(pick).collect());
    Figures { rps: of(|f| f.rps), p50: of(|f| f.p50), p95: of(|f| f.p95), p99: of(|f| f.p99) }
}

pub fn verify_bench(root: &std::path::Path) -> anyhow::Result<Vec<Figure>> {
    ensure_tools()?;
    let (bin, dir, emu) = front_emulator(root, &["runiam-emulator", "runiam-verify"], "runiam-bench-verify")?;
    let token = mint_front_token(&emu.1)?;
    let token_file = dir.join("token");
    std::fs::write(&token_file, &token)?;

    let headers = [format!("Host: {FRONT_HOST}"), format!("Authorization: Bearer {token}")];
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let verify = run_verify(&bin, &emu.1, &token_file)?;
        let wrk = run_wrk(&WRK, &format!("{}{PATH}", emu.1), &headers)?;
        rounds.push((verify, wrk));
    }
    let _ = std::fs::remove_file(&token_file);

    println!(
        "allowed requests with a valid ID token to the emulator's front end (verify --requests {REQUESTS} --concurrency {CONCURRENCY}; wrk {}), {ROUNDS} rounds:",
        WRK.join(" ")
    );
    println!("  {:<22} {:>10} {:>9} {:>9} {:>9}", "", "req/s", "p50 ms", "p95 ms", "p99 ms");
    let row = |name: &str, f: &Figures| {
        println!("  {name:<22} {:>10.0} {:>9.3} {:>9.3} {:>9.3}", f.rps, f.p50, f.p95, f.p99);
    };
    for (i, (verify, wrk)) in rounds.iter().enumerate() {
        row(&format!("round {} runiam-verify", i + 1), verify);
        row(&format!("round {} wrk", i + 1), wrk);
    }
    let verify = medians(&rounds.iter().map(|r| r.0).collect::<Vec<_>>());
    let wrk = medians(&rounds.iter().map(|r| r.1).collect::<Vec<_>>());
    row("median runiam-verify", &verify);
    row("median wrk", &wrk);
    let ratio = |a: f64, b: f64| a / b.max(1e-9);
    println!(
        "  {:<22} {:>10.2} {:>9.2} {:>9.2} {:>9.2}",
        "median verify/wrk",
        ratio(verify.rps, wrk.rps),
        ratio(verify.p50, wrk.p50),
        ratio(verify.p95, wrk.p95),
        ratio(verify.p99, wrk.p99)
    );
    let within = |a: f64, b: f64| a <= b * 1.15;
    Ok(vec![
        Figure::new(
            format!("`verify` smoke load, {REQUESTS} requests, {CONCURRENCY} in flight"),
            format!("{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms", verify.rps, verify.p50, verify.p99),
        )
        .peer(
            format!("wrk: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms", wrk.rps, wrk.p50, wrk.p99),
            ratio(verify.rps, wrk.rps),
        )
        .target(
            "≥ 10,000 req/s, percentiles within 15 % of wrk",
            verify.rps >= 10_000.0
                && within(verify.p50, wrk.p50)
                && within(verify.p95, wrk.p95)
                && within(verify.p99, wrk.p99),
        ),
    ])
}
