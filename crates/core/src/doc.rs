//! The documents runiam commands exchange on pipes (docs/documents.md).
//!
//! Every document is a mapping with `apiVersion: runiam/v1` and a `kind`.
//! Writers emit YAML streams (`---` between documents) or JSON lines;
//! readers take either. A reader checks the envelope first, so a wrong
//! `apiVersion` or a kind the command does not read is named as such, and
//! a malformed body is reported with the path of the offending field.

use std::cell::Cell;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::CommandError;
use crate::model::{Binding, Expr, Policy, Principal, ServiceRef};

/// The document schema version this runiam reads and writes.
pub const API_VERSION: &str = "runiam/v1";

/// The five document kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Kind {
    ServiceSnapshot,
    Diagnosis,
    ChangeRecord,
    VerifyReport,
    AuditFinding,
}

impl Kind {
    pub const ALL: [Kind; 5] =
        [Kind::ServiceSnapshot, Kind::Diagnosis, Kind::ChangeRecord, Kind::VerifyReport, Kind::AuditFinding];

    pub fn name(self) -> &'static str {
        match self {
            Kind::ServiceSnapshot => "ServiceSnapshot",
            Kind::Diagnosis => "Diagnosis",
            Kind::ChangeRecord => "ChangeRecord",
            Kind::VerifyReport => "VerifyReport",
            Kind::AuditFinding => "AuditFinding",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The commands that read this kind (docs/documents.md).
    pub fn readers(self) -> &'static [&'static str] {
        match self {
            Kind::ServiceSnapshot => &["runiam troubleshoot", "runiam rollback"],
            Kind::Diagnosis => &["runiam grant-invoker", "runiam runbook"],
            Kind::ChangeRecord => &["runiam grant-invoker", "runiam verify", "runiam rollback", "runiam runbook"],
            Kind::VerifyReport => &["runiam runbook"],
            Kind::AuditFinding => &[],
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A service and its invoker-relevant settings and IAM policy, as exported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSnapshot {
    pub service: ServiceRef,
    /// The main run.app URL (`https://NAME-NUMBER.REGION.run.app`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Every serving URL, both run.app forms.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Run v2 enum name (`INGRESS_TRAFFIC_ALL`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
    #[serde(default)]
    pub invoker_iam_disabled: bool,
    #[serde(default)]
    pub default_uri_disabled: bool,
    #[serde(default)]
    pub iap_enabled: bool,
    #[serde(default)]
    pub custom_audiences: Vec<String>,
    /// The runtime service account (who the service runs as, not who calls it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// The service's own etag (guards `patch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The service's full allow policy, exactly as getIamPolicy returned it.
    pub iam_policy: Policy,
    /// Parents above the project, nearest first (`folders/N`, `organizations/N`).
    #[serde(default)]
    pub ancestry: Vec<String>,
    pub captured_at: DateTime<Utc>,
    /// Where the snapshot came from when not from Cloud Run itself. Asset
    /// Inventory lags the live state and carries no policy etag, so a write
    /// based on such a snapshot re-reads the live policy first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SnapshotSource>,
}

/// The origin of a snapshot not read from Cloud Run (docs/documents.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SnapshotSource {
    /// Cloud Asset Inventory's searchAllResources and searchAllIamPolicies.
    AssetInventory,
    /// An Asset Inventory export (newline-delimited `Asset` JSON).
    AssetExport,
}

impl ServiceSnapshot {
    /// A snapshot of a service of which only the IAM policy is known: its
    /// settings at Cloud Run's defaults (ingress all, invoker check on).
    pub fn of_policy(service: ServiceRef, iam_policy: Policy, captured_at: DateTime<Utc>) -> Self {
        Self {
            service,
            uri: None,
            urls: Vec::new(),
            ingress: None,
            invoker_iam_disabled: false,
            default_uri_disabled: false,
            iap_enabled: false,
            custom_audiences: Vec::new(),
            service_account: None,
            etag: None,
            iam_policy,
            ancestry: Vec::new(),
            captured_at,
            source: None,
        }
    }
}

/// `ALLOWED`, `DENIED` or `UNKNOWN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Allowed,
    Denied,
    Unknown,
}

/// The triage bucket of a finding (docs/findings.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Iam,
    Token,
    Network,
    Quota,
    App,
    Config,
}

/// `cause` explains a denial, `risk` will cause or widen one, `info` rules something out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Cause,
    Risk,
    Info,
}

/// What was read, from where, that supports a finding or a check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// The API method or log the fact came from (`run.googleapis.com getIamPolicy`).
    pub source: String,
    pub detail: String,
    /// The raw record (a binding, a LogEntry), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// The structured fix of a Diagnosis or a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FixAction {
    Grant,
    /// Remove the member's grant (`runiam grant-invoker --revoke`).
    Revoke,
    DisableInvokerCheck,
    Manual,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Fix {
    pub action: FixAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<Principal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Expr>,
    /// The runnable command line, or the manual step in words.
    pub command: String,
}

/// One finding of troubleshoot; `id` is stable (docs/findings.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub id: String,
    pub bucket: Bucket,
    pub severity: Severity,
    pub explanation: String,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
}

/// Why one caller can or cannot invoke one service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    pub service: ServiceRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Principal>,
    pub verdict: Verdict,
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Request-log and audit-log entries quoted as evidence (LogEntry JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_evidence: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    pub diagnosed_at: DateTime<Utc>,
}

/// What a change was asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ChangeAction {
    Grant,
    Revoke,
    DisableInvokerCheck,
    EnableInvokerCheck,
    Restore,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    pub action: ChangeAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<Principal>,
    /// Further members granted the same role under the same condition in
    /// the same change: a batch plan, one record per service, made from
    /// several Diagnoses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Principal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Expr>,
    /// The change ticket or reason given with `--reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One change to one service: a plan when `applied` is false.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeRecord {
    pub service: ServiceRef,
    pub intent: Intent,
    #[serde(default)]
    pub added: Vec<Binding>,
    #[serde(default)]
    pub removed: Vec<Binding>,
    /// The policy read before the change (its etag is what a plan checks).
    pub policy_before: Policy,
    /// The policy written (or to be written, for a plan).
    pub policy_after: Policy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_etag_before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_etag_after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoker_iam_disabled_before: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoker_iam_disabled_after: Option<bool>,
    pub applied: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_path: Option<String>,
    pub recorded_at: DateTime<Utc>,
    /// Who else gains access through the granted member (`core::impact`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<Impact>,
    /// Which of the window's observed denials the change fixes (`core::window`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Replay>,
}

/// The service's Cloud Run denials of a window, replayed against a plan:
/// each configured caller they came from, evaluated against the live policy
/// and the planned one. Denials no configured caller made are counted
/// apart and never as fixed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Replay {
    /// The window's start (`--since` before the plan).
    pub since: DateTime<Utc>,
    /// Front-end 401s and 403s of the service in the window.
    pub denials: usize,
    /// Of those, the ones whose caller the plan lets invoke.
    pub fixed: usize,
    /// The ones whose caller stays denied after the plan.
    pub still_denied: usize,
    /// The ones whose caller the live policy already lets invoke (granted
    /// since, or not yet propagated).
    #[serde(default)]
    pub allowed_now: usize,
    /// The ones no configured caller made (scanners, people, unknown callers).
    pub unattributed: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callers: Vec<CallerEvidence>,
    /// Why the window could not be read: nothing above counts then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<String>,
}

/// One configured caller's denials in the window and what the plan does for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallerEvidence {
    /// The account its tokens name.
    pub member: String,
    /// Where it is configured (`Pub/Sub subscription projects/P/subscriptions/S`).
    pub caller: String,
    pub denials: usize,
    pub outcome: Outcome,
    /// Why it stays denied: `token audience: …`, `deny policy: …`, `not granted: …`, `unknown: …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// What a plan does for one caller's denials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Fixed,
    StillDenied,
    AllowedNow,
}

/// Who else gains access when a member is granted (`core::impact`
/// gathers it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Impact {
    pub member: String,
    /// Workloads that run as or push as the account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<String>,
    /// The account's user-managed keys (their names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Principals that can mint the account's tokens, and through what.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_minters: Vec<String>,
    /// A group's direct members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_members: Option<usize>,
    /// A group's accounts, nested groups walked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transitive_members: Option<usize>,
    /// What could not be read, so the lists above may be short.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unread: Vec<String>,
    /// The service's last SetIamPolicy came from Terraform: which resource
    /// to change instead, lest its next apply revert the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terraform: Option<String>,
}

impl ChangeRecord {
    /// An unapplied record of `intent` taking `before` to `after`, with the
    /// grants added and removed derived from the two policies.
    pub fn plan(service: ServiceRef, intent: Intent, before: Policy, after: Policy) -> Self {
        Self {
            service,
            intent,
            added: after.grants_not_in(&before),
            removed: before.grants_not_in(&after),
            policy_before: before,
            policy_after: after,
            service_etag_before: None,
            service_etag_after: None,
            invoker_iam_disabled_before: None,
            invoker_iam_disabled_after: None,
            applied: false,
            applied_at: None,
            backup_path: None,
            recorded_at: Utc::now(),
            impact: None,
            evidence: None,
        }
    }
}

impl Intent {
    /// An intent without member, role or condition (restores, invoker check).
    pub fn bare(action: ChangeAction, reason: Option<String>) -> Self {
        Self { action, member: None, members: Vec::new(), role: None, condition: None, reason }
    }

    /// Every member the change means to grant: `member`, then `members`.
    pub fn granted(&self) -> impl Iterator<Item = &Principal> {
        self.member.iter().chain(&self.members)
    }
}

/// `pass`, `fail`, or `error` (the check could not be made).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckResult {
    Pass,
    Fail,
    Error,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: String,
    pub result: CheckResult,
    pub detail: String,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

/// What `verify` proved about one service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub service: ServiceRef,
    /// Whom the calls were made as.
    #[serde(rename = "as", default, skip_serializing_if = "Option::is_none")]
    pub as_principal: Option<Principal>,
    pub passed: bool,
    #[serde(default)]
    pub checks: Vec<Check>,
    pub verified_at: DateTime<Utc>,
}

/// One exposure found by `runiam troubleshoot --audit` on a service, or on
/// a project, folder or organization above services.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditFinding {
    /// The resource the finding is on: `projects/P/locations/R/services/S`,
    /// `projects/P`, `folders/N` or `organizations/N`.
    pub resource: String,
    /// The project it is counted under (none for folders and organizations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub finding: Finding,
    pub audited_at: DateTime<Utc>,
}

/// Any runiam document.
#[derive(Clone, Debug, PartialEq)]
pub enum Document {
    ServiceSnapshot(Box<ServiceSnapshot>),
    Diagnosis(Box<Diagnosis>),
    ChangeRecord(Box<ChangeRecord>),
    VerifyReport(Box<VerifyReport>),
    AuditFinding(Box<AuditFinding>),
}

/// A document as it is written: `apiVersion` and `kind` first, then the body.
#[derive(Serialize)]
struct Enveloped<'a, T> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

impl Serialize for Document {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kind = self.kind().name();
        let api_version = API_VERSION;
        match self {
            Document::ServiceSnapshot(body) => Enveloped { api_version, kind, body }.serialize(s),
            Document::Diagnosis(body) => Enveloped { api_version, kind, body }.serialize(s),
            Document::ChangeRecord(body) => Enveloped { api_version, kind, body }.serialize(s),
            Document::VerifyReport(body) => Enveloped { api_version, kind, body }.serialize(s),
            Document::AuditFinding(body) => Enveloped { api_version, kind, body }.serialize(s),
        }
    }
}

impl Document {
    pub fn kind(&self) -> Kind {
        match self {
            Document::ServiceSnapshot(_) => Kind::ServiceSnapshot,
            Document::Diagnosis(_) => Kind::Diagnosis,
            Document::ChangeRecord(_) => Kind::ChangeRecord,
            Document::VerifyReport(_) => Kind::VerifyReport,
            Document::AuditFinding(_) => Kind::AuditFinding,
        }
    }

    /// The service the document is about (an audit finding may be on a
    /// project, folder or organization instead).
    pub fn service(&self) -> Option<&ServiceRef> {
        match self {
            Document::ServiceSnapshot(d) => Some(&d.service),
            Document::Diagnosis(d) => Some(&d.service),
            Document::ChangeRecord(d) => Some(&d.service),
            Document::VerifyReport(d) => Some(&d.service),
            Document::AuditFinding(_) => None,
        }
    }

    /// The document as JSON: `apiVersion` and `kind` first, then the body.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("documents serialize")
    }

    /// Reads one document from its JSON value, checking the envelope first.
    pub fn from_value(v: Value) -> Result<Self, DocError> {
        let Value::Object(mut m) = v else {
            return Err(DocError::new(None, "a document must be a mapping with apiVersion and kind"));
        };
        match m.remove("apiVersion") {
            Some(Value::String(s)) if s == API_VERSION => {}
            Some(Value::String(s)) => {
                return Err(DocError::new(
                    Some("apiVersion"),
                    format!("'{s}' is not supported; this runiam reads apiVersion: {API_VERSION}"),
                ));
            }
            Some(_) => return Err(DocError::new(Some("apiVersion"), format!("must be the string {API_VERSION}"))),
            None => {
                return Err(DocError::new(
                    Some("apiVersion"),
                    format!("is missing; every runiam document starts with apiVersion: {API_VERSION} and a kind"),
                ));
            }
        }
        let kind = match m.remove("kind") {
            Some(Value::String(s)) => Kind::from_name(&s).ok_or_else(|| {
                DocError::new(
                    Some("kind"),
                    format!(
                        "'{s}' is not a runiam document kind (ServiceSnapshot, Diagnosis, ChangeRecord, VerifyReport, AuditFinding)"
                    ),
                )
            })?,
            _ => {
                return Err(DocError::new(
                    Some("kind"),
                    "is missing or not a string; use ServiceSnapshot, Diagnosis, ChangeRecord, VerifyReport or AuditFinding",
                ));
            }
        };
        let body = Value::Object(m);
        fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, DocError> {
            serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                let field = (path != ".").then_some(path);
                DocError { field, message: e.into_inner().to_string(), kind: None, index: 0 }
            })
        }
        let doc = match kind {
            Kind::ServiceSnapshot => Document::ServiceSnapshot(typed(body)?),
            Kind::Diagnosis => Document::Diagnosis(typed(body)?),
            Kind::ChangeRecord => Document::ChangeRecord(typed(body)?),
            Kind::VerifyReport => Document::VerifyReport(typed(body)?),
            Kind::AuditFinding => Document::AuditFinding(typed(body)?),
        };
        Ok(doc)
    }
}

/// A document that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct DocError {
    /// 1-based position in the stream (0 when not known).
    pub index: usize,
    /// The kind, when the envelope was readable.
    pub kind: Option<Kind>,
    /// The dotted path of the field at fault (`service.region`).
    pub field: Option<String>,
    pub message: String,
}

impl DocError {
    fn new(field: Option<&str>, message: impl Into<String>) -> Self {
        Self { index: 0, kind: None, field: field.map(str::to_owned), message: message.into() }
    }
}

impl std::fmt::Display for DocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.index > 0 {
            write!(f, "document {}: ", self.index)?;
        }
        match &self.field {
            Some(field) => write!(f, "field '{field}' {}", self.message.trim_start_matches(&format!("{field}: "))),
            None => f.write_str(&self.message),
        }
    }
}

/// The largest document a reader takes, in bytes: far above any real
/// snapshot (a policy at IAM's 1,500-principal limit is about 100 KiB), low
/// enough that one document never holds much memory.
pub const MAX_DOCUMENT_BYTES: usize = 8 << 20;

/// Reads a stream one document at a time, so a stream of any length takes
/// the memory of its largest document: JSON lines (or concatenated JSON)
/// when it starts with `{`, else a YAML stream. Every budget (bytes, and
/// the YAML parser's nodes, depth and aliases) holds per document.
pub struct DocReader<R: BufRead> {
    source: Source<R>,
    /// Documents read so far (1-based position of the last one).
    index: usize,
    failed: bool,
}

enum Source<R: BufRead> {
    Yaml {
        reader: R,
        line: String,
        carry: String,
        done: bool,
    },
    Json {
        values: Box<serde_json::StreamDeserializer<'static, serde_json::de::IoRead<Metered<R>>, Value>>,
        used: Rc<Cell<usize>>,
    },
    Empty,
}

/// A reader that counts the bytes of the document being read and fails
/// past `MAX_DOCUMENT_BYTES`, so one endless JSON value cannot fill memory.
struct Metered<R> {
    inner: R,
    used: Rc<Cell<usize>>,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.used.get() > MAX_DOCUMENT_BYTES {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, "document too large"));
        }
        let n = self.inner.read(buf)?;
        self.used.set(self.used.get() + n);
        Ok(n)
    }
}

impl<R: BufRead + 'static> DocReader<R> {
    /// Looks at the first byte that is not a byte-order mark or white space
    /// to tell JSON from YAML.
    pub fn new(mut reader: R) -> Result<Self, DocError> {
        let unreadable = |e: io::Error| DocError::new(None, format!("cannot read the input: {e}"));
        let first = loop {
            let buf = reader.fill_buf().map_err(unreadable)?;
            let Some(&b) = buf.first() else { break None };
            let skip = if buf.starts_with("\u{feff}".as_bytes()) {
                3
            } else if b.is_ascii_whitespace() {
                1
            } else {
                break Some(b);
            };
            reader.consume(skip);
        };
        let source = match first {
            None => Source::Empty,
            Some(b'{') => {
                let used = Rc::new(Cell::new(0));
                let metered = Metered { inner: reader, used: used.clone() };
                Source::Json { values: Box::new(serde_json::Deserializer::from_reader(metered).into_iter()), used }
            }
            Some(_) => Source::Yaml { reader, line: String::new(), carry: String::new(), done: false },
        };
        Ok(Self { source, index: 0, failed: false })
    }

    /// The next document's JSON value, or `None` at the end of the stream.
    fn next_value(&mut self) -> Option<Result<Value, DocError>> {
        let index = self.index + 1;
        let err = |message: String| DocError { index, kind: None, field: None, message };
        if let Source::Json { values, used } = &mut self.source {
            used.set(0);
            let v = values.next()?;
            self.index = index;
            return Some(v.map_err(|e| match e.is_io() {
                _ if used.get() > MAX_DOCUMENT_BYTES => err(too_large()),
                true => err(format!("cannot read the input: {e}")),
                false => err(format!("not valid JSON: {e}")),
            }));
        }
        loop {
            let text = self.next_yaml_text()?;
            self.index = index;
            let text = match text {
                Ok(t) => t,
                Err(message) => return Some(Err(err(message))),
            };
            let options = serde_saphyr::options! { strict_booleans: true };
            match serde_saphyr::from_str_with_options::<Value>(&text, options) {
                Ok(Value::Null) => continue,
                Ok(v) => return Some(Ok(v)),
                Err(e) => return Some(Err(err(yaml_error(e)))),
            }
        }
    }

    /// The text of the next non-blank YAML document, split at its `---` and
    /// `...` markers. A marker at the start of a line always ends a document
    /// in YAML (it cannot occur inside a scalar), so splitting on lines is
    /// exact. `--- value` keeps its content.
    fn next_yaml_text(&mut self) -> Option<Result<String, String>> {
        let Source::Yaml { reader, line, carry, done } = &mut self.source else { return None };
        let mut doc = std::mem::take(carry);
        loop {
            if *done {
                return (!doc.trim().is_empty()).then_some(Ok(doc));
            }
            line.clear();
            let room = (MAX_DOCUMENT_BYTES + 1).saturating_sub(doc.len()) as u64;
            match reader.by_ref().take(room).read_line(line) {
                Ok(0) => *done = true,
                Ok(_) if doc.len() + line.len() > MAX_DOCUMENT_BYTES => return Some(Err(too_large())),
                Ok(_) => {
                    let bare = line.trim_end_matches(['\n', '\r']);
                    let after = |m: &str| bare.strip_prefix(m).filter(|a| a.is_empty() || a.starts_with([' ', '\t']));
                    let next = match (after("---"), after("...")) {
                        (Some(rest), _) => Some(rest),
                        (None, Some(_)) => Some(""),
                        (None, None) => None,
                    };
                    match next {
                        Some(rest) if doc.trim().is_empty() => doc = format!("{rest}\n"),
                        Some(rest) => {
                            *carry = format!("{rest}\n");
                            return Some(Ok(doc));
                        }
                        None => doc.push_str(line),
                    }
                }
                Err(e) => return Some(Err(format!("cannot read the input: {e}"))),
            }
        }
    }
}

impl<R: BufRead + 'static> Iterator for DocReader<R> {
    type Item = Result<Document, DocError>;

    /// The next document; after an error, the stream ends.
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let index = self.index + 1;
        let item = self.next_value()?.and_then(|v| {
            let kind = v.get("kind").and_then(Value::as_str).and_then(Kind::from_name);
            Document::from_value(v).map_err(|mut e| {
                e.kind = e.kind.or(kind);
                e
            })
        });
        self.failed = item.is_err();
        Some(item.map_err(|mut e| {
            e.index = index;
            e
        }))
    }
}

fn too_large() -> String {
    format!("is larger than {} MiB, the limit of one document", MAX_DOCUMENT_BYTES >> 20)
}

/// A YAML parse error in words; a breached budget names its limit.
fn yaml_error(mut e: serde_saphyr::Error) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    while let serde_saphyr::Error::WithSnippet { error, .. } = e {
        e = *error;
    }
    let limits = serde_saphyr::budget::Budget::default();
    let (what, limit) = match &e {
        serde_saphyr::Error::Budget { breach, .. } => match breach {
            B::Nodes { .. } => ("YAML nodes", limits.max_nodes),
            B::Events { .. } => ("YAML events", limits.max_events),
            B::Depth { .. } => ("levels of nesting", limits.max_depth),
            B::Aliases { .. } => ("aliases", limits.max_aliases),
            B::Anchors { .. } => ("anchors", limits.max_anchors),
            B::ScalarBytes { .. } => ("bytes of scalars", limits.max_total_scalar_bytes),
            B::MergeKeys { .. } => ("merge keys", limits.max_merge_keys),
            _ => return format!("is beyond what one document may hold ({breach:?})"),
        },
        _ => return format!("not a valid YAML document: {e}"),
    };
    format!("has more than {limit} {what}, the limit of one document")
}

/// Reads every document of a YAML stream or JSON lines held in memory.
pub fn parse_stream(text: &str) -> Result<Vec<Document>, DocError> {
    DocReader::new(io::Cursor::new(text.to_owned()))?.collect()
}

/// Reads the documents `program` accepts from text in memory, or the
/// exit-2 error that names the field at fault or the command that reads
/// the kind given.
pub fn read_for(program: &str, accepts: &[Kind], text: &str) -> Result<Vec<Document>, CommandError> {
    let cursor: Box<dyn BufRead> = Box::new(io::Cursor::new(text.to_owned()));
    let reader = DocReader::new(cursor).map_err(unreadable)?;
    Documents { reader, program: program.to_owned(), accepts: accepts.to_vec(), empty: None, read: 0 }.collect()
}

/// The exit-2 error for a document that cannot be read.
fn unreadable(e: DocError) -> CommandError {
    let err = CommandError::usage(format!("cannot read the input documents: {e}"));
    match e.kind {
        Some(k) => {
            err.hinted(format!("see `cargo xtask schemas` output schemas/{k}.schema.json for the shape of a {k}"))
        }
        None => err,
    }
}

/// The documents of one input, read one at a time and checked against the
/// kinds the command reads. A command that handles each as it comes holds
/// one document at a time, whatever the stream's length. After an error
/// the iterator ends.
pub struct Documents {
    reader: DocReader<Box<dyn BufRead>>,
    program: String,
    accepts: Vec<Kind>,
    /// The error for an input without documents, when that is one.
    empty: Option<CommandError>,
    read: usize,
}

impl Documents {
    /// Opens `input` for `program`. An input with no document ends in an
    /// exit-2 error unless `allow_empty`: in a pipe, it almost always means
    /// the command before failed, and success here would make the whole
    /// pipe look green.
    pub fn open(program: &str, accepts: &[Kind], input: &Input, allow_empty: bool) -> Result<Self, CommandError> {
        let (reader, from): (Box<dyn BufRead>, String) = match input {
            Input::Stdin => (
                Box::new(io::BufReader::new(io::stdin())),
                "no documents on stdin: did the previous command fail?".into(),
            ),
            Input::File(p) => {
                let f = std::fs::File::open(p)
                    .map_err(|e| CommandError::usage(format!("cannot read -f {}: {e}", p.display())))?;
                (Box::new(io::BufReader::new(f)), format!("no documents in {}", p.display()))
            }
        };
        let empty = (!allow_empty).then(|| {
            CommandError::usage(from).hinted(
                "check the exit status of the command before (set -o pipefail); --allow-empty accepts an empty input",
            )
        });
        let reader = DocReader::new(reader).map_err(unreadable)?;
        Ok(Self { reader, program: program.to_owned(), accepts: accepts.to_vec(), empty, read: 0 })
    }

    fn check(&self, d: Document) -> Result<Document, CommandError> {
        let kind = d.kind();
        if self.accepts.contains(&kind) {
            return Ok(d);
        }
        let program = &self.program;
        let wanted = self.accepts.iter().map(|k| k.name()).collect::<Vec<_>>().join(" or ");
        let readers = kind.readers();
        let hint = if readers.is_empty() {
            format!("{kind} documents are final reports; no runiam command reads them")
        } else {
            format!("{kind} documents are read by {}", readers.join(", "))
        };
        Err(CommandError::usage(format!(
            "document {} is a {kind}, which {program} does not read; {program} reads {wanted} documents",
            self.read
        ))
        .hinted(hint))
    }
}

impl Iterator for Documents {
    type Item = Result<Document, CommandError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.reader.next() {
            Some(d) => {
                self.read += 1;
                Some(d.map_err(unreadable).and_then(|d| self.check(d)))
            }
            None if self.read == 0 => self.empty.take().map(Err),
            None => None,
        }
    }
}

/// Where a command's input documents come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

/// The stdin rule (docs/documents.md): `-f -` or `-f FILE` when given; otherwise
/// stdin only when no SERVICE argument was given and stdin is not a terminal.
pub fn input(file: Option<&Path>, have_service_args: bool) -> Option<Input> {
    match file {
        Some(p) if p == Path::new("-") => Some(Input::Stdin),
        Some(p) => Some(Input::File(p.to_owned())),
        None if !have_service_args && !io::stdin().is_terminal() => Some(Input::Stdin),
        None => None,
    }
}

/// The documents a reader command takes from `-f FILE` or stdin, all read
/// and checked before anything is done: `None` when there is no input at
/// all (stdin a terminal), else every document, checked against `accepts`
/// (see `Documents::open` for `allow_empty`).
pub fn read_documents(
    program: &str,
    accepts: &[Kind],
    file: Option<&Path>,
    allow_empty: bool,
) -> Result<Option<Vec<Document>>, CommandError> {
    let Some(source) = input(file, false) else { return Ok(None) };
    Documents::open(program, accepts, &source, allow_empty)?.collect::<Result<Vec<_>, _>>().map(Some)
}

/// YAML streams or JSON lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocFormat {
    Yaml,
    Json,
}

/// Renders one document in `format`, with its trailing newline.
pub fn render(doc: &Document, format: DocFormat) -> String {
    match format {
        // Straight to text, no tree between: a fleet export streams thousands.
        DocFormat::Json => format!("{}\n", serde_json::to_string(doc).expect("documents serialize")),
        // Every YAML document opens with `---`, so that files concatenated
        // (`cat diag.yaml change.yaml | runiam runbook`) stay a stream.
        DocFormat::Yaml => {
            let s = serde_saphyr::to_string(&doc.to_value()).expect("JSON values serialize as YAML");
            if s.ends_with('\n') { format!("---\n{s}") } else { format!("---\n{s}\n") }
        }
    }
}

/// Writes `docs` to stdout as one stream in `format`.
pub fn write_stdout(docs: impl IntoIterator<Item = Document>, format: DocFormat) -> io::Result<()> {
    let mut w = DocWriter::new(io::stdout().lock(), format);
    for d in docs {
        w.write(&d)?;
    }
    Ok(())
}

/// Writes documents as a stream, flushing each so pipes see them at once.
pub struct DocWriter<W: Write> {
    out: W,
    format: DocFormat,
}

impl<W: Write> DocWriter<W> {
    pub fn new(out: W, format: DocFormat) -> Self {
        Self { out, format }
    }

    pub fn write(&mut self, doc: &Document) -> io::Result<()> {
        self.write_batch(std::iter::once(doc))
    }

    /// Writes documents that arrived together (a page of search results)
    /// with one write and one flush.
    pub fn write_batch<'a>(&mut self, docs: impl IntoIterator<Item = &'a Document>) -> io::Result<()> {
        let text: String = docs.into_iter().map(|d| render(d, self.format)).collect();
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    /// The raw texts of a YAML stream's documents.
    fn yaml_texts(text: &str) -> Vec<String> {
        let mut r = DocReader::new(io::Cursor::new(text.to_owned())).unwrap();
        std::iter::from_fn(|| r.next_yaml_text()).map(Result::unwrap).collect()
    }

    #[test]
    fn yaml_streams_split_at_markers_only() {
        let docs = yaml_texts("a: 1\n---\nb: |\n  ---x\n  text\n--- c: 3\n...\n---\n\n---\nd: 4\n");
        assert_eq!(docs, ["a: 1\n", "\nb: |\n  ---x\n  text\n", " c: 3\n", "\nd: 4\n"]);
        assert_eq!(yaml_texts("...\nfoo: 1"), ["\nfoo: 1"]);
    }

    #[test]
    fn budgets_hold_per_document_not_per_stream() {
        let snap = &samples()[0];
        for format in [DocFormat::Yaml, DocFormat::Json] {
            let mut w = DocWriter::new(Vec::new(), format);
            for _ in 0..3000 {
                w.write(snap).unwrap();
            }
            let docs = parse_stream(&String::from_utf8(w.into_inner()).unwrap()).unwrap();
            assert_eq!(docs.len(), 3000, "{format:?}");
        }
    }

    #[test]
    fn a_document_over_a_budget_is_named_with_the_limit() {
        let one = render(&samples()[0], DocFormat::Yaml);
        let nodes = (0..260_000).map(|i| format!("  k{i}: v\n")).collect::<String>();
        let stream = format!("{one}---\n{one}---\nbig:\n{nodes}---\n{one}");
        let e = parse_stream(&stream).unwrap_err();
        assert_eq!(e.to_string(), "document 3: has more than 250000 YAML nodes, the limit of one document");
        let huge = format!("{one}---\nbig: \"{}\"\n", "x".repeat(MAX_DOCUMENT_BYTES));
        assert_eq!(
            parse_stream(&huge).unwrap_err().to_string(),
            "document 2: is larger than 8 MiB, the limit of one document"
        );
        let json =
            format!("{}{{\"big\": \"{}\"}}\n", render(&samples()[0], DocFormat::Json), "x".repeat(MAX_DOCUMENT_BYTES));
        assert_eq!(
            parse_stream(&json).unwrap_err().to_string(),
            "document 2: is larger than 8 MiB, the limit of one document"
        );
        let e = read_for("runiam-troubleshoot", &[Kind::ServiceSnapshot], &stream).unwrap_err();
        assert_eq!(e.exit, crate::Exit::Usage);
    }

    use super::*;

    pub(crate) fn samples() -> Vec<Document> {
        let at = DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z").unwrap().with_timezone(&Utc);
        let svc = ServiceRef {
            project: "acme-prod".into(),
            project_number: Some("100000000001".into()),
            region: "europe-west1".into(),
            name: "hello".into(),
        };
        let policy = Policy {
            version: 3,
            etag: Some("BwYP8nVd7kE=".into()),
            bindings: vec![Binding {
                role: "roles/run.invoker".into(),
                members: vec!["serviceAccount:sched@acme-prod.iam.gserviceaccount.com".into()],
                condition: Some(Expr {
                    expression: "request.time < timestamp(\"2027-01-01T00:00:00Z\")".into(),
                    title: Some("no".into()),
                    ..Expr::default()
                }),
                ..Binding::default()
            }],
            ..Policy::default()
        };
        let caller = Principal::parse("serviceAccount:sched@acme-prod.iam.gserviceaccount.com").unwrap();
        let fix = Fix {
            action: FixAction::Grant,
            member: Some(caller.clone()),
            role: Some("roles/run.invoker".into()),
            condition: None,
            command:
                "runiam grant-invoker hello --member serviceAccount:sched@acme-prod.iam.gserviceaccount.com --apply"
                    .into(),
        };
        vec![
            Document::ServiceSnapshot(Box::new(ServiceSnapshot {
                service: svc.clone(),
                uri: Some("https://hello-100000000001.europe-west1.run.app".into()),
                urls: vec!["https://hello-100000000001.europe-west1.run.app".into()],
                ingress: Some("INGRESS_TRAFFIC_ALL".into()),
                invoker_iam_disabled: false,
                default_uri_disabled: false,
                iap_enabled: false,
                custom_audiences: vec![],
                service_account: Some("100000000001-compute@developer.gserviceaccount.com".into()),
                etag: Some("\"abc\"".into()),
                iam_policy: policy.clone(),
                ancestry: vec!["folders/200000000001".into(), "organizations/123456789012".into()],
                captured_at: at,
                source: None,
            })),
            Document::Diagnosis(Box::new(Diagnosis {
                service: svc.clone(),
                caller: Some(caller.clone()),
                verdict: Verdict::Denied,
                findings: vec![Finding {
                    id: "iam.no-grant".into(),
                    bucket: Bucket::Iam,
                    severity: Severity::Cause,
                    explanation: "nothing grants run.routes.invoke".into(),
                    evidence: vec![Evidence {
                        source: "run.googleapis.com getIamPolicy".into(),
                        detail: "no binding".into(),
                        data: None,
                    }],
                    fix: Some(fix.clone()),
                }],
                log_evidence: vec![],
                fix: Some(fix),
                diagnosed_at: at,
            })),
            Document::ChangeRecord(Box::new(ChangeRecord {
                service: svc.clone(),
                intent: Intent {
                    action: ChangeAction::Grant,
                    member: Some(caller.clone()),
                    members: Vec::new(),
                    role: Some("roles/run.invoker".into()),
                    condition: None,
                    reason: Some("CHG-42".into()),
                },
                added: policy.bindings.clone(),
                removed: vec![],
                policy_before: Policy { etag: Some("ACAB".into()), ..Policy::default() },
                policy_after: policy,
                service_etag_before: None,
                service_etag_after: None,
                invoker_iam_disabled_before: None,
                invoker_iam_disabled_after: None,
                applied: true,
                applied_at: Some(at),
                backup_path: Some("backups/acme-prod/europe-west1/hello.yaml".into()),
                recorded_at: at,
                impact: None,
                evidence: None,
            })),
            Document::VerifyReport(Box::new(VerifyReport {
                service: svc,
                as_principal: Some(caller),
                passed: true,
                checks: vec![Check {
                    name: "invoke".into(),
                    result: CheckResult::Pass,
                    detail: "200 in 12 ms".into(),
                    evidence: vec![],
                }],
                verified_at: at,
            })),
        ]
    }

    #[test]
    fn every_kind_round_trips_in_yaml_and_json() {
        let docs = samples();
        for format in [DocFormat::Yaml, DocFormat::Json] {
            let mut w = DocWriter::new(Vec::new(), format);
            for d in &docs {
                w.write(d).unwrap();
            }
            let text = String::from_utf8(w.into_inner()).unwrap();
            assert_eq!(parse_stream(&text).unwrap(), docs, "{format:?}:\n{text}");
        }
        // JSON is written straight from the documents: the bytes the tree gives.
        for d in &docs {
            assert_eq!(render(d, DocFormat::Json), format!("{}\n", serde_json::to_string(&d.to_value()).unwrap()));
            assert!(
                render(d, DocFormat::Json)
                    .starts_with(&format!("{{\"apiVersion\":\"{API_VERSION}\",\"kind\":\"{}\",", d.kind().name()))
            );
        }
    }

    #[test]
    fn audit_findings_round_trip() {
        let Document::Diagnosis(d) = &samples()[1] else { unreachable!() };
        let doc = Document::AuditFinding(Box::new(AuditFinding {
            resource: "folders/200000000001".into(),
            project: None,
            finding: d.findings[0].clone(),
            audited_at: d.diagnosed_at,
        }));
        for format in [DocFormat::Yaml, DocFormat::Json] {
            let text = render(&doc, format);
            assert_eq!(parse_stream(&text).unwrap(), std::slice::from_ref(&doc), "{text}");
        }
        assert_eq!(doc.service(), None);
        let e = read_for("runiam-rollback", &[Kind::ChangeRecord], &render(&doc, DocFormat::Yaml)).unwrap_err();
        assert!(e.hints[0].contains("AuditFinding documents are final reports"), "{:?}", e.hints);
    }

    #[test]
    fn concatenated_yaml_files_are_one_stream() {
        let docs = samples();
        let files: Vec<String> = docs.iter().map(|d| render(d, DocFormat::Yaml)).collect();
        assert_eq!(parse_stream(&files.concat()).unwrap(), docs);
    }

    #[test]
    fn yaml_quotes_yaml11_booleans() {
        let text = render(&samples()[0], DocFormat::Yaml);
        assert!(text.contains("title: \"no\""), "{text}");
        assert!(text.starts_with("---\napiVersion: runiam/v1\nkind: ServiceSnapshot\n"), "{text}");
    }

    #[test]
    fn envelope_errors_name_the_field() {
        let e = parse_stream("apiVersion: runiam/v2\nkind: Diagnosis\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "document 1: field 'apiVersion' 'runiam/v2' is not supported; this runiam reads apiVersion: runiam/v1"
        );
        let e = parse_stream("kind: Diagnosis\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("apiVersion"));
        let e = parse_stream("apiVersion: runiam/v1\nkind: Nope\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("kind"));
        let mut text = render(&samples()[1], DocFormat::Yaml);
        text = text.replace("region: europe-west1", "region: 42");
        let e = parse_stream(&format!("{}---\n{text}", render(&samples()[0], DocFormat::Yaml))).unwrap_err();
        assert_eq!(e.index, 2);
        assert_eq!(e.kind, Some(Kind::Diagnosis));
        assert!(e.to_string().starts_with("document 2: field 'service"), "{e}");
    }

    #[test]
    fn wrong_kind_names_the_reader() {
        let text = render(&samples()[1], DocFormat::Json);
        let e = read_for("runiam-verify", &[Kind::ChangeRecord], &text).unwrap_err();
        assert_eq!(e.exit, crate::Exit::Usage);
        assert_eq!(
            e.render("runiam-verify"),
            "runiam-verify: error: document 1 is a Diagnosis, which runiam-verify does not read; runiam-verify reads ChangeRecord documents\n\nhint: Diagnosis documents are read by runiam grant-invoker, runiam runbook\n"
        );
    }

    #[test]
    fn malformed_streams_are_usage_errors() {
        for bad in ["{\"apiVersion\": ", "key: [unclosed\n", "- a\n- b\n", "just text"] {
            let e = read_for("runiam-rollback", &[Kind::ChangeRecord], bad).unwrap_err();
            assert_eq!(e.exit, crate::Exit::Usage, "{bad}");
        }
        assert!(parse_stream("").unwrap().is_empty());
    }

    proptest::proptest! {
        #[test]
        fn readers_never_panic(text in ".{0,300}") {
            let _ = parse_stream(&text);
        }

        #[test]
        fn readers_never_panic_on_near_documents(i in 0usize..4, cut in 0usize..2000, junk in ".{0,10}") {
            for format in [DocFormat::Yaml, DocFormat::Json] {
                let text = render(&samples()[i], format);
                let cut = cut.min(text.len());
                let cut = (0..=cut).rev().find(|c| text.is_char_boundary(*c)).unwrap_or(0);
                let _ = parse_stream(&format!("{}{junk}{}", &text[..cut], &text[cut..]));
            }
        }
    }
}
