//! `runiam troubleshoot`: why is this caller denied?
//!
//! Gather (`gather`: the service, every policy above it, deny and org
//! policies, roles, groups, concurrently; `callers` without a caller; the
//! logs and the token) → decide (`decide` and `observe`: pure, core's
//! evaluator plus the front end's own checks, the caller's configuration,
//! the token and the logs, into findings with stable ids from `findings`)
//! → settle (`settle`: the one place that sets the verdict, orders the
//! findings and picks the fix) → report (the verdict first on a terminal;
//! Diagnosis documents in pipes). Troubleshoot only reads.

pub mod callers;
pub mod decide;
pub mod findings;
pub use runiam_core::gather;
pub mod logs;
pub mod observe;
pub mod settle;
pub mod token;
pub mod watch;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use chrono::Utc;
use clap::{CommandFactory, Parser};
use futures::future::join_all;
use runiam_core::api::Clients;
use runiam_core::api::run::Service;
use runiam_core::cli::{CommonArgs, run_command};
use runiam_core::doc::{
    Diagnosis, Document, Evidence, Kind, ServiceSnapshot, Severity, Verdict, input, read_for, read_input, write_stdout,
};
use runiam_core::http::HttpOptions;
use runiam_core::model::{INVOKE_PERMISSION, Policy, Principal, ServiceRef};
use runiam_core::output::Format;
use runiam_core::style::{Tone, paint};
use runiam_core::target::{resolve_service, user_named};
use runiam_core::{CommandError, Exit};
use serde_json::json;

use crate::decide::{Elsewhere, Origin, Request, diagnose};
use crate::observe::{LogRead, Observed};
use crate::settle::{Draft, settle};

/// Shown after `--help` and as the man page's EXAMPLES.
const EXAMPLES: &str = "\
Examples:
  # Why is this account refused?
  runiam troubleshoot hello --region europe-west1 --caller serviceAccount:sched@acme-prod.iam.gserviceaccount.com

  # Every configured caller of the service (Pub/Sub, Scheduler, Eventarc, Tasks, Workflows)
  runiam troubleshoot hello --region europe-west1

  # The token the caller sent, judged offline (never printed)
  runiam troubleshoot hello --region europe-west1 --token-file token.jwt

  # Diagnose, fix and prove in one pipe
  set -o pipefail
  runiam troubleshoot hello --caller user:ana@acme.example | runiam grant-invoker --apply --yes | runiam verify";

/// Explain why a caller cannot invoke a Cloud Run service.
///
/// Reads the service, its IAM policy and every ancestor's, the deny
/// policies and the domain restricted sharing policy above it, custom roles
/// and group memberships, and evaluates them the way IAM and Cloud Run's
/// front end do. Reports a verdict (ALLOWED, DENIED or UNKNOWN) and
/// findings with stable ids, each with its evidence and the least-privilege
/// fix. Without SERVICE, reads ServiceSnapshot documents (from runiam
/// export) from stdin or -f. Exit 0 when the caller is allowed, 1 when
/// denied or unknown.
#[derive(Parser, Debug)]
#[command(name = "runiam-troubleshoot", version, after_long_help = EXAMPLES)]
pub struct Args {
    /// The service: NAME (with --region), projects/P/locations/R/services/S, or a service URL.
    #[arg(value_name = "SERVICE")]
    pub service: Option<String>,
    /// Who is denied: user:, serviceAccount:, group:, principal://..., allUsers [default: the token's email, else every caller that targets the service: Pub/Sub push, Scheduler, Eventarc, Cloud Tasks queues, Workflows steps, other services seen in the logs].
    #[arg(long, value_name = "PRINCIPAL")]
    pub caller: Option<String>,
    /// Read the token the caller sends (a token, several, or a pasted Authorization header) from FILE (- for stdin); only its claims are ever shown.
    #[arg(long, value_name = "FILE", conflicts_with = "token_env")]
    pub token_file: Option<PathBuf>,
    /// Read the token the caller sends from environment variable VAR.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// How far back to read Cloud Run's request logs (s, m, h, d).
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub since: String,
    /// Do not read request logs.
    #[arg(long)]
    pub no_logs: bool,
    /// The status the caller saw (401, 403, 404): no request log for it means the request never reached Cloud Run.
    #[arg(long, value_name = "STATUS", value_parser = clap::builder::PossibleValuesParser::new(["401", "403", "404"]))]
    pub saw: Option<String>,
    /// Where the call comes from (same-project Pub/Sub, Scheduler, Eventarc and Tasks count as internal).
    #[arg(long, value_enum, default_value = "external")]
    pub from: Origin,
    /// Also ask the Policy Troubleshooter API and report when it disagrees.
    #[arg(long)]
    pub remote: bool,
    /// Keep polling the project's request logs (or SERVICE's) and stream a Diagnosis for each configured caller newly denied (401/403), until SIGINT/SIGTERM.
    #[arg(long, conflicts_with_all = ["caller", "token_file", "token_env", "no_logs", "saw", "file", "remote"])]
    pub watch: bool,
    /// With --watch: the time between two polls (one entries.list per project each).
    #[arg(long, value_name = "DURATION", default_value = "60s", requires = "watch")]
    pub interval: String,
    /// With --watch: stop after this many polls (1 for a scheduled job whose --since is its schedule).
    #[arg(long, value_name = "N", requires = "watch", value_parser = clap::value_parser!(u32).range(1..))]
    pub polls: Option<u32>,
    /// Read ServiceSnapshot documents from FILE (- for stdin).
    #[arg(short = 'f', long = "file", value_name = "FILE", conflicts_with = "service")]
    pub file: Option<PathBuf>,
    /// Output format [default: text on a terminal, yaml otherwise].
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub fn command() -> clap::Command {
    Args::command()
}

pub fn run(args: Vec<OsString>) -> Exit {
    run_command("runiam-troubleshoot", args, |a: &Args| &a.common, troubleshoot)
}

/// Entries read per project at most: enough for every denial of an hour
/// of a busy service, few enough pages for Logging's read quota.
const LOG_LIMIT: usize = 20_000;

/// A service to diagnose, with what a snapshot already told about it.
type Target = (ServiceRef, Option<(Service, Policy)>);

/// Each project's log read: the filter, and the entries or why not.
type LogReads = BTreeMap<String, (String, Result<Vec<serde_json::Value>, String>)>;

/// gather (inputs, logs, keys) → per service and caller: gather facts,
/// decide findings, observe, settle → report.
async fn troubleshoot(args: Args) -> Result<Exit, CommandError> {
    let format = Format::resolve(args.output);
    if args.watch {
        return watching(&args, format).await;
    }
    let presented = read_token(&args)?;
    let caller = named_caller(&args, presented.as_ref())?;
    let since = logs::parse_since(&args.since).map_err(|e| CommandError::usage(format!("--since {e}")))?;
    let saw = args.saw.as_deref().and_then(|s| s.parse::<u16>().ok());
    let snapshots = read_snapshots(&args)?;
    let ctx = args.common.context(HttpOptions::default())?;
    let mut targets: Vec<Target> = Vec::new();
    if let Some(s) = &args.service {
        targets.push((resolve_service(s, &ctx.config, &ctx.clients).await?, None));
    }
    targets.extend(snapshots.into_iter().map(known_target));

    let now = Utc::now();
    let from = now - since;
    let has_jwt = presented.as_ref().is_some_and(|p| p.tokens.iter().any(|k| matches!(k, token::Kind::Jwt(_))));
    let (reads, jwks) = tokio::join!(read_logs(&ctx.clients, &targets, from, &args, caller.is_none()), async {
        if has_jwt { fetch_jwks(ctx.config.emulator.as_ref()).await } else { None }
    });
    let sigs = signatures(presented.as_ref(), jwks.as_ref());

    let mut diagnoses = Vec::new();
    let mut not_found = Vec::new();
    for (target, known) in targets {
        let read = reads.get(&target.project);
        let observed = Observed {
            token: presented.as_ref().map(|p| (p, sigs.as_slice())),
            logs: match read {
                None => LogRead::Skipped,
                Some((_, Err(e))) => LogRead::Failed(e.clone()),
                Some((filter, Ok(entries))) => LogRead::Read { entries, since: from, filter },
            },
            saw,
            now,
            named_caller: caller.is_some(),
        };
        match &caller {
            Some(c) => {
                let request = Request { caller: c.clone(), from: args.from };
                let (mut draft, service) = one(&ctx.clients, &target, &request, known, args.remote).await?;
                observe::apply(&mut draft, &service, &observed);
                diagnoses.push(settle(draft));
            }
            None => {
                let logs = match read {
                    Some((_, Ok(e))) => Ok(e.as_slice()),
                    Some((_, Err(e))) => Err(e.as_str()),
                    None => Err("not read (--no-logs)"),
                };
                let found = discovered(&ctx.clients, &target, known, logs, &observed, args.remote).await?;
                match found {
                    Ok(mut ds) => diagnoses.append(&mut ds),
                    Err(summary) => not_found.push(format!("{}: {summary}", target.full_name())),
                }
            }
        }
    }
    // Listing one project never proves there is no caller: say what was
    // read, what was not, and that other projects were not looked at.
    if diagnoses.is_empty() {
        return Err(CommandError::usage(format!(
            "no caller found to diagnose (no --caller, no token); read {}; subscriptions, jobs and services in other projects can call it too",
            not_found.join("; ")
        ))
        .hinted("add --caller PRINCIPAL or --token-file FILE"));
    }
    report(&diagnoses, format)?;
    Ok(if diagnoses.iter().all(|d| d.verdict == Verdict::Allowed) { Exit::Ok } else { Exit::Problem })
}

/// `--watch`: the project of SERVICE, or the configured project.
async fn watching(args: &Args, format: Format) -> Result<Exit, CommandError> {
    let since = logs::parse_since(&args.since).map_err(|e| CommandError::usage(format!("--since {e}")))?;
    let interval = runiam_core::duration::parse(&args.interval)
        .ok()
        .and_then(|d| chrono::TimeDelta::from_std(d).ok())
        .filter(|d| *d >= chrono::TimeDelta::seconds(1))
        .ok_or_else(|| {
            CommandError::usage(format!("--interval '{}' is not a duration of at least 1s (60s, 5m)", args.interval))
        })?;
    let ctx = args.common.context(HttpOptions::default())?;
    let service = match &args.service {
        Some(s) => Some(resolve_service(s, &ctx.config, &ctx.clients).await?),
        None => None,
    };
    let project = match &service {
        Some(s) => s.project.clone(),
        None => ctx.config.project()?.to_owned(),
    };
    let w = watch::Watch { project, service, interval, since, polls: args.polls, format };
    watch::run(&ctx.clients, &w).await
}

/// `--caller`, else the token's email, else none (discover the callers).
fn named_caller(args: &Args, presented: Option<&token::Presented>) -> Result<Option<Principal>, CommandError> {
    match (&args.caller, presented) {
        (Some(c), _) => Ok(Some(Principal::parse(c).map_err(|e| CommandError::usage(format!("--caller {e}")))?)),
        (None, Some(p)) => Ok(Some(token_caller(p).ok_or_else(|| {
            CommandError::usage("the token carries no email claim, so it does not say who the caller is")
                .hinted("add --caller PRINCIPAL")
        })?)),
        (None, None) => Ok(None),
    }
}

/// ServiceSnapshot documents from stdin or `-f`, when no SERVICE is named.
fn read_snapshots(args: &Args) -> Result<Vec<ServiceSnapshot>, CommandError> {
    let token_on_stdin = args.token_file.as_deref() == Some(std::path::Path::new("-"));
    match (&args.service, input(args.file.as_deref(), args.service.is_some() || token_on_stdin)) {
        (None, Some(source)) => {
            let text = read_input(&source)?;
            Ok(read_for("runiam-troubleshoot", &[Kind::ServiceSnapshot], &text)?
                .into_iter()
                .filter_map(|d| match d {
                    Document::ServiceSnapshot(s) => Some(*s),
                    _ => None,
                })
                .collect())
        }
        (None, None) => Err(CommandError::usage("no SERVICE given and nothing on stdin")
            .hinted("runiam troubleshoot SERVICE --caller PRINCIPAL, or pipe runiam export into it")),
        (Some(_), _) => Ok(Vec::new()),
    }
}

/// A snapshot's service and policy, as if just read.
fn known_target(snap: ServiceSnapshot) -> Target {
    let known = Service {
        name: snap.service.full_name(),
        uri: snap.uri.clone(),
        urls: snap.urls.clone(),
        custom_audiences: snap.custom_audiences.clone(),
        ingress: snap.ingress.clone(),
        invoker_iam_disabled: snap.invoker_iam_disabled,
        default_uri_disabled: snap.default_uri_disabled,
        iap_enabled: snap.iap_enabled,
        etag: snap.etag.clone(),
        ..Default::default()
    };
    (snap.service, Some((known, snap.iam_policy)))
}

/// One log read per project, whatever the number of services.
async fn read_logs(
    clients: &Clients,
    targets: &[Target],
    from: chrono::DateTime<Utc>,
    args: &Args,
    all_callers: bool,
) -> LogReads {
    if args.no_logs {
        return BTreeMap::new();
    }
    let mut projects: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (t, _) in targets {
        projects.entry(t.project.clone()).or_default().push(t.name.clone());
    }
    let reads = join_all(projects.iter().map(|(p, names)| {
        let filter = logs::filter(p, names, from, all_callers);
        async move {
            let got = clients.logging.list_entries(&format!("projects/{p}"), &filter, LOG_LIMIT).await;
            (p.clone(), (filter, got.map_err(|e| e.to_string())))
        }
    }))
    .await;
    reads.into_iter().collect()
}

/// Each presented token's signature, checked against the keys when it is a JWT.
fn signatures(presented: Option<&token::Presented>, jwks: Option<&token::Jwks>) -> Vec<token::Signature> {
    presented
        .map(|p| {
            p.tokens
                .iter()
                .map(|k| match k {
                    token::Kind::Jwt(j) => token::verify(j, jwks),
                    _ => token::Signature::Unchecked,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Without a caller: every caller discovered, each diagnosed with its own
/// configuration's findings and the sources that could not be read. `Err`
/// with what was read when no caller was found.
async fn discovered(
    clients: &Clients,
    target: &ServiceRef,
    known: Option<(Service, Policy)>,
    logs: Result<&[serde_json::Value], &str>,
    observed: &Observed<'_>,
    remote: bool,
) -> Result<Result<Vec<Diagnosis>, String>, CommandError> {
    // Read once for every caller found; an unreadable policy is left to
    // each caller's gather, which reports it.
    let (service, known) = match known {
        Some((s, p)) => (s.clone(), Some((s, p))),
        None => {
            let (s, p) = tokio::join!(clients.run_v2.get_service(target), clients.run_v2.get_iam_policy(target));
            let s = s.map_err(|e| user_named(e, format!("cannot read service {}", target.full_name())))?;
            (s.clone(), p.ok().map(|p| (s, p)))
        }
    };
    let discovery = callers::discover(clients, target, &service, logs).await;
    if discovery.found.is_empty() {
        return Ok(Err(discovery.summary().join("; ")));
    }
    let unread = discovery.unread();
    let mut out = Vec::new();
    for c in discovery.found {
        let request = Request { caller: c.caller.clone(), from: c.from };
        let (mut draft, service) = one(clients, target, &request, known.clone(), remote).await?;
        if let Some(calling) = &c.runtime_of
            && draft.iam == Verdict::Denied
        {
            draft.findings.push(callers::runtime_identity(target, calling, &c.caller, Some(json!({"caller": c.what}))));
        }
        draft.findings.extend(c.findings);
        if !unread.is_empty() {
            draft.findings.push(findings::caller_unreadable(
                unread
                    .iter()
                    .map(|u| Evidence { source: "caller discovery".into(), detail: u.clone(), data: None })
                    .collect(),
            ));
        }
        draft.log_evidence.push(json!({"caller": c.what}));
        observe::apply(&mut draft, &service, observed);
        out.push(settle(draft));
    }
    Ok(Ok(out))
}

/// The token from `--token-file` or `--token-env`, parsed; never echoed.
fn read_token(args: &Args) -> Result<Option<token::Presented>, CommandError> {
    let text = match (&args.token_file, &args.token_env) {
        (Some(path), _) if path.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| CommandError::usage(format!("--token-file -: cannot read stdin ({e})")))?;
            s
        }
        (Some(path), _) => std::fs::read_to_string(path)
            .map_err(|e| CommandError::usage(format!("--token-file {}: {e}", path.display())))?,
        (None, Some(var)) => std::env::var(var)
            .map_err(|_| CommandError::usage(format!("--token-env {var}: the variable is not set (or not UTF-8)")))?,
        (None, None) => return Ok(None),
    };
    Ok(Some(token::parse(&text)))
}

/// Who the token speaks for: its first JWT's email.
fn token_caller(p: &token::Presented) -> Option<Principal> {
    let email = p.tokens.iter().find_map(|k| match k {
        token::Kind::Jwt(j) => j.email().map(str::to_owned),
        _ => None,
    })?;
    Principal::from_email(&email).ok()
}

/// Google's signing keys (the emulator's in emulator mode). Unreadable
/// keys leave signatures unchecked rather than failing the diagnosis.
async fn fetch_jwks(emulator: Option<&url::Url>) -> Option<token::Jwks> {
    let url = match emulator {
        Some(e) => e.join("oauth2/v3/certs").ok()?,
        None => url::Url::parse(GOOGLE_JWKS).ok()?,
    };
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().ok()?;
    let resp = client.get(url.clone()).send().await;
    let body = match resp {
        Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.ok()?,
        Ok(r) => {
            tracing::debug!(target: "runiam::troubleshoot", %url, status = r.status().as_u16(), "JWKS unavailable");
            return None;
        }
        Err(e) => {
            tracing::debug!(target: "runiam::troubleshoot", %url, error = %e, "JWKS unavailable");
            return None;
        }
    };
    Some(token::Jwks::from_json(&body))
}

/// Where Google publishes the keys that sign its ID tokens.
const GOOGLE_JWKS: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// Gathers, decides and (with --remote) cross-checks one service.
async fn one(
    clients: &Clients,
    target: &ServiceRef,
    req: &Request,
    known: Option<(Service, Policy)>,
    remote: bool,
) -> Result<(Draft, Service), CommandError> {
    // `--caller allUsers` asks about a request without credentials.
    let caller = (req.caller != Principal::AllUsers).then_some(&req.caller);
    let (gathered, elsewhere) =
        tokio::join!(gather::gather(clients, target, caller, known), same_name_elsewhere(clients, target));
    let gathered = gathered?;
    tracing::debug!(target: "runiam::troubleshoot", rounds = gathered.rounds, "gathered");
    let mut d = diagnose(&gathered, req, &elsewhere);
    if remote && let Some(email) = req.caller.email() {
        let full = format!("//run.googleapis.com/{}", target.full_name());
        match clients.troubleshooter.troubleshoot(email, &full, INVOKE_PERMISSION).await {
            Ok(answer) => {
                let theirs = answer.get("overallAccessState").and_then(|v| v.as_str()).unwrap_or("UNKNOWN").to_owned();
                let ours = verdict_name(d.iam);
                let agrees = matches!(
                    (theirs.as_str(), d.iam),
                    ("CAN_ACCESS", Verdict::Allowed)
                        | ("CANNOT_ACCESS", Verdict::Denied)
                        | ("UNKNOWN_INFO", Verdict::Unknown)
                );
                if !agrees {
                    d.findings.push(findings::iam_remote_disagrees(
                        ours,
                        &theirs,
                        vec![Evidence {
                            source: "policytroubleshooter.googleapis.com iam:troubleshoot".into(),
                            detail: format!("overallAccessState {theirs}"),
                            data: Some(answer),
                        }],
                    ));
                }
            }
            Err(e) => tracing::debug!(target: "runiam::troubleshoot", error = %e, "Policy Troubleshooter unavailable"),
        }
    }
    Ok((d, gathered.service))
}

/// Services of the same name in the project's other regions, with their
/// policies (for near misses). Failures only mean fewer hints.
async fn same_name_elsewhere(clients: &Clients, target: &ServiceRef) -> Vec<Elsewhere> {
    let Ok(listing) = clients.run_v1.list_services_all_regions(&target.project).await else { return Vec::new() };
    let others: Vec<ServiceRef> = listing
        .services
        .iter()
        .filter(|s| s.metadata.name == target.name)
        .filter_map(|s| s.region())
        .filter(|r| *r != target.region)
        .map(|r| ServiceRef::new(&target.project, r, &target.name))
        .collect();
    let policies = join_all(others.iter().map(|s| clients.run_v2.get_iam_policy(s))).await;
    others.into_iter().zip(policies).filter_map(|(service, p)| Some(Elsewhere { service, policy: p.ok()? })).collect()
}

fn report(diagnoses: &[Diagnosis], format: Format) -> Result<(), CommandError> {
    let docs = || diagnoses.iter().map(|d| Document::Diagnosis(Box::new(d.clone())));
    if format == Format::Markdown {
        runiam_core::runbook::write_stdout(&docs().collect::<Vec<_>>())?;
        return Ok(());
    }
    match format.doc_format() {
        Some(f) => {
            write_stdout(docs(), f)?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            for d in diagnoses {
                out.write_all(text(d).as_bytes())?;
            }
        }
    }
    Ok(())
}

/// The terminal rendering: verdict, causes with evidence and fix, risks, info.
fn text(d: &Diagnosis) -> String {
    let caller = d.caller.as_ref().map(|c| c.to_string()).unwrap_or_else(|| "a caller without credentials".into());
    let verdict = paint(
        match d.verdict {
            Verdict::Allowed => Tone::Good,
            Verdict::Denied => Tone::Bad,
            Verdict::Unknown => Tone::Warn,
        },
        verdict_name(d.verdict),
    );
    let mut out = format!("{verdict}: {caller} on {}\n", d.service.full_name());
    for (severity, title, tone) in [
        (Severity::Cause, "cause", Tone::Bad),
        (Severity::Risk, "risk", Tone::Warn),
        (Severity::Info, "ruled out", Tone::Quiet),
    ] {
        for f in d.findings.iter().filter(|f| f.severity == severity) {
            out.push_str(&format!("\n  {} {}\n", paint(tone, &format!("{title} [{}]", f.id)), f.explanation));
            for e in &f.evidence {
                out.push_str(&format!("    evidence ({}): {}\n", e.source, e.detail));
            }
            if let Some(fix) = &f.fix {
                out.push_str(&format!("    fix: {}\n", paint(Tone::Strong, &fix.command)));
            }
        }
    }
    out.push('\n');
    out
}

/// The verdict as documents spell it.
fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Allowed => "ALLOWED",
        Verdict::Denied => "DENIED",
        Verdict::Unknown => "UNKNOWN",
    }
}
