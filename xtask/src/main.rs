//! `cargo xtask man|completions|schemas|check`: the generated files under
//! `man/`, `completions/` and `schemas/`, and the check that they are fresh
//! and that the tree is tidy (`tidy`).
//!
//! Generation is a pure function from the binaries' clap definitions and
//! the document types to file contents; `check` compares that with what is
//! committed, so CI (and the `generated_files_are_fresh` test) fail when a
//! help text or a document shape changes without regenerating.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod figures;
mod fleet_bench;
mod generate;
mod proxy_bench;
mod startup_bench;
mod stream_bench;
mod tidy;
mod verify_bench;

/// Project automation for runiam.
#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Write man pages to man/.
    Man,
    /// Write shell completions to completions/.
    Completions,
    /// Write JSON Schemas of the pipe documents to schemas/.
    Schemas,
    /// Write every generated file.
    All,
    /// Fail if any committed generated file is stale or missing, or the tree is not tidy; report long functions.
    Check,
    /// Measure and print figures, ending with a table of runiam beside its peers (a release xtask).
    Bench {
        /// What to measure.
        #[arg(value_enum)]
        what: BenchTarget,
        /// Services in the generated estate (fleet only) [default: 2000].
        #[arg(long, value_name = "N")]
        services: Option<usize>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BenchTarget {
    /// Every benchmark below, then one table of all their figures.
    All,
    /// Start-up time and memory of one command beside Google's Python client.
    Startup,
    /// `runiam export --all` on 500 services at 50 ms latency.
    Export,
    /// `runiam troubleshoot` on a deep ancestry at 100 ms latency.
    Troubleshoot,
    /// The emulator's Cloud Run front end under wrk, beside nginx.
    Emulator,
    /// `runiam verify`'s smoke load beside wrk, same URL and token.
    Verify,
    /// troubleshoot's request-log classifier on 1,000,000 entries.
    Logs,
    /// `runiam proxy`'s added latency and throughput, beside direct calls with the same token.
    Proxy,
    /// `runiam export --organization` on 2,000 services at 50 ms latency, both routes, beside a sequential Python script.
    Fleet,
    /// 100,000 services from an Asset Inventory export audited in one pipe; a 100,000-document YAML stream's memory beside 10,000.
    Streams,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace").to_owned()
}

/// Writes `files` under `dir`, removing files there that are no longer generated.
fn write(dir: &str, files: &BTreeMap<PathBuf, String>) -> anyhow::Result<()> {
    let dir = root().join(dir);
    std::fs::create_dir_all(&dir)?;
    for entry in std::fs::read_dir(&dir)? {
        let p = entry?.path();
        if !files.contains_key(&p) && p.is_file() {
            std::fs::remove_file(&p)?;
        }
    }
    for (p, content) in files {
        std::fs::write(p, content)?;
    }
    println!("wrote {} files to {}", files.len(), dir.display());
    Ok(())
}

/// Writes generated pages into a folder that also holds hand-written ones.
fn write_pages(files: &BTreeMap<PathBuf, String>) -> anyhow::Result<()> {
    for (p, content) in files {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(p, content)?;
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// Runs one benchmark, or all of them, and prints the figures' table. A
/// debug xtask re-runs itself in release: the figures are for shipped code.
fn bench_task(root: &Path, what: BenchTarget, services: Option<usize>) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        let name = bench_name(what);
        let size = services.map(|n| vec!["--services".to_owned(), n.to_string()]).unwrap_or_default();
        let status = std::process::Command::new(env!("CARGO"))
            .args(["run", "--quiet", "--release", "--package", "xtask", "--", "bench", &name])
            .args(size)
            .current_dir(root)
            .status()?;
        anyhow::ensure!(status.success(), "the release run failed");
        return Ok(());
    }
    if what == BenchTarget::Fleet && services.is_some() {
        print!("{}", figures::table(&fleet_bench::fleet_bench(root, services)?));
        return Ok(());
    }
    let benches: [(BenchTarget, figures::Bench); 9] = [
        (BenchTarget::Startup, startup_bench::startup_bench),
        (BenchTarget::Troubleshoot, bench::troubleshoot_bench),
        (BenchTarget::Logs, |_| bench::logs_bench()),
        (BenchTarget::Export, bench::export_bench),
        (BenchTarget::Emulator, bench::emulator_bench),
        (BenchTarget::Verify, verify_bench::verify_bench),
        (BenchTarget::Proxy, proxy_bench::proxy_bench),
        (BenchTarget::Fleet, |root| fleet_bench::fleet_bench(root, None)),
        (BenchTarget::Streams, stream_bench::stream_bench),
    ];
    let mut rows = Vec::new();
    for (target, bench) in benches {
        if what != BenchTarget::All && what != target {
            continue;
        }
        let name = bench_name(target);
        println!("== bench {name}");
        match bench(root) {
            Ok(figures) => rows.extend(figures),
            // One failed bench leaves its row in the table instead of hiding the others.
            Err(e) if what == BenchTarget::All => {
                eprintln!("xtask: bench {name} failed: {e:#}");
                rows.push(figures::failed(&name, &e));
            }
            Err(e) => return Err(e),
        }
    }
    println!("\n`cargo xtask bench {}` on {} cores:\n", bench_name(what), cores());
    print!("{}", figures::table(&rows));
    Ok(())
}

fn bench_name(what: BenchTarget) -> String {
    clap::ValueEnum::to_possible_value(&what).map(|v| v.get_name().to_owned()).unwrap_or_default()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = root();
    let result = match cli.task {
        Task::Man => write("man", &generate::man(&root)),
        Task::Completions => write("completions", &generate::completions(&root)),
        Task::Schemas => write("schemas", &generate::schemas(&root)),
        Task::All => write("man", &generate::man(&root))
            .and_then(|_| write("completions", &generate::completions(&root)))
            .and_then(|_| write("schemas", &generate::schemas(&root)))
            .and_then(|_| write_pages(&generate::docs(&root))),
        Task::Bench { what, services } => bench_task(&root, what, services),
        Task::Check => {
            let stale = generate::stale(&root);
            let untidy = tidy::problems(&root);
            for (lines, f) in tidy::long_functions(&root) {
                println!("long function ({lines} lines): {f}");
            }
            if stale.is_empty() && untidy.is_empty() {
                println!("generated files are up to date; the tree is tidy");
                Ok(())
            } else {
                for s in &stale {
                    eprintln!("stale: {s}");
                }
                for p in &untidy {
                    eprintln!("tidy: {p}");
                }
                if !stale.is_empty() {
                    eprintln!("run `cargo xtask all` and commit the result");
                }
                return ExitCode::FAILURE;
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_files_are_fresh() {
        let stale = super::generate::stale(&super::root());
        assert!(stale.is_empty(), "stale generated files (run `cargo xtask all` and commit):\n{}", stale.join("\n"));
    }
}
