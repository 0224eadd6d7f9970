//! The caller's path: where a named caller's requests arrive from, derived
//! from its own settings instead of `--from` (docs/cloud-run.md "The
//! caller's path"). Gather reads what runiam-core's
//! [`derive`](runiam_core::ingress::derive) needs — the calling service's
//! `template.vpcAccess` (or the VM's network), the subnetwork's Private
//! Google Access, the target project's Shared VPC host — and only what can
//! change the answer; decide turns the path into findings:
//! `network.egress-not-routed` when the caller's own settings send it
//! outside the network an internal service admits, and
//! `network.origin-undetermined` when a fact that decides it could not be
//! read. Compute fields are unverified (no discovery document here).

use runiam_core::CommandError;
use runiam_core::api::Clients;
use runiam_core::api::compute::relative;
use runiam_core::api::run::Service;
use runiam_core::doc::{Evidence, Finding, Fix, FixAction};
use runiam_core::gather::failure;
use runiam_core::ingress::{
    Answer, Caller, Ingress, Origin, Path, PathFacts, Route, SharedVpc, derive, direct_subnetwork, network_project,
};
use runiam_core::model::{Principal, ServiceRef};
use serde_json::json;

use crate::findings as f;

/// The caller whose path is derived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerSpec {
    /// A Cloud Run service (`--caller-service`).
    Service(ServiceRef),
    /// A Compute Engine VM (`--caller-vm`).
    Vm { project: String, zone: String, name: String },
    /// A Cloud Run job (`--caller-job`).
    Job { project: String, region: String, name: String },
}

impl CallerSpec {
    /// The project the calling service or VM itself is in.
    pub fn project(&self) -> &str {
        match self {
            Self::Service(s) => &s.project,
            Self::Vm { project, .. } | Self::Job { project, .. } => project,
        }
    }

    /// `--caller-job NAME` (in `project` and `region`) or `projects/P/locations/R/jobs/J`.
    pub fn job(arg: &str, project: &str, region: &str) -> Result<Self, CommandError> {
        let parts: Vec<&str> = arg.split('/').collect();
        let ok = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        match parts.as_slice() {
            [name] if ok(name) && !project.is_empty() && !region.is_empty() => {
                Ok(Self::Job { project: project.to_owned(), region: region.to_owned(), name: (*name).to_owned() })
            }
            ["projects", p, "locations", r, "jobs", name] if [p, r, name].iter().all(|s| ok(s)) => {
                Ok(Self::Job { project: (*p).to_owned(), region: (*r).to_owned(), name: (*name).to_owned() })
            }
            _ => Err(CommandError::usage(format!("--caller-job {arg}: not a job name"))
                .hinted("name the job as NAME (with --project and --region) or projects/P/locations/R/jobs/J")),
        }
    }

    /// `--caller-vm ZONE/NAME` (in `project`) or `projects/P/zones/Z/instances/N`.
    pub fn vm(arg: &str, project: &str) -> Result<Self, CommandError> {
        let parts: Vec<&str> = arg.split('/').collect();
        let ok = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        match parts.as_slice() {
            [zone, name] if ok(zone) && ok(name) => {
                Ok(Self::Vm { project: project.to_owned(), zone: (*zone).to_owned(), name: (*name).to_owned() })
            }
            ["projects", p, "zones", zone, "instances", name] if [p, zone, name].iter().all(|s| ok(s)) => {
                Ok(Self::Vm { project: (*p).to_owned(), zone: (*zone).to_owned(), name: (*name).to_owned() })
            }
            _ => Err(CommandError::usage(format!("--caller-vm {arg}: not ZONE/NAME"))
                .hinted("name the VM as ZONE/NAME (europe-west1-b/vm-1) or projects/P/zones/Z/instances/N")),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            CallerSpec::Service(s) => format!("cloud run service {}", s.full_name()),
            CallerSpec::Vm { project, zone, name } => {
                format!("compute instance projects/{project}/zones/{zone}/instances/{name}")
            }
            CallerSpec::Job { project, region, name } => {
                format!("cloud run job projects/{project}/locations/{region}/jobs/{name}")
            }
        }
    }
}

/// What was read of one caller's path, and what it derives to.
#[derive(Clone, Debug)]
pub struct CallerPath {
    pub spec: CallerSpec,
    pub facts: PathFacts,
    pub path: Path,
    /// The subnetwork whose Private Google Access was read or wanted.
    pub subnetwork: Option<String>,
    /// The caller's runtime identity, when read.
    pub identity: Option<Principal>,
    pub evidence: Vec<Evidence>,
}

fn ev(source: &str, detail: String, data: Option<serde_json::Value>) -> Evidence {
    Evidence { source: source.to_owned(), detail, data }
}

/// What has been read so far of one caller's path.
#[derive(Default)]
struct Reading {
    facts: PathFacts,
    evidence: Vec<Evidence>,
    identity: Option<Principal>,
    subnetwork: Option<String>,
    /// (network project, subnetwork) when the answer may hinge on them.
    network: Option<(String, String)>,
}

/// Reads the facts of `spec`'s path to a service of `target_project`.
/// Unreadable facts stay unread (the path may then be undetermined); a
/// caller that does not exist is a usage error.
pub async fn read(clients: &Clients, target_project: &str, spec: &CallerSpec) -> Result<CallerPath, CommandError> {
    let mut r = Reading::default();
    r.facts.target_project = target_project.to_owned();
    match spec {
        CallerSpec::Service(s) => read_service(clients, s, &mut r).await?,
        CallerSpec::Vm { project, zone, name } => read_vm(clients, (project, zone, name), &mut r).await?,
        CallerSpec::Job { project, region, name } => read_job(clients, (project, region, name), &mut r).await?,
    }
    read_network(clients, &mut r).await;
    let Reading { facts, evidence, identity, subnetwork, .. } = r;
    let path = derive(&facts);
    Ok(CallerPath { spec: spec.clone(), facts, path, subnetwork, identity, evidence })
}

async fn read_service(clients: &Clients, s: &ServiceRef, r: &mut Reading) -> Result<(), CommandError> {
    let vpc_access = match clients.run_v2.get_service(s).await {
        Ok(svc) => {
            r.identity = svc
                .template
                .as_ref()
                .and_then(|t| t.service_account.as_deref())
                .map(|e| Principal::ServiceAccount(e.to_owned()));
            let read = serving_vpc_access(&svc, &mut r.evidence);
            if let Some(vpc) = &read {
                read_vpc(clients, vpc, (&s.project, &s.region), r).await;
            }
            read
        }
        Err(e) if e.is_not_found() => {
            return Err(CommandError::usage(format!("--caller-service {}: no such service", s.full_name())).hinted(
                "name the calling service as NAME (with --region), projects/P/locations/R/services/S or its URL",
            ));
        }
        Err(e) => {
            let detail = format!("{}: {}", s.full_name(), failure(&e, "run.services.get"));
            r.evidence.push(ev("run.googleapis.com services.get", detail, None));
            None
        }
    };
    r.facts.caller = Caller::CloudRun { project: s.project.clone(), region: s.region.clone(), vpc_access };
    Ok(())
}

/// What a Cloud Run caller's `vpcAccess` in `project` and `region` needs
/// read, when all its traffic goes through the VPC: the subnetwork, and a
/// connector's network.
async fn read_vpc(
    clients: &Clients,
    vpc: &runiam_core::api::run::VpcAccess,
    (project, region): (&str, &str),
    r: &mut Reading,
) {
    r.subnetwork = direct_subnetwork(project, region, vpc);
    if vpc.egress.as_deref() != Some("ALL_TRAFFIC") {
        return;
    }
    if let Some(nic) = vpc.network_interfaces.first()
        && let (Some(n), Some(sub)) = (nic.network.as_deref().or(nic.subnetwork.as_deref()), &r.subnetwork)
    {
        r.network = Some((network_project(n, project).to_owned(), sub.clone()));
    }
    if let Some(c) = &vpc.connector {
        read_connector(clients, c, (project, region), r).await;
    }
}

/// A Cloud Run job as caller: its task template's runtime identity and
/// `vpcAccess` (Run v2 `Job.template.template`).
async fn read_job(
    clients: &Clients,
    (project, region, name): (&str, &str, &str),
    r: &mut Reading,
) -> Result<(), CommandError> {
    const SOURCE: &str = "run.googleapis.com jobs.get";
    let full = format!("projects/{project}/locations/{region}/jobs/{name}");
    let vpc_access = match clients.run_v2.get_job(&full).await {
        Ok(job) => {
            let task = job.template.and_then(|t| t.template).unwrap_or_default();
            r.identity = task.service_account.map(Principal::ServiceAccount);
            let vpc = task.vpc_access.unwrap_or_default();
            r.evidence.push(ev(
                SOURCE,
                format!("{full}: template.template.vpcAccess {}", serde_json::to_string(&vpc).unwrap_or_default()),
                Some(json!({"vpcAccess": vpc})),
            ));
            read_vpc(clients, &vpc, (project, region), r).await;
            Some(vpc)
        }
        Err(e) if e.is_not_found() => {
            return Err(CommandError::usage(format!("--caller-job {full}: no such job")).hinted(
                "name the calling job as NAME (with --project and --region) or projects/P/locations/R/jobs/J",
            ));
        }
        Err(e) => {
            r.evidence.push(ev(SOURCE, format!("{full}: {}", failure(&e, "run.jobs.get")), None));
            None
        }
    };
    r.facts.caller = Caller::CloudRun { project: project.to_owned(), region: region.to_owned(), vpc_access };
    Ok(())
}

/// A connector's network and subnetwork (Serverless VPC Access
/// `connectors.get`; unverified), named `projects/P/locations/L/connectors/C`
/// or, short, in the calling service's or job's project and region.
async fn read_connector(clients: &Clients, connector: &str, (home, home_region): (&str, &str), r: &mut Reading) {
    const SOURCE: &str = "vpcaccess.googleapis.com connectors.get (unverified)";
    let name = if connector.starts_with("projects/") {
        connector.to_owned()
    } else {
        format!("projects/{home}/locations/{home_region}/connectors/{connector}")
    };
    let parts: Vec<&str> = name.split('/').collect();
    let (project, region) = match parts.as_slice() {
        ["projects", p, "locations", l, "connectors", _] => (*p, *l),
        _ => (home, home_region),
    };
    match clients.vpc_access.get_connector(&name).await {
        Ok(conn) => {
            let (network, subnet) = conn.network_and_subnet(project, region);
            r.evidence.push(ev(SOURCE, format!("{name}: network {network}, subnetwork {subnet}"), None));
            r.network = Some((network_project(&network, project).to_owned(), subnet.clone()));
            r.facts.connector_network = Some(network);
            r.subnetwork = Some(subnet);
        }
        Err(e) => r.evidence.push(ev(SOURCE, format!("{name}: {}", failure(&e, "vpcaccess.connectors.get")), None)),
    }
}

async fn read_vm(
    clients: &Clients,
    (project, zone, name): (&str, &str, &str),
    r: &mut Reading,
) -> Result<(), CommandError> {
    const SOURCE: &str = "compute.googleapis.com instances.get (unverified)";
    let full = format!("projects/{project}/zones/{zone}/instances/{name}");
    let network = match clients.compute.get_instance(project, zone, name).await {
        Ok(vm) => {
            r.identity = vm.service_accounts.first().map(|a| Principal::ServiceAccount(a.email.clone()));
            let nic = vm.network_interfaces.first().cloned().unwrap_or_default();
            let (network, subnetwork) = (relative(&nic.network), relative(&nic.subnetwork));
            r.evidence.push(ev(SOURCE, format!("{full}: network {network}, subnetwork {subnetwork}"), None));
            if !network.is_empty() && !subnetwork.is_empty() {
                r.subnetwork = Some(subnetwork.to_owned());
                r.network = Some((network_project(network, project).to_owned(), subnetwork.to_owned()));
            }
            (!network.is_empty()).then(|| network.to_owned())
        }
        Err(e) if e.is_not_found() => {
            return Err(CommandError::usage(format!("--caller-vm {zone}/{name}: no such instance in {project}"))
                .hinted("name the VM as ZONE/NAME in the service's project, or projects/P/zones/Z/instances/N"));
        }
        Err(e) => {
            r.evidence.push(ev(SOURCE, format!("{full}: {}", failure(&e, "compute.instances.get")), None));
            None
        }
    };
    r.facts.caller = Caller::Vm { project: project.to_owned(), network };
    Ok(())
}

/// The subnetwork's Private Google Access and, for a network outside the
/// target's project, the target's Shared VPC host.
async fn read_network(clients: &Clients, r: &mut Reading) {
    let Some((net_project, sub)) = r.network.clone() else { return };
    let target = r.facts.target_project.clone();
    let host = async { if net_project == target { None } else { Some(clients.compute.get_xpn_host(&target).await) } };
    let (subnet, host) = tokio::join!(clients.compute.get_subnetwork(&sub), host);
    const SUBNETS: &str = "compute.googleapis.com subnetworks.get (unverified)";
    const XPN: &str = "compute.googleapis.com projects.getXpnHost (unverified)";
    match subnet {
        Ok(s) => {
            r.facts.private_google_access = Some(s.private_ip_google_access);
            r.evidence.push(ev(
                SUBNETS,
                format!("{sub}: privateIpGoogleAccess is {}", s.private_ip_google_access),
                None,
            ));
        }
        Err(e) => r.evidence.push(ev(SUBNETS, format!("{sub}: {}", failure(&e, "compute.subnetworks.get")), None)),
    }
    match host {
        None => r.facts.shared_vpc = Some(SharedVpc::default()),
        Some(Ok(h)) => {
            let shown = h.name.as_deref().unwrap_or("none");
            r.evidence.push(ev(XPN, format!("{target}: Shared VPC host {shown}"), None));
            r.facts.shared_vpc = Some(SharedVpc { host: h.name });
        }
        Some(Err(e)) => r.evidence.push(ev(XPN, format!("{target}: {}", failure(&e, "compute.projects.get")), None)),
    }
}

/// The template's `vpcAccess` when the template is what serves: traffic
/// pinned to another revision leaves it unread (that revision's template
/// would need `run.revisions.get`).
fn serving_vpc_access(svc: &Service, evidence: &mut Vec<Evidence>) -> Option<runiam_core::api::run::VpcAccess> {
    let pinned: Vec<&str> = svc.pinned_revisions().into_iter().map(|(r, _)| r).collect();
    if !pinned.is_empty() {
        evidence.push(ev(
            "run.googleapis.com services.get",
            format!(
                "{}: traffic goes to {}, whose vpcAccess was not read (run.revisions.get)",
                svc.name,
                pinned.join(", ")
            ),
            None,
        ));
        return None;
    }
    let vpc = svc.template.as_ref().and_then(|t| t.vpc_access.clone()).unwrap_or_default();
    evidence.push(ev(
        "run.googleapis.com services.get",
        format!("{}: template.vpcAccess {}", svc.name, serde_json::to_string(&vpc).unwrap_or_default()),
        Some(json!({"vpcAccess": vpc})),
    ));
    Some(vpc)
}

fn manual(command: String) -> Fix {
    Fix { action: FixAction::Manual, member: None, role: None, condition: None, command }
}

/// Ingress against where the call comes from: the derived path when there
/// is one, else `from`. Pushes the caller-side findings of a derived path
/// (its own settings keep it outside; it could not be settled) and returns
/// where a refused call comes from when the refusal is ingress's alone
/// (for `network.ingress`).
pub fn judge(
    path: Option<&CallerPath>,
    from: Origin,
    ingress: Ingress,
    out: &mut Vec<Finding>,
) -> Option<&'static str> {
    let Some(cp) = path else { return (!ingress.admits(from)).then(|| from.describe()) };
    let derived = findings(cp, ingress);
    if !derived.is_empty() {
        out.extend(derived);
        return None;
    }
    match cp.path.origin() {
        Some(o) => (!ingress.admits(o)).then(|| o.describe()),
        None => (ingress == Ingress::None).then_some("anywhere"),
    }
}

/// The findings of a derived path against the target's ingress: a caller
/// whose own settings keep it outside, or a path that could not be settled.
fn findings(cp: &CallerPath, ingress: Ingress) -> Vec<Finding> {
    let mut evidence = cp.evidence.clone();
    evidence.push(ev("ingress", format!("the service's ingress is {}", ingress.v2()), None));
    match (ingress.answer(&cp.path), &cp.path) {
        (Answer::NotFound, Path::Known { route, .. }) if ingress != Ingress::None => {
            let Some(fix) = route_fix(cp, route) else { return Vec::new() };
            vec![f::network_egress_not_routed(
                &cp.spec.describe(),
                ingress.gcloud(),
                &route.describe(),
                evidence,
                manual(fix),
            )]
        }
        (Answer::Undetermined, Path::Undetermined(u)) => {
            vec![f::network_origin_undetermined(&cp.spec.describe(), ingress.gcloud(), &u.fact, u.permission, evidence)]
        }
        _ => Vec::new(),
    }
}

/// What to change on the caller's side, for the routes the caller owns;
/// `None` when the caller's settings are not the cause (the internet).
fn route_fix(cp: &CallerPath, route: &Route) -> Option<String> {
    let (update, resource, template) = match &cp.spec {
        CallerSpec::Service(s) => (
            format!("gcloud run services update {} --region {} --project {}", s.name, s.region, s.project),
            "google_cloud_run_v2_service",
            "template",
        ),
        CallerSpec::Job { project, region, name } => (
            format!("gcloud run jobs update {name} --region {region} --project {project}"),
            "google_cloud_run_v2_job",
            "template { template",
        ),
        CallerSpec::Vm { .. } => (String::new(), "", ""),
    };
    let close = if template.contains(' ') { " }" } else { "" };
    match route {
        Route::PrivateRangesOnly { .. } => Some(format!(
            "{update} --vpc-egress=all-traffic  # Terraform: {template} {{ vpc_access {{ egress = \"ALL_TRAFFIC\" }} }}{close} on the {resource}"
        )),
        Route::NoVpcAccess => Some(format!(
            "{update} --network NETWORK --subnet SUBNET --vpc-egress=all-traffic  # a network of {} or its Shared VPC host; Terraform: {template} {{ vpc_access {{ network_interfaces {{ network = NETWORK }} egress = \"ALL_TRAFFIC\" }} }}{close}",
            cp.facts.target_project
        )),
        Route::NoPrivateGoogleAccess => Some(match &cp.subnetwork {
            Some(sub) => subnet_fix(sub),
            None => "enable Private Google Access on the caller's subnetwork: gcloud compute networks subnets update SUBNET --region REGION --enable-private-ip-google-access".to_owned(),
        }),
        Route::NetworkElsewhere { network_project } => Some(format!(
            "route the caller through a network of {} (or of its Shared VPC host) instead of {network_project}'s",
            cp.facts.target_project
        )),
        _ => None,
    }
}

/// Turning on Private Google Access of `projects/P/regions/R/subnetworks/S`.
pub(crate) fn subnet_fix(sub: &str) -> String {
    let (p, r, n) = subnet_parts(sub);
    format!(
        "gcloud compute networks subnets update {n} --region {r} --project {p} --enable-private-ip-google-access  # Terraform: private_ip_google_access = true on the google_compute_subnetwork"
    )
}

/// (project, region, name) of `projects/P/regions/R/subnetworks/S`.
fn subnet_parts(sub: &str) -> (&str, &str, &str) {
    let parts: Vec<&str> = sub.split('/').collect();
    match parts.as_slice() {
        ["projects", p, "regions", r, "subnetworks", n] => (p, r, n),
        _ => ("PROJECT", "REGION", sub),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_are_a_name_or_a_full_name() {
        let job = |p: &str, r: &str, n: &str| CallerSpec::Job { project: p.into(), region: r.into(), name: n.into() };
        assert_eq!(CallerSpec::job("nightly", "p", "r").unwrap(), job("p", "r", "nightly"));
        assert_eq!(CallerSpec::job("projects/q/locations/s/jobs/j", "p", "r").unwrap(), job("q", "s", "j"));
        for bad in ["", "a/b", "projects/q/locations/s/services/j", "nightly?"] {
            assert!(CallerSpec::job(bad, "p", "r").is_err(), "{bad}");
        }
        assert!(CallerSpec::job("nightly", "", "r").is_err(), "a short name needs a project");
    }

    proptest::proptest! {
        /// The flag comes from the user: any value is a job or a usage error, never a panic.
        #[test]
        fn no_job_name_panics(arg in "[a-z/]{0,40}") {
            let _ = CallerSpec::job(&arg, "p", "r");
        }
    }
    use serde_json::Value;

    /// Troubleshoot against the (caller path × ingress) table
    /// (crates/core/tests/data/origin_cases.yaml), for the callers it
    /// derives a path for (Cloud Run services and VMs): `allowed` gives no
    /// network finding, `404` gives `network.egress-not-routed` (or
    /// `network.ingress` under ingress `none`, which admits no one), and
    /// `undetermined` gives `network.origin-undetermined`.
    #[test]
    fn findings_follow_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/tests/data/origin_cases.yaml");
        let table: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut checked = 0;
        let mut failures = Vec::new();
        for case in table["cases"].as_array().unwrap() {
            let mut facts = table["defaults"].as_object().unwrap().clone();
            facts.extend(case["facts"].as_object().unwrap().clone());
            let facts: PathFacts = serde_json::from_value(Value::Object(facts)).unwrap();
            let spec = match &facts.caller {
                Caller::CloudRun { project, region, .. } => {
                    CallerSpec::Service(ServiceRef::new(project, region, "caller"))
                }
                Caller::Vm { project, .. } => {
                    CallerSpec::Vm { project: project.clone(), zone: "europe-west1-b".into(), name: "vm-1".into() }
                }
                _ => continue,
            };
            let cp = CallerPath {
                spec,
                path: derive(&facts),
                facts,
                subnetwork: None,
                identity: None,
                evidence: Vec::new(),
            };
            for ingress in Ingress::ALL {
                let mut out = Vec::new();
                let refused = judge(Some(&cp), Origin::External, ingress, &mut out);
                let ids: Vec<&str> = out.iter().map(|f| f.id.as_str()).collect();
                let got = match (refused, ids.as_slice()) {
                    (None, []) => "allowed",
                    (Some(_), []) if ingress == Ingress::None => "404",
                    (None, ["network.egress-not-routed"]) => "404",
                    (None, ["network.origin-undetermined"]) => "undetermined",
                    _ => "something else",
                };
                // `404` reads as a number, the other answers as words.
                let want = match &case["expect"]["answers"][ingress.gcloud()] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if got != want {
                    failures.push(format!("{}, ingress {ingress}: want {want}, got {refused:?} {ids:?}", case["name"]));
                }
            }
            checked += 1;
        }
        assert!(checked >= 18, "only {checked} rows checked");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn the_fix_is_the_callers_egress_with_the_terraform_attribute() {
        let facts = PathFacts {
            target_project: "acme-prod".into(),
            caller: Caller::CloudRun {
                project: "acme-prod".into(),
                region: "europe-west1".into(),
                vpc_access: Some(runiam_core::api::run::VpcAccess {
                    egress: Some("PRIVATE_RANGES_ONLY".into()),
                    network_interfaces: vec![Default::default()],
                    ..Default::default()
                }),
            },
            ..Default::default()
        };
        let cp = CallerPath {
            spec: CallerSpec::Service(ServiceRef::new("acme-prod", "europe-west1", "frontend")),
            path: derive(&facts),
            facts,
            subnetwork: None,
            identity: None,
            evidence: Vec::new(),
        };
        let mut out = Vec::new();
        assert_eq!(judge(Some(&cp), Origin::External, Ingress::InternalOnly, &mut out), None);
        assert_eq!(out[0].id, "network.egress-not-routed");
        assert_eq!(
            out[0].fix.as_ref().unwrap().command,
            "gcloud run services update frontend --region europe-west1 --project acme-prod --vpc-egress=all-traffic  # Terraform: template { vpc_access { egress = \"ALL_TRAFFIC\" } } on the google_cloud_run_v2_service"
        );
    }

    #[test]
    fn vm_names_are_zone_slash_name_or_a_full_name() {
        assert_eq!(
            CallerSpec::vm("europe-west1-b/vm-1", "p").unwrap(),
            CallerSpec::Vm { project: "p".into(), zone: "europe-west1-b".into(), name: "vm-1".into() }
        );
        assert_eq!(
            CallerSpec::vm("projects/q/zones/z-a/instances/i", "p").unwrap(),
            CallerSpec::Vm { project: "q".into(), zone: "z-a".into(), name: "i".into() }
        );
        for bad in ["vm-1", "a/b/c", "/x", "z/", "projects/q/zones/z/instances/", "z/n m"] {
            assert!(CallerSpec::vm(bad, "p").is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_vm_name_panics(arg in ".*") {
            let _ = CallerSpec::vm(&arg, "p");
        }
    }
}
