//! Without `--caller`: every caller Google knows targets the service
//! (docs/cloud-run.md): Pub/Sub push subscriptions whose endpoint is one of its
//! URLs, Scheduler jobs (in every location) whose target is, Eventarc
//! triggers (in every location) whose destination it is, Cloud Tasks
//! queues (in every location) whose `httpTarget` sends their tasks to it,
//! workflows (in every location) with an OIDC `http.*` step calling it,
//! and other Cloud Run services seen calling it in the logs. Every source is reported as
//! read or not, with why: a list that failed is never taken for none. Each comes with what its own configuration breaks (audience,
//! service agents); IAM is then diagnosed per caller as usual.
//!
//! A calling service shows in the logs by trace: Cloud Run propagates the
//! trace context, so a denial on this service and a 5xx on another
//! service (the caller failing because of it) share a `trace`.

use std::collections::{BTreeMap, BTreeSet};

use runiam_core::api::Clients;
use runiam_core::api::callers::{Everywhere, OidcCall, OidcToken, QUEUED, Task, Via, deliveries, eventarc_calls};
use runiam_core::api::run::Service;
use runiam_core::doc::{Evidence, Finding, Fix, FixAction};
use runiam_core::gather::failure;
use runiam_core::http::ApiError;
use runiam_core::model::{Policy, Principal, ServiceRef, default_compute_account};
use serde_json::{Value, json};

use runiam_core::ingress::{Caller, PathFacts, Product, derive};

use crate::decide::Origin;
use crate::findings as f;
use crate::logs::Entry;
use crate::logs::{self, Class};
use crate::token::audience_problem;

/// One caller found, and what its configuration alone gets wrong.
pub struct Discovered {
    pub caller: Principal,
    pub from: Origin,
    /// Where it was found (`pubsub subscription projects/P/subscriptions/S`).
    pub what: String,
    pub findings: Vec<Finding>,
    /// Found through the logs: another service's runtime identity.
    pub runtime_of: Option<String>,
    /// A calling service's path, derived from its settings (overrides `from`).
    pub path: Option<crate::network::CallerPath>,
}

fn ev(source: &str, detail: String, data: Option<Value>) -> Evidence {
    Evidence { source: source.to_owned(), detail, data }
}

fn grant(member: &str, role: &str, command: String) -> Fix {
    Fix {
        action: FixAction::Grant,
        member: Principal::parse(member).ok(),
        role: Some(role.to_owned()),
        condition: None,
        command,
    }
}

fn manual(command: String) -> Fix {
    Fix { action: FixAction::Manual, member: None, role: None, condition: None, command }
}

fn holds(policy: Option<&Policy>, role: &str, member: &str) -> bool {
    policy.is_some_and(|p| p.bindings.iter().any(|b| b.role == role && b.members.iter().any(|m| m == member)))
}

/// The audience the caller's tokens carry: the configured one, else the URL it calls.
fn audience_check(
    who: &str,
    oidc: &OidcToken,
    called: &str,
    service: &Service,
    source: &str,
    out: &mut Vec<Finding>,
    fix_cmd: String,
) {
    let aud = oidc.audience_for(called);
    if let Some(why) = audience_problem(aud, &service.all_urls(), &service.custom_audiences) {
        let defaulted = if oidc.audience.is_empty() { " (no audience set, so the target URL is used)" } else { "" };
        out.push(f::caller_oidc_audience(
            who,
            format!("{why}{defaulted}"),
            vec![ev(
                source,
                format!("{who}: oidcToken audience {aud:?}{defaulted}"),
                Some(json!({"oidcToken": oidc, "target": called})),
            )],
            manual(fix_cmd),
        ));
    }
}

/// One caller source as it was read: what, and either a summary of what
/// was read or why it could not be (never an empty list in disguise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRead {
    pub what: String,
    pub outcome: Result<String, String>,
}

/// The callers found and every source read for them.
pub struct Discovery {
    pub found: Vec<Discovered>,
    pub sources: Vec<SourceRead>,
}

impl Discovery {
    /// The sources that could not be read, one line each.
    pub fn unread(&self) -> Vec<String> {
        self.sources.iter().filter_map(|s| s.outcome.as_ref().err().map(|e| format!("{}: {e}", s.what))).collect()
    }

    /// Every source, one line each: what was read and what was not.
    pub fn summary(&self) -> Vec<String> {
        self.sources
            .iter()
            .map(|s| match &s.outcome {
                Ok(read) => format!("{}: {read}", s.what),
                Err(e) => format!("{}: {e}", s.what),
            })
            .collect()
    }
}

/// A list read whole or not at all.
fn source<T>(what: String, permission: &str, read: &Result<Vec<T>, ApiError>) -> SourceRead {
    SourceRead {
        what,
        outcome: match read {
            Ok(items) => Ok(format!("{} read", items.len())),
            Err(e) => Err(failure(e, permission)),
        },
    }
}

/// A list read in every location: one line for what was read, one per
/// distinct failure (an API disabled fails the same way everywhere).
fn sources_everywhere<T>(what: &str, project: &str, permission: &str, read: &Everywhere<T>) -> Vec<SourceRead> {
    let mut out = Vec::new();
    if read.locations > 0 {
        out.push(SourceRead {
            what: format!("{what} of projects/{project}"),
            outcome: Ok(format!("{} read in {} locations", read.items.len(), read.locations)),
        });
    }
    let mut by_failure: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (at, e) in &read.failed {
        by_failure.entry(failure(e, permission)).or_default().push(at);
    }
    for (why, at) in by_failure {
        let place =
            if at.len() == 1 { at[0].to_owned() } else { format!("{} locations of projects/{project}", at.len()) };
        out.push(SourceRead { what: format!("{what} in {place}"), outcome: Err(why) });
    }
    out
}

/// The tasks of the queues without a host of their own: one line for
/// what was read (tasks seen only while queued, the first 1,000 a queue),
/// one per distinct failure.
fn queued_sources(reads: &[(String, Result<Vec<Task>, ApiError>)]) -> Vec<SourceRead> {
    let mut out = Vec::new();
    let read: Vec<usize> = reads.iter().filter_map(|(_, r)| r.as_ref().ok().map(Vec::len)).collect();
    if !read.is_empty() {
        out.push(SourceRead {
            what: format!("queued tasks of {} Cloud Tasks queues without a target host", read.len()),
            outcome: Ok(format!("{} read (tasks show only while queued)", read.iter().sum::<usize>())),
        });
    }
    let mut by_failure: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (queue, r) in reads {
        if let Err(e) = r {
            by_failure.entry(failure(e, "cloudtasks.tasks.list")).or_default().push(queue);
        }
    }
    for (why, queues) in by_failure {
        let place = if queues.len() == 1 { queues[0].to_owned() } else { format!("{} queues", queues.len()) };
        out.push(SourceRead { what: format!("queued tasks of {place}"), outcome: Err(why) });
    }
    out
}

/// Every caller of `service` (`target`), with the log entries already
/// read for its project (`None`: the logs could not be read, why).
pub async fn discover(
    clients: &Clients,
    target: &ServiceRef,
    service: &Service,
    logs: Result<&[Value], &str>,
) -> Discovery {
    let p = &target.project;
    let project_res = format!("projects/{p}");
    let (reads, triggers, project, project_policy) = tokio::join!(
        clients.callers.read_project(p),
        clients.callers.eventarc_triggers_everywhere(p),
        clients.resource_manager.get_project(p),
        clients.resource_manager.get_iam_policy(&project_res),
    );
    let mut sources = vec![source(
        format!("Pub/Sub subscriptions of {project_res}"),
        "pubsub.subscriptions.list",
        &reads.subscriptions,
    )];
    sources.extend(sources_everywhere("Scheduler jobs", p, "cloudscheduler.jobs.list", &reads.jobs));
    sources.extend(sources_everywhere("Eventarc triggers", p, "eventarc.triggers.list", &triggers));
    sources.extend(sources_everywhere("Cloud Tasks queues", p, "cloudtasks.queues.list", &reads.queues));
    // A queue without its own host sends each task where the task says:
    // only tasks still queued show it.
    sources.extend(queued_sources(&reads.tasks));
    sources.extend(sources_everywhere("workflows", p, "workflows.workflows.list", &reads.workflows));
    let ctx = Context {
        clients,
        target,
        service,
        number: target.project_number.clone().or_else(|| project.ok().map(|x| x.number().to_owned())),
        project_policy: project_policy.ok(),
    };
    // A workflow without an account runs as the project's default compute account.
    let default_account = ctx.number.as_deref().map(default_compute_account);
    let configured = reads.configured(default_account.as_deref());
    let urls = service.all_urls();
    // A trigger delivers to the service's own URL: one caller per trigger.
    let main_url: Vec<String> = service.uri.iter().map(|u| u.trim_end_matches('/').to_owned()).collect();
    let deliveries = deliveries(&triggers.items, target, &main_url, default_account.as_deref());
    let mut calls = configured.oidc_calls(&urls);
    calls.extend(eventarc_calls(&deliveries));
    let mut found = Vec::new();
    for c in &calls {
        found.push(match c.via {
            Via::PubSubPush => pubsub_caller(&ctx, c).await,
            Via::Scheduler => scheduler_caller(&ctx, c),
            Via::CloudTasks => tasks_caller(&ctx, c),
            Via::Workflows => workflow_caller(&ctx, c),
            Via::Eventarc => eventarc_caller(&ctx, c),
        });
    }
    match logs {
        Ok(entries) => {
            sources.push(SourceRead {
                what: format!("Cloud Run request logs of {project_res} (callers by trace)"),
                outcome: Ok(format!("{} entries read", entries.len())),
            });
            found.extend(traced_callers(&ctx, entries).await);
        }
        Err(why) => sources.push(SourceRead {
            what: format!("Cloud Run request logs of {project_res} (callers by trace)"),
            outcome: Err(why.to_owned()),
        }),
    }
    Discovery { found, sources }
}

/// What every per-source step needs.
struct Context<'a> {
    clients: &'a Clients,
    target: &'a ServiceRef,
    service: &'a Service,
    number: Option<String>,
    project_policy: Option<Policy>,
}

impl Context<'_> {
    /// Where a product of the target's own project calls from, by core's rule.
    fn product_origin(&self, product: Product) -> Origin {
        let p = &self.target.project;
        let caller = Caller::Product { product, project: p.clone() };
        // Same-project products are always known; the fallback is never taken.
        derive(&PathFacts { target_project: p.clone(), caller, ..Default::default() })
            .origin()
            .unwrap_or(Origin::External)
    }
}

/// A push subscription: its audience, and the Pub/Sub agent's right to
/// mint the push account's tokens.
async fn pubsub_caller(ctx: &Context<'_>, c: &OidcCall<'_>) -> Discovered {
    let (oidc, sa, p, service) = (c.oidc, &c.oidc.service_account_email, &ctx.target.project, ctx.service);
    let who = format!("Pub/Sub subscription {}", c.name);
    let mut found = Vec::new();
    audience_check(
        &who,
        oidc,
        &c.url,
        service,
        "pubsub.googleapis.com subscriptions.list",
        &mut found,
        format!(
            "gcloud pubsub subscriptions update {} --push-auth-token-audience={}",
            c.name,
            service.uri.clone().unwrap_or_default()
        ),
    );
    if let Some(n) = &ctx.number {
        let agent = format!("serviceAccount:service-{n}@gcp-sa-pubsub.iam.gserviceaccount.com");
        let sa_policy = ctx.clients.iam.get_service_account_iam_policy(sa).await.ok();
        let project_policy = ctx.project_policy.as_ref();
        let ok = holds(sa_policy.as_ref(), "roles/iam.serviceAccountTokenCreator", &agent)
            || holds(project_policy, "roles/iam.serviceAccountTokenCreator", &agent)
            || holds(project_policy, "roles/pubsub.serviceAgent", &agent);
        if !ok && sa_policy.is_some() {
            found.push(f::caller_pubsub_token_creator(
                agent.trim_start_matches("serviceAccount:"),
                sa,
                vec![ev(
                    "iam.googleapis.com serviceAccounts.getIamPolicy",
                    format!("the IAM policy of {sa} grants {agent} no roles/iam.serviceAccountTokenCreator, and projects/{p} grants it neither that nor roles/pubsub.serviceAgent"),
                    sa_policy.as_ref().and_then(|x| serde_json::to_value(x).ok()),
                )],
                grant(
                    &agent,
                    "roles/iam.serviceAccountTokenCreator",
                    format!("gcloud iam service-accounts add-iam-policy-binding {sa} --member={agent} --role=roles/iam.serviceAccountTokenCreator"),
                ),
            ));
        }
    }
    Discovered {
        caller: Principal::ServiceAccount(sa.clone()),
        from: ctx.product_origin(Product::Pubsub),
        what: format!("pubsub subscription {}", c.name),
        findings: found,
        runtime_of: None,
        path: None,
    }
}

/// A Scheduler job, in whatever location: its audience, and the Scheduler
/// agent's role.
fn scheduler_caller(ctx: &Context<'_>, c: &OidcCall<'_>) -> Discovered {
    let (oidc, p, service) = (c.oidc, &ctx.target.project, ctx.service);
    let who = format!("Scheduler job {}", c.name);
    let location = location_of(c.name);
    let mut found = Vec::new();
    audience_check(
        &who,
        oidc,
        &c.url,
        service,
        "cloudscheduler.googleapis.com jobs.list",
        &mut found,
        format!(
            "gcloud scheduler jobs update http {} --location {location} --oidc-token-audience={}",
            c.name.rsplit('/').next().unwrap_or_default(),
            service.uri.clone().unwrap_or_default()
        ),
    );
    if let (Some(n), Some(pp)) = (&ctx.number, &ctx.project_policy) {
        let agent = format!("serviceAccount:service-{n}@gcp-sa-cloudscheduler.iam.gserviceaccount.com");
        if !holds(Some(pp), "roles/cloudscheduler.serviceAgent", &agent) {
            found.push(f::caller_scheduler_agent(
                agent.trim_start_matches("serviceAccount:"),
                vec![ev(
                    "cloudresourcemanager.googleapis.com getIamPolicy",
                    format!("projects/{p} grants {agent} no roles/cloudscheduler.serviceAgent"),
                    None,
                )],
                grant(
                    &agent,
                    "roles/cloudscheduler.serviceAgent",
                    format!("gcloud projects add-iam-policy-binding {p} --member={agent} --role=roles/cloudscheduler.serviceAgent"),
                ),
            ));
        }
    }
    Discovered {
        caller: Principal::ServiceAccount(oidc.service_account_email.clone()),
        from: ctx.product_origin(Product::Scheduler),
        what: format!("scheduler job {}", c.name),
        findings: found,
        runtime_of: None,
        path: None,
    }
}

/// The location in a resource name (`projects/P/locations/L/...`).
fn location_of(name: &str) -> &str {
    name.split("/locations/").nth(1).and_then(|r| r.split('/').next()).unwrap_or_default()
}

/// A Cloud Tasks queue, in whatever location, whose `httpTarget` or
/// queued tasks reach the service: the audience of its tokens.
fn tasks_caller(ctx: &Context<'_>, c: &OidcCall<'_>) -> Discovered {
    let who = c.what();
    let (queue, location) = (c.name.rsplit('/').next().unwrap_or_default(), location_of(c.name));
    let uri = ctx.service.uri.clone().unwrap_or_default();
    let fix = if c.step == Some(QUEUED) {
        // The tasks' creator sets their token; a queue-wide override also wins over it.
        format!(
            "set oidcToken.audience to {uri} where the tasks are created, or gcloud tasks queues update {queue} --location={location} --http-oidc-service-account-email-override={} --http-oidc-token-audience-override={uri}",
            c.oidc.service_account_email
        )
    } else {
        format!("gcloud tasks queues update {queue} --location={location} --http-oidc-token-audience-override={uri}")
    };
    let mut found = Vec::new();
    audience_check(&who, c.oidc, &c.url, ctx.service, "cloudtasks.googleapis.com queues.list", &mut found, fix);
    Discovered {
        caller: Principal::ServiceAccount(c.oidc.service_account_email.clone()),
        from: ctx.product_origin(Product::Tasks),
        what: format!("cloud tasks queue {}", c.name),
        findings: found,
        runtime_of: None,
        path: None,
    }
}

/// A workflow step, in whatever location, that calls the service with the
/// workflow's OIDC tokens: their audience, unless an expression sets it.
fn workflow_caller(ctx: &Context<'_>, c: &OidcCall<'_>) -> Discovered {
    let who = c.what();
    let mut found = Vec::new();
    if !c.oidc.audience.contains("${") {
        audience_check(
            &who,
            c.oidc,
            &c.url,
            ctx.service,
            "workflows.googleapis.com workflows.list",
            &mut found,
            format!(
                "set `auth: {{type: OIDC, audience: {}}}` in step {} of the definition, then gcloud workflows deploy {} --location={} --source=FILE",
                ctx.service.uri.clone().unwrap_or_default(),
                c.step.unwrap_or_default(),
                c.name.rsplit('/').next().unwrap_or_default(),
                location_of(c.name),
            ),
        );
    }
    Discovered {
        caller: Principal::ServiceAccount(c.oidc.service_account_email.clone()),
        from: ctx.product_origin(Product::Workflows),
        what: format!("workflow {}", c.name),
        findings: found,
        runtime_of: None,
        path: None,
    }
}

/// An Eventarc trigger, in whatever location, whose destination is the
/// service: it invokes as its own account or the default compute account.
fn eventarc_caller(ctx: &Context<'_>, c: &OidcCall<'_>) -> Discovered {
    Discovered {
        caller: Principal::ServiceAccount(c.oidc.service_account_email.clone()),
        from: ctx.product_origin(Product::Eventarc),
        what: format!("eventarc trigger {}", c.name),
        findings: Vec::new(),
        runtime_of: None,
        path: None,
    }
}

/// Other services in the same trace as a denial here.
async fn traced_callers(ctx: &Context<'_>, entries: &[Value]) -> Vec<Discovered> {
    let (target, p) = (ctx.target, &ctx.target.project);
    let entries: Vec<Entry> = entries.iter().map(Entry::read).collect();
    let denied_traces: BTreeSet<&str> = entries
        .iter()
        .filter(|e| matches!(logs::classify(e), Class::FrontEnd(_)))
        .filter(|e| logs::concerns(e, p, &target.region, &target.name, Class::FrontEnd(403)))
        .filter_map(|e| e.trace)
        .collect();
    let mut callers: BTreeSet<(String, String)> = BTreeSet::new();
    for e in &entries {
        let (Some(name), Some(region)) = e.service() else {
            continue;
        };
        if (name == target.name && region == target.region) || e.status().unwrap_or(0) < 500 {
            continue;
        }
        if e.trace.is_some_and(|t| denied_traces.contains(t)) {
            callers.insert((region.to_owned(), name.to_owned()));
        }
    }
    let mut out = Vec::new();
    for (region, name) in callers {
        let other = ServiceRef::new(p, &region, &name);
        let Ok(s) = ctx.clients.run_v2.get_service(&other).await else { continue };
        let sa = s
            .template
            .as_ref()
            .and_then(|t| t.service_account.clone())
            .or_else(|| ctx.number.as_deref().map(default_compute_account));
        let Some(sa) = sa else { continue };
        // Its own egress decides where its calls arrive from (`path`, not `from`).
        let spec = crate::network::CallerSpec::Service(other.clone());
        let Ok(path) = crate::network::read(ctx.clients, p, &spec).await else { continue };
        out.push(Discovered {
            caller: Principal::ServiceAccount(sa),
            from: Origin::External,
            what: format!("cloud run service {}", other.full_name()),
            findings: Vec::new(),
            runtime_of: Some(other.full_name()),
            path: Some(path),
        });
    }
    out
}

/// `caller.runtime-identity` for a calling service whose identity is denied.
pub fn runtime_identity(service: &ServiceRef, calling: &str, caller: &Principal, data: Option<Value>) -> Finding {
    f::caller_runtime_identity(
        calling,
        &caller.to_string(),
        vec![ev(
            "logging.googleapis.com entries.list",
            format!("a denial on {} shares its trace with a 5xx of {calling}", service.full_name()),
            data,
        )],
        grant(
            &caller.to_string(),
            "roles/run.invoker",
            format!("runiam grant-invoker {} --member {caller} --apply", service.full_name()),
        ),
    )
}
