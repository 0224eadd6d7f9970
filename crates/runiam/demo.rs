//! `runiam demo`: the whole story on a fresh machine, offline.
//!
//! Starts the emulator in-process on the demo estate
//! (`examples/demo-world.yaml`, embedded at build time, or `--world FILE`)
//! and tells it act by act: each act is one mistake real estates have, and
//! each step is the exact shell command a user would type, run by a real
//! shell (`bash`, pipelines under `set -o pipefail`) with this binary first on
//! `PATH`, so the transcript replays by hand word for word (`--keep-running`
//! prints the environment for that). A step whose exit status is not the
//! one the story expects stops the demo with exit 1.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;
use runiam_core::{CommandError, Exit};

const DEMO_WORLD: &str = include_str!("../../examples/demo-world.yaml");

/// Shown after `--help` and as the man page's EXAMPLES.
const EXAMPLES: &str = "\
Examples:
  # The whole story, in seconds
  runiam demo

  # One act, and the emulator left running to replay it by hand
  runiam demo --act 3 --keep-running";

/// Run the whole story offline, against the emulator on the demo estate.
///
/// Acts, one real mistake each: a Scheduler job whose account lacks invoke, a
/// Pub/Sub push whose token audience carries a path, a service-to-service call
/// whose egress is not routed, a public service under domain restricted
/// sharing, a contractor behind a deny policy, an expired time-bound grant;
/// the exposure audit of the project; then the reviewed fix: plan, apply, prove with real calls
/// and a short load, leave an alert watching, write the runbook page, undo,
/// diagnose again. Each step prints the shell command
/// a user would type and its output. Nothing leaves this machine: the emulator
/// runs inside this process on a loopback port.
#[derive(Parser, Debug)]
#[command(name = "runiam-demo", version, after_long_help = EXAMPLES)]
pub struct DemoArgs {
    /// A world file to use instead of the embedded examples/demo-world.yaml (its
    /// project acme-shop and services are what the acts name).
    #[arg(long, value_name = "FILE")]
    pub world: Option<PathBuf>,
    /// Run only act N (1-based; each act stands on its own).
    #[arg(long, value_name = "N")]
    pub act: Option<usize>,
    /// Leave the emulator running at the end and print the environment to
    /// replay any act by hand; Ctrl-C stops it.
    #[arg(long)]
    pub keep_running: bool,
}

pub fn command() -> clap::Command {
    <DemoArgs as clap::CommandFactory>::command()
}

/// One shell command of an act and the exit status the story expects.
struct Step {
    line: String,
    expect: i32,
}

/// One mistake, told as the commands that show, explain and (where runiam
/// can) fix it.
struct Act {
    title: &'static str,
    story: &'static str,
    steps: Vec<Step>,
}

const SCHED: &str = "serviceAccount:reports-sched@acme-shop.iam.gserviceaccount.com";
const SYNC: &str = "serviceAccount:inventory-sync@acme-shop.iam.gserviceaccount.com";
const CONTRACTOR: &str = "user:dave@contractor.example";

fn step(line: impl Into<String>, expect: i32) -> Step {
    Step { line: line.into(), expect }
}

/// The story. Exit statuses: 0 fine, 1 a problem found (a denial is the
/// point of most acts), 4 refused (the tool saying no is the point of some).
fn acts() -> Vec<Act> {
    vec![
        Act {
            title: "A Scheduler job whose account lacks invoke",
            story: "nightly-report calls reports as reports-sched@ every night, and every night it gets 403.\n\
                    A real call as that account shows the symptom; troubleshoot finds the job on its own\n\
                    (no --caller needed) and names the missing grant. The fix is the last act.",
            steps: vec![
                step(format!("runiam verify reports --as {SCHED} -o text"), 1),
                step("runiam troubleshoot reports -o text", 1),
            ],
        },
        Act {
            title: "A Pub/Sub push whose token audience carries a path",
            story: "orders-push holds invoke, yet every push to /push gets 401: with no audience set, Pub/Sub\n\
                    uses the push URL, path included, and Cloud Run rejects the token before IAM is asked.\n\
                    No grant can fix that; the fix is the subscription's audience.",
            steps: vec![
                step("runiam troubleshoot orders -o text", 1),
                step(
                    "runiam verify orders --as serviceAccount:orders-push@acme-shop.iam.gserviceaccount.com -o text",
                    1,
                ),
            ],
        },
        Act {
            title: "A service-to-service call whose egress is not routed",
            story: "checkout calls payments, whose ingress is internal. checkout holds invoke, yet gets 404 and\n\
                    no request log: its VPC egress sends only private ranges through the VPC, so its calls\n\
                    to run.app arrive from the internet. troubleshoot derives that from checkout's own\n\
                    settings, names the gcloud fix, and --from shows the answer once the egress is routed.",
            steps: vec![
                step("runiam troubleshoot payments --caller-service checkout --no-logs -o text", 1),
                step("runiam troubleshoot payments --caller-service checkout --from internal --no-logs -o text", 0),
            ],
        },
        Act {
            title: "A public service under domain restricted sharing",
            story: "The web team wants storefront public. The organization admits only acme.example members,\n\
                    so granting allUsers would fail at Google; runiam refuses it up front and takes the\n\
                    supported route instead: the invoker IAM check off, behind the --allow-public gate.",
            steps: vec![
                step("runiam troubleshoot storefront --caller allUsers --no-logs -o text", 1),
                step("runiam grant-invoker storefront --member allUsers --allow-public --apply --yes -o text", 4),
                step("runiam grant-invoker storefront --disable-invoker-check --allow-public --apply --yes -o text", 0),
                step("runiam troubleshoot storefront --caller allUsers --no-logs -o text", 0),
            ],
        },
        Act {
            title: "A contractor behind a deny policy",
            story: "dave@contractor.example asks for partner-api. A deny policy on the project denies invoke to\n\
                    contractors, and deny beats every grant: the diagnosis says whose policy to change, and\n\
                    grant-invoker refuses a grant that could not help.",
            steps: vec![
                step(format!("runiam troubleshoot partner-api --caller {CONTRACTOR} --no-logs -o text"), 1),
                step(format!("runiam grant-invoker partner-api --member {CONTRACTOR} -o text"), 4),
            ],
        },
        Act {
            title: "An expired time-bound grant",
            story: "inventory-sync stopped on 30 June: its grant on inventory was time-bound (CHG-2211).\n\
                    troubleshoot finds the job and the condition that is false now; the renewal replaces\n\
                    the old condition with a new 30-day one, and a real call as the job's account proves it.",
            steps: vec![
                step("runiam troubleshoot inventory -o text", 1),
                step(
                    format!(
                        "runiam grant-invoker inventory --member {SYNC} --expires 30d --keep-condition --reason CHG-2290 --apply --yes -o text"
                    ),
                    0,
                ),
                step(format!("runiam verify inventory --as {SYNC} -o text"), 0),
            ],
        },
        Act {
            title: "The exposure audit",
            story: "Every service of the project, exported and audited in one pipe, with no caller: what is\n\
                    public (storefront by the invoker check, status with no allUsers binding to find), who\n\
                    holds invoke through a basic role, which grants end soon; each with its fix.",
            steps: vec![step("runiam export --all | runiam troubleshoot --audit -o text", 1)],
        },
        Act {
            title: "The reviewed fix: plan, apply, prove, record, undo",
            story: "Back to nightly-report. The diagnosis becomes a plan a reviewer reads (the diff is on\n\
                    stderr), the plan is applied exactly as reviewed with a backup first, real calls and a\n\
                    short load prove it, Cloud Monitoring is left watching for the denial's return, the\n\
                    runbook page is written for the team wiki, and the change record undoes it.",
            steps: vec![
                step("runiam troubleshoot reports -o yaml > diagnosis.yaml", 1),
                step("runiam grant-invoker -f diagnosis.yaml --reason CHG-2301 > plan.yaml", 0),
                step("runiam grant-invoker -f plan.yaml --apply --yes > change.yaml", 0),
                step("runiam verify --create-alert -o yaml < change.yaml > verify.yaml", 0),
                step(format!("runiam verify reports --as {SCHED} --requests 200 --concurrency 8 -o text"), 0),
                step("runiam runbook diagnosis.yaml change.yaml verify.yaml > INCIDENT.md && grep '^#' INCIDENT.md", 0),
                step("runiam rollback -f change.yaml --apply --yes -o text", 0),
                step(format!("runiam troubleshoot reports --caller {SCHED} --no-logs -o text"), 1),
            ],
        },
    ]
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

/// The environment every step runs in, as `export` lines print it.
fn environment(url: &str, work: &Path, bin_dir: &Path) -> Vec<(String, String)> {
    let path = std::env::var_os("PATH").map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    vec![
        ("RUNIAM_EMULATOR_HOST".into(), url.into()),
        ("CLOUDSDK_CORE_PROJECT".into(), "acme-shop".into()),
        ("CLOUDSDK_RUN_REGION".into(), "europe-west1".into()),
        ("CLOUDSDK_CONFIG".into(), work.join("gcloud").display().to_string()),
        ("PATH".into(), format!("{}:{path}", bin_dir.display())),
    ]
}

fn demo(args: DemoArgs) -> Result<Exit, CommandError> {
    let all = acts();
    if let Some(n) = args.act
        && !(1..=all.len()).contains(&n)
    {
        return Err(CommandError::usage(format!("--act {n}: the demo has acts 1 to {}", all.len())));
    }
    let (world, origin) = match &args.world {
        Some(p) => (
            std::fs::read_to_string(p)
                .map_err(|e| CommandError::usage(format!("cannot read --world {}: {e}", p.display())))?,
            p.display().to_string(),
        ),
        None => (DEMO_WORLD.to_owned(), "examples/demo-world.yaml".to_owned()),
    };
    let world = runiam_emulator::World::parse(&world, &origin)?;
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .ok_or_else(|| CommandError::api("cannot tell where this runiam binary is, to put it on PATH"))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CommandError::new(Exit::Api, e).context("cannot start the async runtime"))?;
    let emulator = runtime
        .block_on(runiam_emulator::start(world, runiam_emulator::Options::default(), ([127, 0, 0, 1], 0).into()))
        .map_err(|e| CommandError::new(Exit::Api, e).context("cannot start the emulator on loopback"))?;
    let url = emulator.url();
    let work = tempfile_dir(&url)?;
    let env = environment(&url, &work, &bin_dir);

    let mut out = std::io::stdout();
    writeln!(out, "runiam demo: {} acts on an offline estate ({origin})", all.len())?;
    writeln!(out, "emulator: {url}; commands run in {} under bash with set -o pipefail", work.display())?;
    let mut off_script = None;
    for (i, act) in all.iter().enumerate().filter(|(i, _)| args.act.is_none_or(|n| n == i + 1)) {
        writeln!(out, "\n━━ Act {}. {}", i + 1, act.title)?;
        for line in act.story.lines() {
            writeln!(out, "   {}", line.trim())?;
        }
        for s in &act.steps {
            writeln!(out, "\n$ {}", s.line)?;
            out.flush()?;
            let code = shell(&s.line, &work, &env)?;
            std::io::stderr().flush()?;
            if code != s.expect && off_script.is_none() {
                off_script = Some(format!("act {}: `{}` exited {code}, the story expects {}", i + 1, s.line, s.expect));
            }
        }
    }
    if let Some(why) = &off_script {
        eprintln!("runiam-demo: error: the story went off script: {why}");
    }
    if args.keep_running {
        writeln!(out, "\n━━ The emulator is still running. To replay any act by hand, in another shell:")?;
        for (k, v) in &env {
            writeln!(out, "   export {k}='{v}'")?;
        }
        writeln!(out, "   cd '{}' && set -o pipefail", work.display())?;
        writeln!(out, "   curl -s -X POST {url}/emulator/v1/reset   # the estate as it began")?;
        writeln!(out, "   then any \"$ runiam ...\" line above. Ctrl-C stops the emulator.")?;
        out.flush()?;
        runtime.block_on(stopped());
    }
    runtime.block_on(emulator.shutdown());
    let _ = std::fs::remove_dir_all(&work);
    Ok(if off_script.is_some() { Exit::Problem } else { Exit::Ok })
}

/// A fresh working directory for the steps' files and backups.
fn tempfile_dir(url: &str) -> Result<PathBuf, CommandError> {
    let port = url.rsplit(':').next().unwrap_or("0");
    let dir = std::env::temp_dir().join(format!("runiam-demo-{port}"));
    std::fs::create_dir_all(dir.join("gcloud"))
        .map_err(|e| CommandError::new(Exit::Api, e).context(format!("cannot create {}", dir.display())))?;
    Ok(dir)
}

/// Runs one step in bash, its stderr sent where stdout goes; its exit status.
fn shell(line: &str, work: &Path, env: &[(String, String)]) -> Result<i32, CommandError> {
    let mut c = std::process::Command::new("bash");
    c.arg("-c").arg(format!("set -o pipefail; {line}")).current_dir(work);
    // The user's own gcloud and runiam settings must not leak into the story.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if ["CLOUDSDK_", "GOOGLE_", "RUNIAM_"].iter().any(|p| k.starts_with(p)) {
            c.env_remove(&*k);
        }
    }
    c.envs(env.iter().map(|(k, v)| (k, v)));
    // Plans, refusals and hints are on stderr: the transcript shows them in
    // place, as a terminal would.
    #[cfg(unix)]
    if let Ok(fd) = std::os::fd::AsFd::as_fd(&std::io::stdout()).try_clone_to_owned() {
        c.stderr(fd);
    }
    let status = c
        .status()
        .map_err(|e| CommandError::new(Exit::Api, e).context("cannot run bash, which the demo's steps run in"))?;
    Ok(status.code().unwrap_or(128))
}

/// Waits for Ctrl-C or SIGTERM.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
