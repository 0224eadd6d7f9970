//! `runiam rollback`: undo recorded changes, or restore a snapshot.
//!
//! Gather (the records and snapshots; the live policy) → decide
//! (`undo::target`, pure: restore exactly, merge, or refuse on drift) →
//! act (only with `--apply`: confirm, back up, etag-guarded write) →
//! report (its own ChangeRecord, so a rollback can be rolled back).

pub mod backups;
pub mod undo;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use chrono::Utc;
use clap::{CommandFactory, Parser};
use runiam_core::change::{
    capture, confirm, group_size, painted, policy_diff, read_modify_write, set_settings, settings_of, write_backup,
};
use runiam_core::cli::{CommonArgs, Context, WriteArgs, run_command};
use runiam_core::doc::{ChangeAction, ChangeRecord, Document, Intent, Kind, read_documents, write_stdout};
use runiam_core::gate::{self, Allowance, Removals, Settings};
use runiam_core::http::HttpOptions;
use runiam_core::model::{Policy, Principal, ServiceRef};
use runiam_core::target::user_named;
use runiam_core::{CommandError, Exit, interrupt};

use crate::undo::{Mode, Source, Target};

/// Shown after `--help` and as the man page's EXAMPLES.
const EXAMPLES: &str = "\
Examples:
  # Undo a change (exit 4 if someone edited the policy since, unless --merge)
  runiam rollback --apply --yes < change.yaml

  # The backups under ./runiam-backups, newest first, and restoring the newest
  runiam rollback --list hello
  runiam rollback --last hello --apply";

/// Undo changes recorded by runiam, or restore services to a snapshot.
///
/// Reads ChangeRecord documents (from grant-invoker or an earlier rollback)
/// or ServiceSnapshot documents (from export, or a backup) from stdin or
/// -f. A change is undone exactly when the live policy is still what the
/// change left; when someone changed it since, rollback shows the three
/// policies and refuses (exit 4) unless --merge, which removes only what
/// the change added and restores what it removed, keeping the other edits.
/// Several records for one service are undone newest first. A snapshot
/// restore puts back the policy, the invoker check and the ingress it
/// recorded; one that would remove grants made since is refused (exit 4)
/// unless --merge (keep them) or --force (remove them). Whatever a document
/// says, a write that adds a public member, turns the invoker check off or
/// adds a role beyond invoking needs --allow-public or --allow-role. A dry
/// run unless --apply; each write is backed up first and recorded.
#[derive(Parser, Debug)]
#[command(name = "runiam-rollback", version, after_long_help = EXAMPLES)]
pub struct Args {
    /// Read ChangeRecord or ServiceSnapshot documents from FILE (- for stdin).
    #[arg(short = 'f', long = "file", value_name = "FILE", conflicts_with_all = ["list", "last"])]
    pub file: Option<PathBuf>,
    /// List the backups under --backup-dir, newest first (of SERVICE only: a name or projects/P/locations/R/services/S); writes nothing.
    #[arg(long, value_name = "SERVICE", num_args = 0..=1, default_missing_value = "", conflicts_with = "last")]
    pub list: Option<String>,
    /// Restore SERVICE (a name or projects/P/locations/R/services/S) from its newest backup under --backup-dir.
    #[arg(long, value_name = "SERVICE")]
    pub last: Option<String>,
    /// When the policy changed since the record (or snapshot), undo only this change (add back only what the snapshot had) and keep the others' edits.
    #[arg(long, conflicts_with = "force")]
    pub merge: bool,
    /// When the policy changed since, overwrite the others' edits with the recorded policy.
    #[arg(long)]
    pub force: bool,
    /// Allow the restore to make the service public (allUsers, allAuthenticatedUsers, invoker check off).
    #[arg(long)]
    pub allow_public: bool,
    /// Allow the restore to grant domain: members and large groups.
    #[arg(long)]
    pub allow_broad: bool,
    /// Allow the restore to write back or remove ROLE, a role beyond invoking (repeatable).
    #[arg(long, value_name = "ROLE")]
    pub allow_role: Vec<String>,
    /// Succeed when stdin holds no document (otherwise exit 2: the command before in the pipe probably failed).
    #[arg(long)]
    pub allow_empty: bool,
    #[command(flatten)]
    pub write: WriteArgs,
    /// Output format [default: text on a terminal, yaml otherwise].
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<runiam_core::output::Format>,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub fn command() -> clap::Command {
    Args::command()
}

pub fn run(args: Vec<OsString>) -> Exit {
    run_command("runiam-rollback", args, |a: &Args| &a.common, rollback)
}

async fn rollback(args: Args) -> Result<Exit, CommandError> {
    let format = runiam_core::output::Format::resolve(args.output);
    if let Some(service) = &args.list {
        return list_backups(&args, service);
    }
    let sources = match &args.last {
        Some(service) => last_backup(&args, service)?,
        None => gather_sources(&args)?,
    };
    let ctx = args.common.context(HttpOptions::default())?;
    if args.write.apply {
        interrupt::watch();
    }
    let mut records = Vec::new();
    'services: for (service, list) in sources {
        for source in list {
            match undo_one(&args, &ctx, &service, &source).await {
                Ok(r) => records.push(r),
                Err(e) => {
                    // What was written before the failure is still recorded.
                    report(&records, format)?;
                    return Err(e);
                }
            }
            if interrupt::received().is_some() {
                break 'services;
            }
        }
    }
    report(&records, format)?;
    if let Some(signal) = interrupt::received() {
        let wrote = records.iter().filter(|r| r.applied).count();
        let _ = writeln!(std::io::stderr(), "runiam-rollback: {}", interrupt::message(signal, wrote));
        return Ok(signal);
    }
    Ok(Exit::Ok)
}

fn mode(args: &Args) -> Mode {
    match (args.merge, args.force) {
        (true, _) => Mode::Merge,
        (_, true) => Mode::Force,
        _ => Mode::Exact,
    }
}

/// What the flags allow a restore to write (the gate's input). Restores
/// may add back and remove grants of invoke-narrow roles; more needs flags.
async fn allowance(args: &Args, ctx: &Context, live: &Policy, result: &Policy) -> Allowance {
    let mut allow = Allowance {
        member: None,
        allow_roles: args.allow_role.iter().cloned().collect(),
        allow_public: args.allow_public,
        allow_broad: args.allow_broad,
        removals: if args.force { Removals::Anything } else { Removals::InvokeNarrow },
        ..Allowance::default()
    };
    if !args.allow_broad {
        let groups: Vec<String> = result
            .grants_not_in(live)
            .iter()
            .flat_map(|b| b.members.iter())
            .filter_map(|m| match Principal::parse(m) {
                Ok(Principal::Group(g)) => Some(g),
                _ => None,
            })
            .collect();
        for g in groups {
            if let Some(n) = group_size(&ctx.clients, &g).await {
                allow.group_sizes.insert(g, n);
            }
        }
    }
    allow
}

/// The documents per service, records newest first.
fn gather_sources(args: &Args) -> Result<BTreeMap<ServiceRef, Vec<Source>>, CommandError> {
    let accepts = [Kind::ChangeRecord, Kind::ServiceSnapshot];
    let Some(docs) = read_documents("runiam-rollback", &accepts, args.file.as_deref(), args.allow_empty)? else {
        return Err(CommandError::usage("nothing to roll back: no documents on stdin")
            .hinted("runiam rollback -f change.yaml, or pipe runiam grant-invoker --apply into it"));
    };
    let mut by_service: BTreeMap<ServiceRef, Vec<Source>> = BTreeMap::new();
    for d in docs {
        let source = match d {
            Document::ChangeRecord(r) if !r.applied => {
                return Err(CommandError::usage(format!(
                    "the ChangeRecord for {} is a plan that was never applied; there is nothing to roll back",
                    r.service.full_name()
                )));
            }
            Document::ChangeRecord(r) => Source::Record(r),
            Document::ServiceSnapshot(s) => Source::Snapshot(s),
            other => unreachable!("read_for admits only ChangeRecord and ServiceSnapshot, got {:?}", other.kind()),
        };
        let key = without_number(match &source {
            Source::Record(r) => &r.service,
            Source::Snapshot(s) => &s.service,
        });
        by_service.entry(key).or_default().push(source);
    }
    for list in by_service.values_mut() {
        // Undo the newest change first; snapshots (restores) keep their order after records.
        list.sort_by_key(|s| std::cmp::Reverse(s.when()));
    }
    Ok(by_service)
}

/// `--list [SERVICE]`: the backups, newest first, one line each.
fn list_backups(args: &Args, service: &str) -> Result<Exit, CommandError> {
    let found = backups::list(&args.write.backup_dir, |s| service.is_empty() || backups::is_of(s, service));
    let mut out = std::io::stdout().lock();
    if found.is_empty() {
        writeln!(std::io::stderr(), "no backups under {}", args.write.backup_dir.display())?;
        return Ok(Exit::Problem);
    }
    for b in &found {
        let s = &b.snapshot;
        let at = s.captured_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        writeln!(out, "{at}  {}  {}", s.service.full_name(), b.path.display())?;
    }
    Ok(Exit::Ok)
}

/// `--last SERVICE`: the newest backup of SERVICE, restored as any snapshot is.
fn last_backup(args: &Args, service: &str) -> Result<BTreeMap<ServiceRef, Vec<Source>>, CommandError> {
    let found = backups::list(&args.write.backup_dir, |s| backups::is_of(s, service));
    let services: std::collections::BTreeSet<String> = found.iter().map(|b| b.snapshot.service.full_name()).collect();
    if services.len() > 1 {
        return Err(CommandError::usage(format!(
            "{service} names several services with backups: {}",
            services.into_iter().collect::<Vec<_>>().join(", ")
        ))
        .hinted("name one as projects/P/locations/R/services/S"));
    }
    let Some(newest) = found.into_iter().next() else {
        return Err(CommandError::usage(format!("no backup of {service} under {}", args.write.backup_dir.display()))
            .hinted("runiam rollback --list shows the backups there; --backup-dir names another directory"));
    };
    writeln!(std::io::stderr(), "restoring {}", newest.path.display())?;
    let key = without_number(&newest.snapshot.service);
    Ok(BTreeMap::from([(key, vec![Source::Snapshot(newest.snapshot)])]))
}

/// Documents name a service with or without its number: key on the rest.
fn without_number(s: &ServiceRef) -> ServiceRef {
    ServiceRef { project_number: None, ..s.clone() }
}

async fn undo_one(
    args: &Args,
    ctx: &Context,
    service: &ServiceRef,
    source: &Source,
) -> Result<ChangeRecord, CommandError> {
    if let Source::Record(r) = source
        && let (Some(before), Some(after)) = (r.invoker_iam_disabled_before, r.invoker_iam_disabled_after)
        && before != after
    {
        return undo_invoker_check(args, ctx, service, r, before).await;
    }
    let mut record = restore_policy(args, ctx, service, source).await?;
    if let Source::Snapshot(s) = source {
        let want = Settings { invoker_iam_disabled: s.invoker_iam_disabled, ingress: s.ingress.clone() };
        restore_settings(args, ctx, service, &want, &mut record).await?;
    }
    Ok(record)
}

/// The policy part of an undo or restore: plan, gate, and with --apply the
/// backed-up, etag-guarded write.
async fn restore_policy(
    args: &Args,
    ctx: &Context,
    service: &ServiceRef,
    source: &Source,
) -> Result<ChangeRecord, CommandError> {
    let name = service.full_name();
    let live = ctx
        .clients
        .run_v2
        .get_iam_policy(service)
        .await
        .map_err(|e| user_named(e, format!("cannot read the IAM policy of {name}")))?;
    let mode = mode(args);
    let mut err = std::io::stderr();
    let planned = match undo::target(&live, source, mode) {
        Target::InPlace => None,
        Target::Write(p) => Some(p),
        Target::Drifted => return Err(drifted(&name, source, &live)),
    };
    let mut record = record_for(service, source, &live, planned.as_ref().unwrap_or(&live));
    let Some(planned) = planned else {
        let _ = writeln!(err, "{name}: the IAM policy is already as recorded; nothing to do");
        record.applied = args.write.apply;
        return Ok(record);
    };
    let allow = allowance(args, ctx, &live, &planned).await;
    let violations = gate::judge_policy(&live, &planned, &allow);
    if !violations.is_empty() {
        return Err(gate::refusal(service, &violations));
    }
    if !args.common.quiet {
        let _ = write!(err, "{}", painted(&policy_diff(&live, &planned, &name)));
        let _ = writeln!(err, "{}", gate::summary(&live, &planned, service));
    }
    if !args.write.apply {
        return Ok(record);
    }
    confirm(args.write.yes, &format!("Roll back {name}?"))?;
    let snapshot = capture(&ctx.clients, service).await?;
    let backup = write_backup(&args.write.backup_dir, &snapshot)?;
    interrupt::stop_before_write()?;
    let drift = Cell::new(false);
    let written = read_modify_write(&ctx.clients, service, Some(snapshot.iam_policy), &allow, |p| {
        match undo::target(p, source, mode) {
            Target::InPlace => None,
            Target::Write(t) => Some(t),
            Target::Drifted => {
                drift.set(true);
                None
            }
        }
    })
    .await?;
    if drift.get() && !written.wrote {
        return Err(CommandError::refused(format!(
            "the IAM policy of {name} changed while rolling back; nothing written"
        ))
        .hinted("run the rollback again to see the three-way picture"));
    }
    let mut record = record_for(service, source, &written.before, &written.after);
    record.applied = true;
    record.applied_at = Some(Utc::now());
    record.backup_path = Some(backup.display().to_string());
    Ok(record)
}

/// The refusal on drift, with the picture: for a record, the change and
/// the edits since; for a snapshot, the grants a restore would remove.
fn drifted(name: &str, source: &Source, live: &Policy) -> CommandError {
    let mut err = std::io::stderr();
    match source {
        Source::Record(r) => {
            let _ = write!(
                err,
                "{}",
                painted(&policy_diff(&r.policy_before, &r.policy_after, &format!("{name}: the change")))
            );
            let _ = write!(err, "{}", painted(&policy_diff(&r.policy_after, live, &format!("{name}: edits since"))));
            CommandError::refused(format!(
                "the IAM policy of {name} changed since the record; refusing to overwrite the other edits"
            ))
            .hinted("--merge undoes only this change and keeps the other edits; --force overwrites them")
        }
        Source::Snapshot(s) => {
            let since: Vec<String> = live
                .grants_not_in(&s.iam_policy)
                .iter()
                .flat_map(|b| b.members.iter().map(move |m| format!("  - {m} {}", b.role)))
                .collect();
            CommandError::refused(format!(
                "restoring the snapshot of {name} would remove {} grant(s) made since it was taken:\n{}",
                since.len(),
                since.join("\n")
            ))
            .hinted("to undo one change, roll back its ChangeRecord; --merge keeps these grants, --force removes them")
        }
    }
}

/// Puts the snapshot's invoker check and ingress back, through the gate.
async fn restore_settings(
    args: &Args,
    ctx: &Context,
    service: &ServiceRef,
    want: &Settings,
    record: &mut ChangeRecord,
) -> Result<(), CommandError> {
    let name = service.full_name();
    let live = ctx
        .clients
        .run_v2
        .get_service(service)
        .await
        .map_err(|e| user_named(e, format!("cannot read service {name}")))?;
    let now = settings_of(&live);
    let ingress_differs = want.ingress.is_some() && now.ingress != want.ingress;
    if now.invoker_iam_disabled == want.invoker_iam_disabled && !ingress_differs {
        return Ok(());
    }
    let allow = Allowance { allow_public: args.allow_public, ..Allowance::default() };
    let violations = gate::judge_settings(&now, want, &allow);
    if !violations.is_empty() {
        return Err(gate::refusal(service, &violations));
    }
    let mut err = std::io::stderr();
    if now.invoker_iam_disabled != want.invoker_iam_disabled {
        let (from, to) = (on_off(now.invoker_iam_disabled), on_off(want.invoker_iam_disabled));
        let _ = writeln!(err, "{name}: invoker IAM check {from} -> {to}");
    }
    if ingress_differs {
        let (from, to) = (now.ingress.as_deref().unwrap_or("unset"), want.ingress.as_deref().unwrap_or("unset"));
        let _ = writeln!(err, "{name}: ingress {from} -> {to}");
    }
    record.service_etag_before = live.etag.clone();
    record.service_etag_after = live.etag.clone();
    record.invoker_iam_disabled_before = Some(now.invoker_iam_disabled);
    record.invoker_iam_disabled_after = Some(want.invoker_iam_disabled);
    if !args.write.apply {
        record.applied = false;
        return Ok(());
    }
    if record.backup_path.is_none() {
        confirm(args.write.yes, &format!("Restore the settings of {name}?"))?;
        let backup = write_backup(&args.write.backup_dir, &capture(&ctx.clients, service).await?)?;
        record.backup_path = Some(backup.display().to_string());
    }
    interrupt::stop_before_write()?;
    let changed = set_settings(&ctx.clients, service, want, &allow).await?;
    record.service_etag_after = changed.after.etag;
    record.invoker_iam_disabled_after = Some(changed.after.invoker_iam_disabled);
    record.applied = true;
    record.applied_at = Some(Utc::now());
    Ok(())
}

/// Puts the invoker check back as it was before the recorded change,
/// refusing (exit 4) when the service changed since, unless --merge or
/// --force; turning it off (the record says it was off) needs --allow-public.
async fn undo_invoker_check(
    args: &Args,
    ctx: &Context,
    service: &ServiceRef,
    r: &ChangeRecord,
    disabled_before: bool,
) -> Result<ChangeRecord, CommandError> {
    let name = service.full_name();
    let live = ctx
        .clients
        .run_v2
        .get_service(service)
        .await
        .map_err(|e| user_named(e, format!("cannot read service {name}")))?;
    let in_place = live.invoker_iam_disabled == disabled_before;
    if !in_place && live.etag != r.service_etag_after && mode(args) == Mode::Exact {
        return Err(CommandError::refused(format!(
            "service {name} changed since the record (etag {} now, {} after the change); refusing to overwrite",
            live.etag.as_deref().unwrap_or("none"),
            r.service_etag_after.as_deref().unwrap_or("none")
        ))
        .hinted("--merge puts the invoker check back and leaves the other changes"));
    }
    let want = Settings { invoker_iam_disabled: disabled_before, ingress: None };
    let allow = Allowance { allow_public: args.allow_public, ..Allowance::default() };
    let violations = gate::judge_settings(&settings_of(&live), &want, &allow);
    if !violations.is_empty() {
        return Err(gate::refusal(service, &violations));
    }
    let mut record = record_for(service, &Source::Record(Box::new(r.clone())), &r.policy_after, &r.policy_after);
    record.intent.action =
        if disabled_before { ChangeAction::DisableInvokerCheck } else { ChangeAction::EnableInvokerCheck };
    record.service_etag_before = live.etag.clone();
    record.service_etag_after = live.etag.clone();
    record.invoker_iam_disabled_before = Some(live.invoker_iam_disabled);
    record.invoker_iam_disabled_after = Some(disabled_before);
    let mut err = std::io::stderr();
    if in_place {
        let _ = writeln!(err, "{name}: the invoker IAM check is already as before the change; nothing to do");
        record.invoker_iam_disabled_after = Some(live.invoker_iam_disabled);
        record.applied = args.write.apply;
        return Ok(record);
    }
    let _ =
        writeln!(err, "{name}: invoker IAM check {} -> {}", on_off(live.invoker_iam_disabled), on_off(disabled_before));
    if !args.write.apply {
        return Ok(record);
    }
    confirm(args.write.yes, &format!("Turn the invoker IAM check {} on {name}?", on_off(disabled_before)))?;
    let backup = write_backup(&args.write.backup_dir, &capture(&ctx.clients, service).await?)?;
    interrupt::stop_before_write()?;
    let changed = set_settings(&ctx.clients, service, &want, &allow).await?;
    record.service_etag_after = changed.after.etag;
    record.invoker_iam_disabled_after = Some(changed.after.invoker_iam_disabled);
    record.applied = true;
    record.applied_at = Some(Utc::now());
    record.backup_path = Some(backup.display().to_string());
    Ok(record)
}

/// The check as users say it: disabled means off.
fn on_off(disabled: bool) -> &'static str {
    if disabled { "off" } else { "on" }
}

/// The rollback's own ChangeRecord: what it adds and removes, before and after.
fn record_for(service: &ServiceRef, source: &Source, before: &Policy, after: &Policy) -> ChangeRecord {
    let intent = Intent::bare(ChangeAction::Restore, Some(source.describe()));
    ChangeRecord::plan(service.clone(), intent, before.clone(), after.clone())
}

fn report(records: &[ChangeRecord], format: runiam_core::output::Format) -> Result<(), CommandError> {
    let docs = || records.iter().map(|r| Document::ChangeRecord(Box::new(r.clone())));
    if format == runiam_core::output::Format::Markdown {
        runiam_core::runbook::write_stdout(&docs().collect::<Vec<_>>())?;
        return Ok(());
    }
    match format.doc_format() {
        Some(f) => {
            write_stdout(docs(), f)?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            for r in records {
                let changed = !r.policy_before.same_grants(&r.policy_after)
                    || r.invoker_iam_disabled_before != r.invoker_iam_disabled_after;
                let state = match (r.applied, changed) {
                    (true, true) => "rolled back",
                    (true, false) => "already as before",
                    (false, false) => "nothing to do",
                    (false, true) => "planned (dry run; add --apply)",
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
