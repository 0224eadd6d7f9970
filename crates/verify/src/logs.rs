//! `--logs`: Cloud Run's 401/403 request logs for the service since the
//! change, read with one Logging `entries.list`, each quoted as evidence.
//! Only the front end's refusals count (runiam-core's classifier tells them
//! from the container's own 401/403), and verify's own calls (its user
//! agent) are left out: the probes it makes while IAM propagates are
//! refused by design.

use chrono::{DateTime, SecondsFormat, Utc};
use runiam_core::api::Logging;
use runiam_core::doc::{Check, CheckResult, Evidence};
use runiam_core::model::ServiceRef;
use runiam_core::requestlog::{Class, Entry, classify};
use serde_json::Value;

use crate::answer::USER_AGENT;
use crate::checks::CheckName;

/// Entries read at most; the count says when there were more.
const LIMIT: usize = 1000;
/// Entries quoted as evidence.
const QUOTED: usize = 5;

/// The service's request-log entries with 401 or 403, at any time: what
/// `--create-alert`'s log-match condition watches on Google's side.
pub fn denials_filter(target: &ServiceRef) -> String {
    format!(
        "logName=\"projects/{p}/logs/run.googleapis.com%2Frequests\" AND resource.type=\"cloud_run_revision\" \
         AND resource.labels.service_name=\"{s}\" AND resource.labels.location=\"{r}\" \
         AND httpRequest.status=(401 OR 403)",
        p = target.project,
        s = target.name,
        r = target.region,
    )
}

/// The filter: the service's request-log entries with 401 or 403 since `since`.
pub fn filter(target: &ServiceRef, since: DateTime<Utc>) -> String {
    format!("{} AND timestamp>=\"{}\"", denials_filter(target), since.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// Whether verify itself made the request.
fn ours(entry: &Entry) -> bool {
    entry.user_agent().is_some_and(|ua| ua.starts_with(USER_AGENT))
}

/// The entries that are Cloud Run refusing someone else than verify.
pub fn refusals(entries: &[Value]) -> Vec<Entry<'_>> {
    entries.iter().map(Entry::read).filter(|e| !ours(e) && matches!(classify(e), Class::FrontEnd(_))).collect()
}

/// One entry in words: `TIME STATUS TEXT (trace T)`.
pub fn quote(entry: Entry) -> Evidence {
    let time = entry.timestamp.unwrap_or("(no timestamp)");
    let status = entry.status().map_or_else(|| "?".to_owned(), |s| s.to_string());
    let text = entry.text().unwrap_or("(no textPayload)");
    let trace = entry.trace.unwrap_or("(none)");
    Evidence {
        source: "logging.googleapis.com entries.list (run.googleapis.com/requests)".to_owned(),
        detail: format!("{time} {status} {} (trace {trace})", runiam_core::redact::redact(text)),
        data: Some(entry.quote()),
    }
}

/// One `entries.list` of the service's 401/403 since `since`, or why it
/// could not be read.
pub async fn read(logging: &Logging, target: &ServiceRef, since: DateTime<Utc>) -> Result<Vec<Value>, String> {
    logging.list_entries(&format!("projects/{}", target.project), &filter(target, since), LIMIT).await.map_err(|e| {
        let hint = e
            .status()
            .filter(|s| s.http == 403)
            .map(|_| "; reading request logs needs logging.logEntries.list on the project (roles/logging.viewer)")
            .unwrap_or_default();
        format!("cannot read the request logs of {}: {e}{hint}", target.full_name())
    })
}

/// `N` or `N or more` when a read came back full.
pub fn count(seen: usize, read: usize) -> String {
    if read >= LIMIT { format!("{seen} or more") } else { seen.to_string() }
}

/// Entries quoted as evidence, the first `QUOTED`.
pub fn quoted(seen: Vec<Entry>) -> Vec<Evidence> {
    seen.into_iter().take(QUOTED).map(quote).collect()
}

/// The logs check. `refusals_expected`: the change meant to refuse someone
/// (a revoke, a rollback), so new 403s are quoted but fail nothing.
pub async fn check(logging: &Logging, target: &ServiceRef, since: DateTime<Utc>, refusals_expected: bool) -> Check {
    let at = since.to_rfc3339_opts(SecondsFormat::Secs, true);
    let entries = match read(logging, target, since).await {
        Ok(e) => e,
        Err(why) => return CheckName::Logs.error(why),
    };
    let seen = refusals(&entries);
    let n = count(seen.len(), entries.len());
    let (result, detail) = match (seen.len(), refusals_expected) {
        (0, _) => (
            CheckResult::Pass,
            format!("no Cloud Run 401/403 in the request logs since {at} (verify's own calls aside)"),
        ),
        (_, true) => (
            CheckResult::Pass,
            format!("{n} Cloud Run 401/403 in the request logs since {at}, as the change meant to refuse callers"),
        ),
        (_, false) => (
            CheckResult::Fail,
            format!("{n} Cloud Run 401/403 in the request logs since {at}: callers are still refused"),
        ),
    };
    CheckName::Logs.with(result, detail, quoted(seen))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_filter_names_the_service_statuses_and_time() {
        let t = DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z").unwrap().with_timezone(&Utc);
        let f = filter(&ServiceRef::new("p", "europe-west1", "api"), t);
        assert!(f.starts_with("logName=\"projects/p/logs/run.googleapis.com%2Frequests\""), "{f}");
        for part in [
            "resource.labels.service_name=\"api\"",
            "resource.labels.location=\"europe-west1\"",
            "httpRequest.status=(401 OR 403)",
            "timestamp>=\"2026-11-28T10:00:00.000000Z\"",
        ] {
            assert!(f.contains(part), "{part} in {f}");
        }
    }

    #[test]
    fn only_the_front_ends_refusals_of_others_count() {
        let entry = |status: u16, text: Option<&str>, latency: &str, ua: &str| json!({"httpRequest": {"status": status, "latency": latency, "userAgent": ua}, "textPayload": text});
        let front = entry(403, Some("The request was not authenticated. Either allow ..."), "0s", "curl/8");
        let front_401 = entry(401, Some("The request was not authorized to invoke this service."), "0s", "curl/8");
        let silent = entry(403, None, "0s", "curl/8");
        let app = entry(403, Some("forbidden by the app"), "0.012s", "curl/8");
        let app_silent = entry(401, None, "0.040s", "curl/8");
        let mine = entry(403, Some("The request was not authenticated."), "0s", USER_AGENT);
        let all = [front.clone(), front_401.clone(), silent.clone(), app, app_silent, mine];
        let texts: Vec<Option<String>> = refusals(&all).iter().map(|e| e.text().map(str::to_owned)).collect();
        let want: Vec<Option<String>> =
            [&front, &front_401, &silent].iter().map(|e| e["textPayload"].as_str().map(str::to_owned)).collect();
        assert_eq!(texts, want);
    }

    #[test]
    fn entries_are_quoted_and_ours_left_out() {
        let e = json!({"timestamp": "2026-11-28T10:00:01Z", "httpRequest": {"status": 403, "userAgent": "curl/8"},
            "textPayload": "The request was not authenticated.", "trace": "projects/p/traces/abc"});
        assert!(!ours(&Entry::read(&e)));
        let q = quote(Entry::read(&e));
        assert_eq!(
            q.detail,
            "2026-11-28T10:00:01Z 403 The request was not authenticated. (trace projects/p/traces/abc)"
        );
        assert!(ours(&Entry::read(&json!({"httpRequest": {"userAgent": format!("{USER_AGENT} extra")}}))));
        assert_eq!(quote(Entry::read(&json!({}))).detail, "(no timestamp) ? (no textPayload) (trace (none))");
    }
}
