//! Cloud Run's request logs, read the one way troubleshoot and verify both
//! need: which entries are Cloud Run's own refusals (the front end's 401/403
//! by their pinned text, facts §1.4, or no text and no latency) and which
//! the container's, plus the audit entries troubleshoot reads alongside.
//! Pure and allocation-free: the classifier runs over every entry read.

use serde::Deserialize;
use serde_json::Value;

/// Start of Cloud Run's front-end 401 text (facts §1.4).
pub const FRONT_401: &str = "The request was not authorized to invoke this service";
/// Start of Cloud Run's front-end 403 text.
pub const FRONT_403: &str = "The request was not authenticated";
/// The VPC-SC ingress method (facts §2.3).
pub const HTTP_INGRESS: &str = "run.googleapis.com/HttpIngress";
/// The fields of a LogEntry the classifier reads, borrowed.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct View<'a> {
    #[serde(borrow, default)]
    pub log_name: Option<&'a str>,
    #[serde(borrow, default)]
    pub text_payload: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    pub http_request: Option<HttpView<'a>>,
    #[serde(borrow, default)]
    pub resource: Option<ResourceView<'a>>,
    #[serde(borrow, default)]
    pub proto_payload: Option<ProtoView<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpView<'a> {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(borrow, default)]
    pub latency: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ResourceView<'a> {
    #[serde(borrow, default, rename = "type")]
    pub kind: Option<&'a str>,
    #[serde(borrow, default)]
    pub labels: Option<LabelsView<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct LabelsView<'a> {
    #[serde(borrow, default)]
    pub service_name: Option<&'a str>,
    #[serde(borrow, default)]
    pub method: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtoView<'a> {
    #[serde(borrow, default)]
    pub method_name: Option<&'a str>,
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
pub fn classify(v: &View) -> Class {
    let log = v.log_name.unwrap_or_default();
    if log.ends_with("cloudaudit.googleapis.com%2Fpolicy") {
        let method = v.resource.as_ref().and_then(|r| r.labels.as_ref()).and_then(|l| l.method);
        let proto = v.proto_payload.as_ref().and_then(|p| p.method_name);
        return if method == Some(HTTP_INGRESS) || proto == Some(HTTP_INGRESS) { Class::VpcSc } else { Class::Ignored };
    }
    if log.ends_with("cloudaudit.googleapis.com%2Factivity") {
        let m = v.proto_payload.as_ref().and_then(|p| p.method_name).unwrap_or_default();
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

/// Reads the fields of an owned entry.
pub fn view(v: &Value) -> View<'_> {
    View::deserialize(v).unwrap_or_default()
}
