//! `runiam grant-invoker`: grant the least privilege that lets a caller
//! invoke a service, safely enough for a scripted change window.
//!
//! Gather (the intents: flags, Diagnosis fixes or plans; the live policy)
//! → decide (`plan::grant`, pure: the policy after, or nothing to do;
//! prechecks) → act (only with `--apply`: confirm, back up, etag-guarded
//! read-modify-write through runiam-core) → report (the plan's diff and
//! blast radius on stderr, ChangeRecords on stdout).

pub mod plan;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use chrono::Utc;
use clap::{CommandFactory, Parser};
use runiam_core::change::{capture, confirm, policy_diff, read_modify_write, set_invoker_check, write_backup};
use runiam_core::cli::{CommonArgs, Context, WriteArgs, run_command};
use runiam_core::doc::{
    ChangeAction, ChangeRecord, DocFormat, Document, FixAction, Intent, Kind, Verdict, input, read_for, read_input,
    write_stdout,
};
use runiam_core::http::HttpOptions;
use runiam_core::model::{Principal, ServiceRef};
use runiam_core::target::{resolve_service, user_named};
use runiam_core::{CommandError, Exit};

use crate::plan::{Grant, blast_radius, check_role, expiry_condition, parse_duration};

/// Grant the least privilege that lets a caller invoke a Cloud Run service.
///
/// A dry run unless --apply: prints the plan (the policy diff and who gains
/// what) on stderr and writes an unapplied ChangeRecord, a plan that
/// `runiam grant-invoker --apply -f plan.yaml` applies exactly. With --apply
/// it backs the service up first, then writes the policy guarded by its
/// etag, redoing the read-modify-write when someone else changed the policy
/// meanwhile. Granting what is already granted writes nothing.
///
/// Without SERVICE, reads Diagnosis documents (from runiam troubleshoot;
/// each `grant` fix is applied, `manual` fixes are printed and exit 1) or
/// plans from stdin or -f.
#[derive(Parser, Debug)]
#[command(name = "runiam-grant-invoker", version)]
pub struct Args {
    /// The service: NAME (with --region), projects/P/locations/R/services/S, or a service URL.
    #[arg(value_name = "SERVICE")]
    pub service: Option<String>,
    /// Who may invoke: user:, serviceAccount:, group:, domain:, principal://, principalSet://, allUsers or allAuthenticatedUsers.
    #[arg(long, value_name = "PRINCIPAL")]
    pub member: Option<String>,
    /// The role; another role than roles/run.invoker must carry no permission beyond it (roles/run.servicesInvoker, or a custom role).
    #[arg(long, default_value = "roles/run.invoker")]
    pub role: String,
    /// Make the grant expire after this long (30m, 2h, 7d): a conditional, time-bound binding.
    #[arg(long, value_name = "DURATION", conflicts_with = "until")]
    pub expires: Option<String>,
    /// Make the grant expire at this time (RFC 3339, e.g. 2027-01-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Allow granting allUsers or allAuthenticatedUsers (anyone on the internet, or any Google account).
    #[arg(long)]
    pub allow_public: bool,
    /// Make the service public by turning its invoker IAM check off instead of granting allUsers (the way that works under domain restricted sharing).
    #[arg(long, conflicts_with_all = ["member", "expires", "until"])]
    pub disable_invoker_check: bool,
    /// The change ticket or reason, recorded in the ChangeRecord and in a time-bound grant's description.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub write: WriteArgs,
    /// Read Diagnosis documents or plans from FILE (- for stdin).
    #[arg(short = 'f', long = "file", value_name = "FILE", conflicts_with = "service")]
    pub file: Option<PathBuf>,
    /// Output format [default: text on a terminal, yaml otherwise].
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<GrantFormat>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// What `-o` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GrantFormat {
    /// The plan in words.
    Text,
    /// ChangeRecord documents as YAML.
    Yaml,
    /// ChangeRecord documents, one JSON object per line.
    Json,
    /// The granted bindings as google_cloud_run_v2_service_iam_member resources.
    Terraform,
}

pub fn command() -> clap::Command {
    Args::command()
}

pub fn run(args: Vec<OsString>) -> Exit {
    run_command("runiam-grant-invoker", args, |a: &Args| &a.common, grant_invoker)
}

/// One thing to do, from the flags, a Diagnosis or a plan.
enum Work {
    Grant { service: String, grant: Grant },
    DisableInvokerCheck { service: String },
    Plan(Box<ChangeRecord>),
}

async fn grant_invoker(args: Args) -> Result<Exit, CommandError> {
    let format = match args.output {
        Some(f) => f,
        None if std::io::stdout().is_terminal() => GrantFormat::Text,
        None => GrantFormat::Yaml,
    };
    let (work, exit) = gather_work(&args)?;
    let ctx = args.common.context(HttpOptions::default())?;
    let mut records = Vec::new();
    for w in work {
        let record = match w {
            Work::Grant { service, grant } => {
                let target = resolve_service(&service, &ctx.config, &ctx.clients).await?;
                check_role(&ctx.clients, &grant.role).await?;
                do_grant(&args, &ctx, target, grant).await?
            }
            Work::DisableInvokerCheck { service } => {
                let target = resolve_service(&service, &ctx.config, &ctx.clients).await?;
                do_disable(&args, &ctx, target).await?
            }
            Work::Plan(plan) => do_plan(&args, &ctx, *plan).await?,
        };
        records.push(record);
    }
    report(&records, format)?;
    Ok(exit)
}

/// The work from flags or documents; manual fixes are reported here (exit 1).
fn gather_work(args: &Args) -> Result<(Vec<Work>, Exit), CommandError> {
    if let Some(service) = &args.service {
        if args.disable_invoker_check {
            return Ok((vec![Work::DisableInvokerCheck { service: service.clone() }], Exit::Ok));
        }
        if args.member.is_none() {
            return Err(CommandError::usage("a SERVICE needs --member PRINCIPAL (or --disable-invoker-check)"));
        }
        let grant = grant_from_flags(args)?;
        return Ok((vec![Work::Grant { service: service.clone(), grant }], Exit::Ok));
    }
    if args.member.is_some() {
        return Err(
            CommandError::usage("--member needs a SERVICE").hinted("runiam grant-invoker SERVICE --member PRINCIPAL")
        );
    }
    let Some(source) = input(args.file.as_deref(), false) else {
        return Err(CommandError::usage("no SERVICE given and nothing on stdin")
            .hinted("runiam grant-invoker SERVICE --member PRINCIPAL, or pipe runiam troubleshoot into it"));
    };
    let text = read_input(&source)?;
    let docs = read_for("runiam-grant-invoker", &[Kind::Diagnosis, Kind::ChangeRecord], &text)?;
    let mut work = Vec::new();
    let mut exit = Exit::Ok;
    let mut err = std::io::stderr();
    for d in docs {
        match d {
            Document::Diagnosis(d) => {
                let service = d.service.full_name();
                if d.verdict == Verdict::Allowed {
                    let _ = writeln!(err, "{service}: the caller is already allowed; nothing to do");
                    continue;
                }
                let Some(fix) = d.fix.clone() else {
                    let _ = writeln!(err, "{service}: the diagnosis proposes no fix");
                    exit = Exit::Problem;
                    continue;
                };
                match (fix.action, fix.member, fix.role) {
                    (FixAction::DisableInvokerCheck, _, _) => work.push(Work::DisableInvokerCheck { service }),
                    (FixAction::Grant, Some(member), role) => {
                        let role = role.unwrap_or_else(|| plan::DEFAULT_ROLE.to_owned());
                        let public = member.is_public();
                        let grant = Grant { member, role, condition: fix.condition, reason: args.reason.clone() };
                        if public && !args.allow_public {
                            return Err(public_refusal(&grant.member));
                        }
                        work.push(Work::Grant { service, grant });
                    }
                    _ => {
                        let _ = writeln!(err, "{service}: manual fix: {}", fix.command);
                        exit = Exit::Problem;
                    }
                }
            }
            Document::ChangeRecord(r) if !r.applied => work.push(Work::Plan(r)),
            Document::ChangeRecord(r) => {
                return Err(CommandError::usage(format!(
                    "the ChangeRecord for {} was already applied; only plans (applied: false) can be applied",
                    r.service.full_name()
                ))
                .hinted("to undo an applied change, pipe it to runiam rollback"));
            }
            other => unreachable!("read_for admits only Diagnosis and ChangeRecord, got {:?}", other.kind()),
        }
    }
    Ok((work, exit))
}

fn public_refusal(member: &Principal) -> CommandError {
    CommandError::refused(format!("{member} would let anyone invoke the service; refusing without --allow-public"))
        .hinted("pass --allow-public if the service is meant to be public")
}

/// Validates the flags into one grant; bad input is exit 2, a public
/// member without --allow-public exit 4.
fn grant_from_flags(args: &Args) -> Result<Grant, CommandError> {
    let raw = args.member.as_deref().unwrap_or_default();
    let member = Principal::parse(raw).map_err(|e| CommandError::usage(format!("--member {e}")))?;
    if matches!(member, Principal::Deleted(_)) {
        return Err(CommandError::usage(format!(
            "--member {member} names a deleted principal, which can never invoke"
        )));
    }
    let until = match (&args.expires, &args.until) {
        (Some(d), _) => {
            Some(Utc::now() + parse_duration(d).map_err(|e| CommandError::usage(format!("--expires {e}")))?)
        }
        (None, Some(t)) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| {
                    CommandError::usage(format!(
                        "--until '{t}' is not an RFC 3339 time ({e}), e.g. 2027-01-01T00:00:00Z"
                    ))
                })?
                .with_timezone(&Utc),
        ),
        (None, None) => None,
    };
    if member.is_public() && until.is_some() {
        return Err(CommandError::usage(format!(
            "IAM refuses conditions on {member}, so --expires/--until cannot apply to it"
        )));
    }
    if member.is_public() && !args.allow_public {
        return Err(public_refusal(&member));
    }
    let condition = until.map(|u| expiry_condition(u, args.reason.as_deref()));
    Ok(Grant { member, role: args.role.clone(), condition, reason: args.reason.clone() })
}

fn intent(grant: &Grant) -> Intent {
    Intent {
        action: ChangeAction::Grant,
        member: Some(grant.member.clone()),
        role: Some(grant.role.clone()),
        condition: grant.condition.clone(),
        reason: grant.reason.clone(),
    }
}

/// Plans, and with --apply performs, one grant.
async fn do_grant(args: &Args, ctx: &Context, target: ServiceRef, grant: Grant) -> Result<ChangeRecord, CommandError> {
    let name = target.full_name();
    let live = ctx
        .clients
        .run_v2
        .get_iam_policy(&target)
        .await
        .map_err(|e| user_named(e, format!("cannot read the IAM policy of {name}")))?;
    let planned = plan::grant(&live, &grant);
    let mut err = std::io::stderr();
    match &planned {
        None => {
            let _ = writeln!(err, "{name}: {} already holds {}; nothing to do", grant.member, grant.role);
        }
        Some(after) if !args.common.quiet => {
            let _ = write!(err, "{}", policy_diff(&live, after, &name));
            let _ = writeln!(err, "{}", blast_radius(&grant, &target));
        }
        Some(_) => {}
    }
    let mut record = ChangeRecord::plan(
        target.clone(),
        intent(&grant),
        live.clone(),
        planned.clone().unwrap_or_else(|| live.clone()),
    );
    if planned.is_none() {
        // Nothing to change is a successful, already-applied state.
        record.applied = args.write.apply;
        return Ok(record);
    }
    if !args.write.apply {
        return Ok(record);
    }
    precheck(ctx, &target, "run.services.setIamPolicy").await?;
    if grant.member.is_public() {
        precheck_public(ctx, &target).await?;
    }
    confirm(args.write.yes, &format!("Grant {} {} on {name}?", grant.member, grant.role))?;
    let snapshot = capture(&ctx.clients, &target).await?;
    let backup = write_backup(&args.write.backup_dir, &snapshot)?;
    let written =
        read_modify_write(&ctx.clients, &target, Some(snapshot.iam_policy), |p| plan::grant(p, &grant)).await?;
    if written.conflicts > 0 {
        let _ = writeln!(err, "{name}: redone {} time(s) after concurrent policy changes", written.conflicts);
    }
    record.added = written.after.grants_not_in(&written.before);
    record.policy_before = written.before;
    record.policy_after = written.after;
    record.applied = true;
    record.applied_at = Some(Utc::now());
    record.backup_path = Some(backup.display().to_string());
    Ok(record)
}

/// Turns the invoker check off: plans it, and with --apply backs up and
/// patches the service guarded by its etag.
async fn do_disable(args: &Args, ctx: &Context, target: ServiceRef) -> Result<ChangeRecord, CommandError> {
    let name = target.full_name();
    let (service, policy) =
        tokio::join!(ctx.clients.run_v2.get_service(&target), ctx.clients.run_v2.get_iam_policy(&target));
    let service = service.map_err(|e| user_named(e, format!("cannot read service {name}")))?;
    let policy = policy.map_err(|e| user_named(e, format!("cannot read the IAM policy of {name}")))?;
    let mut err = std::io::stderr();
    let already = service.invoker_iam_disabled;
    if already {
        let _ = writeln!(err, "{name}: the invoker IAM check is already off; nothing to do");
    } else if !args.common.quiet {
        let _ = writeln!(err, "{name}: invoker IAM check on -> off");
        let _ = writeln!(
            err,
            "blast radius: ANYONE on the internet can invoke {name}; its IAM policy is no longer checked"
        );
    }
    let intent = Intent::bare(ChangeAction::DisableInvokerCheck, args.reason.clone());
    let mut record = ChangeRecord::plan(target.clone(), intent, policy.clone(), policy);
    record.service_etag_before = service.etag.clone();
    record.service_etag_after = service.etag.clone();
    record.invoker_iam_disabled_before = Some(service.invoker_iam_disabled);
    record.invoker_iam_disabled_after = Some(true);
    record.applied = already && args.write.apply;
    if already || !args.write.apply {
        return Ok(record);
    }
    turn_invoker_check_off(args, ctx, record).await
}

/// Turns the invoker check off for `record` (a fresh plan or a saved one):
/// permission check, confirmation, backup, the etag-guarded patch, and the
/// record filled from what the API returned.
async fn turn_invoker_check_off(
    args: &Args,
    ctx: &Context,
    mut record: ChangeRecord,
) -> Result<ChangeRecord, CommandError> {
    let target = record.service.clone();
    let name = target.full_name();
    precheck(ctx, &target, "run.services.update").await?;
    confirm(args.write.yes, &format!("Turn the invoker IAM check off on {name}, making it public?"))?;
    let backup = write_backup(&args.write.backup_dir, &capture(&ctx.clients, &target).await?)?;
    let changed = set_invoker_check(&ctx.clients, &target, true).await?;
    record.service_etag_before = changed.before.etag;
    record.service_etag_after = changed.after.etag;
    record.invoker_iam_disabled_before = Some(changed.before.invoker_iam_disabled);
    record.invoker_iam_disabled_after = Some(changed.after.invoker_iam_disabled);
    record.applied = true;
    record.applied_at = Some(Utc::now());
    record.backup_path = Some(backup.display().to_string());
    Ok(record)
}

/// The operator must be able to write the policy: say which permission is
/// missing before anything is backed up or written.
async fn precheck(ctx: &Context, target: &ServiceRef, permission: &str) -> Result<(), CommandError> {
    let held = ctx
        .clients
        .run_v2
        .test_iam_permissions(target, &[permission])
        .await
        .map_err(|e| user_named(e, format!("cannot check permissions on {}", target.full_name())))?;
    if held.iter().any(|p| p == permission) {
        return Ok(());
    }
    let role = runiam_core::roles::smallest_role_with(permission).unwrap_or("roles/run.admin");
    Err(CommandError::api(format!("the credentials in use lack {permission} on {}", target.full_name()))
        .hinted(format!("the predefined role {role} carries it")))
}

/// Domain restricted sharing refuses allUsers and allAuthenticatedUsers:
/// say so before anything is backed up or written. (Other members are
/// checked by IAM itself on the write, which answers FAILED_PRECONDITION.)
async fn precheck_public(ctx: &Context, target: &ServiceRef) -> Result<(), CommandError> {
    let resource = format!("projects/{}", target.project);
    match ctx.clients.org_policy.get_effective_policy(&resource, runiam_core::api::orgpolicy::DRS).await {
        Ok(p) if p.allowed_customers().is_some() => Err(CommandError::refused(format!(
            "domain restricted sharing (iam.allowedPolicyMemberDomains) on {resource} forbids public members"
        ))
        .hinted(format!(
            "make the service public the supported way: runiam grant-invoker {} --disable-invoker-check --apply",
            target.full_name()
        ))),
        // Unreadable or unset: IAM itself refuses on the write if it must.
        _ => Ok(()),
    }
}

/// Applies a plan exactly, or re-checks it in a dry run.
async fn do_plan(args: &Args, ctx: &Context, plan: ChangeRecord) -> Result<ChangeRecord, CommandError> {
    if plan.intent.action == ChangeAction::DisableInvokerCheck {
        return do_invoker_plan(args, ctx, plan).await;
    }
    do_policy_plan(args, ctx, plan).await
}

/// A plan to turn the invoker check off: refused when the service changed
/// since (its etag moved), as policy plans are.
async fn do_invoker_plan(args: &Args, ctx: &Context, plan: ChangeRecord) -> Result<ChangeRecord, CommandError> {
    let name = plan.service.full_name();
    let live = ctx
        .clients
        .run_v2
        .get_service(&plan.service)
        .await
        .map_err(|e| user_named(e, format!("cannot read service {name}")))?;
    if live.etag != plan.service_etag_before {
        return Err(CommandError::refused(format!(
            "service {name} changed since the plan was made (etag {} now, {} in the plan)",
            live.etag.as_deref().unwrap_or("none"),
            plan.service_etag_before.as_deref().unwrap_or("none")
        ))
        .hinted("make a new plan with runiam grant-invoker --disable-invoker-check, and review it"));
    }
    if !args.write.apply {
        return Ok(plan);
    }
    turn_invoker_check_off(args, ctx, plan).await
}

/// A policy plan: written exactly as planned, guarded by the plan's etag.
async fn do_policy_plan(args: &Args, ctx: &Context, mut plan: ChangeRecord) -> Result<ChangeRecord, CommandError> {
    let target = plan.service.clone();
    let name = target.full_name();
    let live = ctx
        .clients
        .run_v2
        .get_iam_policy(&target)
        .await
        .map_err(|e| user_named(e, format!("cannot read the IAM policy of {name}")))?;
    if live.etag != plan.policy_before.etag {
        return Err(CommandError::refused(format!(
            "the IAM policy of {name} changed since the plan was made (etag {} now, {} in the plan)",
            live.etag.as_deref().unwrap_or("none"),
            plan.policy_before.etag.as_deref().unwrap_or("none")
        ))
        .hinted("make a new plan with runiam grant-invoker, and review it"));
    }
    if !args.write.apply {
        return Ok(plan);
    }
    precheck(ctx, &target, "run.services.setIamPolicy").await?;
    confirm(args.write.yes, &format!("Apply the plan for {name}?"))?;
    let backup = write_backup(&args.write.backup_dir, &capture(&ctx.clients, &target).await?)?;
    let mut body = plan.policy_after.clone();
    body.etag = plan.policy_before.etag.clone();
    let written = ctx.clients.run_v2.set_iam_policy(&target, &body).await.map_err(|e| {
        let moved = e.status().is_some_and(|s| s.status == "ABORTED");
        let mut err = CommandError::from(e).context(format!("cannot apply the plan for {name}"));
        if moved {
            err.exit = Exit::Refused;
            err = err.hinted("the policy changed while applying; make a new plan");
        }
        err
    })?;
    plan.policy_after = written;
    plan.applied = true;
    plan.applied_at = Some(Utc::now());
    plan.backup_path = Some(backup.display().to_string());
    Ok(plan)
}

fn report(records: &[ChangeRecord], format: GrantFormat) -> Result<(), CommandError> {
    match format {
        GrantFormat::Yaml | GrantFormat::Json => {
            let f = if format == GrantFormat::Yaml { DocFormat::Yaml } else { DocFormat::Json };
            write_stdout(records.iter().map(|r| Document::ChangeRecord(Box::new(r.clone()))), f)?;
        }
        GrantFormat::Terraform => {
            let grants = records.iter().flat_map(|r| r.added.iter().map(move |b| (&r.service, b)));
            let mut out = std::io::stdout().lock();
            out.write_all(runiam_core::terraform::render(grants, false).as_bytes())?;
        }
        GrantFormat::Text => {
            let mut out = std::io::stdout().lock();
            for r in records {
                let unchanged = r.added.is_empty() && r.invoker_iam_disabled_before == r.invoker_iam_disabled_after;
                let state = match (r.applied, unchanged) {
                    (true, true) => "already in place",
                    (true, false) => "applied",
                    (false, true) => "nothing to do",
                    (false, false) => "planned (dry run; add --apply)",
                };
                writeln!(out, "{}: {state}", r.service.full_name())?;
                if let Some(b) = &r.backup_path {
                    writeln!(out, "  backup: {b}")?;
                }
            }
        }
    }
    Ok(())
}
