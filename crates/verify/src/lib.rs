//! `runiam verify`: prove, with a real call made as the caller, that it can
//! (or cannot) invoke a service; optionally under a smoke load; and, for
//! ChangeRecords, that the change opened no other hole.
//!
//! Gather (the service, its URL and live policy; whom to call as, from the
//! flags or each record's intent) → identity (`identity`: an ID token
//! minted, the credential's own, or `--id-token-cmd`'s; else IAM alone,
//! `evaluate`, reported as unconfirmed) → act (`call`: the real request,
//! retried through IAM propagation, and the load) → decide (`hole`, pure)
//! → report (VerifyReport documents, or text on a terminal).

pub mod alert;
pub mod answer;
pub mod call;
pub mod checks;
pub mod evaluate;
pub mod hole;
pub mod identity;
pub mod logs;
pub mod no_new_access;
pub mod watch;
pub mod wire;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::{CommandFactory, Parser};
use runiam_core::api::callers::Route;
use runiam_core::api::run::Service;
use runiam_core::cli::{CommonArgs, Context, run_command};
use runiam_core::doc::{
    ChangeAction, ChangeRecord, Check, CheckResult, Document, Evidence, Kind, VerifyReport, read_documents,
    write_stdout,
};
use runiam_core::http::HttpOptions;
use runiam_core::model::{INVOKE_PERMISSION, Policy, Principal, ServiceRef, default_compute_account};
use runiam_core::output::Format;
use runiam_core::style::{Tone, paint};
use runiam_core::target::{resolve_service, user_named};
use runiam_core::{CommandError, Exit};
use serde_json::json;

use crate::answer::{Answer, Expect};
use crate::call::{Endpoint, Load};
use crate::checks::CheckName;
use crate::identity::Identity;
use crate::wire::Sent;

/// Requests and concurrency a smoke load is held to without --force.
pub const MAX_REQUESTS: u64 = 1000;
pub const MAX_CONCURRENCY: usize = 50;
/// How long IAM changes may take to reach Cloud Run, and so how recent a
/// record must be for --wait to be on by default.
pub const PROPAGATION: Duration = Duration::from_secs(7 * 60);

/// Shown after `--help` and as the man page's EXAMPLES.
const EXAMPLES: &str = "\
Examples:
  # A real call as the caller, with its own ID token
  runiam verify hello --region europe-west1 --as serviceAccount:sched@acme-prod.iam.gserviceaccount.com

  # Plus a short load: 500 requests, 20 at a time
  runiam verify hello --as serviceAccount:sched@acme-prod.iam.gserviceaccount.com --requests 500 --concurrency 20

  # Check an applied change against its intent
  runiam verify < change.yaml";

/// Prove that a caller can (or cannot) invoke a Cloud Run service, with a real call as the caller.
///
/// Gets an ID token for the principal of --as (IAM Credentials
/// generateIdToken for a service account; gcloud's identity token for a
/// user account it holds credentials for; --id-token-cmd for anything else) or, without --as,
/// the credential in use's own (ADC file, gcloud, the metadata server), with
/// the service URL as the audience, and calls the service with it. A load
/// renews the token before it expires. Cloud Run's own 401/403/404
/// pages are told from the container's answers. When no token can be had
/// (minting refused, a user or a group), only the IAM evaluation is
/// reported, as unconfirmed, and the exit code is 1: never a silent pass.
///
/// Without SERVICE, reads ChangeRecord documents (from grant-invoker or
/// rollback) from stdin or -f and checks each against its intent: the
/// granted member gets through, a rollback restored the state before, and
/// no other member, public, domain or group grant appeared, nor was the
/// invoker check turned off unless asked. Exit 0 when every check passed,
/// 1 when one failed or could not be made.
#[derive(Parser, Debug)]
#[command(name = "runiam-verify", version, after_long_help = EXAMPLES)]
pub struct Args {
    /// The service: NAME (with --region), projects/P/locations/R/services/S, or a service URL.
    #[arg(value_name = "SERVICE")]
    pub service: Option<String>,
    /// Whom to call as: serviceAccount:EMAIL (its ID token is minted), user:EMAIL (an account gcloud holds credentials for), group:, ... [default: the identity of the credential in use: ADC file, gcloud account, metadata server].
    #[arg(long = "as", value_name = "PRINCIPAL")]
    pub as_principal: Option<String>,
    /// What the call must show: allow (it reaches the container) or deny (Cloud Run's 403).
    #[arg(long, value_enum, default_value = "allow")]
    pub expect: Expect,
    /// The URL the caller uses [default: the service's URL]; also the audience unless --audience.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The ID token's audience [default: --url; else, for a service account that a Pub/Sub push subscription or Scheduler job uses to call the service, that configuration's audience; else the service's URL].
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
    /// The path to call.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// The HTTP method to call with.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// A shell command that prints the caller's ID token on stdout (run with sh -c; RUNIAM_AUDIENCE holds the audience).
    #[arg(long, value_name = "CMD")]
    pub id_token_cmd: Option<String>,
    /// Retry through IAM propagation for up to this long (30s, 7m) [default: 7m for records applied in the last 7 minutes, else 0].
    #[arg(long, value_name = "DURATION")]
    pub wait: Option<String>,
    /// Smoke load: send this many requests after the first call (at most 1000 without --force).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub requests: u64,
    /// Smoke load: requests in flight at once (at most 50 without --force).
    #[arg(long, value_name = "C", default_value_t = 10)]
    pub concurrency: usize,
    /// Lift the smoke load caps.
    #[arg(long)]
    pub force: bool,
    /// Also read the service's request logs: no Cloud Run 401/403 may appear after the change time (each is quoted).
    #[arg(long)]
    pub logs: bool,
    /// The change time for --logs: RFC 3339 (2026-11-28T10:00:00Z) or how long ago (15m) [default: a record's appliedAt].
    #[arg(long, value_name = "TIME", requires = "logs")]
    pub since: Option<String>,
    /// Once the checks pass, keep reading the service's request log for this long (48h, 30m), one Logging entries.list per --interval: exit 1 as soon as Cloud Run refuses a caller again (when, how many, the entries quoted), 0 after a quiet window. --timeout must be longer.
    #[arg(long, value_name = "DURATION")]
    pub watch: Option<String>,
    /// Time between two reads of --watch (at least 1s; Logging allows 60 reads a minute per project).
    #[arg(long, value_name = "DURATION", default_value = "60s", requires = "watch")]
    pub interval: String,
    /// Once the checks pass, create a Cloud Monitoring alert policy whose log-match condition is the --logs filter (Cloud Run 401/403 of the service), so Google watches for the denial's return; one already made for the service is reported, not duplicated.
    #[arg(long)]
    pub create_alert: bool,
    /// A notification channel for --create-alert: projects/P/notificationChannels/ID, or the ID in the service's project (repeatable).
    #[arg(long = "notify", value_name = "CHANNEL", requires = "create_alert")]
    pub notify: Vec<String>,
    /// Delete an alert policy that --create-alert made (projects/P/alertPolicies/ID), and do nothing else; a policy runiam did not make is refused (exit 4).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["service", "file", "watch", "create_alert", "logs", "as_principal"])]
    pub delete_alert: Option<String>,
    /// Compare with REFERENCE, a ServiceSnapshot (runiam export) or a ChangeRecord's policy before: fail naming every principal × run.* permission on the service that the live state (or a plan's, from stdin) gives beyond the intended member × role; ancestors' grants, deny policies, public principals and the invoker check count.
    #[arg(long, value_name = "REFERENCE")]
    pub no_new_access: Option<PathBuf>,
    /// With --no-new-access: the member the change was meant to grant [default: the ChangeRecord's intent].
    #[arg(long, value_name = "PRINCIPAL", requires = "no_new_access")]
    pub member: Option<String>,
    /// With --member: the role it was meant to get; every permission of the role is allowed [default: roles/run.invoker].
    #[arg(long, value_name = "ROLE", requires = "member")]
    pub role: Option<String>,
    /// Read ChangeRecord documents from FILE (- for stdin).
    #[arg(short = 'f', long = "file", value_name = "FILE", conflicts_with = "service")]
    pub file: Option<PathBuf>,
    /// Succeed when stdin holds no document (otherwise exit 2: the command before in the pipe probably failed).
    #[arg(long)]
    pub allow_empty: bool,
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
    run_command("runiam-verify", args, |a: &Args| &a.common, verify)
}

/// One thing to verify.
enum Job {
    Service(String),
    Record(Box<ChangeRecord>),
}

/// Whom one call is made as.
#[derive(Clone, Debug, PartialEq)]
enum Who {
    Principal(Principal),
    Anonymous,
    /// Whoever --id-token-cmd or the credential in use is.
    Ambient,
}

/// One call to make and what it must show.
#[derive(Clone, Debug)]
struct Probe {
    who: Who,
    expect: Expect,
}

async fn verify(args: Args) -> Result<Exit, CommandError> {
    let format = Format::resolve(args.output);
    if let Some(name) = &args.delete_alert {
        let ctx = args.common.context(HttpOptions::default())?;
        let said = alert::delete(&ctx.clients.monitoring, name).await?;
        if !args.common.quiet {
            eprintln!("{said}");
        }
        return Ok(Exit::Ok);
    }
    let wait = args.wait.as_deref().map(|w| parse_duration("--wait", w)).transpose()?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    if args.logs && since.is_none() && args.service.is_some() {
        return Err(CommandError::usage("--logs with a SERVICE needs --since: the time the change was made")
            .hinted("--since 15m, or --since 2026-11-28T10:00:00Z"));
    }
    if let Some(reference) = &args.no_new_access {
        let ctx = args.common.context(HttpOptions::default())?;
        let r = no_new_access::check(&args, &ctx, reference).await?;
        report(std::slice::from_ref(&r), format)?;
        return Ok(if r.passed { Exit::Ok } else { Exit::Problem });
    }
    let window = watch_window(&args)?;
    let channels = args.notify.iter().map(|c| alert::Channel::parse(c)).collect::<Result<Vec<_>, _>>()?;
    let load = load_size(&args);
    let as_principal = args
        .as_principal
        .as_deref()
        .map(|p| Principal::parse(p).map_err(|e| CommandError::usage(format!("--as {e}"))))
        .transpose()?;
    let jobs = gather_jobs(&args)?;
    let ctx = args.common.context(HttpOptions::default())?;
    if load.0 > 0 && !args.common.quiet && std::io::stderr().is_terminal() {
        eprintln!(
            "smoke load: {} requests to a live service are billed, and may scale it out up to its max instances",
            load.0
        );
    }
    let mut reports = Vec::new();
    for job in jobs {
        reports.push(verify_job(&args, &ctx, job, as_principal.as_ref(), wait, since, load).await?);
    }
    if args.create_alert {
        create_alerts(&args, &ctx, &channels, &mut reports).await;
    }
    let signal = match window {
        Some(w) => watch_reports(&args, &ctx, &mut reports, w).await,
        None => None,
    };
    let reports: Vec<VerifyReport> = reports.into_iter().map(|(r, _)| r).collect();
    report(&reports, format)?;
    if let Some(exit) = signal {
        return Ok(exit);
    }
    Ok(if reports.iter().all(|r| r.passed) { Exit::Ok } else { Exit::Problem })
}

/// `--watch` and `--interval`, checked against each other and `--timeout`.
fn watch_window(args: &Args) -> Result<Option<watch::Window>, CommandError> {
    let Some(w) = &args.watch else { return Ok(None) };
    let length = parse_duration("--watch", w)?;
    let interval = parse_duration("--interval", &args.interval)?;
    if length.is_zero() {
        return Err(CommandError::usage("--watch 0 watches nothing; give a window such as 30m or 48h"));
    }
    if interval < watch::MIN_INTERVAL {
        return Err(CommandError::usage(format!(
            "--interval {} is shorter than 1s; Logging allows 60 reads a minute per project",
            show_duration(interval)
        )));
    }
    if let Some(limit) = args.common.timeout.filter(|t| *t <= length) {
        return Err(CommandError::usage(format!(
            "--timeout {} ends the --watch {} before its window is over, so it could never pass",
            show_duration(limit),
            show_duration(length)
        ))
        .hinted("a --timeout longer than --watch, or a shorter --watch"));
    }
    Ok(Some(watch::Window { length, interval }))
}

/// Why a report gets no alert or watch: its checks failed, or the change
/// meant to refuse callers (their 401/403 are expected).
fn not_watched(report: &VerifyReport, refusals_expected: bool) -> Option<&'static str> {
    if !report.passed {
        Some("the checks above did not pass")
    } else if refusals_expected {
        Some("the change meant to refuse callers, so their 401/403 are expected")
    } else {
        None
    }
}

/// `--create-alert`: one alert policy per verified service.
async fn create_alerts(args: &Args, ctx: &Context, channels: &[alert::Channel], reports: &mut [(VerifyReport, bool)]) {
    let mut done: Vec<(String, Check)> = Vec::new();
    for (report, expected) in reports.iter_mut() {
        let check = match not_watched(report, *expected) {
            Some(why) => CheckName::Alert.error(format!("no alert policy created: {why}")),
            None => match done.iter().find(|(s, _)| *s == report.service.full_name()) {
                Some((_, c)) => c.clone(),
                None => {
                    let channels: Vec<String> = channels.iter().map(|c| c.name(&report.service.project)).collect();
                    let c = alert::ensure(&ctx.clients.monitoring, &report.service, &channels).await;
                    if !args.common.quiet && c.result == CheckResult::Pass {
                        eprintln!("{}", c.detail);
                    }
                    done.push((report.service.full_name(), c.clone()));
                    c
                }
            },
        };
        report.passed &= check.result == CheckResult::Pass;
        report.checks.push(check);
    }
}

/// `--watch`: every passed report's service watched at once; the exit a
/// signal asks for, if one stopped it.
async fn watch_reports(
    args: &Args,
    ctx: &Context,
    reports: &mut [(VerifyReport, bool)],
    window: watch::Window,
) -> Option<Exit> {
    let mut targets: Vec<ServiceRef> = Vec::new();
    for (report, expected) in reports.iter_mut() {
        match not_watched(report, *expected) {
            Some(why) => {
                report.passed = false;
                report.checks.push(CheckName::Watch.error(format!("not watched: {why}")));
            }
            None if !targets.contains(&report.service) => targets.push(report.service.clone()),
            None => {}
        }
    }
    if targets.is_empty() {
        return None;
    }
    runiam_core::interrupt::watch();
    let bar = runiam_core::output::countdown(args.common.quiet);
    let ended = watch::watch(&ctx.clients.logging, &targets, Utc::now(), window, &bar).await;
    bar.finish_and_clear();
    for (report, _) in reports.iter_mut() {
        if let Some((_, check)) = ended.checks.iter().find(|(t, _)| *t == report.service) {
            report.passed &= check.result == CheckResult::Pass;
            report.checks.push(check.clone());
        }
    }
    ended.signal
}

/// The smoke load's (requests, concurrency), capped unless --force.
fn load_size(args: &Args) -> (u64, usize) {
    let (mut n, mut c) = (args.requests, args.concurrency.max(1));
    if !args.force {
        if n > MAX_REQUESTS {
            if !args.common.quiet {
                eprintln!("--requests {n} capped at {MAX_REQUESTS}; add --force to send more");
            }
            n = MAX_REQUESTS;
        }
        if c > MAX_CONCURRENCY {
            if !args.common.quiet {
                eprintln!("--concurrency {c} capped at {MAX_CONCURRENCY}; add --force to go higher");
            }
            c = MAX_CONCURRENCY;
        }
    }
    (n, c)
}

/// A duration given to `flag`, in runiam-core's one syntax (`500ms`,
/// `30s`, `7m`, `1h`, `2d`, `0`).
pub fn parse_duration(flag: &str, s: &str) -> Result<Duration, CommandError> {
    runiam_core::duration::parse(s).map_err(|e| CommandError::usage(format!("{flag} {e}")))
}

/// --since: an RFC 3339 time, or a duration before now.
fn parse_since(s: &str) -> Result<DateTime<Utc>, CommandError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let ago = parse_duration("--since", s).map_err(|_| {
        CommandError::usage(format!(
            "--since '{s}' is neither an RFC 3339 time (2026-11-28T10:00:00Z) nor a duration (15m)"
        ))
    })?;
    chrono::TimeDelta::from_std(ago)
        .ok()
        .and_then(|d| Utc::now().checked_sub_signed(d))
        .ok_or_else(|| CommandError::usage(format!("--since '{s}' reaches too far back")))
}

/// A duration as --wait takes it: `500ms`, `20s`, `7m`.
fn show_duration(d: Duration) -> String {
    runiam_core::duration::Shown(d).to_string()
}

fn gather_jobs(args: &Args) -> Result<Vec<Job>, CommandError> {
    if let Some(s) = &args.service {
        return Ok(vec![Job::Service(s.clone())]);
    }
    if args.as_principal.is_some() {
        return Err(CommandError::usage("--as needs a SERVICE; a ChangeRecord says whom to call as"));
    }
    let Some(docs) = read_documents("runiam-verify", &[Kind::ChangeRecord], args.file.as_deref(), args.allow_empty)?
    else {
        return Err(CommandError::usage("no SERVICE given and nothing on stdin")
            .hinted("runiam verify SERVICE --as PRINCIPAL, or pipe runiam grant-invoker --apply into it"));
    };
    let mut jobs = Vec::new();
    for (i, d) in docs.into_iter().enumerate() {
        let Document::ChangeRecord(r) = d else {
            unreachable!("read_for admits only ChangeRecord");
        };
        if !r.applied {
            return Err(CommandError::usage(format!(
                "document {} is a plan for {} (applied: false); verify checks applied changes",
                i + 1,
                r.service.full_name()
            ))
            .hinted("apply it first: runiam grant-invoker --apply -f plan.yaml"));
        }
        jobs.push(Job::Record(r));
    }
    Ok(jobs)
}

/// The calls a record's intent implies.
fn probes_for(record: &ChangeRecord) -> Vec<Probe> {
    let who = |p: &Principal| if *p == Principal::AllUsers { Who::Anonymous } else { Who::Principal(p.clone()) };
    let i = &record.intent;
    match i.action {
        ChangeAction::Grant => i.granted().map(|m| Probe { who: who(m), expect: Expect::Allow }).collect(),
        ChangeAction::Revoke => i.member.iter().map(|m| Probe { who: who(m), expect: Expect::Deny }).collect(),
        ChangeAction::DisableInvokerCheck => vec![Probe { who: Who::Anonymous, expect: Expect::Allow }],
        ChangeAction::EnableInvokerCheck => vec![Probe { who: Who::Anonymous, expect: Expect::Deny }],
        ChangeAction::Restore => {
            // Members a restore took away must be refused; ones it gave back let in.
            let invokers = |bs: &[runiam_core::model::Binding], expect: Expect| {
                bs.iter()
                    .filter(|b| grants_invoke(&b.role))
                    .flat_map(|b| b.members.iter())
                    .filter_map(|m| Principal::parse(m).ok())
                    .map(|m| Probe { who: who(&m), expect })
                    .collect::<Vec<_>>()
            };
            let mut out = invokers(&record.removed, Expect::Deny);
            out.extend(invokers(&record.added, Expect::Allow));
            out
        }
    }
}

/// Whether a role carries run.routes.invoke (custom roles are assumed to).
fn grants_invoke(role: &str) -> bool {
    runiam_core::roles::predefined(role).is_none_or(|r| r.included_permissions.iter().any(|p| p == INVOKE_PERMISSION))
}

/// How one job is checked: the target, the live service and policy (or
/// why the policy could not be read), and the calls to make.
struct JobFacts {
    target: ServiceRef,
    record: Option<Box<ChangeRecord>>,
    service: Service,
    policy: Result<Policy, String>,
    probes: Vec<Probe>,
    wait: Duration,
}

impl JobFacts {
    /// The change meant to refuse every caller probed (a revoke, a rollback).
    fn refusals_expected(&self) -> bool {
        self.probes.iter().all(|p| p.expect == Expect::Deny)
    }
}

async fn verify_job(
    args: &Args,
    ctx: &Context,
    job: Job,
    as_principal: Option<&Principal>,
    wait: Option<Duration>,
    since: Option<DateTime<Utc>>,
    load: (u64, usize),
) -> Result<(VerifyReport, bool), CommandError> {
    let facts = gather_job(args, ctx, job, as_principal, wait).await?;
    let refusals_expected = facts.refusals_expected();
    let (mut checks, as_report) = call_checks(args, ctx, &facts, load).await?;
    if let Some(r) = &facts.record {
        checks.extend(record_checks(r, &facts));
    }
    if args.logs {
        checks.push(logs_check(ctx, &facts, since).await);
    }
    if checks.is_empty() {
        checks
            .push(CheckName::Invoke.error("the record implies no call to make, and nothing else to check".to_owned()));
    }
    let passed = checks.iter().all(|c| c.result == CheckResult::Pass);
    let report =
        VerifyReport { service: facts.target, as_principal: as_report, passed, checks, verified_at: Utc::now() };
    Ok((report, refusals_expected))
}

/// The target, the live service and policy, the calls to make and how
/// long to ride out IAM propagation.
async fn gather_job(
    args: &Args,
    ctx: &Context,
    job: Job,
    as_principal: Option<&Principal>,
    wait: Option<Duration>,
) -> Result<JobFacts, CommandError> {
    let (target, record) = match job {
        Job::Service(s) => (resolve_service(&s, &ctx.config, &ctx.clients).await?, None),
        Job::Record(r) => (r.service.clone(), Some(r)),
    };
    let name = target.full_name();
    let (service, policy) =
        tokio::join!(ctx.clients.run_v2.get_service(&target), ctx.clients.run_v2.get_iam_policy(&target));
    let service = service.map_err(|e| user_named(e, format!("cannot read service {name}")))?;
    let policy = policy.map_err(|e| format!("cannot read the live IAM policy of {name}: {e}"));
    let probes = match &record {
        Some(r) => probes_for(r),
        None => {
            let who = match as_principal {
                Some(p) => Who::Principal(p.clone()),
                None => Who::Ambient,
            };
            vec![Probe { who, expect: args.expect }]
        }
    };
    let wait = wait.unwrap_or_else(|| match &record {
        Some(r) if r.applied_at.is_some_and(|t| (Utc::now() - t).to_std().is_ok_and(|age| age < PROPAGATION)) => {
            PROPAGATION
        }
        _ => Duration::ZERO,
    });
    Ok(JobFacts { target, record, service, policy, probes, wait })
}

/// The real calls, one per probe, and the smoke load after the first;
/// also who the report is about when there is one caller.
async fn call_checks(
    args: &Args,
    ctx: &Context,
    facts: &JobFacts,
    load: (u64, usize),
) -> Result<(Vec<Check>, Option<Principal>), CommandError> {
    let mut checks = Vec::new();
    let mut as_report = None;
    let (url, audience) = match call_target(args, &facts.service) {
        Ok(t) => t,
        Err(why) => return Ok((vec![CheckName::Invoke.error(why.to_string())], None)),
    };
    let endpoint = Endpoint::new(&url, &args.path, &args.method, ctx.config.emulator.as_ref())?;
    let mut loaded = false;
    // Without --url or --audience, a caller configured to call the
    // service (Pub/Sub push, Scheduler, Cloud Tasks, Workflows) is proven
    // with its own audience.
    let configured = if args.url.is_none() && args.audience.is_none() {
        configured_callers(ctx, &facts.target, &facts.service, &facts.probes).await
    } else {
        Vec::new()
    };
    for probe in &facts.probes {
        let route = match &probe.who {
            Who::Principal(Principal::ServiceAccount(email)) => {
                configured.iter().find(|(e, _)| e == email).map(|(_, r)| r)
            }
            _ => None,
        };
        let audience = route.map_or(audience.as_str(), |r| r.audience.as_str());
        let identity = identify(args, ctx, &probe.who, audience).await?;
        let principal = match &identity {
            Identity::Token { principal, .. } => principal.clone(),
            Identity::Unconfirmed { principal, .. } => Some(principal.clone()),
            Identity::Anonymous => None,
        };
        if facts.probes.len() == 1 {
            as_report = principal.clone();
        }
        let label = principal.as_ref().map_or_else(|| "anonymous".to_owned(), Principal::to_string);
        let token = match &identity {
            Identity::Token { token, .. } => Some(token),
            Identity::Anonymous => None,
            Identity::Unconfirmed { principal, why } => {
                let known = facts.policy.clone().ok().map(|p| (facts.service.clone(), p));
                checks.push(unconfirmed(ctx, &facts.target, known, principal, why, probe.expect).await);
                continue;
            }
        };
        let (outcome, attempts) = endpoint.call_until(token, probe.expect, facts.wait, args.common.quiet).await;
        let mut check = invoke_check(&endpoint, &label, probe.expect, &outcome, attempts, facts.wait, &identity);
        if let Some(r) = route {
            check.detail.push_str(&format!("; token audience {} as {} sends it", r.audience, r.what));
            check.evidence.push(Evidence {
                source: r.what.clone(),
                detail: format!("calls {} with OIDC tokens for audience {}", r.url, r.audience),
                data: None,
            });
        }
        checks.push(check);
        if load.0 > 0 && !loaded {
            loaded = true;
            let l = load_renewing(args, ctx, &endpoint, &probe.who, audience, &identity, probe.expect, load).await;
            checks.push(load_check(&endpoint, &label, probe.expect, &l));
        }
    }
    Ok((checks, as_report))
}

/// What an applied record must have left: no new hole, and for a restore
/// exactly the restored grants.
fn record_checks(r: &ChangeRecord, facts: &JobFacts) -> Vec<Check> {
    let live = facts.policy.as_ref().map_err(Clone::clone);
    let mut checks = hole::no_new_hole(r, live.clone(), facts.service.invoker_iam_disabled);
    if r.intent.action == ChangeAction::Restore {
        checks.push(match live {
            Ok(live) => restored_check(r, live),
            Err(why) => CheckName::Restored.error(why),
        });
    }
    checks
}

/// No Cloud Run refusal logged since the change (or `--since`).
async fn logs_check(ctx: &Context, facts: &JobFacts, since: Option<DateTime<Utc>>) -> Check {
    match facts.record.as_ref().and_then(|r| r.applied_at).or(since) {
        Some(t) => logs::check(&ctx.clients.logging, &facts.target, t, facts.refusals_expected()).await,
        None => CheckName::Logs.error(
            "the record has no appliedAt, so there is no change time to read the logs after; pass --since".to_owned(),
        ),
    }
}

/// A service that never became ready has no URL to call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the service has no URL yet (it never became ready); pass --url")]
struct NoUrl;

/// The URL to call and the token's audience.
fn call_target(args: &Args, service: &Service) -> Result<(String, String), NoUrl> {
    let url =
        args.url.clone().or_else(|| service.uri.clone()).or_else(|| service.urls.first().cloned()).ok_or(NoUrl)?;
    let audience = args.audience.clone().unwrap_or_else(|| url.clone());
    Ok((url, audience))
}

/// The configured routes (Pub/Sub push subscriptions, Scheduler jobs,
/// Cloud Tasks queues and their queued tasks, workflow steps; in every
/// location) of the probes' service accounts to `service`, as (email, first
/// route). A listing that fails (API off, no permission) leaves the service
/// URL as the audience, as without any configuration.
async fn configured_callers(
    ctx: &Context,
    target: &ServiceRef,
    service: &Service,
    probes: &[Probe],
) -> Vec<(String, Route)> {
    let emails: Vec<&str> = probes
        .iter()
        .filter_map(|p| match &p.who {
            Who::Principal(Principal::ServiceAccount(e)) => Some(e.as_str()),
            _ => None,
        })
        .collect();
    if emails.is_empty() {
        return Vec::new();
    }
    let callers = &ctx.clients.callers;
    let p = &target.project;
    // The default compute account needs the project number; an unset
    // workflow account is then not matched, as with an unread list.
    let default_account = target.project_number.as_deref().map(default_compute_account);
    let configured = callers.read_project(p).await.configured(default_account.as_deref());
    let urls = service.all_urls();
    emails
        .into_iter()
        .filter_map(|e| configured.routes(e, &urls).into_iter().next().map(|r| (e.to_owned(), r)))
        .collect()
}

/// A token is renewed this long before it expires during a load.
const RENEW_BEFORE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// A load round aims at this long, so that no token expires mid-round.
const ROUND: Duration = Duration::from_secs(60);

/// The smoke load in rounds of about a minute, the ID token renewed before
/// a round when it expires within five minutes (a load may outlast the
/// token's hour).
#[allow(clippy::too_many_arguments)]
async fn load_renewing(
    args: &Args,
    ctx: &Context,
    endpoint: &Endpoint,
    who: &Who,
    audience: &str,
    identity: &Identity,
    expect: Expect,
    (requests, concurrency): (u64, usize),
) -> Load {
    let (mut token, mut expires) = match identity {
        Identity::Token { token, expires, .. } => (Some(token.clone()), *expires),
        _ => (None, None),
    };
    let started = Instant::now();
    let mut answers = Vec::new();
    let (mut sent, mut round) = (0, (concurrency as u64 * 10).max(1));
    let bar = runiam_core::output::progress(requests, "smoke load", args.common.quiet);
    while sent < requests {
        if expires.is_some_and(|e| e - RENEW_BEFORE <= Utc::now())
            && let Ok(Identity::Token { token: t, expires: e, .. }) = identify(args, ctx, who, audience).await
        {
            (token, expires) = (Some(t), e);
        }
        let n = round.min(requests - sent);
        let t0 = Instant::now();
        let tally = Sent::default();
        let round_answers = endpoint.load_round(token.as_ref(), n, concurrency, &tally);
        tokio::pin!(round_answers);
        answers.extend(loop {
            tokio::select! {
                a = &mut round_answers => break a,
                () = tokio::time::sleep(Duration::from_millis(100)) => bar.set_position(sent + tally.count()),
            }
        });
        sent += n;
        bar.set_position(sent);
        let rate = n as f64 / t0.elapsed().as_secs_f64().max(1e-3);
        round = ((rate * ROUND.as_secs_f64()) as u64).max(concurrency as u64).max(1);
    }
    bar.finish_and_clear();
    Load::from_answers(&answers, expect, concurrency, started.elapsed())
}

/// The identity for one probe.
async fn identify(args: &Args, ctx: &Context, who: &Who, audience: &str) -> Result<Identity, CommandError> {
    let principal = match who {
        Who::Anonymous => return Ok(Identity::Anonymous),
        Who::Principal(p) => Some(p),
        Who::Ambient => None,
    };
    identity::mint(ctx, principal, args.id_token_cmd.as_deref(), audience).await
}

fn answer_data(outcome: &call::Outcome, attempts: u32) -> serde_json::Value {
    let (by, status) = match &outcome.answer {
        Answer::CloudRun { status, .. } => ("cloudRun", Some(*status)),
        Answer::Container { status } => ("container", Some(*status)),
        Answer::Transport { .. } => ("nobody", None),
    };
    json!({
        "status": status,
        "answeredBy": by,
        "latencyMs": (outcome.latency.as_secs_f64() * 1_000_000.0).round() / 1000.0,
        "attempts": attempts,
        "body": outcome.excerpt,
    })
}

fn invoke_check(
    endpoint: &Endpoint,
    label: &str,
    expect: Expect,
    outcome: &call::Outcome,
    attempts: u32,
    wait: Duration,
    identity: &Identity,
) -> Check {
    let result = match &outcome.answer {
        a if a.meets(expect) => CheckResult::Pass,
        Answer::Transport { .. } => CheckResult::Error,
        _ => CheckResult::Fail,
    };
    let tries = if attempts > 1 { format!(" after {attempts} attempts") } else { String::new() };
    let mut detail = format!(
        "{label}: {} in {:.0} ms{tries} (expected {})",
        outcome.answer.describe(),
        outcome.latency.as_secs_f64() * 1000.0,
        expect.word()
    );
    // A refusal after waiting may be propagation still under way, not a wrong policy.
    if result == CheckResult::Fail && !wait.is_zero() {
        detail.push_str(&format!(
            "; the change did not propagate to Cloud Run within the {} wait (IAM changes take up to 7 minutes): \
             verify again later or with a longer --wait",
            show_duration(wait)
        ));
    }
    let source = match identity {
        Identity::Token { source, .. } => format!("ID token from {source}"),
        _ => "no credential".to_owned(),
    };
    CheckName::Invoke.with(
        result,
        detail,
        vec![Evidence {
            source: format!("{} {} ({source})", endpoint.method, endpoint.url),
            detail: outcome.answer.describe(),
            data: Some(answer_data(outcome, attempts)),
        }],
    )
}

fn load_check(endpoint: &Endpoint, label: &str, expect: Expect, load: &Load) -> Check {
    let result = if load.failed == 0 { CheckResult::Pass } else { CheckResult::Fail };
    let mut detail = format!("{label}: {}", load.summary());
    if load.failed > 0 {
        detail.push_str(&format!("; {} not {}: {}", load.failed, expect.word(), load.failures.join("; ")));
    }
    CheckName::Load.with(
        result,
        detail,
        vec![Evidence {
            source: format!("{} {} × {}", endpoint.method, endpoint.url, load.requests),
            detail: load.histogram(),
            data: Some(load.to_json()),
        }],
    )
}

/// No token: what IAM alone says, as evidence for a check that stays `error`.
async fn unconfirmed(
    ctx: &Context,
    target: &ServiceRef,
    known: Option<(Service, Policy)>,
    principal: &Principal,
    why: &str,
    expect: Expect,
) -> Check {
    let (evaluation, unread) = evaluate::iam_alone(&ctx.clients, target, known, principal).await;
    let verdict = evaluation
        .as_ref()
        .and_then(|e| serde_json::to_value(e.verdict).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "nothing".to_owned());
    let mut detail = format!(
        "unconfirmed: {why}. IAM evaluation alone says {verdict} (expected {}); only a real call proves it",
        expect.word()
    );
    if !unread.is_empty() {
        detail.push_str(&format!("; could not read {}", unread.join("; ")));
    }
    CheckName::Invoke.with(
        CheckResult::Error,
        detail,
        vec![Evidence {
            source: "runiam-core evaluator (allow and deny policies, custom roles, the caller's groups)".to_owned(),
            detail: format!("{principal}: {verdict}"),
            data: evaluation.and_then(|e| serde_json::to_value(&e).ok()),
        }],
    )
}

/// A restore must have left exactly the restored grants.
fn restored_check(record: &ChangeRecord, live: &Policy) -> Check {
    if live.same_grants(&record.policy_after) {
        return CheckName::Restored.pass("the live policy holds exactly the restored grants".to_owned());
    }
    let extra = live.grants_not_in(&record.policy_after);
    let missing = record.policy_after.grants_not_in(live);
    CheckName::Restored.with(
        CheckResult::Fail,
        format!(
            "the live policy differs from the restored one: {} binding(s) more, {} binding(s) missing",
            extra.len(),
            missing.len()
        ),
        vec![Evidence {
            source: "run.googleapis.com getIamPolicy (live)".to_owned(),
            detail: "grants more and missing than the restore wrote".to_owned(),
            data: Some(json!({"more": extra, "missing": missing})),
        }],
    )
}

fn report(reports: &[VerifyReport], format: Format) -> Result<(), CommandError> {
    let docs = || reports.iter().map(|r| Document::VerifyReport(Box::new(r.clone())));
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
            for r in reports {
                let who = r.as_principal.as_ref().map(|p| format!(" as {p}")).unwrap_or_default();
                let verdict = if r.passed { paint(Tone::Good, "PASS") } else { paint(Tone::Bad, "FAIL") };
                writeln!(out, "{}{who}: {verdict}", r.service.full_name())?;
                for c in &r.checks {
                    let result = match c.result {
                        CheckResult::Pass => paint(Tone::Good, "pass "),
                        CheckResult::Fail => paint(Tone::Bad, "FAIL "),
                        CheckResult::Error => paint(Tone::Bad, "ERROR"),
                    };
                    writeln!(out, "  {result} {}: {}", c.name, c.detail)?;
                    for e in &c.evidence {
                        writeln!(out, "        {}: {}", e.source, e.detail)?;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn durations() {
        let d = |s: &str| parse_duration("--wait", s);
        assert_eq!(d("7m").unwrap(), Duration::from_secs(420));
        assert_eq!(d("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(d("0").unwrap(), Duration::ZERO);
        assert_eq!(d("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(d("2d").unwrap(), Duration::from_secs(172_800));
        for bad in ["", "7", "m", "7x", "-1s", "1.5m"] {
            assert_eq!(d(bad).unwrap_err().exit, Exit::Usage, "{bad}");
        }
        for shown in ["250ms", "20s", "90s", "7m"] {
            assert_eq!(show_duration(d(shown).unwrap()), shown);
        }
        assert_eq!(
            parse_since("2026-11-28T10:00:00+01:00").unwrap(),
            DateTime::parse_from_rfc3339("2026-11-28T09:00:00Z").unwrap()
        );
        let ago = parse_since("15m").unwrap();
        assert!(Utc::now() - ago >= chrono::TimeDelta::minutes(15));
        for bad in ["yesterday", "2026-11-28", "99999999999999h"] {
            assert_eq!(parse_since(bad).unwrap_err().exit, Exit::Usage, "{bad}");
        }
    }

    #[test]
    fn restores_probe_removed_and_added_invokers() {
        use runiam_core::doc::Intent;
        use runiam_core::model::Binding;
        let b = |role: &str, m: &str| Binding { role: role.into(), members: vec![m.into()], ..Binding::default() };
        let record = ChangeRecord {
            service: ServiceRef::new("p", "europe-west1", "api"),
            intent: Intent::bare(ChangeAction::Restore, None),
            added: vec![b("roles/run.invoker", "allUsers"), b("roles/run.viewer", "user:v@example.com")],
            removed: vec![b("roles/run.invoker", "serviceAccount:x@p.iam.gserviceaccount.com")],
            policy_before: Policy::default(),
            policy_after: Policy::default(),
            service_etag_before: None,
            service_etag_after: None,
            invoker_iam_disabled_before: None,
            invoker_iam_disabled_after: None,
            applied: true,
            applied_at: None,
            backup_path: None,
            recorded_at: Utc::now(),
            impact: None,
            evidence: None,
        };
        let probes: Vec<(Who, Expect)> = probes_for(&record).into_iter().map(|p| (p.who, p.expect)).collect();
        assert_eq!(
            probes,
            [
                (Who::Principal(Principal::parse("serviceAccount:x@p.iam.gserviceaccount.com").unwrap()), Expect::Deny),
                (Who::Anonymous, Expect::Allow),
            ]
        );
    }
}
