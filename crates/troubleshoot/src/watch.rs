//! `--watch`: the self-healing loop's eyes (docs/self-healing.md).
//!
//! Each interval: gather (one `entries.list` per project, whatever the
//! number of services, and the project's configured callers) → decide
//! (core's `window::attribute`, pure: a front-end 401/403 not reported before, by
//! insertId, belongs to a configured caller only when that caller's
//! target URL and path (an Eventarc trigger's: its destination's) are the
//! entry's and its user agent is the product's; Cloud Run's request logs carry no principal, and a client sets its own
//! user agent, so the member is always the caller's configured account)
//! → diagnose each (service, caller) group once → stream Diagnoses. A 429
//! doubles the wait; SIGINT/SIGTERM stop between two polls.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use chrono::{DateTime, TimeDelta, Utc};
use runiam_core::api::Clients;
use runiam_core::api::run::Service;
use runiam_core::doc::{Document, write_stdout};
use runiam_core::model::{Principal, ServiceRef};
use runiam_core::output::Format;
use runiam_core::window::{Callers, attribute, configured, denied, filter};
use runiam_core::{CommandError, Exit, interrupt};
use serde_json::Value;

use crate::decide::{Origin, Request};
use crate::logs::Entry;
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
        let filter = filter(&w.project, w.service.as_slice(), from);
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
        let callers = if fresh.is_empty() { Callers::default() } else { configured(clients, &w.project).await };
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
            let urls = service.all_urls();
            let target = ServiceRef::new(&w.project, region, name);
            let deliveries = callers.deliveries(&target, &urls);
            let calls = callers.calls(&deliveries, &urls);
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
}
