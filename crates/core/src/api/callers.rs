//! The Google services that call Cloud Run with OIDC tokens, read only
//! (docs/cloud-run.md): Pub/Sub push subscriptions, Cloud
//! Scheduler HTTP jobs, Eventarc triggers, Cloud Tasks queues (their
//! queue-level `httpTarget`) and Workflows (their `http.*` steps).

use std::sync::Arc;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::config::Api;
use crate::http::{ApiError, Http, api_url};
use crate::model::ServiceRef;

/// `OidcToken` of Pub/Sub push, Scheduler and Cloud Tasks targets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcToken {
    #[serde(default)]
    pub service_account_email: String,
    /// Empty: the endpoint (push) or target URI (Scheduler, Tasks) is used.
    #[serde(default)]
    pub audience: String,
}

impl OidcToken {
    /// The audience of the tokens sent to `called`: the configured one,
    /// else the endpoint or target URI itself, path included.
    pub fn audience_for<'a>(&'a self, called: &'a str) -> &'a str {
        if self.audience.is_empty() { called } else { &self.audience }
    }
}

/// Whether `url` (a push endpoint, a job target) is one of `service_urls`, any path.
pub fn calls(url: &str, service_urls: &[String]) -> bool {
    let u = url.trim_end_matches('/');
    service_urls.iter().any(|s| u == s || u.strip_prefix(s.as_str()).is_some_and(|rest| rest.starts_with(['/', '?'])))
}

/// How a configured caller reaches a service with a service account's
/// OIDC tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Where it is configured (`Pub/Sub subscription projects/P/subscriptions/S`).
    pub what: String,
    /// The URL it calls.
    pub url: String,
    /// The audience of its tokens.
    pub audience: String,
}

/// Which product makes an [`OidcCall`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    PubSubPush,
    Scheduler,
    CloudTasks,
    Workflows,
    /// An Eventarc trigger's delivery ([`Delivery`]).
    Eventarc,
}

/// A push subscription, Scheduler job, Cloud Tasks queue or workflow step
/// that calls a service with a service account's OIDC tokens.
#[derive(Clone, Debug)]
pub struct OidcCall<'a> {
    pub via: Via,
    /// The subscription's, job's, queue's or workflow's full name.
    pub name: &'a str,
    /// The step of a workflow.
    pub step: Option<&'a str>,
    /// The push endpoint, target URI, or the URL a queue's overrides make.
    pub url: String,
    pub oidc: &'a OidcToken,
}

impl OidcCall<'_> {
    /// The caller as a user names it (`Cloud Tasks queue projects/P/locations/L/queues/Q`).
    pub fn what(&self) -> String {
        match (self.via, self.step) {
            (Via::PubSubPush, _) => format!("Pub/Sub subscription {}", self.name),
            (Via::Scheduler, _) => format!("Cloud Scheduler job {}", self.name),
            (Via::CloudTasks, None) => format!("Cloud Tasks queue {}", self.name),
            (Via::CloudTasks, Some(what)) => format!("Cloud Tasks queue {} ({what})", self.name),
            (Via::Workflows, Some(step)) => format!("workflow {} (step {step})", self.name),
            (Via::Workflows, None) => format!("workflow {}", self.name),
            (Via::Eventarc, _) => format!("Eventarc trigger {}", self.name),
        }
    }
}

/// The `step` of an [`OidcCall`] made by a queue's tasks rather than its own target.
pub const QUEUED: &str = "queued tasks";

/// What is configured to call services in a project, as read.
#[derive(Clone, Debug, Default)]
pub struct Configured {
    pub subscriptions: Vec<Subscription>,
    pub jobs: Vec<Job>,
    pub queues: Vec<Queue>,
    /// Tasks queued in the queues whose own target names no host.
    pub tasks: Vec<Task>,
    /// The OIDC `http.*` steps of the project's workflows ([`workflow_steps`]).
    pub steps: Vec<WorkflowStep>,
}

/// A project's reads of what may call its services, each kind as it came
/// (so a caller of [`Callers::read_project`] can name what failed).
#[derive(Debug)]
pub struct ProjectReads {
    pub subscriptions: Result<Vec<Subscription>, ApiError>,
    pub jobs: Everywhere<Job>,
    pub queues: Everywhere<Queue>,
    /// The still-queued tasks of each queue that lets its tasks choose (queue, read).
    pub tasks: Vec<(String, Result<Vec<Task>, ApiError>)>,
    pub workflows: Everywhere<Workflow>,
}

impl ProjectReads {
    /// What the reads make (a kind that could not be read is none): the
    /// queues' still-queued tasks, and the workflows' OIDC steps, a
    /// workflow with no account running as `default_account`.
    pub fn configured(self, default_account: Option<&str>) -> Configured {
        Configured {
            subscriptions: self.subscriptions.unwrap_or_default(),
            jobs: self.jobs.items,
            tasks: self.tasks.into_iter().flat_map(|(_, read)| read.unwrap_or_default()).collect(),
            queues: self.queues.items,
            steps: self.workflows.items.iter().flat_map(|w| workflow_steps(w, default_account)).collect(),
        }
    }
}

impl Configured {
    /// The configured calls to one of `service_urls` with some service
    /// account's OIDC tokens: what troubleshoot checks each caller's
    /// configuration from, and whose audience verify proves a caller with.
    pub fn oidc_calls<'a>(&'a self, service_urls: &'a [String]) -> Vec<OidcCall<'a>> {
        let pushes = self.subscriptions.iter().filter_map(|s| {
            let push = s.push_config.as_ref()?;
            let oidc = push.oidc_token.as_ref()?;
            Some(OidcCall { via: Via::PubSubPush, name: &s.name, step: None, url: push.push_endpoint.clone(), oidc })
        });
        let jobs = self.jobs.iter().filter_map(|j| {
            let t = j.http_target.as_ref()?;
            let oidc = t.oidc_token.as_ref()?;
            Some(OidcCall { via: Via::Scheduler, name: &j.name, step: None, url: t.uri.clone(), oidc })
        });
        let queues = self.queues.iter().filter_map(|q| {
            let oidc = q.http_target.as_ref()?.oidc_token.as_ref()?;
            Some(OidcCall { via: Via::CloudTasks, name: &q.name, step: None, url: q.target_url()?, oidc })
        });
        let tasks = self.tasks.iter().filter_map(|t| {
            let request = t.http_request.as_ref()?;
            let queue = self.queues.iter().find(|q| q.name == t.queue());
            // A queue's own host replaces its tasks' URLs: the queue is the caller then.
            if queue.is_some_and(Queue::overrides_tasks) {
                return None;
            }
            // A queue's own token replaces its tasks' tokens.
            let queue_token = queue.and_then(|q| q.http_target.as_ref()?.oidc_token.as_ref());
            let oidc = queue_token.or(request.oidc_token.as_ref())?;
            let name = queue.map_or(t.queue(), |q| q.name.as_str());
            Some(OidcCall { via: Via::CloudTasks, name, step: Some(QUEUED), url: request.url.clone(), oidc })
        });
        let steps = self.steps.iter().map(|s| OidcCall {
            via: Via::Workflows,
            name: &s.workflow,
            step: Some(&s.step),
            url: s.url.clone(),
            oidc: &s.oidc,
        });
        let mut out: Vec<OidcCall<'a>> = Vec::new();
        for c in pushes.chain(jobs).chain(queues).chain(tasks).chain(steps) {
            // Tasks of one queue calling alike are one caller.
            let same = |o: &OidcCall| {
                o.via == c.via && o.name == c.name && o.step == c.step && o.url == c.url && o.oidc == c.oidc
            };
            if !c.oidc.service_account_email.is_empty() && calls(&c.url, service_urls) && !out.iter().any(same) {
                out.push(c);
            }
        }
        out
    }

    /// The routes of `email` among [`Configured::oidc_calls`] whose
    /// audience is known (a workflow may compute its own).
    pub fn routes(&self, email: &str, service_urls: &[String]) -> Vec<Route> {
        self.oidc_calls(service_urls)
            .into_iter()
            .filter(|c| c.oidc.service_account_email == email && !c.oidc.audience.contains("${"))
            .map(|c| Route { what: c.what(), audience: c.oidc.audience_for(&c.url).to_owned(), url: c.url })
            .collect()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushConfig {
    #[serde(default)]
    pub push_endpoint: String,
    #[serde(default)]
    pub oidc_token: Option<OidcToken>,
}

/// Pub/Sub `Subscription`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub name: String,
    #[serde(default)]
    pub push_config: Option<PushConfig>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpTarget {
    #[serde(default)]
    pub uri: String,
    #[serde(default)]
    pub oidc_token: Option<OidcToken>,
}

/// Cloud Scheduler `Job`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub name: String,
    #[serde(default)]
    pub http_target: Option<HttpTarget>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudRunDestination {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    #[serde(default)]
    pub cloud_run: Option<CloudRunDestination>,
}

/// Eventarc `Trigger`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    pub name: String,
    #[serde(default)]
    pub service_account: Option<String>,
    #[serde(default)]
    pub destination: Option<Destination>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Trigger {
    /// When this trigger's Cloud Run destination is `target`: that
    /// destination, and the account it invokes with, its own or else
    /// Eventarc's default, the project's default compute account (`default`).
    pub fn delivery_to<'a>(
        &'a self,
        target: &ServiceRef,
        default: Option<&'a str>,
    ) -> Option<(&'a CloudRunDestination, &'a str)> {
        let run = self.destination.as_ref()?.cloud_run.as_ref()?;
        if run.service != target.name || (!run.region.is_empty() && run.region != target.region) {
            return None;
        }
        Some((run, self.service_account.as_deref().or(default)?))
    }
}

/// An Eventarc trigger's delivery to a service: the URL its events are
/// pushed to and the token it pushes with.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub trigger: String,
    pub url: String,
    pub oidc: OidcToken,
}

/// The deliveries of the triggers whose Cloud Run destination is `target`:
/// to each of its URLs, at the destination's path, with the trigger's
/// account (else the project's default compute account, `default`).
pub fn deliveries(triggers: &[Trigger], target: &ServiceRef, urls: &[String], default: Option<&str>) -> Vec<Delivery> {
    let mut out = Vec::new();
    for t in triggers {
        let Some((run, account)) = t.delivery_to(target, default) else { continue };
        let path = run.path.as_deref().unwrap_or_default().trim_start_matches('/');
        for url in urls {
            out.push(Delivery {
                trigger: t.name.clone(),
                url: format!("{}/{path}", url.trim_end_matches('/')),
                oidc: OidcToken { service_account_email: account.to_owned(), audience: url.clone() },
            });
        }
    }
    out
}

/// The deliveries as configured calls.
pub fn eventarc_calls(deliveries: &[Delivery]) -> impl Iterator<Item = OidcCall<'_>> {
    deliveries.iter().map(|d| OidcCall {
        via: Via::Eventarc,
        name: &d.trigger,
        step: None,
        url: d.url.clone(),
        oidc: &d.oidc,
    })
}

/// Cloud Tasks `UriOverride`: the parts of the task URL a queue replaces.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UriOverride {
    /// `HTTP` or `HTTPS` (the default).
    #[serde(default)]
    pub scheme: String,
    #[serde(default)]
    pub host: String,
    /// An int64, so a string in JSON; empty or `0`: the scheme's port.
    #[serde(default)]
    pub port: String,
    #[serde(default)]
    pub path_override: Option<PathOverride>,
    #[serde(default)]
    pub query_override: Option<QueryOverride>,
    /// `IF_NOT_EXISTS` or `ALWAYS` (the default).
    #[serde(default)]
    pub uri_override_enforce_mode: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathOverride {
    #[serde(default)]
    pub path: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryOverride {
    #[serde(default)]
    pub query_params: String,
}

/// Cloud Tasks `HttpTarget` of a queue: what every HTTP task it dispatches gets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueHttpTarget {
    #[serde(default)]
    pub uri_override: Option<UriOverride>,
    #[serde(default)]
    pub oidc_token: Option<OidcToken>,
}

/// Cloud Tasks `Queue`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Queue {
    pub name: String,
    #[serde(default)]
    pub http_target: Option<QueueHttpTarget>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Queue {
    /// The URL the queue sends its tasks to, when its `uriOverride` names
    /// the host: without one each task's own URL is used, which only the
    /// tasks (while queued) show.
    pub fn target_url(&self) -> Option<String> {
        let o = self.http_target.as_ref()?.uri_override.as_ref()?;
        if o.host.is_empty() {
            return None;
        }
        let (scheme, default_port) = if o.scheme == "HTTP" { ("http", "80") } else { ("https", "443") };
        // The scheme's own port is no port: the URL is the service's all the same.
        let port =
            if ["", "0", default_port].contains(&o.port.as_str()) { String::new() } else { format!(":{}", o.port) };
        let path = o.path_override.as_ref().map(|p| p.path.as_str()).unwrap_or_default();
        let slash = if path.is_empty() || path.starts_with('/') { "" } else { "/" };
        let query = match o.query_override.as_ref().map(|q| q.query_params.as_str()) {
            Some(q) if !q.is_empty() => format!("?{q}"),
            _ => String::new(),
        };
        Some(format!("{scheme}://{}{port}{slash}{path}{query}", o.host))
    }

    /// Whether the queue's host replaces every task's: not in
    /// `IF_NOT_EXISTS` mode, where a task's own URL wins.
    pub fn overrides_tasks(&self) -> bool {
        let mode = self
            .http_target
            .as_ref()
            .and_then(|t| t.uri_override.as_ref())
            .map(|o| o.uri_override_enforce_mode.as_str());
        self.target_url().is_some() && mode != Some("IF_NOT_EXISTS")
    }
}

/// Cloud Tasks `HttpRequest` of one task.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskHttpRequest {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub oidc_token: Option<OidcToken>,
}

/// Cloud Tasks `Task`, as the BASIC view shows it (no body).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub name: String,
    #[serde(default)]
    pub http_request: Option<TaskHttpRequest>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Task {
    /// `projects/P/locations/L/queues/Q` of `projects/P/locations/L/queues/Q/tasks/T`.
    pub fn queue(&self) -> &str {
        self.name.split_once("/tasks/").map_or(self.name.as_str(), |(q, _)| q)
    }
}

/// Workflows `Workflow`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    pub name: String,
    /// `projects/P/serviceAccounts/EMAIL`, or the email alone; empty: the
    /// project's default compute account.
    #[serde(default)]
    pub service_account: String,
    /// The definition, YAML or JSON.
    #[serde(default)]
    pub source_contents: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One `call: http.*` step of a workflow that sends the workflow's OIDC tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowStep {
    /// The workflow's full name.
    pub workflow: String,
    pub step: String,
    /// `args.url`, a literal (an expression cannot be known before it runs).
    pub url: String,
    /// The workflow's account, and `args.auth.audience` (empty: the URL).
    pub oidc: OidcToken,
}

/// Nesting deeper than this is not a workflow anyone wrote; it is not walked.
const MAX_DEPTH: usize = 64;

/// The OIDC `http.*` steps of `w` with a literal URL. `default_account`
/// stands for an unset `serviceAccount`. A definition that does not
/// parse has no steps: the workflow could not have been deployed.
pub fn workflow_steps(w: &Workflow, default_account: Option<&str>) -> Vec<WorkflowStep> {
    let account = match w.service_account.rsplit_once("/serviceAccounts/") {
        Some((_, email)) => email,
        None => w.service_account.as_str(),
    };
    let account = if account.is_empty() { default_account.unwrap_or_default() } else { account };
    let Ok(source) = serde_saphyr::from_str::<Value>(&w.source_contents) else { return Vec::new() };
    let mut found = Vec::new();
    http_steps(&source, "", 0, &mut found);
    found
        .into_iter()
        .map(|(step, url, audience)| WorkflowStep {
            workflow: w.name.clone(),
            step,
            url,
            oidc: OidcToken { service_account_email: account.to_owned(), audience },
        })
        .collect()
}

/// Every map with `call: http.…` and `args.auth.type: OIDC`, however
/// nested (subworkflows, `steps`, `switch`, `for`, `parallel`, `try`),
/// named by the key it sits under.
fn http_steps(v: &Value, name: &str, depth: usize, out: &mut Vec<(String, String, String)>) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Object(m) => {
            let is_http = m.get("call").and_then(Value::as_str).is_some_and(|c| c.starts_with("http."));
            let args = m.get("args");
            let url = args.and_then(|a| a.get("url")).and_then(Value::as_str);
            let auth = args.and_then(|a| a.get("auth"));
            let oidc = auth.and_then(|a| a.get("type")).and_then(Value::as_str) == Some("OIDC");
            if let (true, true, Some(url)) = (is_http, oidc, url)
                && !url.contains("${")
            {
                let audience = auth.and_then(|a| a.get("audience")).and_then(Value::as_str).unwrap_or_default();
                out.push((name.to_owned(), url.to_owned(), audience.to_owned()));
            }
            for (k, child) in m {
                http_steps(child, k, depth + 1, out);
            }
        }
        Value::Array(items) => {
            for child in items {
                http_steps(child, name, depth + 1, out);
            }
        }
        _ => {}
    }
}

/// A list read in every location of a project: the items, how many
/// locations were read, and the reads that failed (where, why). A failed
/// read is never an empty list: the caller says what it could not see.
#[derive(Debug, Default)]
pub struct Everywhere<T> {
    pub items: Vec<T>,
    pub locations: usize,
    pub failed: Vec<(String, ApiError)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    #[serde(default)]
    location_id: String,
}

/// Pub/Sub, Cloud Scheduler, Eventarc, Cloud Tasks and Workflows, for listing callers.
#[derive(Clone)]
pub struct Callers {
    pub(crate) http: Arc<Http>,
    pub(crate) pubsub: Url,
    pub(crate) scheduler: Url,
    pub(crate) eventarc: Url,
    pub(crate) tasks: Url,
    pub(crate) workflows: Url,
}

impl Callers {
    /// Every item of a paged list (`field` holds them, `nextPageToken` pages).
    async fn all<T: serde::de::DeserializeOwned>(&self, api: Api, url: Url, field: &str) -> Result<Vec<T>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut u = url.clone();
            u.query_pairs_mut().append_pair("pageSize", "1000");
            if let Some(t) = &token {
                u.query_pairs_mut().append_pair("pageToken", t);
            }
            let mut page: Map<String, Value> = self.http.json(api, Method::GET, u, None).await?;
            if let Some(items) = page.remove(field) {
                let items: Vec<T> = serde_json::from_value(items).map_err(|e| ApiError::Decode {
                    api,
                    method: "GET".into(),
                    url: url.to_string(),
                    detail: e.to_string(),
                })?;
                out.extend(items);
            }
            match page.get("nextPageToken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(out),
            }
        }
    }

    pub async fn subscriptions(&self, project: &str) -> Result<Vec<Subscription>, ApiError> {
        let url = api_url(&self.pubsub, &["v1", "projects", project, "subscriptions"]);
        self.all(Api::PubSub, url, "subscriptions").await
    }

    pub async fn scheduler_jobs(&self, project: &str, location: &str) -> Result<Vec<Job>, ApiError> {
        let url = api_url(&self.scheduler, &["v1", "projects", project, "locations", location, "jobs"]);
        self.all(Api::CloudScheduler, url, "jobs").await
    }

    pub async fn eventarc_triggers(&self, project: &str, location: &str) -> Result<Vec<Trigger>, ApiError> {
        let url = api_url(&self.eventarc, &["v1", "projects", project, "locations", location, "triggers"]);
        self.all(Api::Eventarc, url, "triggers").await
    }

    /// Cloud Tasks `queues.list` (v2).
    pub async fn queues(&self, project: &str, location: &str) -> Result<Vec<Queue>, ApiError> {
        let url = api_url(&self.tasks, &["v2", "projects", project, "locations", location, "queues"]);
        self.all(Api::CloudTasks, url, "queues").await
    }

    /// The first page (up to 1,000) of the tasks of `queue`
    /// (`projects/P/locations/L/queues/Q`), BASIC view: URLs and tokens
    /// without bodies. Only tasks still queued show.
    pub async fn queued_tasks(&self, queue: &str) -> Result<Vec<Task>, ApiError> {
        let mut url = api_url(&self.tasks, &["v2", queue, "tasks"]);
        url.query_pairs_mut().append_pair("pageSize", "1000");
        let mut page: Map<String, Value> = self.http.json(Api::CloudTasks, Method::GET, url.clone(), None).await?;
        let Some(tasks) = page.remove("tasks") else { return Ok(Vec::new()) };
        serde_json::from_value(tasks).map_err(|e| ApiError::Decode {
            api: Api::CloudTasks,
            method: "GET".into(),
            url: url.to_string(),
            detail: e.to_string(),
        })
    }

    /// Subscriptions, Scheduler jobs, Cloud Tasks queues and workflows of
    /// `project` at once, then the queues' still-queued tasks: the reads
    /// troubleshoot, verify and a plan's window make [`Configured`] from.
    pub async fn read_project(&self, project: &str) -> ProjectReads {
        let (subscriptions, jobs, queues, workflows) = tokio::join!(
            self.subscriptions(project),
            self.scheduler_jobs_everywhere(project),
            self.queues_everywhere(project),
            self.workflows_everywhere(project),
        );
        let tasks = self.queued_tasks_of(&queues.items).await;
        ProjectReads { subscriptions, jobs, queues, tasks, workflows }
    }

    /// [`Callers::queued_tasks`] of every queue whose own host does not
    /// replace its tasks' (they then say where they go), concurrently:
    /// (queue, read).
    pub async fn queued_tasks_of(&self, queues: &[Queue]) -> Vec<(String, Result<Vec<Task>, ApiError>)> {
        let open = queues.iter().filter(|q| !q.overrides_tasks());
        futures::future::join_all(open.map(|q| async { (q.name.clone(), self.queued_tasks(&q.name).await) })).await
    }

    /// Workflows `workflows.list`, which answers each workflow's `sourceContents`.
    pub async fn workflows(&self, project: &str, location: &str) -> Result<Vec<Workflow>, ApiError> {
        let url = api_url(&self.workflows, &["v1", "projects", project, "locations", location, "workflows"]);
        self.all(Api::Workflows, url, "workflows").await
    }

    /// Every Scheduler job of the project, whatever its location: jobs
    /// target services in any region.
    pub async fn scheduler_jobs_everywhere(&self, project: &str) -> Everywhere<Job> {
        self.everywhere(Api::CloudScheduler, &self.scheduler, "v1", project, "jobs").await
    }

    /// Every Eventarc trigger of the project, whatever its location.
    pub async fn eventarc_triggers_everywhere(&self, project: &str) -> Everywhere<Trigger> {
        self.everywhere(Api::Eventarc, &self.eventarc, "v1", project, "triggers").await
    }

    /// Every Cloud Tasks queue of the project, whatever its location.
    pub async fn queues_everywhere(&self, project: &str) -> Everywhere<Queue> {
        self.everywhere(Api::CloudTasks, &self.tasks, "v2", project, "queues").await
    }

    /// Every workflow of the project, whatever its location.
    pub async fn workflows_everywhere(&self, project: &str) -> Everywhere<Workflow> {
        self.everywhere(Api::Workflows, &self.workflows, "v1", project, "workflows").await
    }

    /// `locations.list` of the API, then `field` in each location, concurrently.
    async fn everywhere<T: serde::de::DeserializeOwned>(
        &self,
        api: Api,
        base: &Url,
        version: &str,
        project: &str,
        field: &str,
    ) -> Everywhere<T> {
        let listed = api_url(base, &[version, "projects", project, "locations"]);
        let locations: Vec<Location> = match self.all(api, listed, "locations").await {
            Ok(l) => l,
            Err(e) => {
                return Everywhere {
                    items: Vec::new(),
                    locations: 0,
                    failed: vec![(format!("the locations of projects/{project}"), e)],
                };
            }
        };
        let reads = futures::future::join_all(locations.iter().filter(|l| !l.location_id.is_empty()).map(|l| async {
            let url = api_url(base, &[version, "projects", project, "locations", &l.location_id, field]);
            (l.location_id.clone(), self.all::<T>(api, url, field).await)
        }))
        .await;
        let mut out = Everywhere { items: Vec::new(), locations: 0, failed: Vec::new() };
        for (location, read) in reads {
            match read {
                Ok(items) => {
                    out.locations += 1;
                    out.items.extend(items);
                }
                Err(e) => out.failed.push((format!("projects/{project}/locations/{location}"), e)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn oidc(email: &str, audience: &str) -> Option<OidcToken> {
        Some(OidcToken { service_account_email: email.into(), audience: audience.into() })
    }

    fn queue(name: &str, o: UriOverride, token: Option<OidcToken>) -> Queue {
        Queue {
            name: name.into(),
            http_target: Some(QueueHttpTarget { uri_override: Some(o), oidc_token: token }),
            extra: Map::new(),
        }
    }

    #[test]
    fn routes_are_the_accounts_configured_calls_with_their_audiences() {
        let urls = vec!["https://api-1.r.run.app".to_owned()];
        let subscriptions = vec![
            Subscription {
                name: "projects/p/subscriptions/s".into(),
                push_config: Some(PushConfig {
                    push_endpoint: "https://api-1.r.run.app/push".into(),
                    oidc_token: oidc("a@p", ""),
                }),
                extra: Map::new(),
            },
            Subscription {
                name: "projects/p/subscriptions/elsewhere".into(),
                push_config: Some(PushConfig {
                    push_endpoint: "https://api-1.r.run.app.evil/".into(),
                    oidc_token: oidc("a@p", ""),
                }),
                extra: Map::new(),
            },
        ];
        let jobs = vec![Job {
            name: "projects/p/locations/r/jobs/j".into(),
            http_target: Some(HttpTarget { uri: "https://api-1.r.run.app".into(), oidc_token: oidc("b@p", "custom") }),
            extra: Map::new(),
        }];
        let host = |h: &str, path: &str| UriOverride {
            host: h.into(),
            path_override: Some(PathOverride { path: path.into() }),
            ..Default::default()
        };
        let queues = vec![
            queue("projects/p/locations/l/queues/q", host("api-1.r.run.app", "/work"), oidc("c@p", "")),
            queue("projects/p/locations/l/queues/other", host("other.r.run.app", ""), oidc("c@p", "")),
            queue("projects/p/locations/l/queues/no-host", host("", "/x"), oidc("c@p", "")),
        ];
        let steps = workflow_steps(
            &Workflow {
                name: "projects/p/locations/l/workflows/w".into(),
                service_account: "projects/p/serviceAccounts/d@p".into(),
                source_contents: "- call_api:\n    call: http.post\n    args:\n      url: https://api-1.r.run.app\n      auth:\n        type: OIDC\n".into(),
                extra: Map::new(),
            },
            None,
        );
        let task = |queue: &str, id: &str, email: &str| Task {
            name: format!("{queue}/tasks/{id}"),
            http_request: Some(TaskHttpRequest {
                url: "https://api-1.r.run.app/t".into(),
                oidc_token: oidc(email, ""),
            }),
            extra: Map::new(),
        };
        let tasks = vec![
            task("projects/p/locations/l/queues/bare", "1", "e@p"),
            task("projects/p/locations/l/queues/bare", "2", "e@p"),
            // The queue's host wins over the task's URL.
            task("projects/p/locations/l/queues/other", "3", "f@p"),
        ];
        let configured = Configured { subscriptions, jobs, queues, tasks, steps };
        assert_eq!(
            configured.routes("a@p", &urls),
            [Route {
                what: "Pub/Sub subscription projects/p/subscriptions/s".into(),
                url: "https://api-1.r.run.app/push".into(),
                audience: "https://api-1.r.run.app/push".into(),
            }]
        );
        assert_eq!(configured.routes("b@p", &urls)[0].audience, "custom");
        assert_eq!(
            configured.routes("c@p", &urls),
            [Route {
                what: "Cloud Tasks queue projects/p/locations/l/queues/q".into(),
                url: "https://api-1.r.run.app/work".into(),
                audience: "https://api-1.r.run.app/work".into(),
            }]
        );
        assert_eq!(
            configured.routes("d@p", &urls),
            [Route {
                what: "workflow projects/p/locations/l/workflows/w (step call_api)".into(),
                url: "https://api-1.r.run.app".into(),
                audience: "https://api-1.r.run.app".into(),
            }]
        );
        assert_eq!(
            configured.routes("e@p", &urls),
            [Route {
                what: "Cloud Tasks queue projects/p/locations/l/queues/bare (queued tasks)".into(),
                url: "https://api-1.r.run.app/t".into(),
                audience: "https://api-1.r.run.app/t".into(),
            }]
        );
        assert!(configured.routes("f@p", &urls).is_empty());
        assert!(configured.routes("g@p", &urls).is_empty());
    }

    #[test]
    fn a_queue_target_is_its_overrides() {
        let o = UriOverride {
            scheme: "HTTP".into(),
            host: "h.example".into(),
            port: "8080".into(),
            path_override: Some(PathOverride { path: "a/b".into() }),
            query_override: Some(QueryOverride { query_params: "x=1".into() }),
            uri_override_enforce_mode: "ALWAYS".into(),
        };
        assert_eq!(queue("q", o, None).target_url().as_deref(), Some("http://h.example:8080/a/b?x=1"));
        for port in ["", "0", "443"] {
            let bare = UriOverride { host: "h.example".into(), port: port.into(), ..Default::default() };
            assert_eq!(queue("q", bare, None).target_url().as_deref(), Some("https://h.example"));
        }
        assert_eq!(Queue::default().target_url(), None);
        let host = |mode: &str| UriOverride {
            host: "h.example".into(),
            uri_override_enforce_mode: mode.into(),
            ..Default::default()
        };
        assert!(queue("q", host(""), None).overrides_tasks());
        assert!(queue("q", host("ALWAYS"), None).overrides_tasks());
        assert!(!queue("q", host("IF_NOT_EXISTS"), None).overrides_tasks());
        assert!(!Queue::default().overrides_tasks());
    }

    #[test]
    fn workflow_steps_are_found_however_nested() {
        let source = r#"
main:
  steps:
    - plain:
        call: http.get
        args: {url: "https://a.run.app/x"}
    - branch:
        switch:
          - condition: ${true}
            steps:
              - nested:
                  call: http.post
                  args:
                    url: https://a.run.app
                    auth: {type: OIDC, audience: "https://aud"}
    - fan:
        parallel:
          branches:
            - b1:
                steps:
                  - deep:
                      call: http.request
                      args: {method: GET, url: "https://b.run.app/y", auth: {type: OIDC}}
    - computed:
        call: http.get
        args: {url: '${"https://a.run.app/" + x}', auth: {type: OIDC}}
    - oauth:
        call: http.get
        args: {url: "https://a.run.app", auth: {type: OAuth2}}
"#;
        let w = Workflow { name: "w".into(), source_contents: source.into(), ..Default::default() };
        let steps = workflow_steps(&w, Some("n-compute@developer.gserviceaccount.com"));
        let got: Vec<(&str, &str, &str, &str)> = steps
            .iter()
            .map(|s| (s.step.as_str(), s.url.as_str(), s.oidc.audience.as_str(), s.oidc.service_account_email.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("nested", "https://a.run.app", "https://aud", "n-compute@developer.gserviceaccount.com"),
                ("deep", "https://b.run.app/y", "", "n-compute@developer.gserviceaccount.com"),
            ]
        );
        // JSON is a definition too.
        let json = r#"{"main": {"steps": [{"s": {"call": "http.get", "args": {"url": "https://a.run.app", "auth": {"type": "OIDC"}}}}]}}"#;
        let w = Workflow {
            name: "w".into(),
            service_account: "x@p".into(),
            source_contents: json.into(),
            ..Default::default()
        };
        assert_eq!(workflow_steps(&w, None)[0].oidc.service_account_email, "x@p");
        let broken = Workflow { source_contents: "main: [".into(), ..Default::default() };
        assert!(workflow_steps(&broken, None).is_empty());
    }

    proptest! {
        #[test]
        fn workflow_sources_never_panic(source in ".{0,400}") {
            let w = Workflow { name: "w".into(), source_contents: source, ..Default::default() };
            let _ = workflow_steps(&w, None);
        }

        #[test]
        fn deep_workflow_sources_never_panic(depth in 0usize..300) {
            let source = format!("{}{{call: http.get, args: {{url: u, auth: {{type: OIDC}}}}}}{}", "[".repeat(depth), "]".repeat(depth));
            let w = Workflow { name: "w".into(), source_contents: source, ..Default::default() };
            let _ = workflow_steps(&w, None);
        }
    }
}
