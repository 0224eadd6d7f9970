//! What every command that writes shares: capturing ServiceSnapshots (for
//! export, the audit and backups), the `--apply` confirmation, the backup file,
//! the etag-guarded read-modify-write with retries on concurrent changes,
//! and the policy diff shown in plans. Every write here is judged by the
//! write gate (`gate`) against what it was read from, right before it is
//! sent, so no caller can bypass it.
//!
//! The change itself is a pure function `&Policy -> Option<Policy>` (None:
//! nothing to do), so commands keep their decisions testable and this
//! module owns the I/O around them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use tokio::task::JoinSet;

use crate::api::Clients;
use crate::api::run::Service;
use crate::doc::{DocFormat, Document, ServiceSnapshot, render};
use crate::error::{CommandError, Exit};
use crate::gate::{self, Allowance, Settings};
use crate::model::{Policy, ServiceRef};
use crate::style::{Tone, paint_err};
use crate::target::user_named;

/// The project's number and its parents above it (`folders/N`, `organizations/N`).
pub async fn project_facts(clients: &Clients, project: &str) -> Result<(String, Vec<String>), CommandError> {
    let (p, ancestry) =
        tokio::join!(clients.resource_manager.get_project(project), clients.resource_manager.get_ancestry(project));
    let p = p.map_err(|e| user_named(e, format!("cannot read project {project}")))?;
    let ancestry = ancestry.map_err(|e| user_named(e, format!("cannot read the ancestry of project {project}")))?;
    let parents = ancestry.iter().filter(|a| a.kind != "project").map(|a| a.resource()).collect();
    Ok((p.number().to_owned(), parents))
}

/// Reads one service whole, as a snapshot.
pub async fn capture(clients: &Clients, target: &ServiceRef) -> Result<ServiceSnapshot, CommandError> {
    let name = target.full_name();
    let (service, policy, facts) = tokio::join!(
        clients.run_v2.get_service(target),
        clients.run_v2.get_iam_policy(target),
        project_facts(clients, &target.project)
    );
    let service = service.map_err(|e| user_named(e, format!("cannot read service {name}")))?;
    let policy = policy.map_err(|e| user_named(e, format!("cannot read the IAM policy of {name}")))?;
    let (number, parents) = facts?;
    Ok(service.into_snapshot(target.clone(), &number, &parents, policy, Utc::now()))
}

/// Every active project below `root` (`organizations/N`, `folders/N`).
/// Resource Manager lists only the folders and projects the caller may
/// see, so none at all is no answer: a project-level operator would get an
/// empty estate and a green exit. Say what would let it be listed instead.
pub async fn projects_below(clients: &Clients, root: &str) -> Result<Vec<String>, CommandError> {
    let projects = clients
        .resource_manager
        .projects_under(root)
        .await
        .map_err(|e| user_named(e, format!("cannot list the projects below {root}")))?;
    if projects.is_empty() {
        return Err(CommandError::api(format!(
            "no project below {root} could be listed: Resource Manager shows only the folders and projects the credentials may see"
        ))
        .hinted(format!(
            "list them with resourcemanager.folders.list and resourcemanager.projects.list on {root} (roles/browser), or name them with --projects"
        )));
    }
    Ok(projects)
}

/// Every service of a project. One Run v1 all-regions listing finds the
/// regions in use; one v2 list per such region then gives full services.
/// That is 1 + R calls for R regions in use, against 1 + 40-odd for a v2
/// list of every Cloud Run region (`cargo xtask bench export` measures it).
pub async fn list_project(clients: &Clients, project: &str) -> Result<Vec<(ServiceRef, Service)>, CommandError> {
    let listing = clients
        .run_v1
        .list_services_all_regions(project)
        .await
        .map_err(|e| user_named(e, format!("cannot list the services of project {project}")))?;
    if !listing.unreachable.is_empty() {
        return Err(CommandError::api(format!(
            "Cloud Run could not list regions {} of project {project}; the services listed would be incomplete",
            listing.unreachable.join(", ")
        ))
        .hinted("retry later, or export the other regions' services by name"));
    }
    let regions: BTreeSet<&str> = listing.services.iter().filter_map(|s| s.region()).collect();
    let lists = futures::future::join_all(regions.iter().map(|r| clients.run_v2.list_services(project, r))).await;
    let mut out = Vec::new();
    for (region, list) in regions.iter().zip(lists) {
        let list = list.map_err(|e| user_named(e, format!("cannot list the services of {project} in {region}")))?;
        for s in list {
            let r =
                ServiceRef::parse_full_name(&s.name).map_err(|e| CommandError::api(format!("Cloud Run listed {e}")))?;
            out.push((ServiceRef::new(project, &r.region, &r.name), s));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

/// What one service contributes: the v2 service and its allow policy.
struct Gathered {
    service: Service,
    policy: Policy,
}

/// Reads every service and policy, and each project's number and ancestry,
/// with bounded concurrency (the HTTP layer caps calls in flight).
pub async fn snapshots(
    clients: &Clients,
    targets: Vec<(ServiceRef, Option<Service>)>,
    quiet: bool,
) -> Result<Vec<ServiceSnapshot>, CommandError> {
    let bar = crate::output::progress(targets.len() as u64, "reading services", quiet);
    let mut tasks = JoinSet::new();
    for (i, (target, known)) in targets.iter().cloned().enumerate() {
        let c = clients.clone();
        tasks.spawn(async move {
            let name = target.full_name();
            let read_service = async {
                match known {
                    Some(s) => Ok(s),
                    None => c.run_v2.get_service(&target).await,
                }
            };
            let (service, policy) = tokio::join!(read_service, c.run_v2.get_iam_policy(&target));
            let service = service.map_err(|e| user_named(e, format!("cannot read service {name}")))?;
            let policy = policy.map_err(|e| user_named(e, format!("cannot read the IAM policy of {name}")))?;
            Ok::<_, CommandError>((i, Gathered { service, policy }))
        });
    }
    let projects: BTreeSet<String> = targets.iter().map(|(t, _)| t.project.clone()).collect();
    let mut project_tasks = JoinSet::new();
    for p in projects {
        let c = clients.clone();
        project_tasks.spawn(async move { Ok::<_, CommandError>((p.clone(), project_facts(&c, &p).await?)) });
    }
    let mut gathered: Vec<Option<Gathered>> = (0..targets.len()).map(|_| None).collect();
    while let Some(r) = tasks.join_next().await {
        let (i, g) = r.map_err(|e| CommandError::api(format!("a read task failed: {e}")))??;
        gathered[i] = Some(g);
        bar.inc(1);
    }
    let mut project_info = BTreeMap::new();
    while let Some(r) = project_tasks.join_next().await {
        let (p, info) = r.map_err(|e| CommandError::api(format!("a read task failed: {e}")))??;
        project_info.insert(p, info);
    }
    bar.finish_and_clear();
    let captured_at = Utc::now();
    Ok(targets
        .into_iter()
        .zip(gathered)
        .filter_map(|((t, _), g)| {
            let (number, parents) = project_info.get(&t.project)?;
            let g = g?;
            Some(g.service.into_snapshot(t, number, parents, g.policy, captured_at))
        })
        .collect())
}

/// The confirmation `--apply` needs: none with `--yes`; a
/// prompt on the terminal (even mid-pipe); exit 2 with no terminal at all.
pub fn confirm(yes: bool, question: &str) -> Result<(), CommandError> {
    if yes {
        return Ok(());
    }
    let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").is_ok();
    if !tty || !std::io::stderr().is_terminal() {
        return Err(CommandError::usage("--apply needs confirmation and there is no terminal to ask on")
            .hinted("add --yes to apply without asking (as terraform apply -auto-approve)"));
    }
    match dialoguer::Confirm::new().with_prompt(question).default(false).interact() {
        Ok(true) => Ok(()),
        Ok(false) => Err(CommandError::usage("not applied: the change was declined")),
        Err(e) => Err(CommandError::usage(format!("cannot ask for confirmation: {e}")).hinted("add --yes")),
    }
}

/// Writes `snapshot` under `dir` as `PROJECT/REGION/SERVICE-TIME.yaml`,
/// before any write, and returns the path.
pub fn write_backup(dir: &Path, snapshot: &ServiceSnapshot) -> Result<PathBuf, CommandError> {
    let s = &snapshot.service;
    let stamp = snapshot.captured_at.format("%Y%m%dT%H%M%S%.6fZ");
    let path = dir.join(&s.project).join(&s.region).join(format!("{}-{stamp}.yaml", s.name));
    let text = render(&Document::ServiceSnapshot(Box::new(snapshot.clone())), DocFormat::Yaml);
    std::fs::create_dir_all(path.parent().expect("a joined path has a parent"))
        .and_then(|_| std::fs::write(&path, text))
        .map_err(|e| CommandError::new(Exit::Api, e).context(format!("cannot write the backup {}", path.display())))?;
    Ok(path)
}

/// How a read-modify-write ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// The policy the successful cycle read.
    pub before: Policy,
    /// The policy as the API returned it after the write (or as read, when
    /// nothing needed writing).
    pub after: Policy,
    /// False when the change was already in place.
    pub wrote: bool,
    /// Cycles that lost to a concurrent writer (409 ABORTED) and were redone.
    pub conflicts: u32,
}

/// Cycles of read-modify-write before giving up on concurrent writers.
///
/// With the emulator's `raceRate 0.3` every cycle loses with probability
/// 0.3, so 12 cycles all lose with probability 0.3^12 ≈ 5.3e-7: 200
/// grants in a race test exhaust the budget about once in 9,400 runs.
pub const RMW_CYCLES: u32 = 12;

/// Waits before redoing a cycle that lost to a concurrent writer: jittered
/// and exponential, so that writers that collided do not collide again.
async fn back_off(conflicts: u32) {
    let ceiling = 50u64 << conflicts.min(6);
    let wait = rand::rng().random_range(ceiling / 2..=ceiling);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

/// Reads the service's policy, applies `change`, and writes the result
/// guarded by the etag read; on 409 ABORTED it redoes the whole cycle with
/// jittered backoff. `change` returning None means nothing to do. `read`:
/// the policy just read with its etag (the backup's), which the first cycle
/// uses instead of reading again: if it is stale, the etag refuses the write
/// and the next cycle reads afresh.
///
/// A write answered 5xx may have committed: the HTTP layer's retry of the
/// same body then gets 409 (the etag moved), and the next cycle re-reads and
/// finds the change in place, so nothing is ever applied twice.
pub async fn read_modify_write(
    clients: &Clients,
    service: &ServiceRef,
    read: Option<Policy>,
    allow: &Allowance,
    change: impl Fn(&Policy) -> Option<Policy>,
) -> Result<Written, CommandError> {
    let name = service.full_name();
    let mut conflicts = 0;
    let mut read = read;
    // The policy read before the last write sent: once a write was sent,
    // "already in place" means it committed (its answer was lost), and the
    // true "before" is what that write replaced.
    let mut sent: Option<Policy> = None;
    loop {
        let before = match read.take() {
            Some(p) => p,
            None => clients
                .run_v2
                .get_iam_policy(service)
                .await
                .map_err(|e| user_named(e, format!("cannot read the IAM policy of {name}")))?,
        };
        let Some(mut after) = change(&before) else {
            return Ok(match sent {
                Some(replaced) => Written { after: before, before: replaced, wrote: true, conflicts },
                None => Written { after: before.clone(), before, wrote: false, conflicts },
            });
        };
        after.etag = before.etag.clone();
        let violations = gate::judge_policy(&before, &after, allow);
        if !violations.is_empty() {
            return Err(gate::refusal(service, &violations));
        }
        sent = Some(before.clone());
        let _writing = crate::interrupt::writing_guard();
        match clients.run_v2.set_iam_policy(service, &after).await {
            Ok(written) => return Ok(Written { before, after: written, wrote: true, conflicts }),
            Err(e) if e.status().is_some_and(|s| s.status == "ABORTED") && conflicts + 1 < RMW_CYCLES => {
                conflicts += 1;
                back_off(conflicts).await;
            }
            Err(e) => return Err(write_error(e, &name, &after, &before)),
        }
    }
}

/// Writes `after` once, guarded by `before`'s etag (a saved plan: no retry,
/// a moved etag is a refusal), after the gate judged it against `before`.
pub async fn write_once(
    clients: &Clients,
    service: &ServiceRef,
    before: &Policy,
    after: &Policy,
    allow: &Allowance,
) -> Result<Policy, CommandError> {
    let name = service.full_name();
    let violations = gate::judge_policy(before, after, allow);
    if !violations.is_empty() {
        return Err(gate::refusal(service, &violations));
    }
    let mut body = after.clone();
    body.etag = before.etag.clone();
    let _writing = crate::interrupt::writing_guard();
    clients.run_v2.set_iam_policy(service, &body).await.map_err(|e| {
        let moved = e.status().is_some_and(|s| s.status == "ABORTED");
        let mut err = write_error(e, &name, after, before);
        if moved {
            err.exit = Exit::Refused;
            err = err.hinted("the policy changed while applying; make a new plan");
        }
        err
    })
}

/// A refused write, with the org policy's refusal made a refusal (exit 4)
/// and a hint no broader than the change: only a public member is pointed
/// to the invoker-check route.
fn write_error(e: crate::http::ApiError, name: &str, after: &Policy, before: &Policy) -> CommandError {
    let drs = e.status().is_some_and(|s| {
        s.status == "FAILED_PRECONDITION"
            && s.details.iter().any(|d| {
                d.pointer("/violations/0/type").and_then(|t| t.as_str())
                    == Some("constraints/iam.allowedPolicyMemberDomains")
            })
    });
    let mut err = CommandError::from(e).context(format!("cannot write the IAM policy of {name}"));
    if drs {
        err.exit = Exit::Refused;
        let public = after
            .grants_not_in(before)
            .iter()
            .flat_map(|b| b.members.iter())
            .any(|m| m == "allUsers" || m == "allAuthenticatedUsers");
        err = err.hinted(if public {
            "domain restricted sharing forbids public members; a service meant to be public turns its invoker check off instead: runiam grant-invoker SERVICE --disable-invoker-check --allow-public --apply"
        } else {
            "domain restricted sharing admits only members of the organization's allowed Cloud Identity customers; grant an identity of the organization instead"
        });
    }
    err
}

/// How a change of the service's settings ended.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingsChange {
    /// The service as read before (its etag guards the patch).
    pub before: Service,
    /// The service after the operation finished (or as read, when unchanged).
    pub after: Service,
    pub changed: bool,
}

/// Puts the service's invoker IAM check (and, when `want.ingress` is set,
/// its ingress) as `want` says with services.patch (`updateMask` naming only
/// what differs), guarded by the service's etag and redone when the service
/// changed meanwhile; waits for the operation. The gate judges each cycle.
pub async fn set_settings(
    clients: &Clients,
    target: &ServiceRef,
    want: &Settings,
    allow: &Allowance,
) -> Result<SettingsChange, CommandError> {
    let name = target.full_name();
    let mut conflicts = 0;
    loop {
        let before = clients
            .run_v2
            .get_service(target)
            .await
            .map_err(|e| user_named(e, format!("cannot read service {name}")))?;
        let mut mask = Vec::new();
        if before.invoker_iam_disabled != want.invoker_iam_disabled {
            mask.push("invokerIamDisabled");
        }
        if want.ingress.is_some() && before.ingress != want.ingress {
            mask.push("ingress");
        }
        if mask.is_empty() {
            return Ok(SettingsChange { after: before.clone(), before, changed: false });
        }
        let result = Settings {
            invoker_iam_disabled: want.invoker_iam_disabled,
            ingress: want.ingress.clone().or_else(|| before.ingress.clone()),
        };
        let violations = gate::judge_settings(&settings_of(&before), &result, allow);
        if !violations.is_empty() {
            return Err(gate::refusal(target, &violations));
        }
        let mut wanted = before.clone();
        wanted.invoker_iam_disabled = result.invoker_iam_disabled;
        wanted.ingress = result.ingress;
        let _writing = crate::interrupt::writing_guard();
        match clients.run_v2.patch_service(&wanted, &mask.join(",")).await {
            Ok(op) => {
                finish(clients, &name, op).await?;
                let after = clients
                    .run_v2
                    .get_service(target)
                    .await
                    .map_err(|e| user_named(e, format!("cannot read service {name}")))?;
                return Ok(SettingsChange { before, after, changed: true });
            }
            Err(e) if e.status().is_some_and(|s| s.status == "ABORTED") && conflicts + 1 < RMW_CYCLES => {
                conflicts += 1;
                back_off(conflicts).await;
            }
            Err(e) => return Err(CommandError::from(e).context(format!("cannot update service {name}"))),
        }
    }
}

/// Waits up to a minute for a service update to finish.
async fn finish(clients: &Clients, name: &str, mut op: crate::api::run::Operation) -> Result<(), CommandError> {
    for _ in 0..120 {
        if op.done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        op = clients
            .run_v2
            .get_operation(&op.name)
            .await
            .map_err(|e| user_named(e, format!("cannot follow the update of {name}")))?;
    }
    // A change still under way is not a change made: say so rather than record it.
    if !op.done {
        return Err(CommandError::api(format!(
            "the update of {name} ({}) did not finish within a minute; check it with \
             `gcloud run operations describe`, then verify before rolling back",
            op.name
        )));
    }
    if let Some(err) = &op.error {
        return Err(CommandError::api(format!("the update of {name} failed: {err}")));
    }
    Ok(())
}

/// How many accounts a group holds, nested groups walked level by level
/// as deep as the evaluator follows them, each account counted once;
/// `None` when Cloud Identity cannot say (or the nesting goes deeper),
/// which the gate counts as broad.
pub async fn group_size(clients: &Clients, email: &str) -> Option<usize> {
    let mut accounts = std::collections::BTreeSet::new();
    let mut seen = std::collections::BTreeSet::from([email.to_owned()]);
    let mut level = vec![email.to_owned()];
    for _ in 0..=crate::eval::MAX_GROUP_DEPTH {
        if level.is_empty() {
            return Some(accounts.len());
        }
        let mut next = Vec::new();
        for group in level {
            let name = clients.cloud_identity.lookup_group(&group).await.ok()?;
            for m in clients.cloud_identity.list_members(&name).await.ok()? {
                match m.strip_prefix("group:") {
                    Some(g) if seen.insert(g.to_owned()) => next.push(g.to_owned()),
                    Some(_) => {}
                    None => {
                        accounts.insert(m);
                    }
                }
            }
        }
        level = next;
    }
    level.is_empty().then_some(accounts.len())
}

/// The settings of a service the gate judges.
pub fn settings_of(s: &Service) -> Settings {
    Settings { invoker_iam_disabled: s.invoker_iam_disabled, ingress: s.ingress.clone() }
}

/// A unified diff of two policies as YAML, for plans.
pub fn policy_diff(before: &Policy, after: &Policy, label: &str) -> String {
    let yaml = |p: &Policy| {
        let mut p = p.clone();
        // The etag always changes; showing it would hide the real diff.
        p.etag = None;
        serde_saphyr::to_string(&p).unwrap_or_default()
    };
    let (a, b) = (yaml(before), yaml(after));
    similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{label} (live)"), &format!("{label} (planned)"))
        .to_string()
}

/// A diff from [`policy_diff`] coloured for stderr, as git colours its own.
pub fn painted(diff: &str) -> String {
    diff.split_inclusive('\n')
        .map(|line| {
            let tone = match line.as_bytes() {
                [b'+', b'+', b'+', ..] | [b'-', b'-', b'-', ..] => Tone::Strong,
                [b'+', ..] => Tone::Added,
                [b'-', ..] => Tone::Removed,
                [b'@', b'@', ..] => Tone::Quiet,
                _ => return line.to_owned(),
            };
            let body = line.trim_end_matches('\n');
            format!("{}{}", paint_err(tone, body), &line[body.len()..])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Binding;

    #[test]
    fn diff_shows_the_added_member() {
        let before = Policy { etag: Some("A".into()), ..Policy::default() };
        let mut after = before.clone();
        after.version = 1;
        after.bindings.push(Binding {
            role: "roles/run.invoker".into(),
            members: vec!["user:alice@acme.example".into()],
            ..Binding::default()
        });
        let d = policy_diff(&before, &after, "hello");
        assert!(
            d.contains("+- role: roles/run.invoker")
                || d.contains("+  role: roles/run.invoker")
                || d.contains("+bindings:"),
            "{d}"
        );
        assert!(d.contains("user:alice@acme.example"), "{d}");
        assert!(!d.contains("etag"), "{d}");
    }
}
