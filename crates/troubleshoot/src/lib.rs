//! `runiam troubleshoot`: why is this caller denied?
//!
//! Gather (`gather`: the service, every policy above it, deny and org
//! policies, roles, groups, concurrently) → decide (`decide`: pure, core's
//! evaluator plus the front end's own checks, into findings with stable ids
//! from `findings`) → report (the verdict first on a terminal; Diagnosis
//! documents in pipes). Troubleshoot only reads.

pub mod decide;
pub mod findings;
pub mod gather;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, Parser};
use futures::future::join_all;
use runiam_core::api::Clients;
use runiam_core::cli::{CommonArgs, run_command};
use runiam_core::doc::{
    Diagnosis, DocWriter, Document, Evidence, Kind, Severity, Verdict, input, read_for, read_input,
};
use runiam_core::http::HttpOptions;
use runiam_core::model::{INVOKE_PERMISSION, Principal, ServiceRef};
use runiam_core::output::Format;
use runiam_core::target::resolve_service;
use runiam_core::{CommandError, Exit};

use crate::decide::{Elsewhere, Origin, Request, diagnose};

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
#[command(name = "runiam-troubleshoot", version)]
pub struct Args {
    /// The service: NAME (with --region), projects/P/locations/R/services/S, or a service URL.
    #[arg(value_name = "SERVICE")]
    pub service: Option<String>,
    /// Who is denied: user:, serviceAccount:, group:, principal://..., allUsers.
    #[arg(long, value_name = "PRINCIPAL")]
    pub caller: String,
    /// Where the call comes from (same-project Pub/Sub, Scheduler, Eventarc and Tasks count as internal).
    #[arg(long, value_enum, default_value = "external")]
    pub from: Origin,
    /// Also ask the Policy Troubleshooter API and report when it disagrees.
    #[arg(long)]
    pub remote: bool,
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

async fn troubleshoot(args: Args) -> Result<Exit, CommandError> {
    let format = Format::resolve(args.output);
    let caller = Principal::parse(&args.caller).map_err(|e| CommandError::usage(format!("--caller {e}")))?;
    let snapshots = match (&args.service, input(args.file.as_deref(), args.service.is_some())) {
        (None, Some(source)) => {
            let text = read_input(&source)?;
            read_for("runiam-troubleshoot", &[Kind::ServiceSnapshot], &text)?
                .into_iter()
                .filter_map(|d| match d {
                    Document::ServiceSnapshot(s) => Some(*s),
                    _ => None,
                })
                .collect()
        }
        (None, None) => {
            return Err(CommandError::usage("no SERVICE given and nothing on stdin")
                .hinted("runiam troubleshoot SERVICE --caller PRINCIPAL, or pipe runiam export into it"));
        }
        (Some(_), _) => Vec::new(),
    };
    let ctx = args.common.context(HttpOptions::default())?;
    let request = Request { caller: caller.clone(), from: args.from };
    let mut diagnoses = Vec::new();
    if let Some(s) = &args.service {
        let target = resolve_service(s, &ctx.config, &ctx.clients).await?;
        diagnoses.push(one(&ctx.clients, &target, &request, None, args.remote).await?);
    }
    for snap in snapshots {
        let known = runiam_core::api::run::Service {
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
        diagnoses.push(one(&ctx.clients, &snap.service, &request, Some((known, snap.iam_policy)), args.remote).await?);
    }
    report(&diagnoses, format)?;
    Ok(if diagnoses.iter().all(|d| d.verdict == Verdict::Allowed) { Exit::Ok } else { Exit::Problem })
}

/// Gathers, decides and (with --remote) cross-checks one service.
async fn one(
    clients: &Clients,
    target: &ServiceRef,
    req: &Request,
    known: Option<(runiam_core::api::run::Service, runiam_core::model::Policy)>,
    remote: bool,
) -> Result<Diagnosis, CommandError> {
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
                let ours = verdict_name(d.verdict);
                let agrees = matches!(
                    (theirs.as_str(), d.verdict),
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
    Ok(d)
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
    let stdout = std::io::stdout().lock();
    match format.doc_format() {
        Some(f) => {
            let mut w = DocWriter::new(stdout, f);
            for d in diagnoses {
                w.write(&Document::Diagnosis(Box::new(d.clone())))?;
            }
        }
        None => {
            let mut out = stdout;
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
    let mut out = format!("{}: {caller} on {}\n", verdict_name(d.verdict), d.service.full_name());
    for (severity, title) in [(Severity::Cause, "cause"), (Severity::Risk, "risk"), (Severity::Info, "ruled out")] {
        for f in d.findings.iter().filter(|f| f.severity == severity) {
            out.push_str(&format!("\n  {title} [{}] {}\n", f.id, f.explanation));
            for e in &f.evidence {
                out.push_str(&format!("    evidence ({}): {}\n", e.source, e.detail));
            }
            if let Some(fix) = &f.fix {
                out.push_str(&format!("    fix: {}\n", fix.command));
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
