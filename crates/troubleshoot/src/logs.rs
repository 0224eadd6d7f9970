//! Request logs: the one `entries.list` filter per project (request-log
//! denials of the services in question, VPC-SC ingress audit entries,
//! SetIamPolicy audit entries, in one OR), read with runiam-core's
//! classifier (`requestlog`, docs/cloud-run.md. Cloud Logging's read quota is
//! small (60 reads a minute per project), hence one read per project per run.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

pub use runiam_core::requestlog::{Class, Entry, FRONT_401, FRONT_403, HTTP_INGRESS, classify};
pub use runiam_core::window::parse_since;

/// Filters longer than this are refused by Logging (20,000 characters).
const MAX_FILTER: usize = 19_000;
/// IAM's propagation window.
pub const PROPAGATION: TimeDelta = TimeDelta::minutes(7);

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The one filter for a project: request-log entries of `services` with
/// the statuses that matter, VPC-SC ingress denials, SetIamPolicy audit
/// entries, all since `since`. With too many services for Logging's limit
/// the service restriction goes, and entries are sorted out here.
/// `callers` adds every service's 5xx, where calling services show.
pub fn filter(project: &str, services: &[String], since: DateTime<Utc>, callers: bool) -> String {
    let time = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let names = services.iter().map(|s| quote(s)).collect::<Vec<_>>().join(" OR ");
    let requests = format!(
        "resource.type=\"cloud_run_revision\" AND logName=\"projects/{project}/logs/run.googleapis.com%2Frequests\""
    );
    let fivexx = if callers { format!(" OR ({requests} AND httpRequest.status>=500)") } else { String::new() };
    let build = |names: Option<&str>| {
        let svc = names.map(|n| format!(" AND resource.labels.service_name=({n})")).unwrap_or_default();
        format!(
            "timestamp>=\"{time}\" AND (({requests}{svc} AND httpRequest.status=(401 OR 403 OR 404 OR 429 OR 503)){fivexx} OR (logName=\"projects/{project}/logs/cloudaudit.googleapis.com%2Fpolicy\" AND (resource.labels.method=\"{HTTP_INGRESS}\" OR protoPayload.methodName=\"{HTTP_INGRESS}\")) OR (logName=\"projects/{project}/logs/cloudaudit.googleapis.com%2Factivity\" AND protoPayload.methodName:\"SetIamPolicy\"))"
        )
    };
    let narrow = build(Some(&names));
    if narrow.len() <= MAX_FILTER { narrow } else { build(None) }
}

/// Whether an entry is about `service` (`projects/P/locations/R/services/S`
/// for audit entries, `service_name` and location for request logs). VPC-SC
/// entries that name no service concern every service of the project.
pub fn concerns(entry: &Entry, project: &str, region: &str, name: &str, class: Class) -> bool {
    let full = format!("projects/{project}/locations/{region}/services/{name}");
    match class {
        Class::VpcSc => {
            let r = entry.resource_name().unwrap_or_default();
            !r.contains("/services/") || r.ends_with(&full)
        }
        Class::IamChange => {
            let r = entry.resource_name().unwrap_or_default();
            r == full || r == format!("projects/{project}")
        }
        Class::Ignored => false,
        _ => {
            let (service, location) = entry.service();
            service == Some(name) && location.is_none_or(|l| l == region)
        }
    }
}

fn is_browser(ua: &str) -> bool {
    ua.starts_with("Mozilla/")
}

/// Groups entries by (class, status, user agent) with every browser agent
/// in one group, so scanner noise (many IPs, browsers) shows as one line
/// with counts beside a real caller's. Non-browser groups come first.
pub fn group(entries: &[(Entry, Class)]) -> Vec<Value> {
    let mut groups: BTreeMap<(bool, String, u16, String), Vec<&Entry>> = BTreeMap::new();
    for (e, c) in entries {
        let ua = e.user_agent().unwrap_or("(none)");
        let browser = is_browser(ua);
        let ua = if browser { "browsers (Mozilla/...)".to_owned() } else { ua.to_owned() };
        groups.entry((browser, format!("{c:?}"), e.status().unwrap_or(0), ua)).or_default().push(e);
    }
    let mut out: Vec<(bool, usize, Value)> = groups
        .into_iter()
        .map(|((browser, class, status, ua), es)| {
            let mut ips: Vec<&str> = es.iter().filter_map(|e| e.remote_ip()).collect();
            ips.sort_unstable();
            ips.dedup();
            let times: Vec<&str> = es.iter().filter_map(|e| e.timestamp).collect();
            let v = json!({
                "class": class,
                "status": status,
                "userAgent": ua,
                "count": es.len(),
                "distinctRemoteIps": ips.len(),
                "first": times.iter().min(),
                "last": times.iter().max(),
                "sample": es[0].quote(),
            });
            (browser, es.len(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    out.into_iter().map(|(_, _, v)| v).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(v: Value) -> Class {
        classify(&Entry::read(&v))
    }

    #[test]
    fn classes() {
        let req = "projects/p/logs/run.googleapis.com%2Frequests";
        assert_eq!(
            c(json!({"logName": req, "textPayload": FRONT_403, "httpRequest": {"status": 403, "latency": "0s"}})),
            Class::FrontEnd(403)
        );
        assert_eq!(c(json!({"logName": req, "httpRequest": {"status": 403, "latency": "0.012s"}})), Class::App(403));
        assert_eq!(
            c(json!({"logName": req, "textPayload": "nope", "httpRequest": {"status": 401, "latency": "0.01s"}})),
            Class::App(401)
        );
        assert_eq!(c(json!({"logName": req, "httpRequest": {"status": 429}})), Class::Throttled(429));
        assert_eq!(c(json!({"logName": req, "httpRequest": {"status": 503, "latency": "1.2s"}})), Class::Other(503));
        assert_eq!(
            c(
                json!({"logName": "projects/p/logs/cloudaudit.googleapis.com%2Fpolicy", "resource": {"labels": {"method": HTTP_INGRESS}}})
            ),
            Class::VpcSc
        );
        assert_eq!(
            c(
                json!({"logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity", "protoPayload": {"methodName": "google.cloud.run.v2.Services.SetIamPolicy"}})
            ),
            Class::IamChange
        );
        assert_eq!(parse_since("1h").unwrap(), TimeDelta::hours(1));
        assert!(parse_since("99999999999999d").is_err());
    }

    #[test]
    fn long_service_lists_drop_the_restriction() {
        let many: Vec<String> = (0..2000).map(|i| format!("service-{i}")).collect();
        assert!(filter("p", &many, Utc::now(), false).len() < MAX_FILTER);
        assert!(filter("p", &many[..3], Utc::now(), true).contains("service-2"));
    }

    proptest! {
        #[test]
        fn classify_never_panics(text in ".{0,200}", status in any::<u64>(), latency in ".{0,10}") {
            let v = json!({"logName": text, "textPayload": text, "httpRequest": {"status": status, "latency": latency}});
            let _ = classify(&Entry::read(&v));
            let _ = parse_since(&text);
        }
    }
}
