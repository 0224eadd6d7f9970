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

pub mod audit;
pub mod callers;
pub mod conntest;
pub mod decide;
pub mod explain;
pub mod fence;
pub mod findings;
pub use runiam_core::gather;
pub mod logs;
pub mod network;
pub mod observe;
pub mod settle;
pub mod token;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use clap::{CommandFactory, Parser};
use futures::FutureExt;
use futures::future::join_all;
use runiam_core::api::Clients;
use runiam_core::api::run::Service;
use runiam_core::change::{capture, list_project, snapshots};
use runiam_core::cli::{CommonArgs, run_command};
use runiam_core::doc::Finding;
use runiam_core::doc::{
    AuditFinding, Diagnosis, DocWriter, Document, Documents, Evidence, Kind, ServiceSnapshot, Severity, Verdict, input,
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
    /// Where the call comes from, overriding what runiam derives (same-project Pub/Sub, Scheduler, Eventarc and Tasks count as internal) [default: derived from --caller-service, --caller-vm or a discovered caller's settings, else external].
    #[arg(long, value_enum)]
    pub from: Option<Origin>,
    /// The calling Cloud Run service (NAME in --project and --region, projects/P/locations/R/services/S, or its URL): its runtime identity is the caller unless --caller, and its VPC egress decides where its calls arrive from.
    #[arg(long, value_name = "SERVICE", conflicts_with = "caller_vm")]
    pub caller_service: Option<String>,
    /// The calling Compute Engine VM (ZONE/NAME in the service's project, or projects/P/zones/Z/instances/N): its service account is the caller unless --caller, and its network decides where its calls arrive from.
    #[arg(long, value_name = "ZONE/NAME")]
    pub caller_vm: Option<String>,
    /// Also run a Network Intelligence Center Connectivity Test from --caller-service's serving revision, --caller-vm or --caller-ip to the service's run.app address on TCP 443, report where the packet leaves (external or through the VPC) or is dropped, and delete the test afterwards. Google charges for each analysis: https://cloud.google.com/network-intelligence-center/pricing
    #[arg(long, conflicts_with_all = ["audit", "watch"])]
    pub connectivity_test: bool,
    /// With --connectivity-test: trace from this internal address in --caller-network instead of a calling service or VM (name the caller with --caller).
    #[arg(long, value_name = "IP", requires_all = ["caller_network", "connectivity_test"], conflicts_with_all = ["caller_service", "caller_vm"])]
    pub caller_ip: Option<std::net::IpAddr>,
    /// With --caller-ip: its VPC network, NAME in --project or projects/P/global/networks/N.
    #[arg(long, value_name = "NETWORK", requires = "caller_ip")]
    pub caller_network: Option<String>,
    /// With --connectivity-test: keep the test instead of deleting it.
    #[arg(long, requires = "connectivity_test")]
    pub keep: bool,
    /// The calling Cloud Run job (NAME in --project and --region, or projects/P/locations/R/jobs/J): its task's service account is the caller unless --caller, and its VPC egress decides where its calls arrive from. A Connectivity Test cannot start from a job (it has no revision to trace from).
    #[arg(long, value_name = "JOB", conflicts_with_all = ["caller_service", "caller_vm", "caller_ip", "connectivity_test"])]
    pub caller_job: Option<String>,
    /// Also ask the Policy Troubleshooter API and report when it disagrees.
    #[arg(long)]
    pub remote: bool,
    /// Audit for exposure instead, with no caller: public services, invoker checks off, grants above services, external and deleted members, expired and expiring grants, basic roles; each finding with its least-privilege fix. Reads ServiceSnapshot documents, or SERVICE, or live with --all every service of --project (--under: of every project below a folder or organization). Exit 1 when any finding is a risk.
    #[arg(long, conflicts_with_all = ["caller", "token_file", "token_env", "saw", "remote"])]
    pub audit: bool,
    /// With --audit: audit every service of --project, in every region, read live.
    #[arg(long, conflicts_with_all = ["service", "file"])]
    pub all: bool,
    /// With --audit: audit every service of every project below RESOURCE (organizations/N or folders/N), read live, project by project.
    #[arg(long, value_name = "RESOURCE", conflicts_with_all = ["service", "file", "all"])]
    pub under: Option<String>,
    /// With --audit: report time-bound grants that end within this long (s, m, h, d).
    #[arg(long, value_name = "DURATION", default_value = "14d")]
    pub expiring_within: String,
    /// With --audit: a domain of the organization's Cloud Identity; members of other domains are external (repeatable) [default: each organization's own domain, as Resource Manager names it].
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Vec<String>,
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

/// Each project's log read, by project.
type LogReads = BTreeMap<String, LogReadResult>;
/// One project's log read: the filter, and the entries or why not.
type LogReadResult = (String, Result<Vec<serde_json::Value>, String>);

/// gather (inputs, keys) → per batch of services of one project: read the
/// logs once, then per service and caller gather facts, decide findings,
/// observe, settle → report each diagnosis as it is made. Snapshots are
/// read one at a time, so a stream of any length is diagnosed in the
/// memory of its largest project.
async fn troubleshoot(args: Args) -> Result<Exit, CommandError> {
    if args.audit {
        return run_audit(&args).await;
    }
    if !args.domain.is_empty() || args.all || args.under.is_some() {
        return Err(CommandError::usage("--domain, --all and --under apply to --audit only"));
    }
    let format = Format::resolve(args.output);
    if args.watch {
        return watching(&args, format).await;
    }
    let presented = read_token(&args)?;
    let named = named_caller(&args, presented.as_ref())?;
    let since = logs::parse_since(&args.since).map_err(|e| CommandError::usage(format!("--since {e}")))?;
    let saw = args.saw.as_deref().and_then(|s| s.parse::<u16>().ok());
    let snapshots = snapshot_input(&args)?;
    let ctx = args.common.context(HttpOptions::default())?;
    let conntest = conntest_options(&args, &ctx.config)?;
    let first = match &args.service {
        Some(s) => Some(resolve_service(s, &ctx.config, &ctx.clients).await?),
        None => None,
    };
    // The calling service or VM: its identity is the caller unless named;
    // its path is read again for each project of the services called.
    let spec = caller_spec(&args, &ctx, first.as_ref()).await?;
    // Read once here for the caller's identity; a batch of the same
    // project reuses it.
    let first_path = match &spec {
        Some(spec) => {
            let project = first.as_ref().map_or_else(|| spec.project().to_owned(), |t| t.project.clone());
            let path = network::read(&ctx.clients, &project, spec).await?;
            Some((project, path))
        }
        None => None,
    };
    let caller = match (named, &first_path) {
        (Some(c), _) => Some(c),
        (None, Some((_, path))) => Some(path.identity.clone().ok_or_else(|| {
            CommandError::usage("the calling service's or VM's identity could not be read")
                .hinted("add --caller PRINCIPAL")
        })?),
        (None, None) => None,
    };
    let now = Utc::now();
    let has_jwt = presented.as_ref().is_some_and(|p| p.tokens.iter().any(|k| matches!(k, token::Kind::Jwt(_))));
    let jwks = if has_jwt { fetch_jwks(ctx.config.emulator.as_ref()).await } else { None };
    let run = Run {
        args: &args,
        clients: &ctx.clients,
        caller: caller.as_ref(),
        spec: spec.as_ref(),
        first_path: first_path.as_ref(),
        conntest,
        presented: presented.as_ref(),
        sigs: signatures(presented.as_ref(), jwks.as_ref()),
        saw,
        now,
        from: now - since,
    };
    let mut out = Outcome { writer: Report::new(format), not_found: Vec::new(), diagnosed: 0, all_allowed: true };
    match (first, snapshots) {
        (Some(target), _) => {
            run.batch(vec![(target, None)], &mut out).await?;
        }
        (None, Some(docs)) => {
            let bar = runiam_core::output::counter("diagnosing", "services", args.common.quiet);
            let mut batch: Vec<Target> = Vec::new();
            for d in docs {
                let Document::ServiceSnapshot(snap) = d? else { continue };
                if batch.first().is_some_and(|(t, _)| t.project != snap.service.project) {
                    bar.inc(batch.len() as u64);
                    run.batch(std::mem::take(&mut batch), &mut out).await?;
                }
                batch.push(known_target(*snap));
            }
            bar.inc(batch.len() as u64);
            run.batch(batch, &mut out).await?;
            bar.finish_and_clear();
        }
        (None, None) => unreachable!("snapshot_input refuses no SERVICE and no input"),
    }
    // Listing one project never proves there is no caller: say what was
    // read, what was not, and that other projects were not looked at.
    if out.diagnosed == 0 {
        return Err(CommandError::usage(format!(
            "no caller found to diagnose (no --caller, no token); read {}; subscriptions, jobs and services in other projects can call it too",
            out.not_found.join("; ")
        ))
        .hinted("add --caller PRINCIPAL or --token-file FILE"));
    }
    out.writer.finish()?;
    Ok(if out.all_allowed { Exit::Ok } else { Exit::Problem })
}

/// `--connectivity-test`'s settings, when asked; it traces from the
/// calling service or VM, or from `--caller-ip` in `--caller-network`.
fn conntest_options(
    args: &Args,
    config: &runiam_core::config::Config,
) -> Result<Option<conntest::Options>, CommandError> {
    if !args.connectivity_test {
        return Ok(None);
    }
    if args.caller_ip.is_some() && args.caller.is_none() && args.token_file.is_none() && args.token_env.is_none() {
        return Err(CommandError::usage("--caller-ip names an address, not who calls").hinted("add --caller PRINCIPAL"));
    }
    let address = match (args.caller_ip, &args.caller_network) {
        (Some(ip), Some(net)) => {
            let project = config.project.as_ref().map(|p| p.value.as_str());
            Some((ip, conntest::network_name(net, project)?))
        }
        _ => None,
    };
    if args.caller_service.is_none() && args.caller_vm.is_none() && address.is_none() {
        return Err(CommandError::usage(
            "--connectivity-test traces from the caller: it needs --caller-service, --caller-vm or --caller-ip",
        )
        .hinted("add --caller-service SERVICE, --caller-vm ZONE/NAME, or --caller-ip IP --caller-network NETWORK"));
    }
    let (keep, quiet, emulator) = (args.keep, args.common.quiet, config.emulator.clone());
    Ok(Some(conntest::Options { keep, quiet, emulator, address }))
}

/// The caller named by `--caller-service`, `--caller-vm` or `--caller-job`;
/// a VM named ZONE/NAME (a job named NAME) lives in the service's project
/// (and region), else the configured one.
async fn caller_spec(
    args: &Args,
    ctx: &runiam_core::cli::Context,
    first: Option<&ServiceRef>,
) -> Result<Option<network::CallerSpec>, CommandError> {
    if let Some(s) = &args.caller_service {
        let service = resolve_service(s, &ctx.config, &ctx.clients).await?;
        return Ok(Some(network::CallerSpec::Service(service)));
    }
    let project = first.map(|t| t.project.clone()).or_else(|| ctx.config.project.as_ref().map(|p| p.value.clone()));
    if let Some(job) = &args.caller_job {
        let region = first.map(|t| t.region.clone()).or_else(|| ctx.config.region.as_ref().map(|r| r.value.clone()));
        return Ok(Some(network::CallerSpec::job(
            job,
            project.as_deref().unwrap_or(""),
            region.as_deref().unwrap_or(""),
        )?));
    }
    let Some(vm) = &args.caller_vm else { return Ok(None) };
    match (project, vm.starts_with("projects/")) {
        (Some(p), _) => Ok(Some(network::CallerSpec::vm(vm, &p)?)),
        (None, true) => Ok(Some(network::CallerSpec::vm(vm, "")?)),
        (None, false) => Err(CommandError::usage(format!("--caller-vm {vm}: in which project?"))
            .hinted("add --project, or name the VM as projects/P/zones/Z/instances/N")),
    }
}

/// `--audit`: every snapshot judged as it is read, then the policy of
/// every project, folder and organization above them, read once each;
/// findings are written as they are made, the summary last.
async fn run_audit(args: &Args) -> Result<Exit, CommandError> {
    let within = runiam_core::duration::parse(&args.expiring_within)
        .ok()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .ok_or_else(|| {
            CommandError::usage(format!("--expiring-within '{}' is not a duration", args.expiring_within))
                .hinted("use s, m, h or d, e.g. 14d or 36h")
        })?;
    let mut domains = std::collections::BTreeSet::new();
    for d in &args.domain {
        let p = Principal::parse(&format!("domain:{d}"))
            .map_err(|_| CommandError::usage(format!("--domain '{d}' is not a domain such as example.com")))?;
        domains.insert(p.to_string().trim_start_matches("domain:").to_ascii_lowercase());
    }
    let live = args.service.is_some() || args.all || args.under.is_some();
    let input = input(args.file.as_deref(), live);
    if let Some(root) = &args.under
        && !root.split_once('/').is_some_and(|(k, id)| {
            matches!(k, "organizations" | "folders") && !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
        })
    {
        return Err(CommandError::usage(format!("--under '{root}' is not organizations/N or folders/N"))
            .hinted("e.g. --under organizations/123456789012"));
    }
    let ctx = args.common.context(HttpOptions::default())?;
    let now = Utc::now();
    let mut a = Auditor {
        args,
        clients: &ctx.clients,
        rules: audit::Rules { now, expiring_within: within, domains },
        report: AuditReport::new(Format::resolve(args.output), now),
        orgs: BTreeSet::new(),
        below: BTreeMap::new(),
        bar: runiam_core::output::counter("auditing", "services", args.common.quiet),
    };
    match (&args.service, input) {
        (Some(s), _) => {
            let target = resolve_service(s, &ctx.config, &ctx.clients).await?;
            a.judge(capture(&ctx.clients, &target).await?).await?;
        }
        (None, Some(source)) => {
            for d in Documents::open("runiam-troubleshoot", &[Kind::ServiceSnapshot], &source, false)? {
                if let Document::ServiceSnapshot(snap) = d? {
                    a.judge(*snap).await?;
                }
            }
        }
        (None, None) if args.all || args.under.is_some() => {
            let projects = match &args.under {
                Some(root) => runiam_core::change::projects_below(&ctx.clients, root).await?,
                None => vec![ctx.config.project()?.to_owned()],
            };
            // One project's services at a time: the memory of the largest project.
            for project in projects {
                let listed = list_project(&ctx.clients, &project).await?;
                let targets = listed.into_iter().map(|(r, s)| (r, Some(s))).collect();
                for snap in snapshots(&ctx.clients, targets, true).await? {
                    a.judge(snap).await?;
                }
            }
        }
        (None, None) => {
            return Err(CommandError::usage("nothing to audit: no SERVICE, no --all or --under, and nothing on stdin")
                .hinted("runiam troubleshoot --audit --under organizations/N, or pipe runiam export into it"));
        }
    }
    a.finish().await
}

/// The audit's state between snapshots: only counts and the organizations' domains.
struct Auditor<'a> {
    args: &'a Args,
    clients: &'a Clients,
    rules: audit::Rules,
    report: AuditReport,
    /// Organizations whose domain was looked up.
    orgs: BTreeSet<String>,
    /// Audited services below each project, folder and organization.
    below: BTreeMap<String, usize>,
    bar: indicatif::ProgressBar,
}

impl Auditor<'_> {
    /// One snapshot: its organization's domain (once), its counts, its findings.
    async fn judge(&mut self, snap: ServiceSnapshot) -> Result<(), CommandError> {
        for org in snap.ancestry.iter().filter(|a| a.starts_with("organizations/")) {
            if self.args.domain.is_empty() && self.orgs.insert(org.clone()) {
                match self.clients.resource_manager.get_organization(org).await {
                    Ok(o) => self.rules.domains.extend(o.display_name.map(|d| d.to_ascii_lowercase())),
                    Err(e) => self.report.note(format!("cannot read {org} for its domain ({e}); add --domain")),
                }
            }
        }
        let project = snap.service.project.clone();
        for a in std::iter::once(format!("projects/{project}")).chain(snap.ancestry.iter().cloned()) {
            *self.below.entry(a).or_default() += 1;
        }
        self.report.service(&project);
        for f in audit::service(&snap, &self.rules) {
            self.report.add(snap.service.full_name(), Some(project.clone()), f)?;
        }
        self.bar.inc(1);
        Ok(())
    }

    /// The policies above the audited services, each read once and judged,
    /// then the summary; exit 3 after it when one could not be read.
    async fn finish(mut self) -> Result<Exit, CommandError> {
        self.bar.finish_and_clear();
        let rm = &self.clients.resource_manager;
        let policies = join_all(self.below.keys().map(|r| async move { (r, rm.get_iam_policy(r).await) })).await;
        let mut unread = Vec::new();
        for (resource, policy) in policies {
            match policy {
                Ok(p) => {
                    let project = resource.strip_prefix("projects/").map(str::to_owned);
                    for f in audit::ancestor(resource, &p, self.below[resource], &self.rules) {
                        self.report.add(resource.clone(), project.clone(), f)?;
                    }
                }
                Err(e) => unread.push(format!("{resource} ({e})")),
            }
        }
        if self.rules.domains.is_empty() {
            self.report.note("no organization domain is known, so no member was judged external; add --domain".into());
        }
        let exit = self.report.finish()?;
        if !unread.is_empty() {
            return Err(CommandError::api(format!(
                "cannot read the allow policies of {}; grants there were not audited",
                unread.join(", ")
            ))
            .hinted(
                "the operator needs resourcemanager.*.getIamPolicy on them (roles/iam.securityReviewer carries it)",
            ));
        }
        Ok(exit)
    }
}

/// The audit's output: findings as they are made (one line each on a
/// terminal, AuditFinding documents in a pipe), then a summary by project.
struct AuditReport {
    docs: Option<DocWriter<std::io::Stdout>>,
    at: chrono::DateTime<Utc>,
    /// Per project (or folder, organization): services, risks, infos, and counts per id.
    rows: BTreeMap<String, (usize, usize, usize, BTreeMap<String, usize>)>,
    notes: Vec<String>,
}

impl AuditReport {
    fn new(format: Format, at: chrono::DateTime<Utc>) -> Self {
        let docs = format.doc_format().map(|f| DocWriter::new(std::io::stdout(), f));
        Self { docs, at, rows: BTreeMap::new(), notes: Vec::new() }
    }

    fn service(&mut self, project: &str) {
        self.rows.entry(project.to_owned()).or_default().0 += 1;
    }

    fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    fn add(&mut self, resource: String, project: Option<String>, finding: Finding) -> Result<(), CommandError> {
        let row = self.rows.entry(project.clone().unwrap_or_else(|| resource.clone())).or_default();
        match finding.severity {
            Severity::Risk | Severity::Cause => row.1 += 1,
            Severity::Info => row.2 += 1,
        }
        *row.3.entry(finding.id.clone()).or_default() += 1;
        match &mut self.docs {
            Some(w) => {
                let doc = AuditFinding { resource, project, finding, audited_at: self.at };
                w.write(&Document::AuditFinding(Box::new(doc)))?;
            }
            None => {
                let fix = finding.fix.as_ref().map(|f| format!(" (fix: {})", f.command)).unwrap_or_default();
                let severity = match finding.severity {
                    Severity::Cause => "cause",
                    Severity::Risk => "risk",
                    Severity::Info => "info",
                };
                writeln!(std::io::stdout(), "{severity} [{}] {}{fix}", finding.id, finding.explanation)?;
            }
        }
        Ok(())
    }

    /// The summary table (text) and notes (stderr); exit 1 when any risk.
    fn finish(self) -> Result<Exit, CommandError> {
        for n in &self.notes {
            let _ = writeln!(std::io::stderr(), "note: {n}");
        }
        if self.docs.is_none() {
            let header = ["PROJECT", "SERVICES", "RISKS", "INFO", "FINDINGS"].map(String::from);
            let rows: Vec<[String; 5]> = self
                .rows
                .iter()
                .map(|(p, (services, risks, infos, ids))| {
                    let ids: Vec<String> = ids.iter().map(|(id, n)| format!("{id} {n}")).collect();
                    [p.clone(), services.to_string(), risks.to_string(), infos.to_string(), ids.join(", ")]
                })
                .collect();
            let widths: Vec<usize> =
                (0..5).map(|i| rows.iter().chain([&header]).map(|r| r[i].len()).max().unwrap_or(0)).collect();
            let mut out = String::from("\n");
            for r in [&header].into_iter().chain(rows.iter()) {
                let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
                out.push_str(line.join("  ").trim_end());
                out.push('\n');
            }
            std::io::stdout().write_all(out.as_bytes())?;
        }
        let risky = self.rows.values().any(|r| r.1 > 0);
        Ok(if risky { Exit::Problem } else { Exit::Ok })
    }
}

/// What every service's diagnosis shares: the flags, the token, the clock.
struct Run<'a> {
    args: &'a Args,
    clients: &'a Clients,
    caller: Option<&'a Principal>,
    /// `--caller-service`/`--caller-vm`, whose path each batch reads for its project.
    spec: Option<&'a network::CallerSpec>,
    /// The path read for the caller's identity, and the project it was read for.
    first_path: Option<&'a (String, network::CallerPath)>,
    /// `--connectivity-test`, run from `spec` for each service diagnosed.
    conntest: Option<conntest::Options>,
    presented: Option<&'a token::Presented>,
    sigs: Vec<token::Signature>,
    saw: Option<u16>,
    now: chrono::DateTime<Utc>,
    from: chrono::DateTime<Utc>,
}

/// What the diagnoses so far came to; each is written as it is made.
struct Outcome {
    writer: Report,
    not_found: Vec<String>,
    diagnosed: usize,
    all_allowed: bool,
}

impl Outcome {
    fn add(&mut self, d: Diagnosis) -> Result<(), CommandError> {
        self.diagnosed += 1;
        self.all_allowed &= d.verdict == Verdict::Allowed;
        self.writer.write(&d)
    }
}

impl Run<'_> {
    /// Diagnoses a batch of services (one project's, as export writes them):
    /// one log read per project, then each service. The log read goes out
    /// beside the first service's own reads: a named caller's diagnosis
    /// needs the logs only at the end, to say what they saw.
    async fn batch(&self, targets: Vec<Target>, out: &mut Outcome) -> Result<(), CommandError> {
        if targets.is_empty() {
            return Ok(());
        }
        let reads = read_logs(self.clients, projects_of(&targets), self.from, self.args, self.caller.is_none())
            .map(Arc::new)
            .shared();
        // `--from` overrides the derived path.
        let path = match (self.spec, self.args.from) {
            (Some(spec), None) => Some(match self.first_path {
                Some((project, path)) if *project == targets[0].0.project => path.clone(),
                _ => network::read(self.clients, &targets[0].0.project, spec).await?,
            }),
            _ => None,
        };
        for (target, known) in targets {
            match self.caller {
                Some(c) => {
                    let request = Request {
                        caller: c.clone(),
                        from: self.args.from.unwrap_or(Origin::External),
                        path: path.clone(),
                    };
                    let (diagnosed, reads) =
                        tokio::join!(one(self.clients, &target, &request, known, self.args.remote), reads.clone());
                    let (mut draft, service) = diagnosed?;
                    let start = match (&self.conntest, self.spec) {
                        (Some(o), _) if o.address.is_some() => {
                            o.address.as_ref().map(|(ip, net)| conntest::Start::Address(*ip, net))
                        }
                        (Some(_), Some(spec)) => Some(conntest::Start::Caller(spec)),
                        _ => None,
                    };
                    if let (Some(opts), Some(start)) = (&self.conntest, start) {
                        let subnet = path.as_ref().and_then(|p| p.subnetwork.as_deref());
                        draft.findings.extend(conntest::run(self.clients, opts, start, subnet, &service).await);
                    }
                    observe::apply(&mut draft, &service, &self.observed(reads.get(&target.project)));
                    out.add(settle(draft))?;
                }
                None => {
                    let reads = reads.clone().await;
                    let read = reads.get(&target.project);
                    let logs = match read {
                        Some((_, Ok(e))) => Ok(e.as_slice()),
                        Some((_, Err(e))) => Err(e.as_str()),
                        None => Err("not read (--no-logs)"),
                    };
                    let observed = self.observed(read);
                    match discovered(self.clients, &target, known, logs, &observed, self.args.remote).await? {
                        Ok(ds) => ds.into_iter().try_for_each(|d| out.add(d))?,
                        Err(summary) => out.not_found.push(format!("{}: {summary}", target.full_name())),
                    }
                }
            }
        }
        Ok(())
    }

    /// What the caller was seen to get: the token, the project's log read, `--saw`.
    fn observed<'r>(&'r self, read: Option<&'r LogReadResult>) -> Observed<'r> {
        Observed {
            token: self.presented.map(|p| (p, self.sigs.as_slice())),
            logs: match read {
                None => LogRead::Skipped,
                Some((_, Err(e))) => LogRead::Failed(e.clone()),
                Some((filter, Ok(entries))) => LogRead::Read { entries, since: self.from, filter },
            },
            saw: self.saw,
            now: self.now,
            named_caller: self.caller.is_some(),
        }
    }
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

/// The ServiceSnapshot documents on stdin or `-f`, when no SERVICE is
/// named, to be read one at a time.
fn snapshot_input(args: &Args) -> Result<Option<Documents>, CommandError> {
    let token_on_stdin = args.token_file.as_deref() == Some(std::path::Path::new("-"));
    match (&args.service, input(args.file.as_deref(), args.service.is_some() || token_on_stdin)) {
        (None, Some(source)) => {
            Ok(Some(Documents::open("runiam-troubleshoot", &[Kind::ServiceSnapshot], &source, true)?))
        }
        (None, None) => Err(CommandError::usage("no SERVICE given and nothing on stdin")
            .hinted("runiam troubleshoot SERVICE --caller PRINCIPAL, or pipe runiam export into it")),
        (Some(_), _) => Ok(None),
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

/// The services of each project among `targets`, by name.
fn projects_of(targets: &[Target]) -> BTreeMap<String, Vec<String>> {
    let mut projects: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (t, _) in targets {
        projects.entry(t.project.clone()).or_default().push(t.name.clone());
    }
    projects
}

/// One log read per project, whatever the number of services.
async fn read_logs(
    clients: &Clients,
    projects: BTreeMap<String, Vec<String>>,
    from: chrono::DateTime<Utc>,
    args: &Args,
    all_callers: bool,
) -> LogReads {
    if args.no_logs {
        return BTreeMap::new();
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
        let request = Request { caller: c.caller.clone(), from: c.from, path: c.path.clone() };
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
    let fenced =
        fence::read(clients, fence::target_of(&gathered), fence::caller_project(req, target), fence::identity(req))
            .await;
    d.findings.extend(fence::findings(&fenced, &target.full_name()));
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

/// Writes diagnoses as they are made: documents in a pipe, text on a
/// terminal; a Markdown page is one page, written when all are made.
enum Report {
    Docs(DocWriter<std::io::Stdout>),
    Text,
    Markdown(Vec<Document>),
}

impl Report {
    fn new(format: Format) -> Self {
        match format.doc_format() {
            Some(f) => Report::Docs(DocWriter::new(std::io::stdout(), f)),
            None if format == Format::Markdown => Report::Markdown(Vec::new()),
            None => Report::Text,
        }
    }

    fn write(&mut self, d: &Diagnosis) -> Result<(), CommandError> {
        match self {
            Report::Docs(w) => w.write(&Document::Diagnosis(Box::new(d.clone())))?,
            Report::Text => std::io::stdout().lock().write_all(text(d).as_bytes())?,
            Report::Markdown(docs) => docs.push(Document::Diagnosis(Box::new(d.clone()))),
        }
        Ok(())
    }

    fn finish(self) -> Result<(), CommandError> {
        if let Report::Markdown(docs) = self {
            runiam_core::runbook::write_stdout(&docs)?;
        }
        Ok(())
    }
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
