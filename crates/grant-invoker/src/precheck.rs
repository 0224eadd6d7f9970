//! What is checked before a grant is written, from what troubleshoot
//! reads (runiam-core's `gather` and the one evaluator): a grant that
//! cannot help (a deny policy blocks the member; the service account is
//! missing or disabled) is refused with troubleshoot's finding id, and a
//! grant the member already holds above the service writes nothing.

use runiam_core::CommandError;
use runiam_core::api::run::Service;
use runiam_core::cli::Context;
use runiam_core::doc::Verdict;
use runiam_core::eval::evaluate;
use runiam_core::gather::{Gathered, gather};
use runiam_core::model::{INVOKE_PERMISSION, Policy, Principal, ServiceRef};

/// The outcome of the prechecks that let the grant go ahead.
#[derive(Debug, PartialEq)]
pub enum Precheck {
    /// Go ahead; the notes say what could not be checked. `drs`: the
    /// Cloud Identity customers domain restricted sharing admits, if on.
    Proceed { notes: Vec<String>, drs: Option<Vec<String>> },
    /// The member already holds invoke above the service: nothing to write.
    HeldAbove(String),
}

/// Gathers once, then decides.
pub async fn run(
    ctx: &Context,
    target: &ServiceRef,
    service: &Service,
    live: &Policy,
    planned: &Policy,
    member: &Principal,
) -> Result<Precheck, CommandError> {
    let gathered = gather(&ctx.clients, target, Some(member), Some((service.clone(), live.clone()))).await?;
    decide(&gathered, target, planned, member)
}

/// Pure: refusals first (the grant cannot help), then "already held above".
pub fn decide(
    g: &Gathered,
    target: &ServiceRef,
    planned: &Policy,
    member: &Principal,
) -> Result<Precheck, CommandError> {
    let mut notes = Vec::new();
    if let Principal::ServiceAccount(email) = member
        && email.contains('@')
    {
        let read_failed = g.unreadable.iter().find(|u| u.permission == "iam.serviceAccounts.get");
        match (&g.caller_account, read_failed) {
            (Some(a), _) if a.disabled => {
                return Err(CommandError::refused(format!(
                    "iam.caller-disabled: the service account {email} is disabled: it cannot get tokens, so a grant cannot help"
                ))
                .hinted(format!("enable it first: gcloud iam service-accounts enable {email}")));
            }
            (Some(_), _) => {}
            (None, Some(u)) => notes.push(format!(
                "could not check that {email} exists ({}; needs iam.serviceAccounts.get); an account in another project, or one created moments ago, may not be visible",
                u.error
            )),
            (None, None) => {
                return Err(CommandError::refused(format!(
                    "the service account {email} does not exist (IAM answered 404); IAM would refuse the grant"
                ))
                .hinted("check the email for typos: gcloud iam service-accounts list --project PROJECT"));
            }
        }
    }
    let mut facts = g.facts.clone();
    if let Some(at) = facts.allow.first_mut() {
        at.policy = Some(planned.clone());
    }
    let after = evaluate(&facts, INVOKE_PERMISSION);
    if let Some(d) = after.denials.first() {
        let policy = d.policy.as_deref().unwrap_or(&d.resource);
        return Err(CommandError::refused(format!(
            "iam.denied: the deny policy {policy} denies {INVOKE_PERMISSION} to {member}; a grant cannot help"
        ))
        .hinted(format!("see runiam troubleshoot {} --caller {member}", target.full_name())));
    }
    if after.unknowns.iter().any(|u| u.kind == runiam_core::eval::ReasonKind::DenyPolicyUnreadable) {
        notes.push(format!(
            "a deny policy above could still block this (some could not be read): run runiam verify {} --as {member} after the grant",
            target.full_name()
        ));
    }
    let before = evaluate(&g.facts, INVOKE_PERMISSION);
    let service_name = target.full_name();
    if before.verdict == Verdict::Allowed
        && let Some(r) = before.grants.iter().find(|r| r.resource != service_name && r.condition.is_none())
    {
        return Ok(Precheck::HeldAbove(format!(
            "{member} already holds {} on {}, which carries {INVOKE_PERMISSION} to {service_name}; nothing to do",
            r.role.as_deref().unwrap_or("a role"),
            r.resource
        )));
    }
    let drs = match &g.drs {
        runiam_core::gather::Drs::Allowed(customers) => Some(customers.clone()),
        _ => None,
    };
    Ok(Precheck::Proceed { notes, drs })
}
