//! Cloud Run's request logs, read the one way troubleshoot and verify both
//! need: which entries are Cloud Run's own refusals (the front end's 401/403
//! by their pinned text, docs/cloud-run.md, or no text and no latency) and which
//! the container's, plus the audit entries troubleshoot reads alongside.
//! Every entry is read once into a typed `Entry`, borrowed from its JSON;
//! the classifier is pure and allocation-free, as it runs over every entry.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::redact::redact;

/// Start of Cloud Run's front-end 401 text (docs/cloud-run.md).
pub const FRONT_401: &str = "The request was not authorized to invoke this service";
/// Start of Cloud Run's front-end 403 text.
pub const FRONT_403: &str = "The request was not authenticated";
/// The VPC-SC ingress method (docs/cloud-run.md).
pub const HTTP_INGRESS: &str = "run.googleapis.com/HttpIngress";
/// A LogEntry, parsed once: the fields troubleshoot and verify read,
/// borrowed from the JSON (or the text) they came in. A field of the wrong
/// type reads as absent: entries are outside input.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry<'a> {
    #[serde(borrow, default)]
    pub log_name: Option<&'a str>,
    #[serde(borrow, default)]
    pub insert_id: Option<&'a str>,
    #[serde(borrow, default)]
    pub timestamp: Option<&'a str>,
    #[serde(borrow, default)]
    pub text_payload: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub trace: Option<&'a str>,
    #[serde(borrow, default)]
    pub http_request: Option<Http<'a>>,
    #[serde(borrow, default)]
    pub resource: Option<Resource<'a>>,
    #[serde(borrow, default)]
    pub proto_payload: Option<Proto<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Http<'a> {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(borrow, default)]
    pub latency: Option<&'a str>,
    #[serde(borrow, default)]
    pub user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub remote_ip: Option<&'a str>,
    #[serde(borrow, default)]
    pub request_url: Option<Cow<'a, str>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Resource<'a> {
    #[serde(borrow, default, rename = "type")]
    pub kind: Option<&'a str>,
    #[serde(borrow, default)]
    pub labels: Option<Labels<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Labels<'a> {
    #[serde(borrow, default)]
    pub service_name: Option<&'a str>,
    #[serde(borrow, default)]
    pub location: Option<&'a str>,
    #[serde(borrow, default)]
    pub method: Option<&'a str>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Proto<'a> {
    #[serde(borrow, default)]
    pub method_name: Option<&'a str>,
    #[serde(borrow, default)]
    pub resource_name: Option<&'a str>,
    #[serde(borrow, default)]
    pub service_data: Option<ServiceData<'a>>,
}

/// An IAM audit entry's `serviceData` (`google.iam.v1.logging.AuditData`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceData<'a> {
    #[serde(borrow, default)]
    pub policy_delta: Option<PolicyDelta<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyDelta<'a> {
    #[serde(borrow, default)]
    pub binding_deltas: Vec<BindingDelta<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct BindingDelta<'a> {
    #[serde(borrow, default)]
    pub action: Option<&'a str>,
    #[serde(borrow, default)]
    pub role: Option<&'a str>,
    #[serde(borrow, default)]
    pub member: Option<Cow<'a, str>>,
}

impl<'a> Entry<'a> {
    /// Reads an entry from the JSON `entries.list` returned; never fails.
    pub fn read(v: &'a Value) -> Self {
        Entry::deserialize(v).unwrap_or_default()
    }

    pub fn status(&self) -> Option<u16> {
        self.http_request.as_ref().and_then(|h| h.status)
    }

    pub fn text(&self) -> Option<&str> {
        self.text_payload.as_deref()
    }

    pub fn user_agent(&self) -> Option<&str> {
        self.http_request.as_ref().and_then(|h| h.user_agent.as_deref())
    }

    pub fn remote_ip(&self) -> Option<&str> {
        self.http_request.as_ref().and_then(|h| h.remote_ip)
    }

    fn labels(&self) -> Option<&Labels<'a>> {
        self.resource.as_ref().and_then(|r| r.labels.as_ref())
    }

    /// The Cloud Run service and region a request log is about.
    pub fn service(&self) -> (Option<&str>, Option<&str>) {
        self.labels().map_or((None, None), |l| (l.service_name, l.location))
    }

    pub fn method_name(&self) -> Option<&str> {
        self.proto_payload.as_ref().and_then(|p| p.method_name)
    }

    pub fn resource_name(&self) -> Option<&str> {
        self.proto_payload.as_ref().and_then(|p| p.resource_name)
    }

    /// The members a SetIamPolicy audit entry says were added.
    pub fn added_members(&self) -> impl Iterator<Item = &str> {
        self.proto_payload
            .as_ref()
            .and_then(|p| p.service_data.as_ref())
            .and_then(|d| d.policy_delta.as_ref())
            .into_iter()
            .flat_map(|d| d.binding_deltas.iter())
            .filter(|d| d.action == Some("ADD"))
            .filter_map(|d| d.member.as_deref())
    }

    /// When it was logged.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        self.timestamp.and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc())
    }

    /// The entry quoted as evidence: time, status, text, trace, insertId,
    /// user agent, remote IP, latency, URL, method; never headers, and any
    /// token-looking text redacted.
    pub fn quote(&self) -> Value {
        let h = self.http_request.clone().unwrap_or_default();
        let text = |s: Option<&str>| s.map(|s| json!(redact(s)));
        let fields = [
            ("timestamp", text(self.timestamp)),
            ("status", h.status.map(|s| json!(s))),
            ("text", text(self.text())),
            ("trace", text(self.trace)),
            ("insertId", text(self.insert_id)),
            ("userAgent", text(h.user_agent.as_deref())),
            ("remoteIp", text(h.remote_ip)),
            ("latency", text(h.latency)),
            ("requestUrl", text(h.request_url.as_deref())),
            ("methodName", text(self.method_name())),
        ];
        Value::Object(fields.into_iter().filter_map(|(k, v)| Some((k.to_owned(), v?))).collect())
    }
}

/// What one entry says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Cloud Run's front end refused it (401 or 403, its text, or no text and no latency).
    FrontEnd(u16),
    /// The container answered 401/403 itself.
    App(u16),
    /// 429, or 503 from the front end.
    Throttled(u16),
    /// Any other request-log status asked for (404, a container's 503).
    Other(u16),
    /// A VPC Service Controls ingress denial.
    VpcSc,
    /// A SetIamPolicy audit entry.
    IamChange,
    /// Not something troubleshoot reads.
    Ignored,
}

fn zero_latency(l: Option<&str>) -> bool {
    match l {
        None => true,
        Some(l) => {
            let digits = l.trim_end_matches('s').trim_end_matches('m').trim();
            digits.parse::<f64>().map(|v| v == 0.0).unwrap_or(false)
        }
    }
}

/// Classifies one entry. Pure and allocation-free, for the benchmark too.
pub fn classify(v: &Entry) -> Class {
    let log = v.log_name.unwrap_or_default();
    if log.ends_with("cloudaudit.googleapis.com%2Fpolicy") {
        let method = v.labels().and_then(|l| l.method);
        let proto = v.method_name();
        return if method == Some(HTTP_INGRESS) || proto == Some(HTTP_INGRESS) { Class::VpcSc } else { Class::Ignored };
    }
    if log.ends_with("cloudaudit.googleapis.com%2Factivity") {
        let m = v.method_name().unwrap_or_default();
        return if m.ends_with("SetIamPolicy") { Class::IamChange } else { Class::Ignored };
    }
    let Some(h) = &v.http_request else { return Class::Ignored };
    let Some(status) = h.status else { return Class::Ignored };
    let text = v.text_payload.as_deref().unwrap_or_default();
    match status {
        401 | 403 => {
            if text.starts_with(FRONT_401)
                || text.starts_with(FRONT_403)
                || (text.is_empty() && zero_latency(h.latency))
            {
                Class::FrontEnd(status)
            } else {
                Class::App(status)
            }
        }
        429 => Class::Throttled(status),
        503 if zero_latency(h.latency) || text.contains("no available instance") => Class::Throttled(status),
        s => Class::Other(s),
    }
}
