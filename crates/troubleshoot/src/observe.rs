//! What was actually sent and logged, added to the Draft made from the
//! configuration: the token's findings (judged at the logged denial's
//! time), the request-log classes, VPC-SC, recent grants. Pure.

use chrono::{DateTime, Utc};
use runiam_core::api::run::Service;
use runiam_core::doc::{Evidence, Fix, FixAction, Verdict};
use runiam_core::model::Principal;
use serde_json::{Value, json};

use crate::findings as f;
use crate::logs::{self, Class, Entry, PROPAGATION};
use crate::settle::Draft;
use crate::token::{self, At, Presented, Signature};

/// The log read of the service's project: `None` with `--no-logs`, an
/// error text when the read failed.
pub enum LogRead<'a> {
    Skipped,
    Failed(String),
    Read { entries: &'a [Value], since: DateTime<Utc>, filter: &'a str },
}

/// What the user gave besides the caller.
pub struct Observed<'a> {
    pub token: Option<(&'a Presented, &'a [Signature])>,
    pub logs: LogRead<'a>,
    /// `--saw`: the status the caller got.
    pub saw: Option<u16>,
    pub now: DateTime<Utc>,
    /// The caller was named (or came with the token), not discovered: only
    /// then can a logged "not authenticated" be taken as this caller's.
    pub named_caller: bool,
}

fn ev(source: &str, detail: String, data: Option<Value>) -> Evidence {
    Evidence { source: source.to_owned(), detail, data }
}

const LOGS: &str = "logging.googleapis.com entries.list";

fn manual(command: String) -> Fix {
    Fix { action: FixAction::Manual, member: None, role: None, condition: None, command }
}

/// The service's own log entries, each with its class.
type Mine<'a> = Vec<(Entry<'a>, Class)>;

/// Adds the observed findings and log evidence to `d`; `settle` decides
/// what they mean for the verdict and the fix.
pub fn apply(d: &mut Draft, service: &Service, o: &Observed) {
    let mine = classified(d, o);
    let requests: Mine = mine.iter().filter(|(_, c)| !matches!(c, Class::VpcSc | Class::IamChange)).cloned().collect();
    d.log_evidence.extend(logs::group(&requests).into_iter().take(10));
    token_findings(d, service, o, &mine);
    log_findings(d, o, &mine, &requests);
    propagation_findings(d, o, &mine);
}

/// The entries of `d`'s service among those read, classified; a failed
/// read is noted as such.
fn classified<'a>(d: &mut Draft, o: &Observed<'a>) -> Mine<'a> {
    let s = &d.service;
    match &o.logs {
        LogRead::Read { entries, .. } => entries
            .iter()
            .map(|e| {
                let e = Entry::read(e);
                let c = logs::classify(&e);
                (e, c)
            })
            .filter(|(e, c)| logs::concerns(e, &s.project, &s.region, &s.name, *c))
            .collect(),
        LogRead::Skipped => Vec::new(),
        LogRead::Failed(why) => {
            d.log_evidence.push(json!({"unread": why}));
            Vec::new()
        }
    }
}

fn of<'m, 'a>(mine: &'m Mine<'a>, pred: impl Fn(Class) -> bool) -> Vec<&'m Entry<'a>> {
    mine.iter().filter(|(_, c)| pred(*c)).map(|(e, _)| e).collect()
}

/// Up to five entries, quoted as evidence.
fn quoted(es: &[&Entry]) -> Vec<Evidence> {
    es.iter()
        .take(5)
        .map(|e| ev(LOGS, format!("{} {}", e.timestamp.unwrap_or("?"), e.insert_id.unwrap_or("?")), Some(e.quote())))
        .collect()
}

/// The token, judged at the newest front-end denial when one was logged;
/// without a token, a logged "not authenticated" for an IAM-allowed caller.
fn token_findings(d: &mut Draft, service: &Service, o: &Observed, mine: &Mine) {
    let front = of(mine, |c| matches!(c, Class::FrontEnd(_)));
    let denial = front.iter().filter_map(|e| e.time().map(|t| (t, *e))).max_by_key(|(t, _)| *t);
    match o.token {
        Some((p, sigs)) => {
            let at = match denial {
                Some((t, e)) => At { time: t, source: format!("the logged denial {}", e.insert_id.unwrap_or("?")) },
                None => At { time: o.now, source: "now".into() },
            };
            d.findings.extend(token::judge(p, service, &at, sigs));
        }
        None => {
            let not_auth: Vec<&Entry> = front
                .iter()
                .filter(|e| e.status() == Some(403) && e.text().is_some_and(|t| t.starts_with(logs::FRONT_403)))
                .copied()
                .collect();
            let anonymous = d.caller == Principal::AllUsers;
            if o.named_caller && !not_auth.is_empty() && !anonymous && d.iam == Verdict::Allowed {
                let url = service.uri.clone().unwrap_or_default();
                d.findings.push(f::token_missing(
                    quoted(&not_auth),
                    manual(format!("send `Authorization: Bearer ID_TOKEN` with an ID token whose audience is {url}")),
                ));
            }
        }
    }
}

/// What the request logs show besides the token: the container's own
/// denials, throttling, VPC-SC, a status the caller saw that Cloud Run
/// never logged.
fn log_findings(d: &mut Draft, o: &Observed, mine: &Mine, requests: &Mine) {
    let s = d.service.clone();
    let app = of(mine, |c| matches!(c, Class::App(_)));
    if let Some(status) = app.first().and_then(|e| e.status()) {
        d.findings.push(f::app_denied(status, quoted(&app)));
    }
    let throttled = of(mine, |c| matches!(c, Class::Throttled(_)));
    if !throttled.is_empty() {
        d.findings.push(f::quota_throttled(
            quoted(&throttled),
            manual(format!(
                "raise max instances or slow the caller: gcloud run services update {} --region {} --project {} --max-instances N",
                s.name, s.region, s.project
            )),
        ));
    }
    let vpc = of(mine, |c| c == Class::VpcSc);
    if !vpc.is_empty() {
        d.findings.push(f::network_vpc_sc(
            quoted(&vpc),
            manual("add an ingress rule for the caller to the service perimeter (or call from inside it); the audit entry names the perimeter and the violation".into()),
        ));
    }
    if let (Some(saw), LogRead::Read { since, filter, .. }) = (o.saw, &o.logs) {
        let logged = requests.iter().any(|(e, _)| e.status() == Some(saw));
        if !logged && vpc.is_empty() {
            d.findings.push(f::network_no_request_log(
                saw,
                &since.to_rfc3339(),
                vec![ev(
                    LOGS,
                    format!(
                        "no request-log entry with status {saw} for {} since {}",
                        s.full_name(),
                        since.to_rfc3339()
                    ),
                    Some(json!({"filter": filter})),
                )],
            ));
        }
    }
}

/// A grant to the caller younger than IAM's propagation window.
fn propagation_findings(d: &mut Draft, o: &Observed, mine: &Mine) {
    let member = d.caller.to_string();
    let recent: Vec<&Entry> = of(mine, |c| c == Class::IamChange)
        .into_iter()
        .filter(|e| e.time().is_some_and(|t| o.now - t < PROPAGATION))
        .filter(|e| e.added_members().any(|m| m == member))
        .collect();
    if let Some(newest) = recent.iter().filter_map(|e| e.time()).max() {
        let age = (o.now - newest).num_seconds().max(0);
        d.findings.push(f::iam_propagation(&member, &format!("{}m{:02}s", age / 60, age % 60), quoted(&recent)));
    }
}
