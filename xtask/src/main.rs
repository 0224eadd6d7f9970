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
mod fleet_bench;
mod generate;
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
    /// Measure and print figures (release build).
    Bench {
        /// What to measure.
        #[arg(value_enum)]
        what: BenchTarget,
        /// Services in the generated estate (fleet only) [default: 2000].
        #[arg(long, value_name = "N")]
        services: Option<usize>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BenchTarget {
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
    /// `runiam export --organization` on 2,000 services at 50 ms latency, both routes, beside a sequential Python script.
    Fleet,
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
        Task::Bench { what: BenchTarget::Export, .. } => bench::export_bench(&root),
        Task::Bench { what: BenchTarget::Troubleshoot, .. } => bench::troubleshoot_bench(&root),
        Task::Bench { what: BenchTarget::Emulator, .. } => bench::emulator_bench(&root),
        Task::Bench { what: BenchTarget::Verify, .. } => verify_bench::verify_bench(&root),
        Task::Bench { what: BenchTarget::Logs, .. } => bench::logs_bench(&root),
        Task::Bench { what: BenchTarget::Fleet, services } => fleet_bench::fleet_bench(&root, services),
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
