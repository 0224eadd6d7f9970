//! `runiam demo`: the whole story on a fresh machine, offline.
//!
//! Starts the emulator in-process on the example estate
//! (`examples/acme-world.yaml`, embedded at build time, or `--world FILE`),
//! points this process at it with `RUNIAM_EMULATOR_HOST`, and runs the real
//! commands in-process, printing each command line before its output.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::Parser;
use runiam_core::{CommandError, Exit};

const EXAMPLE_WORLD: &str = include_str!("../../examples/acme-world.yaml");

/// Run the whole story offline, against the emulator on the example estate.
///
/// Prints each runiam command line and what it answers. Nothing leaves this
/// machine: the emulator runs inside this process on a loopback port.
#[derive(Parser, Debug)]
#[command(name = "runiam-demo", version)]
pub struct DemoArgs {
    /// A world file to use instead of the embedded examples/acme-world.yaml.
    #[arg(long, value_name = "FILE")]
    pub world: Option<PathBuf>,
}

pub fn command() -> clap::Command {
    <DemoArgs as clap::CommandFactory>::command()
}

/// The caller the tour diagnoses, fixes, proves and undoes.
/// checkout's runtime identity, which must call hello (service to service).
const CALLER: &str = "serviceAccount:checkout-runtime@acme-prod.iam.gserviceaccount.com";
const SERVICE: &str = "projects/acme-prod/locations/europe-west1/services/hello";

/// The steps of the tour, in the front binary's words: export, diagnose a
/// denied caller, plan and apply the least-privilege grant, prove it with a
/// real call as the caller, then undo it from the backup and diagnose again.
/// `BACKUP` stands for the backup the apply step wrote.
fn steps(project: &str, backups: &str) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        s(&["export", "--all", "--project", project, "-o", "text"]),
        s(&["troubleshoot", SERVICE, "--caller", CALLER, "--no-logs", "-o", "text"]),
        s(&["grant-invoker", SERVICE, "--member", CALLER, "--reason", "DEMO-1", "-o", "text"]),
        s(&[
            "grant-invoker",
            SERVICE,
            "--member",
            CALLER,
            "--reason",
            "DEMO-1",
            "--apply",
            "--yes",
            "--backup-dir",
            backups,
            "-o",
            "text",
        ]),
        s(&["verify", SERVICE, "--as", CALLER, "--requests", "20", "--concurrency", "4", "-o", "text"]),
        s(&["export", SERVICE, "-o", "terraform"]),
        // Restoring the backup removes the grant made since it was taken:
        // drift that rollback refuses unless --force says so.
        s(&["rollback", "-f", "BACKUP", "--force", "--apply", "--yes", "--backup-dir", backups, "-o", "text"]),
        s(&["troubleshoot", SERVICE, "--caller", CALLER, "--no-logs", "-o", "text"]),
    ]
}

/// The newest file under `dir` (the backup the apply step just wrote).
fn newest_file(dir: &std::path::Path) -> Option<PathBuf> {
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let p = entry.path();
        let found = if p.is_dir() {
            newest_file(&p).and_then(|f| Some((f.metadata().ok()?.modified().ok()?, f)))
        } else {
            p.metadata().ok().and_then(|m| m.modified().ok()).map(|t| (t, p))
        };
        if let Some((t, f)) = found
            && newest.as_ref().is_none_or(|(nt, _)| t > *nt)
        {
            newest = Some((t, f));
        }
    }
    newest.map(|(_, f)| f)
}

pub fn run(args: Vec<OsString>) -> Exit {
    let parsed = match DemoArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { Exit::Usage } else { Exit::Ok };
        }
    };
    match demo(parsed) {
        Ok(exit) => exit,
        Err(e) => e.report("runiam-demo"),
    }
}

fn demo(args: DemoArgs) -> Result<Exit, CommandError> {
    let (world, origin) = match &args.world {
        Some(p) => (
            std::fs::read_to_string(p)
                .map_err(|e| CommandError::usage(format!("cannot read --world {}: {e}", p.display())))?,
            p.display().to_string(),
        ),
        None => (EXAMPLE_WORLD.to_owned(), "examples/acme-world.yaml".to_owned()),
    };
    let world = runiam_emulator::World::parse(&world, &origin)?;
    let project = world.projects.first().map(|p| p.id.clone()).ok_or_else(|| {
        CommandError::usage(format!("{origin} declares no project; the demo needs one with services"))
    })?;

    // Pick the port first: the commands are told the address before they run.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| CommandError::new(Exit::Api, e).context("cannot find a free loopback port"))?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    // Every command the demo runs in this process talks to its emulator.
    runiam_core::config::Env::set_process_override(vec![("RUNIAM_EMULATOR_HOST".to_owned(), url.clone())]);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CommandError::new(Exit::Api, e).context("cannot start the async runtime"))?;
    let addr = ([127, 0, 0, 1], port).into();
    let emulator = runtime
        .block_on(runiam_emulator::start(world, runiam_emulator::Options::default(), addr))
        .map_err(|e| CommandError::new(Exit::Api, e).context(format!("cannot start the emulator on {url}")))?;

    let backups = std::env::temp_dir().join(format!("runiam-demo-{port}"));
    let backups_s = backups.display().to_string();
    let mut out = std::io::stdout();
    writeln!(out, "runiam demo: an offline tour of {origin}")?;
    writeln!(out, "emulator: {url} (RUNIAM_EMULATOR_HOST={url}); backups in {backups_s}")?;
    let mut worst = Exit::Ok;
    for mut step in steps(&project, &backups_s) {
        if let Some(arg) = step.iter_mut().find(|a| *a == "BACKUP") {
            *arg = newest_file(&backups).map(|p| p.display().to_string()).unwrap_or_default();
        }
        writeln!(out, "\n$ runiam {}", step.join(" "))?;
        out.flush()?;
        let mut argv = vec![OsString::from("runiam")];
        argv.extend(step.iter().map(OsString::from));
        // A DENIED diagnosis (exit 1) is part of the story; usage and API errors are not.
        match crate::run(argv) {
            0 | 1 => {}
            2 => worst = worst.max(Exit::Usage),
            _ => worst = worst.max(Exit::Api),
        }
        std::io::stderr().flush()?;
    }
    runtime.block_on(emulator.shutdown());
    let _ = std::fs::remove_dir_all(&backups);
    Ok(worst)
}
