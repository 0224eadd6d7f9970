//! A window of Cloud Run denials and who made them: the one read of a
//! project's front-end 401s and 403s (one `entries.list` per project, as
//! Logging's read quota is 60 a minute), and the one rule that attributes an
//! entry to a caller. Cloud Run's request logs carry no principal, and a
//! client sets its own user agent, so an entry belongs to a configured
//! caller (push subscription, Scheduler job, task queue, workflow step)
//! only when that caller's target URL and path are the entry's and its user
//! agent is the product's; the member is then the caller's configured
//! account. `troubleshoot --watch` streams these groups; grant-invoker
//! replays them against a plan (`replay`).

use chrono::{DateTime, Utc};

use crate::api::Clients;
use crate::api::callers::{Configured, OidcCall, Via, workflow_steps};
use crate::model::ServiceRef;
use crate::requestlog::{Class, Entry, classify};

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
pub fn denied(entry: &Entry) -> bool {
    matches!(classify(entry), Class::FrontEnd(401 | 403))
}

/// The request-log filter of one read: the project's 401s and 403s since
/// `from`, of `services` only when some are named (all of the project's
/// otherwise).
pub fn filter(project: &str, services: &[ServiceRef], from: DateTime<Utc>) -> String {
    let time = from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let one = |s: &ServiceRef| {
        format!("resource.labels.service_name=\"{}\" AND resource.labels.location=\"{}\"", s.name, s.region)
    };
    let svc = match services {
        [] => String::new(),
        [s] => format!(" AND {}", one(s)),
        many => format!(" AND ({})", many.iter().map(|s| format!("({})", one(s))).collect::<Vec<_>>().join(" OR ")),
    };
    format!(
        "timestamp>=\"{time}\" AND resource.type=\"cloud_run_revision\" AND logName=\"projects/{project}/logs/run.googleapis.com%2Frequests\"{svc} AND httpRequest.status=(401 OR 403)"
    )
}

/// The project's configured callers (unreadable kinds read as none: a
/// caller that cannot be read attributes nothing, and nothing is counted
/// as fixed through it).
pub async fn configured(clients: &Clients, project: &str) -> Configured {
    let callers = &clients.callers;
    let (subscriptions, jobs, queues, workflows, number) = tokio::join!(
        callers.subscriptions(project),
        callers.scheduler_jobs_everywhere(project),
        callers.queues_everywhere(project),
        callers.workflows_everywhere(project),
        clients.resource_manager.get_project(project),
    );
    let default_account = number.ok().map(|p| format!("{}-compute@developer.gserviceaccount.com", p.number()));
    let tasks = callers.queued_tasks_of(&queues.items).await;
    Configured {
        subscriptions: subscriptions.unwrap_or_default(),
        jobs: jobs.items,
        tasks: tasks.into_iter().flat_map(|(_, read)| read.unwrap_or_default()).collect(),
        queues: queues.items,
        steps: workflows.items.iter().flat_map(|w| workflow_steps(w, default_account.as_deref())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::callers::OidcToken;
    use crate::requestlog::FRONT_403;
    use serde_json::{Value, json};

    fn entry(url: &str, agent: &str) -> Value {
        json!({
            "insertId": "a1",
            "logName": "projects/p/logs/run.googleapis.com%2Frequests",
            "textPayload": FRONT_403,
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
    fn one_filter_per_project_reads_only_denials_since_the_window() {
        let from = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
        let f = filter("acme-prod", &[], from);
        assert_eq!(
            f,
            "timestamp>=\"2026-01-02T03:04:05Z\" AND resource.type=\"cloud_run_revision\" AND logName=\"projects/acme-prod/logs/run.googleapis.com%2Frequests\" AND httpRequest.status=(401 OR 403)"
        );
        let one = ServiceRef::new("acme-prod", "europe-west1", "hello");
        let two = ServiceRef::new("acme-prod", "us-east1", "orders");
        assert!(filter("acme-prod", std::slice::from_ref(&one), from).contains(
            " AND resource.labels.service_name=\"hello\" AND resource.labels.location=\"europe-west1\" AND httpRequest"
        ));
        assert!(filter("acme-prod", &[one, two], from).contains(
            " AND ((resource.labels.service_name=\"hello\" AND resource.labels.location=\"europe-west1\") OR (resource.labels.service_name=\"orders\" AND resource.labels.location=\"us-east1\")) AND httpRequest"
        ));
    }
}
