//! `runiam rollback`: undo recorded changes, or restore a snapshot.
//!
//! Gather (the records and snapshots; the live policy) → decide
//! (`undo::target`, pure: restore exactly, merge, or refuse on drift) →
//! act (only with `--apply`: confirm, back up, etag-guarded write) →
//! report (its own ChangeRecord, so a rollback can be rolled back).

pub mod undo;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use chrono::Utc;
use clap::{CommandFactory, Parser};
use runiam_core::change::{capture, confirm, policy_diff, read_modify_write, set_invoker_check, write_backup};
use runiam_core::cli::{CommonArgs, Context, WriteArgs, run_command};
use runiam_core::doc::{ChangeAction, ChangeRecord, Document, Intent, Kind, input, read_for, read_input, write_stdout};
use runiam_core::http::HttpOptions;
use runiam_core::model::{Policy, ServiceRef};
use runiam_core::target::user_named;
use runiam_core::{CommandError, Exit};

use crate::undo::{Source, Target};

/// Undo changes recorded by runiam, or restore services to a snapshot.
///
/// Reads ChangeRecord documents (from grant-invoker or an earlier rollback)
/// or ServiceSnapshot documents (from export, or a backup) from stdin or
/// -f. A change is undone exactly when the live policy is still what the
/// change left; when someone changed it since, rollback shows the three
/// policies and refuses (exit 4) unless --merge, which removes only what
/// the change added and restores what it removed, keeping the other edits.
/// Several records for one service are undone newest first. A dry run
/// unless --apply; each write is backed up first and recorded.
#[derive(Parser, Debug)]
#[command(name = "runiam-rollback", version)]
pub struct Args {
    /// Read ChangeRecord or ServiceSnapshot documents from FILE (- for stdin).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// When the policy changed since the record, undo only this change and keep the others' edits.
    #[arg(long)]
    pub merge: bool,
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
    let sources = gather_sources(&args)?;
    let ctx = args.common.context(HttpOptions::default())?;
    let mut records = Vec::new();
    for (service, list) in sources {
        for source in list {
            records.push(undo_one(&args, &ctx, &service, &source).await?);
        }
    }
    report(&records, format)?;
    Ok(Exit::Ok)
}

/// The documents per service, records newest first.
fn gather_sources(args: &Args) -> Result<BTreeMap<ServiceRef, Vec<Source>>, CommandError> {
    let Some(source) = input(args.file.as_deref(), false) else {
        return Err(CommandError::usage("nothing to roll back: no documents on stdin")
            .hinted("runiam rollback -f change.yaml, or pipe runiam grant-invoker --apply into it"));
    };
    let text = read_input(&source)?;
    let docs = read_for("runiam-rollback", &[Kind::ChangeRecord, Kind::ServiceSnapshot], &text)?;
    let mut by_service: BTreeMap<ServiceRef, Vec<Source>> = BTreeMap::new();
    for d in docs {
        let key = without_number(d.service());
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
        by_service.entry(key).or_default().push(source);
    }
    for list in by_service.values_mut() {
        // Undo the newest change first; snapshots (restores) keep their order after records.
        list.sort_by_key(|s| std::cmp::Reverse(s.when()));
    }
    Ok(by_service)
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
    let name = service.full_name();
    let live = ctx
        .clients
        .run_v2
        .get_iam_policy(service)
        .await
        .map_err(|e| user_named(e, format!("cannot read the IAM policy of {name}")))?;
    let decision = undo::target(&live, source, args.merge);
    let mut err = std::io::stderr();
    let planned = match decision {
        Target::InPlace => None,
        Target::Write(p) => Some(p),
        Target::Drifted => {
            let (before, after) = source.before_after();
            let _ = write!(err, "{}", policy_diff(before, after, &format!("{name}: the change")));
            let _ = write!(err, "{}", policy_diff(after, &live, &format!("{name}: edits since")));
            return Err(CommandError::refused(format!(
                "the IAM policy of {name} changed since the record; refusing to overwrite the other edits"
            ))
            .hinted("--merge undoes only this change and keeps the other edits"));
        }
    };
    if let Some(p) = &planned
        && !args.common.quiet
    {
        let _ = write!(err, "{}", policy_diff(&live, p, &name));
    }
    let mut record = record_for(service, source, &live, planned.as_ref().unwrap_or(&live));
    if planned.is_none() {
        let _ = writeln!(err, "{name}: already as recorded before the change; nothing to do");
        record.applied = args.write.apply;
        return Ok(record);
    }
    if !args.write.apply {
        return Ok(record);
    }
    confirm(args.write.yes, &format!("Roll back {name}?"))?;
    let snapshot = capture(&ctx.clients, service).await?;
    let backup = write_backup(&args.write.backup_dir, &snapshot)?;
    let drifted = Cell::new(false);
    let written = read_modify_write(&ctx.clients, service, Some(snapshot.iam_policy), |p| {
        match undo::target(p, source, args.merge) {
            Target::InPlace => None,
            Target::Write(t) => Some(t),
            Target::Drifted => {
                drifted.set(true);
                None
            }
        }
    })
    .await?;
    if drifted.get() && !written.wrote {
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

/// Puts the invoker check back as it was before the recorded change,
/// refusing (exit 4) when the service changed since, unless --merge.
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
    if !in_place && live.etag != r.service_etag_after && !args.merge {
        return Err(CommandError::refused(format!(
            "service {name} changed since the record (etag {} now, {} after the change); refusing to overwrite",
            live.etag.as_deref().unwrap_or("none"),
            r.service_etag_after.as_deref().unwrap_or("none")
        ))
        .hinted("--merge puts the invoker check back and leaves the other changes"));
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
    let changed = set_invoker_check(&ctx.clients, service, disabled_before).await?;
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
    match format.doc_format() {
        Some(f) => {
            write_stdout(records.iter().map(|r| Document::ChangeRecord(Box::new(r.clone()))), f)?;
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
