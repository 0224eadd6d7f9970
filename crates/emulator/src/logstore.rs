//! The log store's records. The front end writes one request log per
//! request on its hot path, so it stores the facts in a compact record and
//! builds the LogEntry JSON only when Logging's `entries:list` (or a test)
//! reads it; every other writer stores its LogEntry JSON as is: the Admin
//! Activity AuditLog entries of every successful setIamPolicy (with
//! `serviceData.policyDelta`, as IAM's audit data has it) are built here.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use runiam_core::model::{Expr, Policy};
use serde_json::{Map, Value, json};

use crate::world::World;

/// One entry of the log store.
#[derive(Clone, Debug, PartialEq)]
pub enum LogRecord {
    /// A LogEntry as JSON (audit entries, the world's `logEntries`).
    Entry(Value),
    /// A front-end request, rendered on read.
    Request(Box<RequestLog>),
}

impl LogRecord {
    /// The LogEntry JSON of this record: stored entries borrowed, request
    /// logs rendered.
    pub fn to_value(&self) -> Cow<'_, Value> {
        match self {
            LogRecord::Entry(v) => Cow::Borrowed(v),
            LogRecord::Request(r) => Cow::Owned(r.to_value()),
        }
    }

    /// Whether its `logName` starts with `prefix`, without rendering the
    /// entry: `entries:list` picks the logs asked for before rendering any.
    pub fn log_name_starts_with(&self, prefix: &str) -> bool {
        match self {
            LogRecord::Entry(v) => v.get("logName").and_then(Value::as_str).unwrap_or_default().starts_with(prefix),
            LogRecord::Request(r) => {
                let project = &r.service.project_id;
                // `projects/{project}/logs/run.googleapis.com%2Frequests`, compared piece by piece.
                let name = ["projects/", project.as_str(), REQUEST_LOG];
                let mut rest = prefix;
                for piece in name {
                    let n = rest.len().min(piece.len());
                    if piece.as_bytes()[..n] != rest.as_bytes()[..n] {
                        return false;
                    }
                    rest = &rest[n..];
                }
                rest.is_empty()
            }
        }
    }
}

/// The request log's name after the project.
const REQUEST_LOG: &str = "/logs/run.googleapis.com%2Frequests";

/// What identifies a service in its request logs; shared by every record.
#[derive(Debug, PartialEq, Eq)]
pub struct ServiceLabels {
    pub project_id: String,
    pub region: String,
    pub name: String,
    pub revision: String,
}

/// The facts of one front-end request.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestLog {
    pub service: Arc<ServiceLabels>,
    /// Seed and request counter: the insert, trace and span ids derive from them.
    pub seed: u64,
    pub counter: u64,
    pub time: DateTime<Utc>,
    pub method: Cow<'static, str>,
    pub url: String,
    pub status: u16,
    pub response_size: usize,
    pub user_agent: Option<String>,
    pub remote_ip: Option<IpAddr>,
    pub latency: Duration,
    pub protocol: &'static str,
    /// Cloud Run's pinned text for a 401/403.
    pub text: Option<&'static str>,
}

/// SplitMix64: a good 64-bit mix of a counter.
pub fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Lowercase hex, without an allocation per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

fn severity(status: u16) -> &'static str {
    match status {
        500.. => "ERROR",
        400.. => "WARNING",
        _ => "INFO",
    }
}

impl RequestLog {
    /// A `run.googleapis.com/requests` entry, fields in the order of the
    /// real entry in docs/cloud-run.md
    pub fn to_value(&self) -> Value {
        let mut ids = [0u8; 32];
        for (i, chunk) in ids.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&splitmix(self.seed ^ self.counter.rotate_left(17) ^ (i as u64) << 56).to_be_bytes());
        }
        let s = &self.service;
        let mut http = Map::with_capacity(8);
        http.insert("requestMethod".into(), json!(self.method));
        http.insert("requestUrl".into(), json!(self.url));
        http.insert("status".into(), json!(self.status));
        http.insert("responseSize".into(), json!(self.response_size.to_string()));
        if let Some(ua) = &self.user_agent {
            http.insert("userAgent".into(), json!(ua));
        }
        if let Some(ip) = self.remote_ip {
            http.insert("remoteIp".into(), json!(ip.to_string()));
        }
        let latency =
            if self.latency.is_zero() { "0s".to_owned() } else { format!("{:.9}s", self.latency.as_secs_f64()) };
        http.insert("latency".into(), json!(latency));
        http.insert("protocol".into(), json!(self.protocol));
        let mut entry = Map::with_capacity(12);
        if let Some(t) = self.text {
            entry.insert("textPayload".into(), json!(t));
        }
        entry.insert("insertId".into(), json!(hex(&ids[..12])));
        entry.insert("httpRequest".into(), Value::Object(http));
        entry.insert(
            "resource".into(),
            json!({"type": "cloud_run_revision", "labels": {
                "location": s.region,
                "configuration_name": s.name,
                "project_id": s.project_id,
                "service_name": s.name,
                "revision_name": s.revision,
            }}),
        );
        entry.insert("timestamp".into(), json!(self.time.to_rfc3339_opts(SecondsFormat::Micros, true)));
        entry.insert("severity".into(), json!(severity(self.status)));
        entry.insert("logName".into(), json!(format!("projects/{}{REQUEST_LOG}", s.project_id)));
        entry.insert("trace".into(), json!(format!("projects/{}/traces/{}", s.project_id, hex(&ids[12..28]))));
        let received = self.time + TimeDelta::microseconds(50);
        entry.insert("receiveTimestamp".into(), json!(received.to_rfc3339_opts(SecondsFormat::Nanos, true)));
        entry.insert("spanId".into(), json!(hex(&ids[24..32])));
        entry.insert("traceSampled".into(), json!(true));
        Value::Object(entry)
    }
}

/// One `policyDelta.bindingDeltas` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingDelta {
    pub add: bool,
    pub role: String,
    pub member: String,
    pub condition: Option<Expr>,
}

impl BindingDelta {
    fn json(&self) -> Value {
        let mut out = Map::new();
        out.insert("action".into(), json!(if self.add { "ADD" } else { "REMOVE" }));
        out.insert("role".into(), json!(self.role));
        out.insert("member".into(), json!(self.member));
        if let Some(c) = &self.condition {
            out.insert("condition".into(), serde_json::to_value(c).unwrap_or(Value::Null));
        }
        Value::Object(out)
    }
}

/// What a write changes: (role, member, condition) triples added and removed,
/// removals first, each in policy order.
pub fn binding_deltas(old: &Policy, new: &Policy) -> Vec<BindingDelta> {
    let triples = |p: &Policy| -> Vec<(String, String, Option<Expr>)> {
        let mut out = Vec::new();
        for b in &p.bindings {
            for m in &b.members {
                let t = (b.role.clone(), m.clone(), b.condition.clone());
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        out
    };
    let (before, after) = (triples(old), triples(new));
    let delta = |add: bool, (role, member, condition): &(String, String, Option<Expr>)| BindingDelta {
        add,
        role: role.clone(),
        member: member.clone(),
        condition: condition.clone(),
    };
    let removed = before.iter().filter(|t| !after.contains(t)).map(|t| delta(false, t));
    let added = after.iter().filter(|t| !before.contains(t)).map(|t| delta(true, t));
    removed.chain(added).collect()
}

/// What an audit entry records about one setIamPolicy.
pub struct Audit<'a> {
    /// The policy key (`projects/P/locations/R/services/S`, `projects/P`...).
    pub key: &'a str,
    pub service_name: &'a str,
    pub method_name: &'a str,
    pub permission: &'a str,
    /// The writer (`user:x@y`); none when the world names no operator.
    pub principal: Option<&'a str>,
    /// The request's User-Agent header (`callerSuppliedUserAgent`).
    pub user_agent: Option<&'a str>,
    pub request: &'a Policy,
    pub response: &'a Policy,
    pub deltas: &'a [BindingDelta],
    /// Distinguishes entries written in the same instant.
    pub sequence: u64,
}

/// The monitored resource and the log's parent for a policy key.
fn audited_resource(world: &World, key: &str) -> (Value, String) {
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        ["projects", p, "locations", r, "services", s] => (
            json!({"type": "cloud_run_revision", "labels": {
                "project_id": p, "location": r, "service_name": s, "revision_name": "", "configuration_name": ""}}),
            format!("projects/{p}"),
        ),
        ["projects", p, "serviceAccounts", email] => {
            let unique = world.service_account(email).map(|(_, a)| a.unique_id.clone()).unwrap_or_default();
            (
                json!({"type": "service_account", "labels": {"project_id": p, "email_id": email, "unique_id": unique}}),
                format!("projects/{p}"),
            )
        }
        ["projects", p] => (json!({"type": "project", "labels": {"project_id": p}}), key.to_owned()),
        ["folders", f] => (json!({"type": "folder", "labels": {"folder_id": f}}), key.to_owned()),
        ["organizations", o] => (json!({"type": "organization", "labels": {"organization_id": o}}), key.to_owned()),
        _ => (json!({"type": "global", "labels": {}}), "projects/-".to_owned()),
    }
}

/// An Admin Activity AuditLog entry for a successful setIamPolicy.
pub fn audit_entry(world: &World, a: &Audit, now: DateTime<Utc>) -> Value {
    let (resource, parent) = audited_resource(world, a.key);
    let time = now.to_rfc3339_opts(SecondsFormat::Micros, true);
    let digest = crate::world::sha256(format!("audit:{}:{}:{time}", a.sequence, a.key).as_bytes());
    let insert_id: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let mut authentication = Map::new();
    if let Some(p) = a.principal {
        let email = p.split_once(':').map_or(p, |(_, e)| e);
        authentication.insert("principalEmail".into(), json!(email));
        authentication.insert("principalSubject".into(), json!(p));
    }
    let mut response = serde_json::to_value(a.response).unwrap_or_else(|_| json!({}));
    if let Value::Object(o) = &mut response {
        o.insert("@type".into(), json!("type.googleapis.com/google.iam.v1.Policy"));
    }
    let mut payload = json!({
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "status": {},
        "authenticationInfo": authentication,
        "requestMetadata": {"callerIp": "127.0.0.1", "callerSuppliedUserAgent": a.user_agent.unwrap_or("runiam-emulator")},
        "serviceName": a.service_name,
        "methodName": a.method_name,
        "authorizationInfo": [{"resource": a.key, "permission": a.permission, "granted": true, "resourceAttributes": {}}],
        "resourceName": a.key,
        "serviceData": {
            "@type": "type.googleapis.com/google.iam.v1.logging.AuditData",
            "policyDelta": {"bindingDeltas": a.deltas.iter().map(BindingDelta::json).collect::<Vec<_>>()},
        },
        "request": {
            "@type": "type.googleapis.com/google.iam.v1.SetIamPolicyRequest",
            "resource": a.key,
            "policy": a.request,
        },
        "response": response,
    });
    if let Some(location) = resource["labels"]["location"].as_str() {
        payload["resourceLocation"] = json!({"currentLocations": [location]});
    }
    json!({
        "protoPayload": payload,
        "insertId": insert_id,
        "resource": resource,
        "timestamp": time,
        "severity": "NOTICE",
        "logName": format!("{parent}/logs/cloudaudit.googleapis.com%2Factivity"),
        "receiveTimestamp": time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_name_prefixes_agree_with_the_rendered_names() {
        let request = LogRecord::Request(Box::new(RequestLog {
            service: Arc::new(ServiceLabels {
                project_id: "p-1".into(),
                region: "europe-west1".into(),
                name: "hello".into(),
                revision: "hello-00001-abc".into(),
            }),
            seed: 7,
            counter: 1,
            time: Utc::now(),
            method: Cow::Borrowed("GET"),
            url: "https://hello-1.europe-west1.run.app/".into(),
            status: 403,
            response_size: 10,
            user_agent: None,
            remote_ip: None,
            latency: Duration::ZERO,
            protocol: "HTTP/1.1",
            text: None,
        }));
        let audit = LogRecord::Entry(json!({"logName": "folders/9/logs/cloudaudit.googleapis.com%2Factivity"}));
        for record in [request, audit, LogRecord::Entry(json!({}))] {
            let name = record.to_value()["logName"].as_str().unwrap_or_default().to_owned();
            for cut in 0..=name.len() {
                assert!(record.log_name_starts_with(&name[..cut]), "{name} starts with {}", &name[..cut]);
            }
            for other in ["projects/p-2", "folders/9/logs/x", &format!("{name}x")] {
                assert_eq!(record.log_name_starts_with(other), name.starts_with(other), "{name} vs {other}");
            }
        }
    }
}
