//! `runiam grant-invoker`: grant the least privilege that lets a caller
//! invoke a service, safely enough for a scripted change window.
//!
//! Gather (the intents: flags, Diagnosis fixes or plans; the live policy)
//! → decide (`plan::grant`, pure: the policy after, or nothing to do;
//! prechecks) → act (only with `--apply`: confirm, back up, etag-guarded
//! read-modify-write through runiam-core) → report (the plan's diff and
//! blast radius on stderr, ChangeRecords on stdout).

pub mod heal;
pub mod plan;
pub mod precheck;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use clap::{CommandFactory, Parser};
use runiam_core::api::run::Service;
use runiam_core::change::{
    capture, confirm, group_size, painted, policy_diff, read_modify_write, set_settings, settings_of, write_backup,
    write_once,
};
use runiam_core::cli::{CommonArgs, Context, WriteArgs, run_command};
use runiam_core::doc::{
    ChangeAction, ChangeRecord, DocFormat, Document, FixAction, Intent, Kind, Replay, Verdict, read_documents,
    write_stdout,
};
use runiam_core::gate::{self, Allowance, Removals, Settings};
use runiam_core::http::{ApiError, HttpOptions};
use runiam_core::model::{Expr, Policy, Principal, ServiceRef};
use runiam_core::target::{resolve_service, user_named};
use runiam_core::{CommandError, Exit, interrupt, window};

use crate::plan::{Grant, Revoke, check_role, conditional_holdings, expiry_condition, parse_duration};
use crate::precheck::Precheck;

/// Shown after `--help` and as the man page's EXAMPLES.
const EXAMPLES: &str = "\
Examples:
  # Plan the least-privilege grant (a dry run: the diff and the blast radius on stderr)
  runiam grant-invoker hello --region europe-west1 --member serviceAccount:sched@acme-prod.iam.gserviceaccount.com > plan.yaml

  # Apply exactly the reviewed plan (exit 4 if the policy changed since)
  runiam grant-invoker -f plan.yaml --apply --yes > change.yaml

  # A time-bound grant for an incident
  runiam grant-invoker hello --member user:ana@acme.example --expires 2h --reason INC-42 --apply";

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
#[derive(Parser, Clone, Debug)]
#[command(name = "runiam-grant-invoker", version, after_long_help = EXAMPLES)]
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
    /// Allow what makes the service public: granting allUsers or allAuthenticatedUsers, or turning the invoker check off.
    #[arg(long)]
    pub allow_public: bool,
    /// Allow granting a domain: member or a group of more than 50 accounts (or one whose size cannot be read).
    #[arg(long)]
    pub allow_broad: bool,
    /// Grant without a condition even though the member holds the role under one (a time-bound grant becomes permanent).
    #[arg(long, conflicts_with_all = ["expires", "until", "keep_condition"])]
    pub permanent: bool,
    /// With --expires/--until: replace the member's existing time-bound grant instead of adding a second one.
    #[arg(long)]
    pub keep_condition: bool,
    /// Make the service public by turning its invoker IAM check off instead of granting allUsers (the way that works under domain restricted sharing); needs --allow-public.
    #[arg(long, conflicts_with_all = ["member", "expires", "until"])]
    pub disable_invoker_check: bool,
    /// Remove the --member's grants of --role from the service instead (whatever their condition): the same plan, backup and ChangeRecord as a grant, so rollback undoes it.
    #[arg(long, requires = "member", conflicts_with_all = ["expires", "until", "permanent", "keep_condition", "disable_invoker_check", "revoke_expired", "revoke_deleted"])]
    pub revoke: bool,
    /// Remove the service's time-bound grants (request.time < timestamp(...)) whose time has passed, of any role.
    #[arg(long, conflicts_with_all = ["member", "expires", "until", "permanent", "keep_condition", "disable_invoker_check"])]
    pub revoke_expired: bool,
    /// Remove deleted: members (accounts deleted since they were granted) from the service's policy, of any role.
    #[arg(long, conflicts_with_all = ["member", "expires", "until", "permanent", "keep_condition", "disable_invoker_check"])]
    pub revoke_deleted: bool,
    /// Replay the service's Cloud Run denials of this window against each grant plan (30m, 1h, 2d): which configured callers the grant fixes, which stay denied and why.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub since: String,
    /// Refuse (exit 4, nothing written) a grant that fixes none of the denials observed in the --since window.
    #[arg(long, conflicts_with_all = ["revoke", "revoke_expired", "revoke_deleted", "disable_invoker_check", "heal_policy"])]
    pub require_evidence: bool,
    /// The change ticket or reason, recorded in the ChangeRecord and in a time-bound grant's description.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub write: WriteArgs,
    /// Read Diagnosis documents or plans from FILE (- for stdin).
    #[arg(short = 'f', long = "file", value_name = "FILE", conflicts_with = "service")]
    pub file: Option<PathBuf>,
    /// Succeed when stdin holds no document (otherwise exit 2: the command before in the pipe probably failed).
    #[arg(long)]
    pub allow_empty: bool,
    /// Fix the Diagnoses on stdin only as far as this YAML allowlist admits (members, services, max_expires, fixes_per_hour), counting every fix in Cloud Monitoring; anything else is refused (exit 4).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["service", "member", "until", "permanent", "disable_invoker_check"])]
    pub heal_policy: Option<PathBuf>,
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
    /// A page for the team wiki: the change, its diff and blast radius, how to roll it back.
    Markdown,
}

pub fn command() -> clap::Command {
    Args::command()
}

pub fn run(args: Vec<OsString>) -> Exit {
    run_command("runiam-grant-invoker", args, |a: &Args| &a.common, grant_invoker)
}

/// One thing to do, from the flags, a Diagnosis or a plan.
enum Work {
    /// One or more members (a batch from Diagnoses) granted one role under one condition.
    Grant {
        service: String,
        grants: Vec<Grant>,
    },
    DisableInvokerCheck {
        service: String,
    },
    Revoke {
        service: String,
        revoke: Revoke,
    },
    Plan(Box<ChangeRecord>),
}

async fn grant_invoker(args: Args) -> Result<Exit, CommandError> {
    let format = match args.output {
        Some(f) => f,
        None if std::io::stdout().is_terminal() => GrantFormat::Text,
        None => GrantFormat::Yaml,
    };
    if let Some(file) = &args.heal_policy {
        let ctx = args.common.context(HttpOptions::default())?;
        return heal::heal(&args, &ctx, file, format).await;
    }
    let since = window::parse_since(&args.since).map_err(|e| CommandError::usage(format!("--since {e}")))?;
    let windows = Windows::new(Utc::now() - since);
    let (work, exit) = gather_work(&args)?;
    let ctx = args.common.context(HttpOptions::default())?;
    // A batch is reviewed as one: every plan shown, one confirmation, then
    // each plan applied exactly as shown (etag-guarded, as a saved plan).
    let (work, args, windows) = if args.write.apply && !args.write.yes && work.len() > 1 {
        let mut dry = args.clone();
        dry.write.apply = false;
        let mut plans = Vec::new();
        perform(&dry, &ctx, work, Some(&windows), &mut plans).await?;
        let changes = plans.iter().filter(|r| !unchanged(r)).count();
        let services: std::collections::BTreeSet<String> =
            plans.iter().filter(|r| !unchanged(r)).map(|r| r.service.full_name()).collect();
        if changes > 0 {
            confirm(false, &format!("Apply the {changes} change(s) above to {} service(s)?", services.len()))?;
        }
        let mut wet = args;
        wet.write.yes = true;
        wet.common.quiet = true;
        (plans.into_iter().map(|r| Work::Plan(Box::new(r))).collect(), wet, None)
    } else {
        (work, args, Some(windows))
    };
    if args.write.apply {
        interrupt::watch();
    }
    let mut records = Vec::new();
    let done = perform(&args, &ctx, work, windows.as_ref(), &mut records).await;
    // What was written before a failure is still recorded.
    report(&records, format)?;
    done?;
    if let Some(signal) = interrupt::received() {
        let wrote = records.iter().filter(|r| r.applied).count();
        let _ = writeln!(std::io::stderr(), "runiam-grant-invoker: {}", interrupt::message(signal, wrote));
        return Ok(signal);
    }
    Ok(exit)
}

/// Plans (and with --apply performs) each piece of work in turn, up to the
/// first error or signal; `windows`: replay the window's denials (none
/// when applying plans that carry their replay already).
async fn perform(
    args: &Args,
    ctx: &Context,
    work: Vec<Work>,
    windows: Option<&Windows>,
    records: &mut Vec<ChangeRecord>,
) -> Result<(), CommandError> {
    for w in work {
        let record = match w {
            Work::Grant { service, grants } => {
                let target = resolve_service(&service, &ctx.config, &ctx.clients).await?;
                do_grant(args, ctx, target, grants, None, windows).await?
            }
            Work::DisableInvokerCheck { service } => {
                let target = resolve_service(&service, &ctx.config, &ctx.clients).await?;
                do_disable(args, ctx, target, None).await?
            }
            Work::Revoke { service, revoke } => {
                let target = resolve_service(&service, &ctx.config, &ctx.clients).await?;
                do_revoke(args, ctx, target, &revoke, None).await?
            }
            Work::Plan(plan) => do_plan(args, ctx, *plan, windows).await?,
        };
        records.push(record);
        if interrupt::received().is_some() {
            break;
        }
    }
    Ok(())
}

/// A record that changes nothing (already in place, nothing to do).
fn unchanged(r: &ChangeRecord) -> bool {
    r.added.is_empty() && r.removed.is_empty() && r.invoker_iam_disabled_before == r.invoker_iam_disabled_after
}

/// The work from flags or documents; manual fixes are reported here (exit 1).
fn gather_work(args: &Args) -> Result<(Vec<Work>, Exit), CommandError> {
    if let Some(service) = &args.service {
        if args.disable_invoker_check {
            return Ok((vec![Work::DisableInvokerCheck { service: service.clone() }], Exit::Ok));
        }
        if let Some(revoke) = revoke_from_flags(args)? {
            return Ok((vec![Work::Revoke { service: service.clone(), revoke }], Exit::Ok));
        }
        if args.member.is_none() {
            return Err(CommandError::usage("a SERVICE needs --member PRINCIPAL (or --disable-invoker-check)"));
        }
        let grant = grant_from_flags(args)?;
        return Ok((vec![Work::Grant { service: service.clone(), grants: vec![grant] }], Exit::Ok));
    }
    if args.revoke || args.revoke_expired || args.revoke_deleted {
        return Err(CommandError::usage("--revoke, --revoke-expired and --revoke-deleted need a SERVICE")
            .hinted("runiam grant-invoker SERVICE --revoke --member PRINCIPAL"));
    }
    if args.member.is_some() {
        return Err(
            CommandError::usage("--member needs a SERVICE").hinted("runiam grant-invoker SERVICE --member PRINCIPAL")
        );
    }
    let accepts = [Kind::Diagnosis, Kind::ChangeRecord];
    let Some(docs) = read_documents("runiam-grant-invoker", &accepts, args.file.as_deref(), args.allow_empty)? else {
        return Err(CommandError::usage("no SERVICE given and nothing on stdin")
            .hinted("runiam grant-invoker SERVICE --member PRINCIPAL, or pipe runiam troubleshoot into it"));
    };
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
                        let grant = checked_grant(args, member, role, fix.condition, "the diagnosis's fix")?;
                        batch(&mut work, service, grant);
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

/// Adds a Diagnosis's grant to the batch of its service, role and condition
/// (one plan, one record per service), or starts one.
fn batch(work: &mut Vec<Work>, service: String, grant: Grant) {
    let same = |w: &Work| match w {
        Work::Grant { service: s, grants } => {
            *s == service && grants[0].role == grant.role && grants[0].condition == grant.condition
        }
        _ => false,
    };
    match work.iter_mut().find(|w| same(w)) {
        Some(Work::Grant { grants, .. }) if !grants.iter().any(|g| g.member.same_as(&grant.member)) => {
            grants.push(grant)
        }
        Some(_) => {}
        None => work.push(Work::Grant { service, grants: vec![grant] }),
    }
}

/// Validates the flags into one grant; bad input is exit 2, a public
/// member without --allow-public exit 4.
fn grant_from_flags(args: &Args) -> Result<Grant, CommandError> {
    let raw = args.member.as_deref().unwrap_or_default();
    let member = gate::allow_policy_member(raw).map_err(|e| {
        CommandError::usage(format!("--member '{raw}' is not a valid member: {}", e.why))
            .hinted("one principal per --member, e.g. user:alice@example.com or serviceAccount:NAME@PROJECT.iam.gserviceaccount.com")
    })?;
    let now = Utc::now();
    let until = match (&args.expires, &args.until) {
        (Some(d), _) => {
            let d = parse_duration(d).map_err(|e| CommandError::usage(format!("--expires {e}")))?;
            Some(now.checked_add_signed(d).ok_or_else(|| CommandError::usage("--expires is too far in the future"))?)
        }
        (None, Some(t)) => {
            let at = chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| {
                    CommandError::usage(format!(
                        "--until '{t}' is not an RFC 3339 time ({e}), e.g. 2027-01-01T00:00:00Z"
                    ))
                })?
                .with_timezone(&Utc);
            if at <= now {
                return Err(CommandError::usage(format!("--until {t} is in the past: the grant would never apply"))
                    .hinted("give a future time, or --expires 2h"));
            }
            if at - now > plan::max_grant_duration() {
                return Err(CommandError::usage(format!(
                    "--until {t} is more than {} days away; a grant meant to last that long needs no expiry",
                    plan::MAX_GRANT_DAYS
                )));
            }
            Some(at)
        }
        (None, None) => None,
    };
    if args.keep_condition && until.is_none() {
        return Err(CommandError::usage("--keep-condition needs --expires or --until: the new end of the grant"));
    }
    let condition = until.map(|u| expiry_condition(u, args.reason.as_deref()));
    checked_grant(args, member, args.role.clone(), condition, "--member")
}

/// The rules every grant obeys, whether it comes from flags, a Diagnosis
/// or a plan: a member an allow policy accepts, no condition on a public
/// member, --allow-public for one, and no expiry already past.
fn checked_grant(
    args: &Args,
    member: Principal,
    role: String,
    condition: Option<Expr>,
    field: &str,
) -> Result<Grant, CommandError> {
    gate::admissible(&member)
        .map_err(|e| CommandError::usage(format!("{field} '{member}' is not a valid member: {}", e.why)))?;
    if matches!(member, Principal::Deleted(_)) {
        return Err(CommandError::usage(format!("{field} {member} names a deleted principal, which can never invoke")));
    }
    if member.is_public() && condition.is_some() {
        return Err(CommandError::usage(format!(
            "IAM refuses conditions on {member}, so --expires/--until cannot apply to it"
        )));
    }
    if member.is_public() && !args.allow_public {
        return Err(public_refusal(&member));
    }
    if let Some(end) = condition.as_ref().and_then(Expr::expiry)
        && end <= Utc::now()
    {
        return Err(CommandError::refused(format!(
            "the grant to {member} expires at {end}, which has passed: it would never apply"
        ))
        .hinted("make a new plan with a future --until or --expires"));
    }
    Ok(Grant { member, role, condition, reason: args.reason.clone() })
}

fn public_refusal(member: &Principal) -> CommandError {
    CommandError::refused(format!("{member} would let anyone invoke the service; refusing without --allow-public"))
        .hinted("pass --allow-public if the service is meant to be public")
}

/// The intent of a grant of one or more members (`grants[0]` leads).
fn intent(grants: &[Grant]) -> Intent {
    let lead = &grants[0];
    Intent {
        action: ChangeAction::Grant,
        member: Some(lead.member.clone()),
        members: grants[1..].iter().map(|g| g.member.clone()).collect(),
        role: Some(lead.role.clone()),
        condition: lead.condition.clone(),
        reason: lead.reason.clone(),
    }
}

/// The members of a grant, in words.
fn who(grants: &[Grant]) -> String {
    grants.iter().map(|g| g.member.to_string()).collect::<Vec<_>>().join(", ")
}

/// What the flags allow a grant's write to do (the gate's input).
async fn allowance(args: &Args, ctx: &Context, grants: &[Grant], narrow_custom: bool, replacing: bool) -> Allowance {
    let grant = &grants[0];
    let mut allow = Allowance {
        member: Some(grant.member.clone()),
        also: grants[1..].iter().map(|g| g.member.clone()).collect(),
        allow_public: args.allow_public,
        allow_broad: args.allow_broad,
        removals: if replacing { Removals::OwnConditional(grant.member.clone()) } else { Removals::Nothing },
        ..Allowance::default()
    };
    if narrow_custom {
        allow.narrow_roles.insert(grant.role.clone());
    }
    for grant in grants {
        if let Principal::Group(g) = &grant.member
            && !args.allow_broad
            && let Some(n) = group_size(&ctx.clients, g).await
        {
            allow.group_sizes.insert(g.clone(), n);
        }
    }
    allow
}

/// The windows of denials read so far, one `entries.list` per project
/// however many services are planned in it.
struct Windows {
    from: DateTime<Utc>,
    read: Mutex<HashMap<String, Arc<Result<window::ProjectWindow, ApiError>>>>,
}

impl Windows {
    fn new(from: DateTime<Utc>) -> Self {
        Self { from, read: Mutex::new(HashMap::new()) }
    }

    /// The service's denials of the window replayed against `after`.
    async fn replay(
        &self,
        ctx: &Context,
        target: &ServiceRef,
        service: &Service,
        live: &Policy,
        after: &Policy,
    ) -> Replay {
        let known = self.read.lock().map(|m| m.get(&target.project).cloned()).unwrap_or_default();
        let read = match known {
            Some(w) => w,
            None => {
                let w = Arc::new(window::read(&ctx.clients, &target.project, self.from).await);
                if let Ok(mut m) = self.read.lock() {
                    m.insert(target.project.clone(), w.clone());
                }
                w
            }
        };
        match &*read {
            Ok(w) => window::replay(&ctx.clients, target, service, live, after, w).await,
            Err(e) => window::unread(self.from, e),
        }
    }
}

/// Says what the window's evidence is, and refuses with --require-evidence
/// a plan that fixes none of it.
fn weigh(args: &Args, target: &ServiceRef, evidence: &Replay) -> Result<(), CommandError> {
    let lines = evidence.lines(target);
    let mut err = std::io::stderr();
    for l in &lines {
        // The warning is said even when quiet: it is the reason not to apply.
        if !args.common.quiet || l.starts_with("warning:") {
            let _ = writeln!(err, "{l}");
        }
    }
    if !args.require_evidence || evidence.fixed > 0 {
        return Ok(());
    }
    let seen = match (&evidence.unread, evidence.denials) {
        (Some(why), _) => format!("its denials could not be read ({why})"),
        (None, 0) => "no denial of it was logged".to_owned(),
        (None, n) => format!("it fixes none of the {n} denials logged"),
    };
    Err(CommandError::refused(format!(
        "--require-evidence: the plan for {} has no evidence: {seen} since {}",
        target.full_name(),
        evidence.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ))
    .hinted("fix what the still-denied lines name (token audience, deny policy), widen --since, or plan without --require-evidence"))
}

/// Plans, and with --apply performs, one grant: a fresh one, or the one a
/// saved plan's intent describes (`saved`), which must give exactly the
/// plan's policyAfter from its policyBefore, and policyBefore must be live.
/// `windows`: replay the window's denials against the plan (none for the
/// heal loop, whose Diagnoses come from the window already).
async fn do_grant(
    args: &Args,
    ctx: &Context,
    target: ServiceRef,
    grants: Vec<Grant>,
    saved: Option<&ChangeRecord>,
    windows: Option<&Windows>,
) -> Result<ChangeRecord, CommandError> {
    let planned = match plan_grant(args, ctx, &target, grants, saved).await? {
        Planned::Nothing(live, grants) => return Ok(nothing_to_do(args, target, &grants, live)),
        Planned::Write(p) => *p,
    };
    let grants = &planned.grants;
    show(args, &target, &planned.live, &planned.after);
    let members: Vec<Principal> = grants.iter().map(|g| g.member.clone()).collect();
    let impacts = runiam_core::impact::of(&ctx.clients, &target, &members).await;
    for impact in &impacts {
        let said = impact.lines();
        if !said.is_empty() && !args.common.quiet {
            let _ = writeln!(std::io::stderr(), "{}", said.join("\n"));
        }
    }
    let evidence = match windows {
        Some(w) => Some(w.replay(ctx, &target, &planned.service, &planned.live, &planned.after).await),
        None => None,
    };
    if let Some(e) = &evidence {
        weigh(args, &target, e)?;
    }
    for member in &planned.made_permanent {
        if !args.common.quiet {
            let _ = writeln!(
                std::io::stderr(),
                "note: {member}'s conditional grant of {} becomes permanent",
                grants[0].role
            );
        }
    }
    let mut record = ChangeRecord::plan(target.clone(), intent(grants), planned.live.clone(), planned.after.clone());
    // The lead member's: a batch's others were said on stderr.
    record.impact = impacts.into_iter().next();
    // A reviewed plan applied as one batch keeps the replay it was shown with.
    record.evidence = evidence.or_else(|| saved.and_then(|p| p.evidence.clone()));
    if let Some(plan) = saved {
        record.recorded_at = plan.recorded_at;
    }
    if !args.write.apply {
        return Ok(record);
    }
    apply_grant(args, ctx, &target, saved, &planned, record).await
}

/// A grant's plan, judged and prechecked, ready to show and apply.
struct GrantPlan {
    /// What is granted: the members still to grant, `grants[0]` leading.
    grants: Vec<Grant>,
    service: Service,
    live: Policy,
    after: Policy,
    allow: Allowance,
    /// `--keep-condition`: the member's old conditional grant is replaced.
    replacing: bool,
    /// The members whose conditional grant `--permanent` makes permanent.
    made_permanent: Vec<Principal>,
    /// The customers domain restricted sharing admits, when it is on.
    drs: Option<Vec<String>>,
}

enum Planned {
    /// Already in place, on the service or above it: the live policy.
    Nothing(Policy, Vec<Grant>),
    Write(Box<GrantPlan>),
}

/// Reads, plans, judges and prechecks one grant (of one or more members);
/// refusals are errors. A member of a batch that already holds the role
/// above the service is dropped from it.
async fn plan_grant(
    args: &Args,
    ctx: &Context,
    target: &ServiceRef,
    mut grants: Vec<Grant>,
    saved: Option<&ChangeRecord>,
) -> Result<Planned, CommandError> {
    let name = target.full_name();
    let role = grants[0].role.clone();
    check_role(&ctx.clients, &role).await?;
    let (service, live) =
        tokio::join!(ctx.clients.run_v2.get_service(target), ctx.clients.run_v2.get_iam_policy(target));
    let service = service.map_err(|e| user_named(e, format!("cannot read service {name}")))?;
    let live = live.map_err(|e| user_named(e, format!("cannot read the IAM policy of {name}")))?;
    if let Some(plan) = saved {
        unchanged_since(&name, &live, &plan.policy_before)?;
    }
    let mut made_permanent = Vec::new();
    for grant in &grants {
        let held = conditional_holdings(&live, &grant.member, &grant.role);
        if grant.condition.is_none() && !held.is_empty() && !args.permanent {
            let conditions: Vec<String> = held.iter().map(|c| format!("`{}`", c.expression)).collect();
            return Err(CommandError::refused(format!(
                "{} holds {} on {name} only while {}; an unconditional grant would make it permanent",
                grant.member,
                grant.role,
                conditions.join(" or ")
            ))
            .hinted("--expires/--until with --keep-condition extends the time-bound grant; --permanent grants without a condition"));
        }
        if grant.condition.is_none() && !held.is_empty() {
            made_permanent.push(grant.member.clone());
        }
    }
    let custom = !gate::INVOKE_NARROW_ROLES.contains(&role.as_str());
    let mut err = std::io::stderr();
    let mut drs = None;
    loop {
        let (planned, replacing) = match saved {
            None => (plan::grant_all(&live, &grants, args.keep_condition), args.keep_condition),
            Some(plan) => rederive(&name, &grants, plan)?,
        };
        let allow = allowance(args, ctx, &grants, custom, replacing).await;
        let Some(after) = planned else {
            let _ = writeln!(err, "{name}: {} already holds {role}; nothing to do", who(&grants));
            return Ok(Planned::Nothing(live, grants));
        };
        let violations = gate::judge_policy(&live, &after, &allow);
        if !violations.is_empty() {
            return Err(gate::refusal(target, &violations));
        }
        let mut held_above = None;
        for (i, grant) in grants.iter().enumerate() {
            match precheck::run(ctx, target, &service, &live, &after, &grant.member).await? {
                Precheck::HeldAbove(note) => {
                    let _ = writeln!(err, "{name}: {note}");
                    held_above = Some(i);
                    break;
                }
                Precheck::Proceed { notes, drs: d } => {
                    for n in notes {
                        let _ = writeln!(err, "note: {n}");
                    }
                    drs = drs.or(d);
                }
            }
        }
        match held_above {
            // Planned again without the member, whose grant is in place above.
            Some(i) if grants.len() > 1 => {
                grants.remove(i);
            }
            Some(_) => return Ok(Planned::Nothing(live, grants)),
            None => {
                let plan = GrantPlan { grants, service, live, after, allow, replacing, made_permanent, drs };
                return Ok(Planned::Write(Box::new(plan)));
            }
        }
    }
}

/// Writes a planned grant: the permission check, the confirmation, the
/// backup, then the gated write (a read-modify-write for a fresh grant, one
/// etag-guarded write for a saved plan); the record says what was written.
async fn apply_grant(
    args: &Args,
    ctx: &Context,
    target: &ServiceRef,
    saved: Option<&ChangeRecord>,
    planned: &GrantPlan,
    record: ChangeRecord,
) -> Result<ChangeRecord, CommandError> {
    let name = target.full_name();
    let grants = &planned.grants;
    precheck_permission(ctx, target, "run.services.setIamPolicy").await?;
    if grants.iter().any(|g| g.member.is_public()) {
        precheck_public(ctx, target).await?;
    }
    confirm(args.write.yes, &format!("Grant {} {} on {name}?", who(grants), grants[0].role))?;
    let snapshot = capture(&ctx.clients, target).await?;
    let backup = write_backup(&args.write.backup_dir, &snapshot)?;
    interrupt::stop_before_write()?;
    // A refusal by domain restricted sharing names whom it admits.
    let name_customers = |e: CommandError| match &planned.drs {
        Some(customers)
            if e.exit == Exit::Refused && e.hints.iter().any(|h| h.contains("domain restricted sharing")) =>
        {
            e.hinted(format!("the organization's policy admits the Cloud Identity customers {}", customers.join(", ")))
        }
        _ => e,
    };
    let (before, written) = match saved {
        None => {
            let written = read_modify_write(&ctx.clients, target, Some(snapshot.iam_policy), &planned.allow, |p| {
                plan::grant_all(p, grants, planned.replacing)
            })
            .await
            .map_err(name_customers)?;
            if written.conflicts > 0 {
                let _ = writeln!(
                    std::io::stderr(),
                    "{name}: redone {} time(s) after concurrent policy changes",
                    written.conflicts
                );
            }
            (written.before, written.after)
        }
        Some(plan) => {
            let written = write_once(&ctx.clients, target, &plan.policy_before, &planned.after, &planned.allow)
                .await
                .map_err(name_customers)?;
            (plan.policy_before.clone(), written)
        }
    };
    Ok(applied(record, before, written, backup))
}

/// A grant already in place: a successful, already-applied state.
fn nothing_to_do(args: &Args, target: ServiceRef, grants: &[Grant], live: Policy) -> ChangeRecord {
    let mut record = ChangeRecord::plan(target, intent(grants), live.clone(), live);
    record.applied = args.write.apply;
    record
}

/// A saved plan applies only to the policy it was made from.
fn unchanged_since(name: &str, live: &Policy, planned_from: &Policy) -> Result<(), CommandError> {
    if live.etag == planned_from.etag && live.same_grants(planned_from) {
        return Ok(());
    }
    Err(CommandError::refused(format!(
        "the IAM policy of {name} changed since the plan was made (etag {} now, {} in the plan)",
        live.etag.as_deref().unwrap_or("none"),
        planned_from.etag.as_deref().unwrap_or("none")
    ))
    .hinted("make a new plan with runiam grant-invoker, and review it"))
}

/// The policy a saved plan's intent gives from its policyBefore, which must
/// be the plan's policyAfter: anything else means the file was edited.
fn rederive(name: &str, grants: &[Grant], plan: &ChangeRecord) -> Result<(Option<Policy>, bool), CommandError> {
    for replacing in [false, true] {
        let derived = plan::grant_all(&plan.policy_before, grants, replacing);
        let result = derived.clone().unwrap_or_else(|| plan.policy_before.clone());
        if result.same_grants(&plan.policy_after) {
            return Ok((derived, replacing));
        }
    }
    let derived = plan::grant_all(&plan.policy_before, grants, false).unwrap_or_else(|| plan.policy_before.clone());
    let _ = write!(
        std::io::stderr(),
        "{}",
        policy_diff(&derived, &plan.policy_after, &format!("{name}: the plan's intent"))
    );
    Err(CommandError::refused(format!(
        "the plan for {name} was edited: its policyAfter is not what its intent ({} {}) gives",
        who(grants),
        grants[0].role
    ))
    .hinted("make a new plan with runiam grant-invoker, and review it"))
}

/// The diff and the blast radius, before every confirmation and apply.
fn show(args: &Args, target: &ServiceRef, live: &Policy, after: &Policy) {
    if args.common.quiet {
        return;
    }
    let mut err = std::io::stderr();
    let _ = write!(err, "{}", painted(&policy_diff(live, after, &target.full_name())));
    let _ = writeln!(err, "{}", gate::summary(live, after, target));
}

/// Turns the invoker check off (needs --allow-public): plans it, and with
/// --apply backs up and patches the service guarded by its etag. `saved`: a
/// plan, which must change nothing else and find the service as it was.
async fn do_disable(
    args: &Args,
    ctx: &Context,
    target: ServiceRef,
    saved: Option<&ChangeRecord>,
) -> Result<ChangeRecord, CommandError> {
    let name = target.full_name();
    let (service, policy) =
        tokio::join!(ctx.clients.run_v2.get_service(&target), ctx.clients.run_v2.get_iam_policy(&target));
    let service = service.map_err(|e| user_named(e, format!("cannot read service {name}")))?;
    let policy = policy.map_err(|e| user_named(e, format!("cannot read the IAM policy of {name}")))?;
    if let Some(plan) = saved {
        if service.etag != plan.service_etag_before {
            return Err(CommandError::refused(format!(
                "service {name} changed since the plan was made (etag {} now, {} in the plan)",
                service.etag.as_deref().unwrap_or("none"),
                plan.service_etag_before.as_deref().unwrap_or("none")
            ))
            .hinted("make a new plan with runiam grant-invoker --disable-invoker-check, and review it"));
        }
        if !plan.policy_after.same_grants(&plan.policy_before) {
            return Err(CommandError::refused(format!(
                "the plan for {name} was edited: turning the invoker check off changes no IAM policy, yet its policyAfter differs from its policyBefore"
            ))
            .hinted("make a new plan with runiam grant-invoker --disable-invoker-check, and review it"));
        }
    }
    let allow = Allowance { allow_public: args.allow_public, ..Allowance::default() };
    let off = Settings { invoker_iam_disabled: true, ingress: service.ingress.clone() };
    let violations = gate::judge_settings(&settings_of(&service), &off, &allow);
    if !violations.is_empty() {
        return Err(gate::refusal(&target, &violations));
    }
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
    precheck_permission(ctx, &target, "run.services.update").await?;
    confirm(args.write.yes, &format!("Turn the invoker IAM check off on {name}, making it public?"))?;
    let backup = write_backup(&args.write.backup_dir, &capture(&ctx.clients, &target).await?)?;
    interrupt::stop_before_write()?;
    let changed = set_settings(&ctx.clients, &target, &off, &allow).await?;
    record.service_etag_before = changed.before.etag;
    record.service_etag_after = changed.after.etag;
    record.invoker_iam_disabled_before = Some(changed.before.invoker_iam_disabled);
    record.invoker_iam_disabled_after = Some(changed.after.invoker_iam_disabled);
    record.applied = true;
    record.applied_at = Some(Utc::now());
    record.backup_path = Some(backup.display().to_string());
    Ok(record)
}

/// The revoke the flags ask for, if any.
fn revoke_from_flags(args: &Args) -> Result<Option<Revoke>, CommandError> {
    if args.revoke {
        let member = args.member.as_deref().unwrap_or_default();
        let member = Principal::parse(member)
            .map_err(|e| CommandError::usage(format!("--member '{member}' is not a valid member: {}", e.why)))?;
        return Ok(Some(Revoke::Member { member, role: args.role.clone() }));
    }
    Ok((args.revoke_expired || args.revoke_deleted).then(|| Revoke::Inert {
        expired: args.revoke_expired,
        deleted: args.revoke_deleted,
        now: Utc::now(),
    }))
}

/// Plans, and with --apply performs, one revoke through the same gate,
/// backup and record as a grant; `saved`: a plan, applied only to the
/// policy it was made from and only when its intent gives its policyAfter.
async fn do_revoke(
    args: &Args,
    ctx: &Context,
    target: ServiceRef,
    revoke: &Revoke,
    saved: Option<&ChangeRecord>,
) -> Result<ChangeRecord, CommandError> {
    let name = target.full_name();
    let live = ctx
        .clients
        .run_v2
        .get_iam_policy(&target)
        .await
        .map_err(|e| user_named(e, format!("cannot read the IAM policy of {name}")))?;
    if let Some(plan) = saved {
        unchanged_since(&name, &live, &plan.policy_before)?;
    }
    let intent = revoke.intent(args.reason.clone());
    let Some(after) = plan::revoke(&live, revoke) else {
        if saved.is_some_and(|p| !p.policy_after.same_grants(&p.policy_before)) {
            return Err(edited(&name));
        }
        let _ = writeln!(std::io::stderr(), "{name}: {}; nothing to do", revoke.describe());
        let mut record = ChangeRecord::plan(target, intent, live.clone(), live);
        record.applied = args.write.apply;
        return Ok(record);
    };
    if saved.is_some_and(|p| !after.same_grants(&p.policy_after)) {
        return Err(edited(&name));
    }
    let allow = Allowance { removals: revoke.removals(), ..Allowance::default() };
    let violations = gate::judge_policy(&live, &after, &allow);
    if !violations.is_empty() {
        return Err(gate::refusal(&target, &violations));
    }
    show(args, &target, &live, &after);
    let mut record = ChangeRecord::plan(target.clone(), intent, live, after);
    if let Some(plan) = saved {
        record.recorded_at = plan.recorded_at;
    }
    if !args.write.apply {
        return Ok(record);
    }
    precheck_permission(ctx, &target, "run.services.setIamPolicy").await?;
    confirm(args.write.yes, &format!("Remove the grants shown from {name}?"))?;
    let snapshot = capture(&ctx.clients, &target).await?;
    let backup = write_backup(&args.write.backup_dir, &snapshot)?;
    interrupt::stop_before_write()?;
    let (before, written) = match saved {
        None => {
            let w = read_modify_write(&ctx.clients, &target, Some(snapshot.iam_policy), &allow, |p| {
                plan::revoke(p, revoke)
            })
            .await?;
            (w.before, w.after)
        }
        Some(plan) => {
            let w = write_once(&ctx.clients, &target, &plan.policy_before, &record.policy_after, &allow).await?;
            (plan.policy_before.clone(), w)
        }
    };
    Ok(applied(record, before, written, backup))
}

/// A saved revoke plan whose policyAfter is not what its intent gives.
fn edited(name: &str) -> CommandError {
    CommandError::refused(format!("the plan for {name} was edited: its policyAfter is not what its revoke gives"))
        .hinted("make a new plan with runiam grant-invoker --revoke, and review it")
}

/// The record of a policy write: what was written over what, and the backup.
fn applied(mut record: ChangeRecord, before: Policy, written: Policy, backup: PathBuf) -> ChangeRecord {
    record.added = written.grants_not_in(&before);
    record.removed = before.grants_not_in(&written);
    record.policy_before = before;
    record.policy_after = written;
    record.applied = true;
    record.applied_at = Some(Utc::now());
    record.backup_path = Some(backup.display().to_string());
    record
}

/// The operator must be able to write the policy: say which permission is
/// missing before anything is backed up or written.
async fn precheck_permission(ctx: &Context, target: &ServiceRef, permission: &str) -> Result<(), CommandError> {
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
/// say so before anything is backed up or written, naming the customers it
/// admits. The grant asked for was public, so the invoker-check route is
/// the supported equivalent. (Other members are checked by IAM itself on
/// the write, which answers FAILED_PRECONDITION.)
async fn precheck_public(ctx: &Context, target: &ServiceRef) -> Result<(), CommandError> {
    let resource = format!("projects/{}", target.project);
    match ctx.clients.org_policy.get_effective_policy(&resource, runiam_core::api::orgpolicy::DRS).await {
        Ok(p) => match p.allowed_customers() {
            Some(customers) => Err(CommandError::refused(format!(
                "org.public-blocked: domain restricted sharing (iam.allowedPolicyMemberDomains) on {resource} admits only the Cloud Identity customers {}; public members are refused",
                customers.join(", ")
            ))
            .hinted(format!(
                "a service meant to be public turns its invoker check off instead: runiam grant-invoker {} --disable-invoker-check --allow-public --apply",
                target.full_name()
            ))),
            None => Ok(()),
        },
        // Unreadable or unset: IAM itself refuses on the write if it must.
        Err(_) => Ok(()),
    }
}

/// Applies a plan exactly, or re-checks it in a dry run: the plan's intent
/// is validated as the flags would be and re-derived, never trusted.
async fn do_plan(
    args: &Args,
    ctx: &Context,
    plan: ChangeRecord,
    windows: Option<&Windows>,
) -> Result<ChangeRecord, CommandError> {
    let target = plan.service.clone();
    match plan.intent.action {
        ChangeAction::DisableInvokerCheck => do_disable(args, ctx, target, Some(&plan)).await,
        ChangeAction::Grant => {
            let Some(member) = plan.intent.member.clone() else {
                return Err(CommandError::usage(format!(
                    "the plan for {} has no intent.member; a grant plan names whom it grants",
                    target.full_name()
                )));
            };
            let role = plan.intent.role.clone().unwrap_or_else(|| plan::DEFAULT_ROLE.to_owned());
            let mut grants = Vec::new();
            for (m, field) in std::iter::once((member, "the plan's intent.member"))
                .chain(plan.intent.members.iter().map(|m| (m.clone(), "the plan's intent.members")))
            {
                let mut grant = checked_grant(args, m, role.clone(), plan.intent.condition.clone(), field)?;
                grant.reason = plan.intent.reason.clone();
                grants.push(grant);
            }
            do_grant(args, ctx, target, grants, Some(&plan), windows).await
        }
        ChangeAction::Revoke => {
            let revoke = saved_revoke(&plan);
            do_revoke(args, ctx, target, &revoke, Some(&plan)).await
        }
        other => Err(CommandError::usage(format!(
            "the plan for {} has intent.action {other:?}; grant-invoker applies grant, revoke and disableInvokerCheck plans",
            target.full_name()
        ))
        .hinted("restores are rollback's: pipe the record to runiam rollback")),
    }
}

/// The revoke a saved plan describes: its member's grants of its role, or
/// (no member) the kinds of inert grants it removed, judged at the plan's
/// time; anything else the plan claims is then an edit.
fn saved_revoke(plan: &ChangeRecord) -> Revoke {
    let Some(member) = plan.intent.member.clone() else {
        let gone = plan.policy_before.grants_not_in(&plan.policy_after);
        let deleted = gone.iter().flat_map(|b| &b.members).any(|m| m.starts_with("deleted:"));
        let expired = gone.iter().any(|b| b.condition.as_ref().and_then(Expr::expiry).is_some());
        return Revoke::Inert { expired, deleted, now: plan.recorded_at };
    };
    let role = plan.intent.role.clone().unwrap_or_else(|| plan::DEFAULT_ROLE.to_owned());
    Revoke::Member { member, role }
}

fn report(records: &[ChangeRecord], format: GrantFormat) -> Result<(), CommandError> {
    match format {
        GrantFormat::Yaml | GrantFormat::Json => {
            let f = if format == GrantFormat::Yaml { DocFormat::Yaml } else { DocFormat::Json };
            write_stdout(records.iter().map(|r| Document::ChangeRecord(Box::new(r.clone()))), f)?;
        }
        GrantFormat::Markdown => {
            let docs: Vec<Document> = records.iter().map(|r| Document::ChangeRecord(Box::new(r.clone()))).collect();
            runiam_core::runbook::write_stdout(&docs)?;
        }
        GrantFormat::Terraform => {
            let grants = records.iter().flat_map(|r| r.added.iter().map(move |b| (&r.service, b)));
            let mut out = std::io::stdout().lock();
            out.write_all(runiam_core::terraform::render(grants, false).as_bytes())?;
        }
        GrantFormat::Text => {
            let mut out = std::io::stdout().lock();
            for r in records {
                let state = match (r.applied, unchanged(r)) {
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
