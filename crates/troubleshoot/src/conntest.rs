//! `--connectivity-test`: a Network Intelligence Center Connectivity Test
//! from the calling service's serving revision or VM to the service's
//! run.app address on TCP 443, as evidence (docs/cloud-run.md
//! "Connectivity Tests"). Gather the source and the address → act (create
//! the test, wait on its operation with progress on stderr, delete it
//! unless `--keep`) → decide ([`findings`], pure) the result and the step
//! where the packet leaves or is dropped, tied to the service's ingress.
//! Google charges for each analysis, so it runs only when asked.

use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use runiam_core::CommandError;
use runiam_core::api::Clients;
use runiam_core::api::network_management::{
    Analysis, CloudRunRevisionEndpoint, ConnectivityTest, Egress, Endpoint, PRICING_URL, ReachabilityDetails,
    parse_test, resolve,
};
use runiam_core::api::run::Service;
use runiam_core::doc::{Evidence, Finding, Fix, FixAction};
use runiam_core::gather::failure;
use runiam_core::ingress::{Ingress, Origin};
use serde_json::json;
use url::Url;

use crate::findings as f;
use crate::network::{CallerSpec, subnet_fix};

/// How long an analysis may take before runiam stops waiting.
const ANALYSIS_LIMIT: Duration = Duration::from_secs(180);
const DELETE_LIMIT: Duration = Duration::from_secs(60);

const CREATE: &str = "networkmanagement.googleapis.com connectivityTests.create";

/// The flags of a run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub keep: bool,
    pub quiet: bool,
    /// The emulator runiam points at, whose address every run.app host has.
    pub emulator: Option<Url>,
    /// `--caller-ip` in `--caller-network` (`projects/P/global/networks/N`),
    /// traced instead of the calling service or VM.
    pub address: Option<(IpAddr, String)>,
}

/// Where a test starts: the calling service or VM, or an address in a network.
#[derive(Clone, Copy, Debug)]
pub enum Start<'a> {
    Caller(&'a CallerSpec),
    Address(IpAddr, &'a str),
}

impl Start<'_> {
    fn describe(&self) -> String {
        match self {
            Start::Caller(spec) => spec.describe(),
            Start::Address(ip, network) => format!("address {ip} in {network}"),
        }
    }

    /// The project the test is created in: the caller's or the network's.
    fn project(&self) -> &str {
        match self {
            Start::Caller(spec) => spec.project(),
            Start::Address(_, network) => network.split('/').nth(1).unwrap_or_default(),
        }
    }

    /// A short name for the test id.
    fn label(&self) -> &str {
        match self {
            Start::Caller(CallerSpec::Service(s)) => &s.name,
            Start::Caller(CallerSpec::Vm { name, .. } | CallerSpec::Job { name, .. }) => name,
            Start::Address(..) => "address",
        }
    }
}

fn ev(source: &str, detail: String, data: Option<serde_json::Value>) -> Evidence {
    Evidence { source: source.to_owned(), detail, data }
}

/// What a run came to, for [`findings`].
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The analysis finished: the test's name and details.
    Done { name: String, details: ReachabilityDetails },
    /// It could not be created, finished or read: why.
    Unread(String),
}

/// Runs the test from `start` to `service` and returns the findings, with
/// `notes` (the cost, the deletion) as evidence on each.
pub async fn run(
    clients: &Clients,
    opts: &Options,
    start: Start<'_>,
    subnetwork: Option<&str>,
    service: &Service,
) -> Vec<Finding> {
    let mut notes =
        vec![ev(CREATE, format!("Google charges for each Connectivity Test analysis ({PRICING_URL})"), None)];
    let outcome = match source(clients, start).await {
        Ok(source) => match destination(opts, service).await {
            Ok(destination) => act(clients, opts, start, source, destination, &mut notes).await,
            Err(why) => Outcome::Unread(why),
        },
        Err(why) => Outcome::Unread(why),
    };
    let ingress = Ingress::from_v2(service.ingress.as_deref()).ok();
    findings(&start.describe(), &outcome, ingress, subnetwork, notes)
}

/// `--caller-network`: `projects/P/global/networks/N`, or a NAME in `project`.
pub fn network_name(arg: &str, project: Option<&str>) -> Result<String, CommandError> {
    let ok = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match (arg.split('/').collect::<Vec<_>>().as_slice(), project) {
        (["projects", p, "global", "networks", n], _) if ok(p) && ok(n) => Ok(arg.to_owned()),
        ([n], Some(p)) if ok(n) => Ok(format!("projects/{p}/global/networks/{n}")),
        ([n], None) if ok(n) => Err(CommandError::usage(format!("--caller-network {arg}: in which project?"))
            .hinted("add --project, or name it projects/P/global/networks/N")),
        _ => Err(CommandError::usage(format!("--caller-network {arg}: not a network name"))
            .hinted("name it NAME (default) or projects/P/global/networks/N")),
    }
}

/// The test's source: the VM, the calling service's serving revision, or
/// the address in its network.
async fn source(clients: &Clients, start: Start<'_>) -> Result<Endpoint, String> {
    let spec = match start {
        Start::Caller(spec) => spec,
        Start::Address(ip, network) => {
            return Ok(Endpoint {
                ip_address: Some(ip.to_string()),
                network: Some(network.to_owned()),
                ..Default::default()
            });
        }
    };
    match spec {
        CallerSpec::Vm { project, zone, name } => Ok(Endpoint {
            instance: Some(format!("projects/{project}/zones/{zone}/instances/{name}")),
            ..Default::default()
        }),
        CallerSpec::Job { project, region, name } => Err(format!(
            "projects/{project}/locations/{region}/jobs/{name} is a Cloud Run job: a Connectivity Test starts only from a revision, a VM or an address (--caller-ip)"
        )),
        CallerSpec::Service(s) => {
            let svc = clients
                .run_v2
                .get_service(s)
                .await
                .map_err(|e| format!("{}: {}", s.full_name(), failure(&e, "run.services.get")))?;
            let revision = svc
                .serving_revision()
                .ok_or_else(|| format!("{} has no ready revision to start the test from", s.full_name()))?;
            let uri = format!("projects/{}/locations/{}/revisions/{revision}", s.project, s.region);
            Ok(Endpoint {
                cloud_run_revision: Some(CloudRunRevisionEndpoint { uri: Some(uri), ..Default::default() }),
                ..Default::default()
            })
        }
    }
}

/// The run.app host's address on TCP 443 (`fqdn` is for GKE control planes only).
async fn destination(opts: &Options, service: &Service) -> Result<Endpoint, String> {
    let uri = service.uri.as_deref().ok_or_else(|| format!("{} has no run.app URL", service.name))?;
    let host = Url::parse(uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .ok_or_else(|| format!("the service URL '{uri}' has no host"))?;
    let ip = resolve(opts.emulator.as_ref(), &host).await?;
    Ok(Endpoint { ip_address: Some(ip.to_string()), port: Some(443), ..Default::default() })
}

/// A test id no other run picks: `runiam-`, the caller's name, the time.
fn test_id(start: Start<'_>) -> String {
    let name: String = start.label().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(40).collect();
    format!("runiam-{}-{:x}", name.to_ascii_lowercase(), chrono::Utc::now().timestamp_millis())
}

/// Create, wait (progress on stderr), read, delete unless `--keep`.
async fn act(
    clients: &Clients,
    opts: &Options,
    start: Start<'_>,
    source: Endpoint,
    destination: Endpoint,
    notes: &mut Vec<Evidence>,
) -> Outcome {
    let nm = &clients.network_management;
    let project = start.project();
    let id = test_id(start);
    let name = format!("projects/{project}/locations/global/connectivityTests/{id}");
    let test = ConnectivityTest {
        description: Some("runiam troubleshoot --connectivity-test".to_owned()),
        source,
        destination,
        protocol: Some("TCP".to_owned()),
        ..Default::default()
    };
    if !opts.quiet {
        let _ = writeln!(
            std::io::stderr(),
            "note: creating Connectivity Test {name}; Google charges for each analysis ({PRICING_URL})"
        );
    }
    let op = match nm.create_test(project, &id, &test).await {
        Ok(op) => op,
        Err(e) => return Outcome::Unread(failure(&e, "networkmanagement.connectivitytests.create")),
    };
    let bar = runiam_core::output::counter(&format!("Connectivity Test {id}: analysing"), "polls", opts.quiet);
    let waited = nm.wait(op, ANALYSIS_LIMIT, |_| bar.inc(1)).await;
    bar.finish_and_clear();
    let outcome = match waited {
        Err(e) => Outcome::Unread(failure(&e, "networkmanagement.operations.get")),
        Ok(op) if !op.done => Outcome::Unread(format!(
            "the analysis did not finish within {} s (operation {})",
            ANALYSIS_LIMIT.as_secs(),
            op.name
        )),
        Ok(op) => match (&op.error, &op.response) {
            (Some(err), _) => Outcome::Unread(format!("the analysis failed: {err}")),
            (None, Some(resp)) => outcome_of(&name, parse_test(resp)),
            (None, None) => match nm.get_test(&name).await {
                Ok(t) => outcome_of(&name, Ok(t)),
                Err(e) => Outcome::Unread(failure(&e, "networkmanagement.connectivitytests.get")),
            },
        },
    };
    notes.push(ev(CREATE, finish(clients, opts, &name).await, None));
    outcome
}

fn outcome_of(name: &str, test: Result<ConnectivityTest, String>) -> Outcome {
    match test {
        Ok(t) => Outcome::Done { name: name.to_owned(), details: t.reachability_details.unwrap_or_default() },
        Err(why) => Outcome::Unread(why),
    }
}

/// Deletes the test unless `--keep`; says what became of it.
async fn finish(clients: &Clients, opts: &Options, name: &str) -> String {
    let nm = &clients.network_management;
    if opts.keep {
        return format!("{name} is kept (--keep)");
    }
    let deleted = match nm.delete_test(name).await {
        Ok(op) => nm.wait(op, DELETE_LIMIT, |_| {}).await.map(|op| op.done && op.error.is_none()),
        Err(e) => Err(e),
    };
    match deleted {
        Ok(true) => format!("{name} was deleted afterwards"),
        Ok(false) => {
            format!("{name}: the deletion did not finish; check `gcloud network-management connectivity-tests list`")
        }
        Err(e) => {
            let why = failure(&e, "networkmanagement.connectivitytests.delete");
            let _ = writeln!(std::io::stderr(), "warning: Connectivity Test {name} was not deleted ({why})");
            format!(
                "{name} was not deleted ({why}); delete it with `gcloud network-management connectivity-tests delete {name}`"
            )
        }
    }
}

/// The findings of a run: `network.connectivity-test` with the result and
/// the step where the packet leaves, tied to `ingress`; also
/// `network.path-dropped` when it never arrives; or
/// `network.connectivity-test-unread`.
pub fn findings(
    caller: &str,
    outcome: &Outcome,
    ingress: Option<Ingress>,
    subnetwork: Option<&str>,
    notes: Vec<Evidence>,
) -> Vec<Finding> {
    let (name, details) = match outcome {
        Outcome::Unread(why) => return vec![f::network_connectivity_test_unread(caller, why, notes)],
        Outcome::Done { name, details } => (name, details),
    };
    let a = Analysis::of(details);
    let mut evidence = vec![ev(
        "networkmanagement.googleapis.com connectivityTests.get",
        format!("{name}: {}, trace {}", a.result, a.states.join(" → ")),
        Some(json!({"reachabilityDetails": details})),
    )];
    evidence.extend(notes);
    let mut out = vec![f::network_connectivity_test(explain(caller, &a, ingress), evidence.clone())];
    if a.result == "UNREACHABLE" {
        let step = match &a.stopped_at {
            Some((i, s)) => format!("step {} ({s})", i + 1),
            None => "an unnamed step".to_owned(),
        };
        let cause = a.drop_cause.clone().unwrap_or_else(|| "no cause given".to_owned());
        let command = match (cause.as_str(), subnetwork) {
            ("PRIVATE_GOOGLE_ACCESS_DISALLOWED", Some(sub)) => subnet_fix(sub),
            _ => format!(
                "fix what {cause} names at {step}; rerun with --connectivity-test --keep to read the whole trace"
            ),
        };
        let fix = Fix { action: FixAction::Manual, member: None, role: None, condition: None, command };
        out.push(f::network_path_dropped(caller, &step, &cause, evidence, fix));
    }
    out
}

/// The result in words: where the packet leaves, and what ingress makes of it.
fn explain(caller: &str, a: &Analysis, ingress: Option<Ingress>) -> String {
    let result = match &a.error {
        Some(e) => format!("{} ({e})", a.result),
        None => a.result.clone(),
    };
    let position = |e: Egress| a.states.iter().position(|s| s == e.state()).map_or(0, |i| i + 1);
    let verdict = |origin: Origin| match ingress {
        Some(i) if i.admits(origin) => format!(", which ingress {i} admits"),
        Some(i) => format!(", which ingress {i} answers with 404 and no request log"),
        None => String::new(),
    };
    let path = match a.egress {
        Some(Egress::External) => format!(
            "the packet leaves through {} (step {}), so the call arrives at Cloud Run as external{}",
            Egress::External.state(),
            position(Egress::External),
            verdict(Origin::External)
        ),
        Some(e) => format!(
            "the packet goes through the VPC ({}, step {}); whether ingress counts it as internal also depends on the network's project and Private Google Access (the caller's path)",
            e.state(),
            position(e)
        ),
        None => format!("its last step is {}", a.last.as_deref().unwrap_or("none")),
    };
    let ended = match (&a.stopped_at, &a.drop_cause) {
        (Some((i, s)), Some(c)) => format!("; dropped at step {} ({s}): {c}", i + 1),
        (Some((i, s)), None) => format!("; it ends at step {} ({s})", i + 1),
        _ => String::new(),
    };
    let traces = if a.traces > 1 { format!(" ({} traces; the first is shown)", a.traces) } else { String::new() };
    format!("a Connectivity Test from {caller} to the service's address on TCP 443 is {result}{traces}: {path}{ended}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use runiam_core::model::ServiceRef;

    fn details(result: &str, steps: serde_json::Value) -> ReachabilityDetails {
        serde_json::from_value(json!({"result": result, "traces": [{"steps": steps}]})).unwrap()
    }

    fn ids(fs: &[Finding]) -> Vec<&str> {
        fs.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn a_serverless_external_step_is_external_and_internal_ingress_answers_404() {
        let d = details(
            "REACHABLE",
            json!([{"state": "START_FROM_CLOUD_RUN_REVISION"}, {"state": "SERVERLESS_EXTERNAL_CONNECTION"}, {"state": "DELIVER"}]),
        );
        let outcome = Outcome::Done { name: "projects/p/locations/global/connectivityTests/t".into(), details: d };
        let fs = findings("cloud run service s", &outcome, Some(Ingress::InternalOnly), None, Vec::new());
        assert_eq!(ids(&fs), ["network.connectivity-test"]);
        assert_eq!(
            fs[0].explanation,
            "a Connectivity Test from cloud run service s to the service's address on TCP 443 is REACHABLE: the packet leaves through SERVERLESS_EXTERNAL_CONNECTION (step 2), so the call arrives at Cloud Run as external, which ingress internal answers with 404 and no request log"
        );
        assert_eq!(
            fs[0].evidence[0].detail,
            "projects/p/locations/global/connectivityTests/t: REACHABLE, trace START_FROM_CLOUD_RUN_REVISION → SERVERLESS_EXTERNAL_CONNECTION → DELIVER"
        );
        let all = findings("c", &outcome, Some(Ingress::All), None, Vec::new());
        assert!(all[0].explanation.ends_with("which ingress all admits"), "{}", all[0].explanation);
    }

    #[test]
    fn a_drop_is_a_cause_naming_the_step_and_the_subnet_fix() {
        let d = details(
            "UNREACHABLE",
            json!([{"state": "START_FROM_CLOUD_RUN_REVISION"}, {"state": "DIRECT_VPC_EGRESS_CONNECTION"},
                   {"state": "APPLY_ROUTE", "causesDrop": true},
                   {"state": "DROP", "causesDrop": true, "drop": {"cause": "PRIVATE_GOOGLE_ACCESS_DISALLOWED"}}]),
        );
        let outcome = Outcome::Done { name: "t".into(), details: d };
        let sub = "projects/p/regions/europe-west1/subnetworks/s";
        let fs = findings("c", &outcome, Some(Ingress::All), Some(sub), Vec::new());
        assert_eq!(ids(&fs), ["network.connectivity-test", "network.path-dropped"]);
        assert!(fs[0].explanation.contains("goes through the VPC (DIRECT_VPC_EGRESS_CONNECTION, step 2)"));
        assert!(fs[0].explanation.ends_with("dropped at step 3 (APPLY_ROUTE): PRIVATE_GOOGLE_ACCESS_DISALLOWED"));
        assert_eq!(
            fs[1].explanation,
            "a Connectivity Test drops the packets of c at step 3 (APPLY_ROUTE) (PRIVATE_GOOGLE_ACCESS_DISALLOWED): its calls never reach Cloud Run, whatever ingress and IAM say"
        );
        assert!(fs[1].fix.as_ref().unwrap().command.starts_with("gcloud compute networks subnets update s --region europe-west1 --project p --enable-private-ip-google-access"));
    }

    #[test]
    fn a_test_that_cannot_run_is_partial_visibility() {
        let why = "could not read (permission networkmanagement.connectivitytests.create)";
        let fs = findings("c", &Outcome::Unread(why.into()), None, None, Vec::new());
        assert_eq!(ids(&fs), ["network.connectivity-test-unread"]);
        assert!(fs[0].explanation.contains(why));
    }

    #[test]
    fn networks_are_a_name_in_the_project_or_a_full_name() {
        assert_eq!(network_name("default", Some("p")).unwrap(), "projects/p/global/networks/default");
        assert_eq!(network_name("projects/h/global/networks/n", None).unwrap(), "projects/h/global/networks/n");
        for bad in ["", "a/b", "projects/h/global/networks/", "n m"] {
            assert!(network_name(bad, Some("p")).is_err(), "{bad}");
        }
        assert!(network_name("default", None).is_err());
    }

    proptest::proptest! {
        #[test]
        fn no_network_name_panics(arg in ".*") {
            let _ = network_name(&arg, Some("p"));
        }
    }

    #[test]
    fn test_ids_are_rfc_1035_labels() {
        let spec = CallerSpec::Service(ServiceRef::new("p", "r", &"a-very-long-service-name".repeat(3)));
        let id = test_id(Start::Caller(&spec));
        assert!(id.len() <= 63 && id.starts_with("runiam-"), "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{id}");
    }
}
