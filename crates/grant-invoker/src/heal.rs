//! `--heal-policy FILE`: the self-healing loop's hands. Diagnosis
//! documents (from `runiam troubleshoot --watch`) are fixed without a human
//! only when a YAML allowlist admits them (docs/self-healing.md).
//!
//! Gather (the policy file, the Diagnoses, the fixes already made this
//! hour, counted from Cloud Monitoring's `autofix_count`: no local state)
//! → decide (`decide`, pure: apply or refuse each fix, never widen one)
//! → act (each admitted fix through the ordinary grant path: write gate,
//! backup, ChangeRecord; then one `autofix_count` or `autofix_refused`
//! point per series) → report (refusals on stderr, exit 4).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use chrono::{Duration, Utc};
use runiam_core::api::monitoring::GaugePoint;
use runiam_core::cli::Context;
use runiam_core::doc::{ChangeRecord, Diagnosis, Document, Documents, FixAction, Kind, Verdict};
use runiam_core::model::{Principal, ServiceRef};
use runiam_core::{CommandError, Exit};
use serde::Deserialize;

use crate::plan::{DEFAULT_ROLE, Grant, expiry_condition, parse_duration};
use crate::{Args, GrantFormat, report};

/// Every applied auto-fix adds to this metric (INT64 GAUGE, `global`).
pub const AUTOFIX_COUNT: &str = "custom.googleapis.com/runiam/autofix_count";
/// Every refused auto-fix adds to this one.
pub const AUTOFIX_REFUSED: &str = "custom.googleapis.com/runiam/autofix_refused";

/// The heal policy file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    members: Vec<String>,
    services: Vec<String>,
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    max_expires: Option<String>,
    fixes_per_hour: u32,
}

/// What may be fixed without a human.
#[derive(Clone, Debug, PartialEq)]
pub struct HealPolicy {
    /// `user:`, `serviceAccount:` or `group:` members; `*` stands for any
    /// run of characters without `@`, `:` or `/`.
    pub members: Vec<String>,
    /// Full service names; `*` stands for one segment or part of one.
    pub services: Vec<String>,
    /// Roles a fix may grant (default: roles/run.invoker).
    pub roles: Vec<String>,
    /// The longest grant; without it grants may be permanent.
    pub max_expires: Option<Duration>,
    pub fixes_per_hour: u32,
}

/// Parses a heal policy; every error names the field (exit 2).
pub fn parse_policy(text: &str, origin: &str) -> Result<HealPolicy, CommandError> {
    let bad = |field: &str, why: String| CommandError::usage(format!("{origin}: {field}: {why}"));
    let value: serde_json::Value = serde_saphyr::from_str(text)
        .map_err(|e| CommandError::usage(format!("{origin}: not a valid YAML heal policy: {e}")))?;
    if !value.is_object() {
        return Err(CommandError::usage(format!(
            "{origin}: a heal policy is a mapping with members, services and the limits"
        ))
        .hinted("members: [serviceAccount:*@PROJECT.iam.gserviceaccount.com]"));
    }
    let raw: RawPolicy = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let field = match inner.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            Some(f) => f.to_owned(),
            None => path,
        };
        bad(&field, inner)
    })?;
    if raw.members.is_empty() {
        return Err(bad("members", "lists no member; name the accounts the loop may grant".into()));
    }
    for (i, m) in raw.members.iter().enumerate() {
        let (kind, rest) = m.split_once(':').unwrap_or_default();
        if !["user", "serviceAccount", "group"].contains(&kind) || rest.is_empty() || rest.contains(':') {
            return Err(bad(
                &format!("members[{i}]"),
                format!(
                    "'{m}' is not user:, serviceAccount: or group: followed by an address or a pattern such as serviceAccount:*@PROJECT.iam.gserviceaccount.com"
                ),
            ));
        }
        if !rest.contains('@') || rest.ends_with('@') || rest.split('@').nth(1).is_some_and(|d| d.contains('*')) {
            return Err(bad(&format!("members[{i}]"), format!("'{m}' must name its domain after @ without a *")));
        }
    }
    if raw.services.is_empty() {
        return Err(bad("services", "lists no service; name the services the loop may fix".into()));
    }
    for (i, s) in raw.services.iter().enumerate() {
        let shaped = matches!(s.split('/').collect::<Vec<_>>().as_slice(),
            ["projects", p, "locations", r, "services", n]
                if !p.is_empty() && !p.contains('*') && !r.is_empty() && !n.is_empty());
        if !shaped {
            return Err(bad(
                &format!("services[{i}]"),
                format!(
                    "'{s}' is not projects/PROJECT/locations/REGION/services/NAME (a * may stand for a region or a name, not a project)"
                ),
            ));
        }
    }
    let roles = raw.roles.unwrap_or_else(|| vec![DEFAULT_ROLE.to_owned()]);
    for (i, r) in roles.iter().enumerate() {
        if !runiam_core::gate::INVOKE_NARROW_ROLES.contains(&r.as_str()) {
            return Err(bad(
                &format!("roles[{i}]"),
                format!("'{r}' is not roles/run.invoker or roles/run.servicesInvoker"),
            ));
        }
    }
    let max_expires = match raw.max_expires {
        None => None,
        Some(d) => Some(parse_duration(&d).map_err(|e| bad("max_expires", e.to_string()))?),
    };
    if raw.fixes_per_hour == 0 {
        return Err(bad("fixes_per_hour", "is 0: nothing could ever be fixed; give at least 1".into()));
    }
    Ok(HealPolicy {
        members: raw.members,
        services: raw.services,
        roles,
        max_expires,
        fixes_per_hour: raw.fixes_per_hour,
    })
}

/// `*` matches any run of characters other than `@`, `:` and `/`.
fn matches(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else { return false };
            let span = rest.find(['@', ':', '/']).unwrap_or(rest.len());
            (0..=span).any(|n| rest.is_char_boundary(n) && matches(tail, &rest[n..]))
        }
    }
}

/// One fix a Diagnosis proposes.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub service: ServiceRef,
    pub action: FixAction,
    pub member: Option<Principal>,
    pub role: String,
    /// The finding whose fix it is (the metric's `finding` label).
    pub finding: String,
}

/// What the policy says of one candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Apply,
    /// The same grant as an earlier candidate: nothing more to do.
    Duplicate,
    Refuse(String),
}

/// Judges each candidate in order; `used` fixes were already made this
/// hour, `expires` is the grant's length asked on the command line. A
/// refused fix is never narrowed or widened into one the policy admits.
pub fn decide(policy: &HealPolicy, candidates: &[Candidate], used: i64, expires: Option<Duration>) -> Vec<Decision> {
    let mut budget = i64::from(policy.fixes_per_hour) - used;
    let mut admitted: Vec<(String, String, String)> = Vec::new();
    candidates
        .iter()
        .map(|c| {
            let service = c.service.full_name();
            let member = c.member.as_ref().map(ToString::to_string).unwrap_or_default();
            let refuse = |why: String| Decision::Refuse(why);
            if c.action != FixAction::Grant || c.member.is_none() {
                return refuse(format!(
                    "the fix is {:?}, and only grants to a named member are made without a human",
                    c.action
                ));
            }
            if !policy.roles.contains(&c.role) {
                return refuse(format!("{} is not a role the heal policy grants", c.role));
            }
            if !policy.members.iter().any(|p| matches(p, &member)) {
                return refuse(format!("{member} matches no member of the heal policy"));
            }
            if !policy.services.iter().any(|p| matches(p, &service)) {
                return refuse(format!("{service} matches no service of the heal policy"));
            }
            if let Some(max) = policy.max_expires {
                match expires {
                    None => return refuse("a permanent grant exceeds the heal policy's max_expires".into()),
                    Some(e) if e > max => {
                        return refuse(format!(
                            "--expires of {}s exceeds the heal policy's max_expires of {}s",
                            e.num_seconds(),
                            max.num_seconds()
                        ));
                    }
                    Some(_) => {}
                }
            }
            let key = (service, member, c.role.clone());
            if admitted.contains(&key) {
                return Decision::Duplicate;
            }
            if budget <= 0 {
                return refuse(format!(
                    "the heal policy's {} fixes per hour are used up (counted from {AUTOFIX_COUNT})",
                    policy.fixes_per_hour
                ));
            }
            budget -= 1;
            admitted.push(key);
            Decision::Apply
        })
        .collect()
}

/// The fix of a denied Diagnosis, with the finding it answers.
fn candidate(d: &Diagnosis) -> Option<Candidate> {
    if d.verdict == Verdict::Allowed {
        return None;
    }
    let fix = d.fix.clone()?;
    let finding = d
        .findings
        .iter()
        .find(|f| f.fix.as_ref() == Some(&fix))
        .or_else(|| d.findings.first())
        .map_or_else(|| "unknown".to_owned(), |f| f.id.clone());
    Some(Candidate {
        service: d.service.clone(),
        action: fix.action,
        member: fix.member,
        role: fix.role.unwrap_or_else(|| DEFAULT_ROLE.to_owned()),
        finding,
    })
}

fn labels(c: &Candidate) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("service".to_owned(), c.service.full_name()),
        ("member".to_owned(), c.member.as_ref().map(ToString::to_string).unwrap_or_default()),
        ("finding".to_owned(), c.finding.clone()),
    ])
}

/// Runs the loop's fixes for `--heal-policy`, one batch of Diagnoses at a
/// time as they arrive (a JSON line, or a YAML document once the next
/// begins), so a watch that never ends is healed as it goes; the exit is 4
/// when any fix was refused.
pub(crate) async fn heal(args: &Args, ctx: &Context, file: &Path, format: GrantFormat) -> Result<Exit, CommandError> {
    let origin = file.display().to_string();
    let text = std::fs::read_to_string(file)
        .map_err(|e| CommandError::usage(format!("--heal-policy {origin}: cannot read it: {e}")))?;
    let policy = parse_policy(&text, &origin)?;
    let expires = match &args.expires {
        Some(d) => Some(parse_duration(d).map_err(|e| CommandError::usage(format!("--expires {e}")))?),
        None => policy.max_expires,
    };
    if args.write.apply {
        runiam_core::interrupt::watch();
    }
    let Some(input) = runiam_core::doc::input(args.file.as_deref(), false) else {
        return Err(CommandError::usage("--heal-policy reads Diagnosis documents, and stdin is a terminal")
            .hinted("runiam troubleshoot --watch | runiam grant-invoker --heal-policy heal.yaml --apply --yes"));
    };
    let mut run = Run { args, ctx, policy: &policy, expires, format, docs: 0, refused: false };
    // Each Diagnosis is fixed as it arrives: a watch upstream never ends.
    for doc in Documents::open("runiam-grant-invoker", &[Kind::Diagnosis], &input, true)? {
        run.one(doc?).await?;
        if runiam_core::interrupt::received().is_some() {
            break;
        }
    }
    if let Some(signal) = runiam_core::interrupt::received() {
        return Ok(signal);
    }
    if run.docs == 0 && !args.allow_empty {
        return Err(CommandError::usage("no Diagnosis documents on stdin: did the command before fail?")
            .hinted("--allow-empty makes a quiet interval exit 0"));
    }
    Ok(if run.refused { Exit::Refused } else { Exit::Ok })
}

/// What every batch of one run shares.
struct Run<'a> {
    args: &'a Args,
    ctx: &'a Context,
    policy: &'a HealPolicy,
    expires: Option<Duration>,
    format: GrantFormat,
    /// Diagnoses read so far.
    docs: usize,
    refused: bool,
}

impl Run<'_> {
    /// Decides, applies, counts and reports one Diagnosis.
    async fn one(&mut self, doc: Document) -> Result<(), CommandError> {
        self.docs += 1;
        let (records, refused) =
            fix(self.args, self.ctx, self.policy, self.expires, std::slice::from_ref(&doc)).await?;
        self.refused |= refused;
        report(&records, self.format)?;
        std::io::stdout().flush()?;
        Ok(())
    }
}

/// One batch: the records written, and whether any fix was refused.
async fn fix(
    args: &Args,
    ctx: &Context,
    policy: &HealPolicy,
    expires: Option<Duration>,
    docs: &[Document],
) -> Result<(Vec<ChangeRecord>, bool), CommandError> {
    let candidates: Vec<Candidate> = docs
        .iter()
        .filter_map(|d| match d {
            Document::Diagnosis(d) => candidate(d),
            _ => None,
        })
        .collect();
    let now = Utc::now();
    let mut used = 0;
    let projects: std::collections::BTreeSet<&str> = candidates.iter().map(|c| c.service.project.as_str()).collect();
    for p in &projects {
        used += ctx
            .clients
            .monitoring
            .sum_points(p, AUTOFIX_COUNT, &BTreeMap::new(), now - Duration::hours(1), now)
            .await
            .map_err(|e| CommandError::from(e).context(format!("cannot count this hour's auto-fixes in {p}")))?;
    }
    let decisions = decide(policy, &candidates, used, expires);
    let mut records = Vec::new();
    let mut applied: BTreeMap<(String, BTreeMap<String, String>), i64> = BTreeMap::new();
    let mut refused: BTreeMap<(String, BTreeMap<String, String>), i64> = BTreeMap::new();
    let mut err = std::io::stderr();
    for (c, decision) in candidates.iter().zip(decisions) {
        if runiam_core::interrupt::received().is_some() {
            break;
        }
        let name = c.service.full_name();
        let key = (c.service.project.clone(), labels(c));
        match decision {
            Decision::Duplicate => {}
            Decision::Refuse(why) => {
                let _ = writeln!(err, "{name}: auto-fix refused: {why}");
                *refused.entry(key).or_default() += 1;
            }
            Decision::Apply => {
                let member = c.member.clone().expect("decide admits only named members");
                let until = expires.map(|d| now + d);
                let reason = args.reason.clone().unwrap_or_else(|| format!("runiam heal: {}", c.finding));
                let condition = until.map(|u| expiry_condition(u, Some(&reason)));
                let grant = Grant { member, role: c.role.clone(), condition, reason: Some(reason) };
                match crate::do_grant(args, ctx, c.service.clone(), vec![grant], None, None).await {
                    Ok(record) => {
                        if args.write.apply && !record.added.is_empty() {
                            *applied.entry(key).or_default() += 1;
                        }
                        records.push(record);
                    }
                    Err(e) if e.exit == Exit::Refused => {
                        let _ = writeln!(err, "{name}: auto-fix refused: {e}");
                        *refused.entry(key).or_default() += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let any_refused = !refused.is_empty();
    if args.write.apply {
        write_points(ctx, AUTOFIX_COUNT, &applied).await?;
        // A refusal is counted once an hour per service, member and
        // finding: the loop polls again and again over a denial nobody
        // fixes, and each poll is no new refusal.
        let mut new = BTreeMap::new();
        for ((project, labels), n) in refused {
            let counted = ctx
                .clients
                .monitoring
                .sum_points(&project, AUTOFIX_REFUSED, &labels, now - Duration::hours(1), Utc::now())
                .await
                .map_err(|e| CommandError::from(e).context(format!("cannot read {AUTOFIX_REFUSED} in {project}")))?;
            if counted == 0 {
                new.insert((project, labels), n);
            }
        }
        write_points(ctx, AUTOFIX_REFUSED, &new).await?;
    }
    Ok((records, any_refused))
}

/// One point per series (Monitoring takes one per series per request),
/// one request per project.
async fn write_points(
    ctx: &Context,
    metric: &str,
    counts: &BTreeMap<(String, BTreeMap<String, String>), i64>,
) -> Result<(), CommandError> {
    let at = Utc::now();
    let mut by_project: BTreeMap<&str, Vec<GaugePoint>> = BTreeMap::new();
    for ((project, labels), n) in counts {
        by_project.entry(project).or_default().push(GaugePoint {
            metric_type: metric.to_owned(),
            labels: labels.clone(),
            value: *n,
            at,
        });
    }
    for (project, points) in by_project {
        ctx.clients
            .monitoring
            .create_time_series(project, &points)
            .await
            .map_err(|e| CommandError::from(e).context(format!("cannot write {metric} in {project}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const POLICY: &str = "\
members:
  - serviceAccount:*@acme-prod.iam.gserviceaccount.com
  - user:oncall@acme.example
services:
  - projects/acme-prod/locations/*/services/hello
  - projects/acme-prod/locations/europe-west1/services/api
max_expires: 2h
fixes_per_hour: 2
";

    fn c(service: &str, member: &str) -> Candidate {
        Candidate {
            service: ServiceRef::parse_full_name(service).unwrap(),
            action: FixAction::Grant,
            member: Some(Principal::parse(member).unwrap()),
            role: DEFAULT_ROLE.into(),
            finding: "no-invoker-binding".into(),
        }
    }

    const HELLO: &str = "projects/acme-prod/locations/europe-west1/services/hello";
    const API: &str = "projects/acme-prod/locations/europe-west1/services/api";
    const SA: &str = "serviceAccount:sched@acme-prod.iam.gserviceaccount.com";

    #[test]
    fn each_fix_is_applied_or_refused_as_the_policy_says() {
        let policy = parse_policy(POLICY, "heal.yaml").unwrap();
        let hour = Some(Duration::hours(1));
        let refused = |d: &Decision| matches!(d, Decision::Refuse(_));
        let mut public = c(HELLO, SA);
        public.action = FixAction::DisableInvokerCheck;
        let mut owner = c(HELLO, SA);
        owner.role = "roles/run.admin".into();
        let cases: Vec<(&str, Candidate, i64, Option<Duration>, bool)> = vec![
            ("a pattern member on a pattern service", c(HELLO, SA), 0, hour, false),
            ("an exact member", c(API, "user:oncall@acme.example"), 0, hour, false),
            ("another project's account", c(HELLO, "serviceAccount:x@evil.iam.gserviceaccount.com"), 0, hour, true),
            (
                "a * does not cross the @",
                c(HELLO, "serviceAccount:a@b.acme-prod.iam.gserviceaccount.com"),
                0,
                hour,
                true,
            ),
            ("a user the policy does not name", c(HELLO, "user:eve@acme.example"), 0, hour, true),
            (
                "a service the policy does not name",
                c("projects/acme-prod/locations/europe-west1/services/pay", SA),
                0,
                hour,
                true,
            ),
            ("turning the invoker check off", public, 0, hour, true),
            ("a broader role", owner, 0, hour, true),
            ("longer than max_expires", c(HELLO, SA), 0, Some(Duration::hours(3)), true),
            ("permanent under max_expires", c(HELLO, SA), 0, None, true),
            ("the hour's fixes used up", c(HELLO, SA), 2, hour, true),
            ("one fix left", c(HELLO, SA), 1, hour, false),
        ];
        for (what, candidate, used, expires, refuse) in cases {
            let got = decide(&policy, std::slice::from_ref(&candidate), used, expires);
            assert_eq!(refused(&got[0]), refuse, "{what}: {got:?}");
        }
    }

    #[test]
    fn the_budget_refuses_the_excess_in_order_and_a_repeat_costs_nothing() {
        let policy = parse_policy(POLICY, "heal.yaml").unwrap();
        let other = "serviceAccount:other@acme-prod.iam.gserviceaccount.com";
        let third = "serviceAccount:third@acme-prod.iam.gserviceaccount.com";
        let got =
            decide(&policy, &[c(HELLO, SA), c(HELLO, SA), c(API, other), c(API, third)], 0, Some(Duration::hours(1)));
        assert_eq!(got[..3], [Decision::Apply, Decision::Duplicate, Decision::Apply]);
        assert!(matches!(&got[3], Decision::Refuse(why) if why.contains("2 fixes per hour")), "{got:?}");
    }

    #[test]
    fn a_bad_policy_names_its_field() {
        let field = |text: &str| parse_policy(text, "heal.yaml").unwrap_err().to_string();
        let cases = [
            ("", "heal.yaml: a heal policy is a mapping"),
            ("- members", "heal.yaml: a heal policy is a mapping"),
            ("members: []\nservices: [x]\nfixes_per_hour: 1", "heal.yaml: members:"),
            ("members: [allUsers]\nservices: [x]\nfixes_per_hour: 1", "heal.yaml: members[0]:"),
            ("members: ['serviceAccount:a@*.com']\nservices: [x]\nfixes_per_hour: 1", "heal.yaml: members[0]:"),
            (&format!("members: ['{SA}']\nservices: [hello]\nfixes_per_hour: 1"), "heal.yaml: services[0]:"),
            (
                &format!("members: ['{SA}']\nservices: ['projects/*/locations/r/services/s']\nfixes_per_hour: 1"),
                "heal.yaml: services[0]:",
            ),
            (&format!("members: ['{SA}']\nservices: ['{HELLO}']\nfixes_per_hour: 0"), "heal.yaml: fixes_per_hour:"),
            (
                &format!("members: ['{SA}']\nservices: ['{HELLO}']\nfixes_per_hour: 1\nmax_expires: soon"),
                "heal.yaml: max_expires:",
            ),
            (
                &format!("members: ['{SA}']\nservices: ['{HELLO}']\nfixes_per_hour: 1\nroles: [roles/owner]"),
                "heal.yaml: roles[0]:",
            ),
            (
                &format!("members: ['{SA}']\nservices: ['{HELLO}']\nfixes_per_hour: 1\nmembers_extra: 1"),
                "members_extra",
            ),
            (&format!("members: ['{SA}']\nservices: ['{HELLO}']"), "heal.yaml: fixes_per_hour:"),
        ];
        for (text, want) in cases {
            let got = field(text);
            assert!(got.starts_with(want) || got.contains(want), "{text}: {got}");
        }
    }

    proptest! {
        #[test]
        fn the_policy_parser_never_panics(text in "\\PC{0,200}") {
            let _ = parse_policy(&text, "heal.yaml");
        }

        #[test]
        fn a_parsed_policy_admits_only_members_its_patterns_match(
            name in "[a-z][a-z0-9-]{0,20}",
            domain in "[a-z]{1,10}\\.[a-z]{2,5}",
        ) {
            let text = format!("members: ['serviceAccount:*@{domain}']\nservices: ['{HELLO}']\nfixes_per_hour: 5\n");
            let policy = parse_policy(&text, "heal.yaml").unwrap();
            let inside = c(HELLO, &format!("serviceAccount:{name}@{domain}"));
            let outside = c(HELLO, &format!("serviceAccount:{name}@x{domain}"));
            prop_assert_eq!(decide(&policy, &[inside], 0, None), vec![Decision::Apply]);
            prop_assert!(matches!(decide(&policy, &[outside], 0, None)[0], Decision::Refuse(_)));
        }
    }
}
