//! `verify --no-new-access REFERENCE`: does the live service (or a plan's
//! policy after) let anyone do anything on it that the reference state did
//! not, beyond the intended member × role? The comparison is the write
//! gate's (`runiam_core::gate::reach`); this module gathers the facts once,
//! picks the two states and the intent, and reports.

use std::path::Path;

use chrono::Utc;
use runiam_core::cli::Context;
use runiam_core::doc::{ChangeAction, ChangeRecord, Document, Evidence, Kind, VerifyReport, read_documents, read_for};
use runiam_core::gate::reach::{Gain, Intended, State, new_access};
use runiam_core::gather::gather;
use runiam_core::model::{Principal, ServiceRef};
use runiam_core::target::resolve_service;
use runiam_core::{CommandError, doc::CheckResult};

use crate::Args;
use crate::checks::CheckName;

/// The reference: a ServiceSnapshot's state, or a ChangeRecord's before.
fn reference(path: &Path) -> Result<(ServiceRef, State), CommandError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CommandError::usage(format!("cannot read --no-new-access {}: {e}", path.display())))?;
    let docs = read_for("runiam-verify", &[Kind::ServiceSnapshot, Kind::ChangeRecord], &text)?;
    let [doc] = <[Document; 1]>::try_from(docs).map_err(|d| {
        CommandError::usage(format!("--no-new-access {} holds {} documents; it takes one", path.display(), d.len()))
            .hinted("give one ServiceSnapshot (runiam export SERVICE) or one ChangeRecord")
    })?;
    Ok(match doc {
        Document::ServiceSnapshot(s) => {
            (s.service.clone(), State { policy: s.iam_policy.clone(), invoker_iam_disabled: s.invoker_iam_disabled })
        }
        Document::ChangeRecord(r) => (
            r.service.clone(),
            State {
                policy: r.policy_before.clone(),
                invoker_iam_disabled: r.invoker_iam_disabled_before.unwrap_or(false),
            },
        ),
        _ => unreachable!("read_for admits only ServiceSnapshot and ChangeRecord"),
    })
}

/// The intent (--member and --role, else the record's), and how the
/// report names it.
fn intent(
    args: &Args,
    record: Option<&ChangeRecord>,
    facts: &runiam_core::eval::Facts,
) -> Result<(Intended, String), CommandError> {
    let default_role = runiam_core::gate::INVOKE_NARROW_ROLES[0];
    let grant = |m: Principal, role: &str| (Intended::grant(m.clone(), role, facts), format!(" beyond {m} × {role}"));
    if let Some(m) = &args.member {
        let member = Principal::parse(m).map_err(|e| CommandError::usage(format!("--member {e}")))?;
        return Ok(grant(member, args.role.as_deref().unwrap_or(default_role)));
    }
    let Some(i) = record.map(|r| &r.intent) else { return Ok((Intended::default(), String::new())) };
    Ok(match (i.action, &i.member) {
        (ChangeAction::Grant, Some(m)) => grant(m.clone(), i.role.as_deref().unwrap_or(default_role)),
        (ChangeAction::DisableInvokerCheck, _) => {
            (Intended { invoker_check_off: true, ..Intended::default() }, " beyond the invoker check off".to_owned())
        }
        _ => (Intended::default(), String::new()),
    })
}

/// Gathers, compares and reports one service.
pub async fn check(args: &Args, ctx: &Context, path: &Path) -> Result<VerifyReport, CommandError> {
    let (ref_service, reference) = reference(path)?;
    // A plan on stdin is the state to judge; with SERVICE, the live one.
    let record = match &args.service {
        Some(_) => None,
        None => read_documents("runiam-verify", &[Kind::ChangeRecord], args.file.as_deref(), true)?
            .unwrap_or_default()
            .into_iter()
            .map(|d| match d {
                Document::ChangeRecord(r) => r,
                _ => unreachable!("read_documents admits only ChangeRecord"),
            })
            .next(),
    };
    let target = match (&args.service, &record) {
        (Some(s), _) => resolve_service(s, &ctx.config, &ctx.clients).await?,
        (None, Some(r)) => r.service.clone(),
        (None, None) => ref_service.clone(),
    };
    if target.full_name() != ref_service.full_name() {
        return Err(CommandError::usage(format!(
            "--no-new-access {} is a state of {}, not of {}",
            path.display(),
            ref_service.full_name(),
            target.full_name()
        ))
        .hinted("compare a service with a snapshot of the same service"));
    }
    let gathered = gather(&ctx.clients, &target, None, None).await?;
    let live_policy = gathered
        .facts
        .allow
        .iter()
        .find(|a| a.resource == target.full_name())
        .and_then(|a| a.policy.clone())
        .ok_or_else(|| CommandError::api(format!("cannot read the IAM policy of {}", target.full_name())))?;
    let live = State { policy: live_policy, invoker_iam_disabled: gathered.service.invoker_iam_disabled };
    let (state, judged) = match record.as_deref() {
        Some(r) if !r.applied => (
            State {
                policy: r.policy_after.clone(),
                invoker_iam_disabled: r.invoker_iam_disabled_after.unwrap_or(live.invoker_iam_disabled),
            },
            "the planned state",
        ),
        _ => (live, "the live state"),
    };
    let (intended, allowed) = intent(args, record.as_deref(), &gathered.facts)?;
    let gains = new_access(&gathered.facts, &reference, &state, &intended);
    let mut evidence: Vec<Evidence> = gains.iter().map(evidence_of).collect();
    evidence.extend(gathered.unreadable.iter().map(|u| Evidence {
        source: "unreadable".into(),
        detail: format!("{}: {}", u.what, u.error),
        data: None,
    }));
    let (result, detail) = if gains.is_empty() {
        (
            CheckResult::Pass,
            format!(
                "{judged} gives no principal any run.* permission on the service{allowed} that {} did not",
                path.display()
            ),
        )
    } else {
        let list: Vec<String> = gains.iter().map(ToString::to_string).collect();
        (
            CheckResult::Fail,
            format!("{judged} opens {} principal × permission{allowed}: {}", gains.len(), list.join("; ")),
        )
    };
    let check = CheckName::NoNewAccess.with(result, detail, evidence);
    Ok(VerifyReport {
        service: target,
        as_principal: intended.member,
        passed: result == CheckResult::Pass,
        checks: vec![check],
        verified_at: Utc::now(),
    })
}

fn evidence_of(g: &Gain) -> Evidence {
    Evidence {
        source: "IAM evaluation".into(),
        detail: format!("{g}: {:?} before, {:?} after", g.before, g.after),
        data: Some(
            serde_json::json!({"principal": g.principal, "permission": g.permission, "before": g.before, "after": g.after}),
        ),
    }
}
