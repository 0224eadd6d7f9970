//! `--watch`: the self-healing loop's eyes (docs/self-healing.md).
//!
//! Each interval: gather (one `entries.list` per project, whatever the
//! number of services, and the project's configured callers) → decide
//! (`attribute`, pure: a front-end 401/403 not reported before, by
//! insertId, belongs to a configured caller only when that caller's
//! target URL and path are the entry's and its user agent is the product's;
//! Cloud Run's request logs carry no principal, and a client sets its own
//! user agent, so the member is always the caller's configured account;
//! an Eventarc trigger counts as the Pub/Sub push it delivers through)
//! → diagnose each (service, caller) group once → stream Diagnoses. A 429
//! doubles the wait; SIGINT/SIGTERM stop between two polls.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use chrono::{DateTime, TimeDelta, Utc};
use runiam_core::api::Clients;
use runiam_core::api::callers::{Configured, OidcCall, OidcToken, Trigger, Via, workflow_steps};
use runiam_core::api::run::Service;
use runiam_core::doc::{Document, write_stdout};
use runiam_core::model::{Principal, ServiceRef};
use runiam_core::output::Format;
use runiam_core::{CommandError, Exit, interrupt};
use serde_json::Value;

use crate::decide::{Origin, Request};
use crate::logs::{Class, Entry, classify};
use crate::observe::{self, LogRead, Observed};
use crate::settle::settle;

/// Entries read per poll at most.
const POLL_LIMIT: usize = 5_000;
/// The longest wait after repeated 429s.
const MAX_BACKOFF: TimeDelta = TimeDelta::minutes(10);

/// How the watch runs.
pub struct Watch {
    pub project: String,
    /// Only this service's denials, when one was named.
    pub service: Option<ServiceRef>,
    pub interval: TimeDelta,
    pub since: TimeDelta,
    /// Stop after this many polls (a scheduled job polls once).
    pub polls: Option<u32>,
    pub format: Format,
}

/// The product whose requests carry this user agent, as Cloud Run logs it.
fn agent_fits(via: Via, user_agent: &str) -> bool {
    match via {
        Via::PubSubPush => user_agent.contains("APIs-Google"),
        Via::Scheduler => user_agent.starts_with("Google-Cloud-Scheduler"),
        Via::CloudTasks => user_agent.starts_with("Google-Cloud-Tasks"),
        Via::Workflows => user_agent.starts_with("GoogleCloudWorkflows"),
    }
}

/// `https://h/p/?q` → `h/p`: what a configured URL and a request share.
fn host_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    rest.trim_end_matches('/')
}

/// The configured call that made `entry`: its URL's host and path are the
/// request's, and the user agent is its product's. None for anything else
/// (a scanner, a person, a caller configured nowhere).
pub fn attribute<'a>(entry: &Entry, calls: &'a [OidcCall<'a>]) -> Option<&'a OidcCall<'a>> {
    let url = entry.http_request.as_ref()?.request_url.as_deref()?;
    let agent = entry.user_agent().unwrap_or_default();
    calls.iter().find(|c| host_path(&c.url) == host_path(url) && agent_fits(c.via, agent))
}

/// A denial the front end logged (not the container's own 401/403).
fn denied(entry: &Entry) -> bool {
    matches!(classify(entry), Class::FrontEnd(401 | 403))
}

/// The request-log filter of one poll: the project's 401s and 403s since `from`.
fn filter(project: &str, service: Option<&ServiceRef>, from: DateTime<Utc>) -> String {
    let time = from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let svc = service
        .map(|s| {
            format!(" AND resource.labels.service_name=\"{}\" AND resource.labels.location=\"{}\"", s.name, s.region)
        })
        .unwrap_or_default();
    format!(
        "timestamp>=\"{time}\" AND resource.type=\"cloud_run_revision\" AND logName=\"projects/{project}/logs/run.googleapis.com%2Frequests\"{svc} AND httpRequest.status=(401 OR 403)"
    )
}

/// The project's configured callers.
struct Callers {
    configured: Configured,
    triggers: Vec<Trigger>,
    /// The project's default compute account, Eventarc's and Workflows' default identity.
    default_account: Option<String>,
}

/// Reads the project's configured callers, every poll (they change).
async fn configured(clients: &Clients, project: &str) -> Callers {
    let callers = &clients.callers;
    let (subscriptions, jobs, queues, workflows, triggers, number) = tokio::join!(
        callers.subscriptions(project),
        callers.scheduler_jobs_everywhere(project),
        callers.queues_everywhere(project),
        callers.workflows_everywhere(project),
        callers.eventarc_triggers_everywhere(project),
        clients.resource_manager.get_project(project),
    );
    let default_account = number.ok().map(|p| format!("{}-compute@developer.gserviceaccount.com", p.number()));
    let tasks = callers.queued_tasks_of(&queues.items).await;
    let configured = Configured {
        subscriptions: subscriptions.unwrap_or_default(),
        jobs: jobs.items,
        tasks: tasks.into_iter().flat_map(|(_, read)| read.unwrap_or_default()).collect(),
        queues: queues.items,
        steps: workflows.items.iter().flat_map(|w| workflow_steps(w, default_account.as_deref())).collect(),
    };
    Callers { configured, triggers: triggers.items, default_account }
}

/// An Eventarc trigger's delivery to a service: the URL its events are
/// pushed to and the token it pushes with.
struct Delivery {
    trigger: String,
    url: String,
    oidc: OidcToken,
}

/// The deliveries of the triggers whose Cloud Run destination is `target`:
/// to each of its URLs, at the destination's path, with the trigger's
/// account (else the project's default compute account).
fn deliveries(triggers: &[Trigger], target: &ServiceRef, urls: &[String], default: Option<&str>) -> Vec<Delivery> {
    let mut out = Vec::new();
    for t in triggers {
        let Some((run, account)) = crate::callers::eventarc_delivery(t, target, default) else { continue };
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

/// Eventarc delivers to Cloud Run through a Pub/Sub push subscription it
/// manages (the trigger's `transport.pubsub`), so the request is a Pub/Sub
/// push and carries Pub/Sub's user agent. Google documents no agent of
/// Eventarc's own; this is the most plausible reading, not a checked one.
fn eventarc_calls(deliveries: &[Delivery]) -> impl Iterator<Item = OidcCall<'_>> {
    deliveries.iter().map(|d| OidcCall {
        via: Via::PubSubPush,
        name: &d.trigger,
        step: None,
        url: d.url.clone(),
        oidc: &d.oidc,
    })
}

/// The wait before the next poll: doubled after a 429 (up to
/// `MAX_BACKOFF`, never below the interval), back to the interval after a
/// read that went through.
fn next_wait(current: TimeDelta, interval: TimeDelta, throttled: bool) -> TimeDelta {
    if throttled { (current * 2).clamp(interval, MAX_BACKOFF.max(interval)) } else { interval }
}

/// Sleeps `d`, or less when a signal arrives.
async fn pause(d: TimeDelta) {
    let end = tokio::time::Instant::now() + d.to_std().unwrap_or_default();
    while tokio::time::Instant::now() < end && interrupt::received().is_none() {
        tokio::time::sleep_until(end.min(tokio::time::Instant::now() + std::time::Duration::from_millis(200))).await;
    }
}

/// Polls until a signal (or `polls` polls), streaming Diagnoses.
pub async fn run(clients: &Clients, w: &Watch) -> Result<Exit, CommandError> {
    interrupt::watch();
    let mut seen: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut services: HashMap<(String, String), Option<Service>> = HashMap::new();
    let mut wait = w.interval;
    let mut polls = 0;
    let mut err = std::io::stderr();
    loop {
        let now = Utc::now();
        let from = now - w.since;
        seen.retain(|_, t| *t >= from);
        let filter = filter(&w.project, w.service.as_ref(), from);
        let read = clients.logging.list_entries(&format!("projects/{}", w.project), &filter, POLL_LIMIT).await;
        let entries = match read {
            Ok(e) => {
                wait = next_wait(wait, w.interval, false);
                e
            }
            Err(e) if e.status().is_some_and(|s| s.http == 429) => {
                wait = next_wait(wait, w.interval, true);
                let _ =
                    writeln!(err, "runiam-troubleshoot: Logging answered 429; next poll in {}s", wait.num_seconds());
                pause(wait).await;
                if interrupt::received().is_some() {
                    break;
                }
                continue;
            }
            Err(e) => {
                return Err(CommandError::from(e).context(format!("cannot read the request logs of {}", w.project)));
            }
        };
        let fresh: Vec<&Value> = entries
            .iter()
            .filter(|v| {
                let e = Entry::read(v);
                let id = v.get("insertId").and_then(Value::as_str);
                denied(&e) && id.is_some_and(|id| !seen.contains_key(id))
            })
            .collect();
        for v in &fresh {
            let e = Entry::read(v);
            if let Some(id) = v.get("insertId").and_then(Value::as_str) {
                seen.insert(id.to_owned(), e.time().unwrap_or(now));
            }
        }
        let callers = if fresh.is_empty() { None } else { Some(configured(clients, &w.project).await) };
        let mut groups: BTreeMap<(ServiceRef, String), Vec<Value>> = BTreeMap::new();
        for v in fresh {
            let e = Entry::read(v);
            let (Some(name), Some(region)) = e.service() else { continue };
            let key = (region.to_owned(), name.to_owned());
            if !services.contains_key(&key) {
                let target = ServiceRef::new(&w.project, region, name);
                services.insert(key.clone(), clients.run_v2.get_service(&target).await.ok());
            }
            let Some(service) = services.get(&key).and_then(Option::as_ref) else { continue };
            let Some(callers) = &callers else { continue };
            let urls = service.all_urls();
            let target = ServiceRef::new(&w.project, region, name);
            let triggers = deliveries(&callers.triggers, &target, &urls, callers.default_account.as_deref());
            let mut calls = callers.configured.oidc_calls(&urls);
            calls.extend(eventarc_calls(&triggers));
            if let Some(c) = attribute(&e, &calls) {
                groups.entry((target, c.oidc.service_account_email.clone())).or_default().push((*v).clone());
            }
        }
        for ((target, email), entries) in groups {
            let caller = Principal::parse(&format!("serviceAccount:{email}")).map_err(|e| {
                CommandError::api(format!("a configured caller of {} is not an account: {e}", target.full_name()))
            })?;
            let request = Request { caller, from: Origin::Internal, path: None };
            let (mut draft, service) = crate::one(clients, &target, &request, None, false).await?;
            let observed = Observed {
                token: None,
                logs: LogRead::Read { entries: &entries, since: from, filter: &filter },
                saw: None,
                now,
                named_caller: true,
            };
            observe::apply(&mut draft, &service, &observed);
            let diagnosis = settle(draft);
            emit(diagnosis, w.format)?;
        }
        polls += 1;
        if w.polls.is_some_and(|n| polls >= n) || interrupt::received().is_some() {
            break;
        }
        pause(wait).await;
        if interrupt::received().is_some() {
            break;
        }
    }
    // A stream's exit says whether it ran, not what it found: the
    // Diagnoses carry their verdicts, and under `set -o pipefail` the loop
    // fails only when the watch could not read.
    Ok(interrupt::received().unwrap_or(Exit::Ok))
}

/// One Diagnosis, written and flushed at once (the loop's pipe reads it).
fn emit(d: runiam_core::doc::Diagnosis, format: Format) -> Result<(), CommandError> {
    let doc = Document::Diagnosis(Box::new(d));
    match format.doc_format() {
        Some(f) => write_stdout([doc], f)?,
        None => write_stdout([doc], runiam_core::doc::DocFormat::Yaml)?,
    }
    std::io::stdout().flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use runiam_core::api::callers::{CloudRunDestination, Destination};
    use serde_json::json;

    fn entry(url: &str, agent: &str) -> Value {
        json!({
            "insertId": "a1",
            "logName": "projects/p/logs/run.googleapis.com%2Frequests",
            "textPayload": crate::logs::FRONT_403,
            "httpRequest": {"status": 403, "requestUrl": url, "userAgent": agent, "latency": "0s"},
        })
    }

    #[test]
    fn a_denial_belongs_to_the_configured_caller_whose_url_path_and_agent_it_has() {
        let push = OidcToken { service_account_email: "push@p.iam.gserviceaccount.com".into(), ..Default::default() };
        let sched = OidcToken { service_account_email: "sched@p.iam.gserviceaccount.com".into(), ..Default::default() };
        let calls = vec![
            OidcCall {
                via: Via::PubSubPush,
                name: "s",
                step: None,
                url: "https://api-1.r.run.app/push".into(),
                oidc: &push,
            },
            OidcCall {
                via: Via::Scheduler,
                name: "j",
                step: None,
                url: "https://api-1.r.run.app".into(),
                oidc: &sched,
            },
        ];
        let who = |url: &str, agent: &str| {
            let v = entry(url, agent);
            attribute(&Entry::read(&v), &calls).map(|c| c.oidc.service_account_email.clone())
        };
        let cases = [
            (
                "https://api-1.r.run.app/push?x=1",
                "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
                Some("push@p.iam.gserviceaccount.com"),
            ),
            ("https://api-1.r.run.app/", "Google-Cloud-Scheduler", Some("sched@p.iam.gserviceaccount.com")),
            ("https://api-1.r.run.app/push", "Google-Cloud-Scheduler", None),
            ("https://api-1.r.run.app/wp-login.php", "Mozilla/5.0", None),
            ("https://api-1.r.run.app/.env", "APIs-Google", None),
            ("https://api-1.r.run.app/", "curl/8.5.0", None),
        ];
        for (url, agent, want) in cases {
            assert_eq!(who(url, agent).as_deref(), want, "{url} {agent}");
        }
        assert!(denied(&Entry::read(&entry("https://x", "y"))));
        let app = json!({"logName": "projects/p/logs/run.googleapis.com%2Frequests", "httpRequest": {"status": 403, "latency": "0.02s"}});
        assert!(!denied(&Entry::read(&app)), "the container's own 403 is no IAM denial");
    }

    #[test]
    fn an_eventarc_denial_belongs_to_the_trigger_whose_destination_and_path_it_has() {
        let trigger = |name: &str, service: &str, path: Option<&str>, account: Option<&str>| Trigger {
            name: format!("projects/p/locations/r/triggers/{name}"),
            service_account: account.map(str::to_owned),
            destination: Some(Destination {
                cloud_run: Some(CloudRunDestination {
                    service: service.into(),
                    region: "r".into(),
                    path: path.map(str::to_owned),
                }),
            }),
            ..Default::default()
        };
        let triggers = [
            trigger("uploads", "api", Some("events"), Some("events@p.iam.gserviceaccount.com")),
            trigger("audit", "api", Some("/audit"), None),
            trigger("elsewhere", "other", None, Some("other@p.iam.gserviceaccount.com")),
        ];
        let target = ServiceRef::new("p", "r", "api");
        let urls = ["https://api-1.r.run.app".to_owned(), "https://api-abc-ew.a.run.app".to_owned()];
        let made = deliveries(&triggers, &target, &urls, Some("1-compute@developer.gserviceaccount.com"));
        assert_eq!(made.len(), 4, "two triggers of api, each to both URLs");
        let calls: Vec<OidcCall> = eventarc_calls(&made).collect();
        let push = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)";
        let who = |url: &str, agent: &str| {
            let v = entry(url, agent);
            attribute(&Entry::read(&v), &calls).map(|c| (c.oidc.service_account_email.clone(), c.name.to_owned()))
        };
        let cases = [
            ("https://api-1.r.run.app/events", push, Some("events@p.iam.gserviceaccount.com")),
            ("https://api-abc-ew.a.run.app/events?x=1", push, Some("events@p.iam.gserviceaccount.com")),
            ("https://api-1.r.run.app/audit", push, Some("1-compute@developer.gserviceaccount.com")),
            ("https://api-1.r.run.app/", push, None),
            ("https://api-1.r.run.app/events", "Google-Cloud-Scheduler", None),
            ("https://api-1.r.run.app/events", "curl/8.5.0", None),
        ];
        for (url, agent, want) in cases {
            assert_eq!(who(url, agent).map(|(m, _)| m).as_deref(), want, "{url} {agent}");
        }
        assert_eq!(who("https://api-1.r.run.app/events", push).unwrap().1, "projects/p/locations/r/triggers/uploads");
        assert!(deliveries(&triggers[1..2], &target, &urls, None).is_empty(), "no account, no caller");
    }

    #[test]
    fn a_429_doubles_the_wait_up_to_ten_minutes_and_a_good_read_resets_it() {
        let minute = TimeDelta::minutes(1);
        let mut wait = minute;
        let mut seen = Vec::new();
        for _ in 0..6 {
            wait = next_wait(wait, minute, true);
            seen.push(wait.num_minutes());
        }
        assert_eq!(seen, [2, 4, 8, 10, 10, 10]);
        assert_eq!(next_wait(wait, minute, false), minute);
        let hour = TimeDelta::hours(1);
        assert_eq!(next_wait(hour, hour, true), hour, "an interval longer than the cap is kept");
    }

    #[test]
    fn one_filter_per_project_reads_only_denials_since_the_window() {
        let from = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
        let f = filter("acme-prod", None, from);
        assert_eq!(
            f,
            "timestamp>=\"2026-01-02T03:04:05Z\" AND resource.type=\"cloud_run_revision\" AND logName=\"projects/acme-prod/logs/run.googleapis.com%2Frequests\" AND httpRequest.status=(401 OR 403)"
        );
        let one = ServiceRef::new("acme-prod", "europe-west1", "hello");
        assert!(filter("acme-prod", Some(&one), from).contains("resource.labels.service_name=\"hello\""));
    }
}
