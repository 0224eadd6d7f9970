//! Who else gains access through a grant: granting to a service account
//! lets every workload that runs or pushes as it call the service, and
//! everyone who can mint its tokens (a key holder, a token creator); a
//! group lets every member in. Plans print this and record it.
//!
//! Gather (the project's Run services and jobs, Cloud Functions, Scheduler
//! jobs, Pub/Sub subscriptions, Eventarc triggers, Cloud Tasks queues and
//! workflows, with
//! the same reads troubleshoot makes; the account's keys and policy; the
//! project's policy; the group's members) → decide (`account_impact`, pure)
//! → report (`Impact::lines`).

use crate::api::Clients;
use crate::api::callers::{Everywhere, Job, Queue, Subscription, Trigger, Workflow};
use crate::api::functions::{LIST_PERMISSION as FUNCTIONS_LIST, Listed as Functions};
use crate::api::run::{Job as RunJob, KnativeService};
pub use crate::doc::Impact;
use crate::http::ApiError;
use crate::model::{Policy, Principal, ServiceRef};
use crate::roles;

/// The permissions that let a principal get the account's tokens.
pub const MINT_PERMISSIONS: [&str; 2] = ["iam.serviceAccounts.getOpenIdToken", "iam.serviceAccounts.actAs"];

/// What was read about one service account.
#[derive(Debug)]
pub struct AccountReads {
    pub services: Result<Vec<KnativeService>, String>,
    pub run_jobs: Everywhere<RunJob>,
    pub functions: Result<Functions, String>,
    /// The project's number: a 2nd gen function without an account runs
    /// as the default compute account, named by it.
    pub project_number: Option<String>,
    pub jobs: Everywhere<Job>,
    pub subscriptions: Result<Vec<Subscription>, String>,
    pub triggers: Everywhere<Trigger>,
    pub queues: Everywhere<Queue>,
    pub workflows: Everywhere<Workflow>,
    pub keys: Result<Vec<String>, String>,
    pub account_policy: Result<Policy, String>,
    pub project_policy: Result<Policy, String>,
}

/// The impact of granting each of `members` (one or a batch) on `target`:
/// the service's last policy writer is read once, each member's reach
/// concurrently.
pub async fn of(clients: &Clients, target: &ServiceRef, members: &[Principal]) -> Vec<Impact> {
    let who = futures::future::join_all(members.iter().map(|m| members_of(clients, target, m)));
    let (who, terraform) = tokio::join!(who, last_policy_writer(clients, target));
    members
        .iter()
        .zip(who)
        .map(|(member, who)| {
            let mut out = who.unwrap_or_else(|| Impact { member: member.to_string(), ..Impact::default() });
            out.terraform = terraform.as_deref().and_then(|ua| terraform_warning(target, member, ua));
            out
        })
        .collect()
}

/// Who stands behind `member`: `None` for a principal that stands for no
/// one else (a user).
async fn members_of(clients: &Clients, target: &ServiceRef, member: &Principal) -> Option<Impact> {
    match member {
        Principal::ServiceAccount(email) => {
            Some(account_impact(member, email, &read_account(clients, target, email).await))
        }
        Principal::Group(g) => {
            let direct = match clients.cloud_identity.lookup_group(g).await {
                Ok(name) => clients.cloud_identity.list_members(&name).await.ok().map(|m| m.len()),
                Err(_) => None,
            };
            let transitive = crate::change::group_size(clients, g).await;
            let mut unread = Vec::new();
            if transitive.is_none() {
                unread.push(format!(
                    "the members of {g} could not be counted (Cloud Identity); the write gate counts it as large"
                ));
            }
            Some(Impact {
                member: member.to_string(),
                direct_members: direct,
                transitive_members: transitive,
                unread,
                ..Impact::default()
            })
        }
        _ => None,
    }
}

/// The user agent of the service's last SetIamPolicy, from the project's
/// Admin Activity audit log; `None` when there is none or it cannot be read
/// (the warning is advice, never a reason to stop).
async fn last_policy_writer(clients: &Clients, target: &ServiceRef) -> Option<String> {
    let p = &target.project;
    let filter = format!(
        "logName=\"projects/{p}/logs/cloudaudit.googleapis.com%2Factivity\" AND protoPayload.methodName:\"SetIamPolicy\" AND protoPayload.resourceName=\"{}\"",
        target.full_name()
    );
    let entries = clients.logging.list_entries(&format!("projects/{p}"), &filter, 1).await.ok()?;
    let ua = entries.first()?.pointer("/protoPayload/requestMetadata/callerSuppliedUserAgent")?.as_str()?;
    Some(ua.to_owned())
}

/// The warning when `user_agent` is Terraform's (its Google provider sends
/// `Terraform/VERSION ... terraform-provider-google/VERSION`).
pub fn terraform_warning(target: &ServiceRef, member: &Principal, user_agent: &str) -> Option<String> {
    if !user_agent.to_ascii_lowercase().contains("terraform") {
        return None;
    }
    Some(format!(
        "the last SetIamPolicy on {} came from Terraform ({user_agent}): a google_cloud_run_v2_service_iam_policy or \
         google_cloud_run_v2_service_iam_binding that owns its roles will revert this grant on its next apply; add {member} \
         to that resource (or as a google_cloud_run_v2_service_iam_member, with -o terraform) instead",
        target.full_name()
    ))
}

async fn read_account(clients: &Clients, target: &ServiceRef, email: &str) -> AccountReads {
    let p = &target.project;
    let project_res = format!("projects/{p}");
    let c = &clients.callers;
    let shown = |e: ApiError| e.to_string();
    let (
        services,
        run_jobs,
        (functions, number),
        jobs,
        subscriptions,
        triggers,
        queues,
        workflows,
        keys,
        account_policy,
        project_policy,
    ) = tokio::join!(
        clients.run_v1.list_services_all_regions(p),
        run_jobs_everywhere(clients, p),
        futures::future::join(clients.functions.list_all(p), clients.resource_manager.get_project(p)),
        c.scheduler_jobs_everywhere(p),
        c.subscriptions(p),
        c.eventarc_triggers_everywhere(p),
        c.queues_everywhere(p),
        c.workflows_everywhere(p),
        clients.iam.list_user_managed_keys(email),
        clients.iam.get_service_account_iam_policy(email),
        clients.resource_manager.get_iam_policy(&project_res),
    );
    AccountReads {
        services: services.map(|l| l.services).map_err(shown),
        run_jobs,
        functions: functions.map_err(|e| format!("{e} (needs {FUNCTIONS_LIST})")),
        project_number: number.ok().map(|n| n.number().to_owned()),
        jobs,
        subscriptions: subscriptions.map_err(shown),
        triggers,
        queues,
        workflows,
        keys: keys.map(|k| k.into_iter().map(|k| k.name).collect()).map_err(shown),
        account_policy: account_policy.map_err(shown),
        project_policy: project_policy.map_err(shown),
    }
}

/// Every Cloud Run job of the project: Run's locations, then each one's
/// jobs (v2 lists no `-` wildcard).
async fn run_jobs_everywhere(clients: &Clients, project: &str) -> Everywhere<RunJob> {
    let locations = match clients.run_v1.list_locations(project).await {
        Ok(l) => l,
        Err(e) => {
            return Everywhere {
                failed: vec![(format!("the locations of projects/{project}"), e)],
                ..Everywhere::default()
            };
        }
    };
    let reads = futures::future::join_all(
        locations
            .iter()
            .map(|l| async { (l.location_id.clone(), clients.run_v2.list_jobs(project, &l.location_id).await) }),
    )
    .await;
    let mut out = Everywhere { locations: reads.len(), ..Everywhere::default() };
    for (location, read) in reads {
        match read {
            Ok(jobs) => out.items.extend(jobs),
            Err(e) => out.failed.push((location, e)),
        }
    }
    out
}

/// Whether a role carries a permission that mints the account's tokens;
/// `None` for a role not in the offline table (a custom role).
fn mints(role: &str) -> Option<bool> {
    roles::predefined(role).map(|r| r.included_permissions.iter().any(|p| MINT_PERMISSIONS.contains(&p.as_str())))
}

/// The functions that run as the account: each one's line and, for 2nd
/// gen, its backing Cloud Run service; what could not be told goes to
/// `failures`.
fn functions_running_as<'a>(
    r: &'a AccountReads,
    same: &dyn Fn(&str) -> bool,
    failures: &mut Vec<String>,
) -> Vec<(String, Option<&'a str>)> {
    let listed = match &r.functions {
        Ok(listed) => listed,
        Err(e) => {
            failures.push(format!("Cloud Functions: {e}"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for f in &listed.functions {
        let Some(account) = f.runtime_account(r.project_number.as_deref()) else {
            failures.push(format!(
                "the account of function {}: it runs as the default compute account, and the project's number \
                 could not be read (resourcemanager.projects.get)",
                f.name
            ));
            continue;
        };
        if same(&account) {
            let how = match f.run_service() {
                Some(s) => format!("gen2, on Cloud Run service {}", s.rsplit('/').next().unwrap_or(s)),
                None if f.is_gen2() => "gen2".to_owned(),
                None => "gen1".to_owned(),
            };
            out.push((format!("function {} ({how}) runs as it", f.name), f.run_service()));
        }
    }
    failures.extend(listed.unreachable.iter().map(|l| format!("Cloud Functions in {l}: unreachable")));
    out
}

/// Everyone who reaches the service through the account, from what was read.
pub fn account_impact(member: &Principal, email: &str, r: &AccountReads) -> Impact {
    let mut out = Impact { member: member.to_string(), ..Impact::default() };
    let same = |e: &str| {
        e.trim_start_matches("projects/-/serviceAccounts/").eq_ignore_ascii_case(email)
            || e.rsplit('/').next().is_some_and(|x| x.eq_ignore_ascii_case(email))
    };
    let mut failures = Vec::new();
    // A 2nd gen function is served by a Cloud Run service that runs as the
    // function's account: one workload, said once, on the function's line.
    let functions = functions_running_as(r, &same, &mut failures);
    match &r.services {
        Ok(services) => {
            for s in services {
                let account = s.spec.pointer("/template/spec/serviceAccountName").and_then(|v| v.as_str());
                let region = s.region().unwrap_or("?");
                let serves = |(_, backing): &(String, Option<&str>)| {
                    backing
                        .and_then(|b| b.rsplit_once("/services/"))
                        .is_some_and(|(at, name)| name == s.metadata.name && at.rsplit('/').next() == Some(region))
                };
                if account.is_some_and(same) && !functions.iter().any(serves) {
                    out.workloads.push(format!("Cloud Run service {} ({region}) runs as it", s.metadata.name));
                }
            }
        }
        Err(e) => failures.push(format!("Cloud Run services: {e}")),
    }
    out.workloads.extend(functions.into_iter().map(|(line, _)| line));
    let failed = |list: &str, f: &[(String, ApiError)]| -> Vec<String> {
        f.iter().map(|(at, e)| format!("{list} in {at}: {e}")).collect()
    };
    for j in &r.run_jobs.items {
        if j.service_account().is_some_and(same) {
            out.workloads.push(format!("Cloud Run job {} runs as it", j.name));
        }
    }
    failures.extend(failed("Cloud Run jobs", &r.run_jobs.failed));
    for j in &r.jobs.items {
        let oidc = j.http_target.as_ref().and_then(|t| t.oidc_token.as_ref());
        if oidc.is_some_and(|o| same(&o.service_account_email)) {
            out.workloads.push(format!("Scheduler job {} calls with its tokens", j.name));
        }
    }
    failures.extend(failed("Scheduler jobs", &r.jobs.failed));
    match &r.subscriptions {
        Ok(subs) => {
            for s in subs {
                let oidc = s.push_config.as_ref().and_then(|p| p.oidc_token.as_ref());
                if oidc.is_some_and(|o| same(&o.service_account_email)) {
                    out.workloads.push(format!("Pub/Sub subscription {} pushes as it", s.name));
                }
            }
        }
        Err(e) => failures.push(format!("Pub/Sub subscriptions: {e}")),
    }
    for t in &r.triggers.items {
        if t.service_account.as_deref().is_some_and(same) {
            out.workloads.push(format!("Eventarc trigger {} delivers as it", t.name));
        }
    }
    failures.extend(failed("Eventarc triggers", &r.triggers.failed));
    for q in &r.queues.items {
        let oidc = q.http_target.as_ref().and_then(|t| t.oidc_token.as_ref());
        if oidc.is_some_and(|o| same(&o.service_account_email)) {
            out.workloads.push(format!("Cloud Tasks queue {} calls with its tokens", q.name));
        }
    }
    failures.extend(failed("Cloud Tasks queues", &r.queues.failed));
    for w in &r.workflows.items {
        if !w.service_account.is_empty() && same(&w.service_account) {
            out.workloads.push(format!("workflow {} runs as it", w.name));
        }
    }
    failures.extend(failed("workflows", &r.workflows.failed));
    match &r.keys {
        Ok(keys) => out.keys = keys.clone(),
        Err(e) => failures.push(format!("its keys: {e}")),
    }
    for (at, policy) in [("the account", &r.account_policy), ("the project", &r.project_policy)] {
        match policy {
            Ok(p) => {
                for b in &p.bindings {
                    let how = match mints(&b.role) {
                        Some(true) => b.role.clone(),
                        Some(false) => continue,
                        None => format!("{}, a role not read, may", b.role),
                    };
                    let cond = b.condition.as_ref().map(|c| format!(" while `{}`", c.expression)).unwrap_or_default();
                    out.token_minters.extend(b.members.iter().map(|m| format!("{m} ({how} on {at}{cond})")));
                }
            }
            Err(e) => failures.push(format!("the IAM policy of {at}: {e}")),
        }
    }
    out.unread.extend(failures);
    out
}

impl Impact {
    /// The impact in words, one line each, for plans (stderr).
    pub fn lines(&self) -> Vec<String> {
        let m = &self.member;
        let mut out = Vec::new();
        if let Some(t) = self.transitive_members {
            let direct = self.direct_members.map(|d| format!("{d} direct member(s), ")).unwrap_or_default();
            out.push(format!(
                "who else: {m} holds {direct}{t} account(s) with nested groups; each gains what it gains"
            ));
        }
        if m.starts_with("serviceAccount:") {
            if self.workloads.is_empty() {
                out.push(format!("who else: no workload found running or pushing as {m}"));
            }
            for w in &self.workloads {
                out.push(format!("who else: {w}: it can call the service too"));
            }
            for k in &self.keys {
                out.push(format!("who else: whoever holds user-managed key {k} can sign as {m}"));
            }
            for t in &self.token_minters {
                out.push(format!("who else: {t} can mint {m}'s tokens"));
            }
        }
        for u in &self.unread {
            out.push(format!("who else: not read, the lists may be short: {u}"));
        }
        if let Some(t) = &self.terraform {
            out.push(format!("warning: {t}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::callers::{HttpTarget, OidcToken};
    use crate::api::functions::Function;
    use serde_json::json;

    fn function(v: serde_json::Value) -> Function {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn terraform_is_told_by_its_user_agent() {
        let s = ServiceRef::new("p", "r", "api");
        let m = Principal::parse("user:bob@p.example").unwrap();
        let ua =
            "Terraform/1.9.5 (+https://www.terraform.io) Terraform-Plugin-SDK/2.33.0 terraform-provider-google/6.8.0";
        let w = terraform_warning(&s, &m, ua).unwrap();
        assert!(
            w.starts_with("the last SetIamPolicy on projects/p/locations/r/services/api came from Terraform"),
            "{w}"
        );
        assert!(w.contains("add user:bob@p.example to that resource"), "{w}");
        assert_eq!(terraform_warning(&s, &m, "google-cloud-sdk gcloud/502.0.0"), None);
    }

    #[test]
    fn workloads_keys_and_minters_of_one_account() {
        let email = "runner@p.iam.gserviceaccount.com";
        let member = Principal::parse(&format!("serviceAccount:{email}")).unwrap();
        let svc = |name: &str, account: &str| {
            serde_json::from_value::<KnativeService>(serde_json::json!({
                "metadata": {"name": name, "labels": {"cloud.googleapis.com/location": "europe-west1"}},
                "spec": {"template": {"spec": {"serviceAccountName": account}}}
            }))
            .unwrap()
        };
        let oidc = |e: &str| OidcToken { service_account_email: e.into(), ..OidcToken::default() };
        let job = |name: &str, e: &str| Job {
            name: name.into(),
            http_target: Some(HttpTarget { uri: "https://x".into(), oidc_token: Some(oidc(e)) }),
            ..Job::default()
        };
        let run_job = |name: &str, account: Option<&str>| {
            let template = account.map(|a| serde_json::json!({"template": {"serviceAccount": a}}));
            serde_json::from_value::<RunJob>(serde_json::json!({"name": name, "template": template})).unwrap()
        };
        let reads = AccountReads {
            services: Ok(vec![svc("a", email), svc("b", "other@p.iam.gserviceaccount.com"), svc("c", email)]),
            run_jobs: Everywhere {
                items: vec![
                    run_job("projects/p/locations/europe-west1/jobs/etl", Some(email)),
                    run_job("projects/p/locations/europe-west1/jobs/default", None),
                ],
                ..Everywhere::default()
            },
            functions: Ok(Functions {
                functions: vec![
                    function(
                        json!({"name": "projects/p/locations/europe-west1/functions/hook", "environment": "GEN_1",
                        "serviceConfig": {"serviceAccountEmail": email}}),
                    ),
                    function(json!({"name": "projects/p/locations/europe-west1/functions/c", "environment": "GEN_2",
                        "serviceConfig": {"serviceAccountEmail": email,
                            "service": "projects/p/locations/europe-west1/services/c"}})),
                    function(json!({"name": "projects/p/locations/europe-west1/functions/d", "environment": "GEN_2"})),
                ],
                unreachable: vec!["asia-east1".into()],
            }),
            project_number: Some("7".into()),
            jobs: Everywhere {
                items: vec![job("nightly", email), job("other", "x@p.iam.gserviceaccount.com")],
                ..Everywhere::default()
            },
            subscriptions: Err("403 PERMISSION_DENIED".into()),
            keys: Ok(vec!["projects/p/serviceAccounts/runner@p.iam.gserviceaccount.com/keys/k1".into()]),
            account_policy: Ok(Policy::with_grants(&[
                ("roles/iam.serviceAccountTokenCreator", "user:ops@p.example"),
                ("roles/iam.serviceAccountKeyAdmin", "user:keys@p.example"),
            ])),
            project_policy: Ok(Policy::with_grants(&[("roles/iam.serviceAccountUser", "group:deployers@p.example")])),
            triggers: Everywhere::default(),
            queues: Everywhere::default(),
            workflows: Everywhere::default(),
        };
        let i = account_impact(&member, email, &reads);
        assert_eq!(
            i.workloads,
            [
                "Cloud Run service a (europe-west1) runs as it",
                "function projects/p/locations/europe-west1/functions/hook (gen1) runs as it",
                "function projects/p/locations/europe-west1/functions/c (gen2, on Cloud Run service c) runs as it",
                "Cloud Run job projects/p/locations/europe-west1/jobs/etl runs as it",
                "Scheduler job nightly calls with its tokens"
            ]
        );
        assert_eq!(i.keys.len(), 1);
        assert_eq!(
            i.token_minters,
            [
                "user:ops@p.example (roles/iam.serviceAccountTokenCreator on the account)",
                "group:deployers@p.example (roles/iam.serviceAccountUser on the project)"
            ]
        );
        assert_eq!(
            i.unread,
            ["Cloud Functions in asia-east1: unreachable", "Pub/Sub subscriptions: 403 PERMISSION_DENIED"]
        );

        // The default compute account runs `d`; without the project's
        // number that cannot be told, and is said, as is a list not read.
        let compute = "7-compute@developer.gserviceaccount.com";
        let member = Principal::parse(&format!("serviceAccount:{compute}")).unwrap();
        let i = account_impact(&member, compute, &reads);
        assert_eq!(i.workloads, ["function projects/p/locations/europe-west1/functions/d (gen2) runs as it"]);
        let unnumbered = AccountReads { project_number: None, ..reads };
        let i = account_impact(&member, compute, &unnumbered);
        assert!(
            i.unread
                .iter()
                .any(|u| u.starts_with("the account of function projects/p/locations/europe-west1/functions/d:")),
            "{:?}",
            i.unread
        );
        let unread =
            AccountReads { functions: Err("403 denied (needs cloudfunctions.functions.list)".into()), ..unnumbered };
        let i = account_impact(&member, compute, &unread);
        assert_eq!(i.unread[0], "Cloud Functions: 403 denied (needs cloudfunctions.functions.list)");
    }
}
