//! A window of Cloud Run denials and who made them: the one read of a
//! project's front-end 401s and 403s (one `entries.list` per project, as
//! Logging's read quota is 60 a minute), and the one rule that attributes an
//! entry to a caller. Cloud Run's request logs carry no principal, and a
//! client sets its own user agent, so an entry belongs to a configured
//! caller (push subscription, Scheduler job, task queue, workflow step)
//! only when that caller's target URL and path are the entry's and its user
//! agent is the product's; the member is then the caller's configured
//! account. `troubleshoot --watch` streams these groups; grant-invoker
//! replays them against a plan: gather (`read`, then `replay` gathers each
//! caller's facts) → decide (`judge`, pure: the caller's token audience,
//! then the evaluator on the live and the planned policy) → report
//! (`Replay::lines`).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use crate::api::Clients;
use crate::api::callers::{Configured, Delivery, OidcCall, Trigger, Via, deliveries, eventarc_calls};
use crate::api::run::{Service, token_audience_accepted};
use crate::doc::{CallerEvidence, Outcome, Replay, Verdict};
use crate::eval::{self, Evaluation};
use crate::gate::reach::with_service_policy;
use crate::http::ApiError;
use crate::model::{INVOKE_PERMISSION, Policy, Principal, ServiceRef, default_compute_account};
use crate::requestlog::{Class, Entry, classify};

/// Entries read per project at most.
pub const READ_LIMIT: usize = 5_000;

/// Why `--since` was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SinceError {
    #[error(transparent)]
    Syntax(#[from] crate::duration::DurationError),
    #[error("`{0}` is longer than Logging's 30-day default retention")]
    TooLong(String),
}

/// Parses `--since` in the one duration syntax (`90s`, `30m`, `1h`, `2d`),
/// at most Logging's 30-day default retention.
pub fn parse_since(s: &str) -> Result<TimeDelta, SinceError> {
    let d = crate::duration::parse(s)?;
    TimeDelta::from_std(d).ok().filter(|d| *d <= TimeDelta::days(30)).ok_or_else(|| SinceError::TooLong(s.to_owned()))
}

/// The product whose requests carry this user agent, as Cloud Run logs it.
fn agent_fits(via: Via, user_agent: &str) -> bool {
    match via {
        Via::PubSubPush => user_agent.contains("APIs-Google"),
        Via::Scheduler => user_agent.starts_with("Google-Cloud-Scheduler"),
        Via::CloudTasks => user_agent.starts_with("Google-Cloud-Tasks"),
        Via::Workflows => user_agent.starts_with("GoogleCloudWorkflows"),
        // Eventarc delivers to Cloud Run through a Pub/Sub push subscription
        // it manages, so its requests carry Pub/Sub's agent. Google documents
        // no agent of Eventarc's own: the most plausible reading, not a checked one.
        Via::Eventarc => user_agent.contains("APIs-Google"),
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

/// A project's configured callers: those with a target URL of their own,
/// and the Eventarc triggers, whose URL comes from their destination.
#[derive(Clone, Debug, Default)]
pub struct Callers {
    pub configured: Configured,
    pub triggers: Vec<Trigger>,
    /// The project's default compute account, Eventarc's and Workflows' default identity.
    pub default_account: Option<String>,
}

impl Callers {
    /// The Eventarc deliveries to `target` at one of its `urls`.
    pub fn deliveries(&self, target: &ServiceRef, urls: &[String]) -> Vec<Delivery> {
        deliveries(&self.triggers, target, urls, self.default_account.as_deref())
    }

    /// Every configured call to one of `urls`, the deliveries included.
    pub fn calls<'a>(&'a self, deliveries: &'a [Delivery], urls: &'a [String]) -> Vec<OidcCall<'a>> {
        let mut calls = self.configured.oidc_calls(urls);
        calls.extend(eventarc_calls(deliveries));
        calls
    }
}

/// The project's configured callers (unreadable kinds read as none: a
/// caller that cannot be read attributes nothing, and nothing is counted
/// as fixed through it).
pub async fn configured(clients: &Clients, project: &str) -> Callers {
    let callers = &clients.callers;
    let (reads, triggers, number) = tokio::join!(
        callers.read_project(project),
        callers.eventarc_triggers_everywhere(project),
        clients.resource_manager.get_project(project),
    );
    let default_account = number.ok().map(|p| default_compute_account(p.number()));
    let configured = reads.configured(default_account.as_deref());
    Callers { configured, triggers: triggers.items, default_account }
}

/// One project's window: its front-end denials since `from`, and (only
/// when there are some) its configured callers.
#[derive(Debug, Default)]
pub struct ProjectWindow {
    pub from: DateTime<Utc>,
    pub entries: Vec<Value>,
    pub callers: Callers,
}

/// Reads one project's window with one `entries.list`, whatever the number
/// of services planned in it.
pub async fn read(clients: &Clients, project: &str, from: DateTime<Utc>) -> Result<ProjectWindow, ApiError> {
    let resource = format!("projects/{project}");
    let entries = clients.logging.list_entries(&resource, &filter(project, &[], from), READ_LIMIT).await?;
    let entries: Vec<Value> = entries.into_iter().filter(|v| denied(&Entry::read(v))).collect();
    let callers = if entries.is_empty() { Callers::default() } else { configured(clients, project).await };
    Ok(ProjectWindow { from, entries, callers })
}

/// The denials of one configured caller of the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub email: String,
    /// Where it is configured, as a user names it.
    pub caller: String,
    /// The audience of its tokens.
    pub audience: String,
    pub denials: usize,
}

/// The service's denials in the window, by configured caller (in the
/// order first seen; Logging answers newest first), with the count of all
/// and of the unattributed.
pub fn groups(window: &ProjectWindow, target: &ServiceRef, urls: &[String]) -> (Vec<Group>, usize, usize) {
    let deliveries = window.callers.deliveries(target, urls);
    let calls = window.callers.calls(&deliveries, urls);
    let mut out: Vec<Group> = Vec::new();
    let (mut all, mut unattributed) = (0, 0);
    for v in window.entries.iter().rev() {
        let e = Entry::read(v);
        let (name, region) = e.service();
        if name != Some(target.name.as_str()) || region.is_some_and(|r| r != target.region) {
            continue;
        }
        all += 1;
        let Some(c) = attribute(&e, &calls) else {
            unattributed += 1;
            continue;
        };
        let (email, caller) = (&c.oidc.service_account_email, c.what());
        match out.iter_mut().find(|g| &g.email == email && g.caller == caller) {
            Some(g) => g.denials += 1,
            None => out.push(Group {
                email: email.clone(),
                caller,
                audience: c.oidc.audience_for(&c.url).to_owned(),
                denials: 1,
            }),
        }
    }
    (out, all, unattributed)
}

/// What the plan does for one caller: its token first (a token of the
/// wrong audience is refused whatever the policy says), then the evaluator
/// on the planned policy, then on the live one.
pub fn judge(group: &Group, audience_ok: bool, live: &Evaluation, planned: &Evaluation) -> (Outcome, Option<String>) {
    if !audience_ok {
        return (
            Outcome::StillDenied,
            Some(format!("token audience: its tokens are for {}, which the service does not accept", group.audience)),
        );
    }
    match planned.verdict {
        Verdict::Allowed if live.verdict == Verdict::Allowed => (Outcome::AllowedNow, None),
        Verdict::Allowed => (Outcome::Fixed, None),
        Verdict::Denied => {
            let why = match planned.denials.first() {
                Some(d) => format!("deny policy: {}", d.why),
                None => "not granted: no binding of the planned policy or above lets it invoke".to_owned(),
            };
            (Outcome::StillDenied, Some(why))
        }
        Verdict::Unknown => {
            let why = planned.unknowns.first().map_or("the evaluator could not settle it", |u| u.why.as_str());
            (Outcome::StillDenied, Some(format!("unknown: {why}")))
        }
    }
}

/// Replays the service's denials of `window` against `planned`: each
/// configured caller's facts gathered once (the service and live policy
/// as already read), evaluated with the live and the planned policy.
pub async fn replay(
    clients: &Clients,
    target: &ServiceRef,
    service: &Service,
    live: &Policy,
    planned: &Policy,
    window: &ProjectWindow,
) -> Replay {
    let urls = service.all_urls();
    let (groups, denials, unattributed) = groups(window, target, &urls);
    let mut emails: Vec<&str> = groups.iter().map(|g| g.email.as_str()).collect();
    emails.sort_unstable();
    emails.dedup();
    // Each caller's facts (its groups, the deny rules naming it), gathered concurrently.
    let gathered = futures::future::join_all(emails.iter().map(|email| async move {
        let read = match Principal::parse(&format!("serviceAccount:{email}")) {
            Ok(p) => crate::gather::gather(clients, target, Some(&p), Some((service.clone(), live.clone())))
                .await
                .map(|got| got.facts)
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("the configured account is no principal: {}", e.why)),
        };
        ((*email).to_owned(), read)
    }))
    .await;
    let facts: BTreeMap<String, Result<eval::Facts, String>> = gathered.into_iter().collect();
    let mut out = Replay { since: window.from, denials, unattributed, ..Replay::default() };
    for g in groups {
        let audience_ok = token_audience_accepted(&g.audience, Some(&g.email), &urls, &service.custom_audiences);
        let (outcome, why) = match &facts[&g.email] {
            Ok(f) => {
                let live_eval = eval::evaluate(&with_service_policy(f, live), INVOKE_PERMISSION);
                let planned_eval = eval::evaluate(&with_service_policy(f, planned), INVOKE_PERMISSION);
                judge(&g, audience_ok, &live_eval, &planned_eval)
            }
            Err(e) => (Outcome::StillDenied, Some(format!("unknown: its facts could not be read: {e}"))),
        };
        match outcome {
            Outcome::Fixed => out.fixed += g.denials,
            Outcome::StillDenied => out.still_denied += g.denials,
            Outcome::AllowedNow => out.allowed_now += g.denials,
        }
        out.callers.push(CallerEvidence {
            member: format!("serviceAccount:{}", g.email),
            caller: g.caller,
            denials: g.denials,
            outcome,
            why,
        });
    }
    out
}

/// The evidence of an unreadable window: nothing observed, nothing fixed.
pub fn unread(from: DateTime<Utc>, e: &ApiError) -> Replay {
    let why = crate::gather::failure(e, "logging.logEntries.list");
    Replay { since: from, unread: Some(why), ..Replay::default() }
}

/// The first word of a why: its kind (`token audience`, `deny policy`, …).
fn kind(why: &str) -> &str {
    why.split_once(':').map_or(why, |(k, _)| k)
}

impl Replay {
    /// The replay in words, for plans (stderr): the summary, one line per
    /// caller, and a warning when the plan fixes none of what was observed.
    pub fn lines(&self, service: &ServiceRef) -> Vec<String> {
        let since = self.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let name = service.full_name();
        if let Some(why) = &self.unread {
            return vec![format!(
                "warning: the denials of {name} since {since} could not be read ({why}): nothing observed is known to be fixed"
            )];
        }
        if self.denials == 0 {
            return vec![format!(
                "evidence: no denial of {name} logged since {since}: nothing observed that this plan fixes"
            )];
        }
        let members = |o: Outcome| -> Vec<&str> {
            self.callers.iter().filter(|c| c.outcome == o).map(|c| c.member.as_str()).collect()
        };
        let fixed = members(Outcome::Fixed);
        let mut whys: Vec<&str> = self.callers.iter().filter_map(|c| c.why.as_deref()).map(kind).collect();
        let mut seen = std::collections::BTreeSet::new();
        whys.retain(|w| seen.insert(*w));
        let mut head = format!("evidence: fixes {} of {} denials of {name} since {since}", self.fixed, self.denials);
        if !fixed.is_empty() {
            head.push_str(&format!(" (callers {})", fixed.join(", ")));
        }
        head.push_str(&format!("; still denied: {}", self.still_denied));
        if !whys.is_empty() {
            head.push_str(&format!(" (why: {})", whys.join(", ")));
        }
        if self.allowed_now > 0 {
            head.push_str(&format!("; allowed already: {}", self.allowed_now));
        }
        head.push_str(&format!("; unattributed: {}", self.unattributed));
        let mut out = vec![head];
        for c in &self.callers {
            let state = match c.outcome {
                Outcome::Fixed => "fixed",
                Outcome::StillDenied => "still denied",
                Outcome::AllowedNow => "allowed already",
            };
            let why = c.why.as_deref().map(|w| format!(": {w}")).unwrap_or_default();
            out.push(format!("  {state}: {} ({}, {} denial(s)){why}", c.member, c.caller, c.denials));
        }
        if self.fixed == 0 {
            out.push(format!(
                "warning: THIS PLAN FIXES NONE of the {} denials of {name} observed since {since}",
                self.denials
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::callers::{CloudRunDestination, Destination, OidcToken};
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

    fn logged(service: &str, url: &str, agent: &str) -> Value {
        let mut v = entry(url, agent);
        v["resource"] = json!({"type": "cloud_run_revision", "labels": {"service_name": service, "location": "r"}});
        v
    }

    #[test]
    fn only_the_services_denials_count_and_only_configured_callers_are_attributed() {
        let push: crate::api::callers::Subscription = serde_json::from_value(json!({
            "name": "projects/p/subscriptions/s",
            "pushConfig": {"pushEndpoint": "https://api-1.r.run.app/push",
                           "oidcToken": {"serviceAccountEmail": "push@p.iam.gserviceaccount.com"}},
        }))
        .unwrap();
        let agent = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)";
        let window = ProjectWindow {
            from: Utc::now(),
            // Newest first, as Logging answers.
            entries: vec![
                logged("api", "https://api-1.r.run.app/push", agent),
                logged("other", "https://other-1.r.run.app/push", agent),
                logged("api", "https://api-1.r.run.app/wp-login.php", "Mozilla/5.0"),
                logged("api", "https://api-1.r.run.app/push", agent),
            ],
            callers: Callers {
                configured: Configured { subscriptions: vec![push], ..Configured::default() },
                ..Callers::default()
            },
        };
        let target = ServiceRef::new("p", "r", "api");
        let (groups, all, unattributed) = groups(&window, &target, &["https://api-1.r.run.app".to_owned()]);
        assert_eq!((all, unattributed), (3, 1));
        assert_eq!(
            groups,
            [Group {
                email: "push@p.iam.gserviceaccount.com".into(),
                caller: "Pub/Sub subscription projects/p/subscriptions/s".into(),
                audience: "https://api-1.r.run.app/push".into(),
                denials: 2,
            }]
        );
    }

    fn ev(verdict: Verdict, denied_by: Option<&str>) -> Evaluation {
        let reason = |why: &str| crate::eval::Reason {
            kind: crate::eval::ReasonKind::Deny,
            resource: "projects/p".into(),
            policy: None,
            role: None,
            member: None,
            condition: None,
            uncertain: Vec::new(),
            why: why.into(),
        };
        Evaluation {
            verdict,
            grants: Vec::new(),
            denials: denied_by.map(reason).into_iter().collect(),
            unknowns: Vec::new(),
            near: Vec::new(),
            grant_fixes: false,
        }
    }

    #[test]
    fn the_token_comes_first_then_the_planned_policy_then_the_live_one() {
        use Verdict::{Allowed, Denied};
        let g = Group { email: "a@p".into(), caller: "c".into(), audience: "https://x.example".into(), denials: 1 };
        let kind = |(o, why): (Outcome, Option<String>)| (o, why.map(|w| kind(&w).to_owned()));
        let cases = [
            (false, ev(Denied, None), ev(Allowed, None), (Outcome::StillDenied, Some("token audience"))),
            (true, ev(Denied, None), ev(Allowed, None), (Outcome::Fixed, None)),
            (true, ev(Allowed, None), ev(Allowed, None), (Outcome::AllowedNow, None)),
            (true, ev(Denied, Some("x")), ev(Denied, Some("x")), (Outcome::StillDenied, Some("deny policy"))),
            (true, ev(Denied, None), ev(Denied, None), (Outcome::StillDenied, Some("not granted"))),
        ];
        for (audience_ok, live, planned, (o, why)) in cases {
            assert_eq!(kind(judge(&g, audience_ok, &live, &planned)), (o, why.map(str::to_owned)));
        }
    }

    proptest::proptest! {
        #[test]
        fn any_window_is_counted_whole(entries in proptest::collection::vec((".{0,12}", ".{0,40}", ".{0,30}"), 0..12)) {
            let push: crate::api::callers::Subscription = serde_json::from_value(json!({
                "name": "s",
                "pushConfig": {"pushEndpoint": "https://api-1.r.run.app/push",
                               "oidcToken": {"serviceAccountEmail": "push@p.iam.gserviceaccount.com"}},
            }))
            .unwrap();
            let window = ProjectWindow {
                from: Utc::now(),
                entries: entries.iter().map(|(svc, url, agent)| logged(svc, url, agent)).collect(),
                callers: Callers { configured: Configured { subscriptions: vec![push], ..Configured::default() }, ..Callers::default() },
            };
            let target = ServiceRef::new("p", "r", "api");
            let (groups, all, unattributed) = groups(&window, &target, &["https://api-1.r.run.app".to_owned()]);
            proptest::prop_assert_eq!(all, unattributed + groups.iter().map(|g| g.denials).sum::<usize>());
            let _ = parse_since(&entries.first().map(|e| e.0.clone()).unwrap_or_default());
        }
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
        let callers = Callers {
            triggers: triggers.to_vec(),
            default_account: Some("1-compute@developer.gserviceaccount.com".into()),
            ..Callers::default()
        };
        let made = callers.deliveries(&target, &urls);
        assert_eq!(made.len(), 4, "two triggers of api, each to both URLs");
        let calls = callers.calls(&made, &urls);
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
}
