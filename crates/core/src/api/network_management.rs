//! Network Management API v1: Connectivity Tests (`connectivityTests`
//! create, get, delete under `projects/P/locations/global`) and their
//! long-running operations. Paths, field names and enum spellings follow
//! Google's networkmanagement v1 discovery document; only the fields
//! runiam reads or writes are named, the rest kept in `extra`.
//!
//! A test simulates the packet path only (routes, firewalls, VPC egress):
//! Cloud Run's ingress, IAM and VPC Service Controls perimeters are not in
//! it (docs/cloud-run.md "Connectivity Tests"). Google charges per analysis.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use super::run::Operation;
use crate::config::Api;
use crate::http::{ApiError, Http, api_url};

/// Where Google publishes what an analysis costs.
pub const PRICING_URL: &str = "https://cloud.google.com/network-intelligence-center/pricing";

/// `ConnectivityTest`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectivityTest {
    /// `projects/P/locations/global/connectivityTests/T`; output only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub source: Endpoint,
    #[serde(default)]
    pub destination: Endpoint,
    /// `TCP` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Output only: the latest analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachability_details: Option<ReachabilityDetails>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Endpoint`: a source or destination. `cloudRunRevision` is for sources
/// only; `fqdn` is for GKE control planes only, so a run.app host is given
/// by its resolved `ipAddress`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// A Compute Engine instance, `projects/P/zones/Z/instances/I`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_run_revision: Option<CloudRunRevisionEndpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// A VPC network, `projects/P/global/networks/N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `CloudRunRevisionEndpoint`: `uri` is `projects/P/locations/L/revisions/R`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudRunRevisionEndpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `ReachabilityDetails`: `result` is `REACHABLE`, `UNREACHABLE`,
/// `AMBIGUOUS` or `UNDETERMINED` (`error` says why it did not complete).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReachabilityDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<Trace>,
    /// A `google.rpc.Status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Trace`: one possible path, its steps in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Step`: a `state` (`START_FROM_CLOUD_RUN_REVISION`,
/// `SERVERLESS_EXTERNAL_CONNECTION`, `DIRECT_VPC_EGRESS_CONNECTION`,
/// `ARRIVE_AT_VPC_CONNECTOR`, `APPLY_ROUTE`, `DELIVER`, `DROP`, ...) and
/// the info of that state (kept in `extra`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub causes_drop: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<DropInfo>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `DropInfo`: why the packet is dropped (`PRIVATE_GOOGLE_ACCESS_DISALLOWED`, ...).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DropInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_uri: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How a trace leaves a serverless source, the fact ingress turns on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Egress {
    /// `SERVERLESS_EXTERNAL_CONNECTION`: public connectivity, so the call
    /// arrives at Cloud Run as external.
    External,
    /// `DIRECT_VPC_EGRESS_CONNECTION`.
    DirectVpc,
    /// `ARRIVE_AT_VPC_CONNECTOR`.
    Connector,
}

impl Egress {
    /// The step state that shows it.
    pub fn state(self) -> &'static str {
        match self {
            Egress::External => "SERVERLESS_EXTERNAL_CONNECTION",
            Egress::DirectVpc => "DIRECT_VPC_EGRESS_CONNECTION",
            Egress::Connector => "ARRIVE_AT_VPC_CONNECTOR",
        }
    }

    fn of(state: &str) -> Option<Egress> {
        [Egress::External, Egress::DirectVpc, Egress::Connector].into_iter().find(|e| e.state() == state)
    }
}

/// What a finished analysis says, read from its first trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    /// `REACHABLE`, `UNREACHABLE`, `AMBIGUOUS`, `UNDETERMINED`, or
    /// `RESULT_UNSPECIFIED` when absent.
    pub result: String,
    /// How many traces the analysis found.
    pub traces: usize,
    /// The states of the first trace, in order.
    pub states: Vec<String>,
    /// How the first trace leaves a serverless source, when it says.
    pub egress: Option<Egress>,
    /// The final state of the first trace (`DELIVER`, `DROP`, `FORWARD`, `ABORT`).
    pub last: Option<String>,
    /// The step that ends the trip when it is not delivered: the step
    /// flagged `causesDrop` or else the final one, as `(index, state)`.
    pub stopped_at: Option<(usize, String)>,
    /// The drop's cause, when dropped.
    pub drop_cause: Option<String>,
    /// Why the analysis did not complete, from `error.message`.
    pub error: Option<String>,
}

impl Analysis {
    /// Reads `details`; any shape gives an answer, missing parts stay empty.
    pub fn of(details: &ReachabilityDetails) -> Analysis {
        let first = details.traces.first();
        let steps: &[Step] = first.map_or(&[], |t| t.steps.as_slice());
        let states: Vec<String> = steps.iter().map(|s| s.state.clone().unwrap_or_default()).collect();
        let egress = states.iter().find_map(|s| Egress::of(s));
        let last = steps.last().and_then(|s| s.state.clone());
        let ended = last.as_deref().is_some_and(|l| l != "DELIVER");
        let stopped_at = ended
            .then(|| {
                let i = steps.iter().position(|s| s.causes_drop).unwrap_or(steps.len().saturating_sub(1));
                states.get(i).map(|s| (i, s.clone()))
            })
            .flatten();
        let drop_cause = steps.iter().rev().find_map(|s| s.drop.as_ref().and_then(|d| d.cause.clone()));
        let error = details.error.as_ref().map(|e| match e.get("message").and_then(Value::as_str) {
            Some(m) => m.to_owned(),
            None => e.to_string(),
        });
        Analysis {
            result: details.result.clone().unwrap_or_else(|| "RESULT_UNSPECIFIED".to_owned()),
            traces: details.traces.len(),
            states,
            egress,
            last,
            stopped_at,
            drop_cause,
            error,
        }
    }
}

/// A test's details from an operation's `response` or a get, parsed
/// without trusting the shape: a malformed answer is an error, never a panic.
pub fn parse_test(v: &Value) -> Result<ConnectivityTest, String> {
    serde_json::from_value(v.clone()).map_err(|e| format!("not a ConnectivityTest: {e}"))
}

/// The address a run.app host is reached at, as a test's destination: the
/// emulator's own address when runiam points at it (it serves every
/// run.app host), else what DNS answers, IPv4 first.
pub async fn resolve(emulator: Option<&Url>, host: &str) -> Result<IpAddr, String> {
    let (name, port) = match emulator {
        Some(e) => (e.host_str().unwrap_or_default().trim_matches(['[', ']']).to_owned(), e.port().unwrap_or(80)),
        None => (host.to_owned(), 443),
    };
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(ip);
    }
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((name.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve {name}: {e}"))?
        .map(|a| a.ip())
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{name} resolves to no address"))
}

/// Network Management API v1.
#[derive(Clone)]
pub struct NetworkManagement {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

impl NetworkManagement {
    fn url(&self, name: &str) -> Url {
        api_url(&self.base, &["v1", name])
    }

    /// `connectivityTests.create` in `project` with id `test_id`: the operation.
    pub async fn create_test(
        &self,
        project: &str,
        test_id: &str,
        test: &ConnectivityTest,
    ) -> Result<Operation, ApiError> {
        let mut url = self.url(&format!("projects/{project}/locations/global/connectivityTests"));
        url.query_pairs_mut().append_pair("testId", test_id);
        let body = serde_json::to_value(test).unwrap_or_default();
        self.http.json(Api::NetworkManagement, Method::POST, url, Some(&body)).await
    }

    pub async fn get_test(&self, name: &str) -> Result<ConnectivityTest, ApiError> {
        self.http.json(Api::NetworkManagement, Method::GET, self.url(name), None).await
    }

    /// `connectivityTests.delete`: the operation.
    pub async fn delete_test(&self, name: &str) -> Result<Operation, ApiError> {
        self.http.json(Api::NetworkManagement, Method::DELETE, self.url(name), None).await
    }

    pub async fn get_operation(&self, name: &str) -> Result<Operation, ApiError> {
        self.http.json(Api::NetworkManagement, Method::GET, self.url(name), None).await
    }

    /// Polls `op` until it is done or `limit` has passed (then it comes
    /// back not done), calling `tick` with the time waited before each poll.
    pub async fn wait(
        &self,
        mut op: Operation,
        limit: Duration,
        mut tick: impl FnMut(Duration),
    ) -> Result<Operation, ApiError> {
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(250);
        while !op.done && started.elapsed() < limit {
            tokio::time::sleep(pause.min(limit.saturating_sub(started.elapsed()))).await;
            tick(started.elapsed());
            op = self.get_operation(&op.name).await?;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
        Ok(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_serverless_external_trace_reads_as_external_and_delivered() {
        let t = parse_test(&json!({
            "name": "projects/p/locations/global/connectivityTests/t",
            "source": {"cloudRunRevision": {"uri": "projects/p/locations/r/revisions/s-00001-abc"}},
            "destination": {"ipAddress": "216.239.32.53", "port": 443},
            "protocol": "TCP",
            "reachabilityDetails": {"result": "REACHABLE", "traces": [{"steps": [
                {"state": "START_FROM_CLOUD_RUN_REVISION", "cloudRunRevision": {"uri": "x"}},
                {"state": "SERVERLESS_EXTERNAL_CONNECTION"},
                {"state": "DELIVER", "deliver": {"target": "GOOGLE_API"}}
            ]}]}
        }))
        .unwrap();
        let a = Analysis::of(t.reachability_details.as_ref().unwrap());
        assert_eq!(a.result, "REACHABLE");
        assert_eq!(a.egress, Some(Egress::External));
        assert_eq!((a.last.as_deref(), a.stopped_at, a.drop_cause), (Some("DELIVER"), None, None));
        assert_eq!(
            t.source.cloud_run_revision.unwrap().uri.as_deref(),
            Some("projects/p/locations/r/revisions/s-00001-abc")
        );
        assert_eq!(t.destination.port, Some(443));
    }

    #[test]
    fn a_drop_names_the_step_that_caused_it_and_its_cause() {
        let details: ReachabilityDetails =
            serde_json::from_value(json!({"result": "UNREACHABLE", "traces": [{"steps": [
                {"state": "START_FROM_CLOUD_RUN_REVISION"},
                {"state": "DIRECT_VPC_EGRESS_CONNECTION"},
                {"state": "APPLY_ROUTE", "causesDrop": true},
                {"state": "DROP", "causesDrop": true, "drop": {"cause": "PRIVATE_GOOGLE_ACCESS_DISALLOWED"}}
            ]}]}))
            .unwrap();
        let a = Analysis::of(&details);
        assert_eq!(a.egress, Some(Egress::DirectVpc));
        assert_eq!(a.stopped_at, Some((2, "APPLY_ROUTE".to_owned())));
        assert_eq!(a.drop_cause.as_deref(), Some("PRIVATE_GOOGLE_ACCESS_DISALLOWED"));
        let undetermined: ReachabilityDetails =
            serde_json::from_value(json!({"result": "UNDETERMINED", "error": {"code": 7, "message": "no permission"}}))
                .unwrap();
        let a = Analysis::of(&undetermined);
        assert_eq!(
            (a.result.as_str(), a.error.as_deref(), a.stopped_at),
            ("UNDETERMINED", Some("no permission"), None)
        );
        assert_eq!(Analysis::of(&ReachabilityDetails::default()).result, "RESULT_UNSPECIFIED");
    }

    #[test]
    fn the_create_body_names_the_revision_and_the_address() {
        let test = ConnectivityTest {
            source: Endpoint {
                cloud_run_revision: Some(CloudRunRevisionEndpoint {
                    uri: Some("projects/p/locations/r/revisions/v".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            destination: Endpoint { ip_address: Some("1.2.3.4".into()), port: Some(443), ..Default::default() },
            protocol: Some("TCP".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&test).unwrap(),
            json!({"source": {"cloudRunRevision": {"uri": "projects/p/locations/r/revisions/v"}},
                   "destination": {"ipAddress": "1.2.3.4", "port": 443}, "protocol": "TCP"})
        );
    }

    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            prop_oneof![
                Just("DROP".to_owned()),
                Just("DELIVER".to_owned()),
                Just("SERVERLESS_EXTERNAL_CONNECTION".to_owned()),
                ".{0,12}"
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let keys = prop_oneof![
                Just("result".to_owned()),
                Just("traces".to_owned()),
                Just("steps".to_owned()),
                Just("state".to_owned()),
                Just("causesDrop".to_owned()),
                Just("drop".to_owned()),
                Just("cause".to_owned()),
                Just("error".to_owned()),
                Just("message".to_owned()),
                Just("reachabilityDetails".to_owned()),
                "[a-z]{1,6}"
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(keys, inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// An answer from outside: any JSON is a test or an error, and any
        /// test's details give an analysis, never a panic.
        #[test]
        fn no_answer_panics(v in any_json()) {
            if let Ok(t) = parse_test(&v) {
                let _ = Analysis::of(&t.reachability_details.unwrap_or_default());
            }
            if let Ok(d) = serde_json::from_value::<ReachabilityDetails>(v) {
                let _ = Analysis::of(&d);
            }
        }
    }
}
