//! Cloud Run's ingress rule, in one place: which origins a service's
//! ingress setting admits, and its names in Run v2 (`INGRESS_TRAFFIC_*`),
//! gcloud's `--ingress` and Run v1's annotation. The emulator's front end
//! and troubleshoot both decide through `Ingress::admits`.
//!
//! Where a caller's requests arrive from is derived here too, from the
//! caller's own settings ([`derive`], docs/cloud-run.md "The caller's
//! path"), so that neither side has to be told the origin.

use std::fmt;

use serde::{Deserialize, Serialize};

use schemars::JsonSchema;

/// Where a call comes from, as ingress sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Origin {
    /// The internet, or another project's network.
    External,
    /// The project's VPC (and same-project Pub/Sub, Scheduler, Eventarc, Tasks).
    Internal,
    /// An external Application Load Balancer.
    LoadBalancer,
}

impl Origin {
    /// The origin in words.
    pub fn describe(self) -> &'static str {
        match self {
            Origin::External => "outside the project's network",
            Origin::Internal => "inside the project's network",
            Origin::LoadBalancer => "a load balancer",
        }
    }
}

/// A service's ingress setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingress {
    All,
    InternalOnly,
    InternalLoadBalancer,
    None,
}

impl Ingress {
    pub const ALL: [Ingress; 4] = [Ingress::All, Ingress::InternalOnly, Ingress::InternalLoadBalancer, Ingress::None];

    /// Whether a call from `origin` reaches the service.
    pub fn admits(self, origin: Origin) -> bool {
        match self {
            Ingress::All => true,
            Ingress::InternalOnly => origin == Origin::Internal,
            Ingress::InternalLoadBalancer => origin != Origin::External,
            Ingress::None => false,
        }
    }

    /// The Run v2 enum name.
    pub fn v2(self) -> &'static str {
        match self {
            Ingress::All => "INGRESS_TRAFFIC_ALL",
            Ingress::InternalOnly => "INGRESS_TRAFFIC_INTERNAL_ONLY",
            Ingress::InternalLoadBalancer => "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
            Ingress::None => "INGRESS_TRAFFIC_NONE",
        }
    }

    /// The Run v2 enum number (`INGRESS_TRAFFIC_UNSPECIFIED` is 0).
    pub fn number(self) -> i64 {
        match self {
            Ingress::All => 1,
            Ingress::InternalOnly => 2,
            Ingress::InternalLoadBalancer => 3,
            Ingress::None => 4,
        }
    }

    /// A Run v2 value as a client sends it, by name or by number; the
    /// enum's zero, `INGRESS_TRAFFIC_UNSPECIFIED`, is not a setting.
    pub fn from_name_or_number(v: &serde_json::Value) -> Option<Ingress> {
        match v {
            serde_json::Value::String(s) => Ingress::ALL.into_iter().find(|i| i.v2() == s),
            serde_json::Value::Number(n) => Ingress::ALL.into_iter().find(|i| Some(i.number()) == n.as_i64()),
            _ => None,
        }
    }

    /// gcloud's `--ingress` value, which is also Run v1's
    /// `run.googleapis.com/ingress` annotation.
    pub fn gcloud(self) -> &'static str {
        match self {
            Ingress::All => "all",
            Ingress::InternalOnly => "internal",
            Ingress::InternalLoadBalancer => "internal-and-cloud-load-balancing",
            Ingress::None => "none",
        }
    }

    /// A Run v2 field as the API returns it: unset is `All` (Google leaves
    /// the default out); `INGRESS_TRAFFIC_UNSPECIFIED` and unknown names are
    /// not a setting runiam can judge.
    pub fn from_v2(name: Option<&str>) -> Result<Ingress, UnknownIngress> {
        match name {
            None => Ok(Ingress::All),
            Some(n) => Ingress::ALL.into_iter().find(|i| i.v2() == n).ok_or_else(|| UnknownIngress(n.to_owned())),
        }
    }

    /// gcloud's or Run v1's name.
    pub fn from_gcloud(name: &str) -> Option<Ingress> {
        Ingress::ALL.into_iter().find(|i| i.gcloud() == name)
    }
}

impl fmt::Display for Ingress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.gcloud())
    }
}

/// What the front end does with a call, as far as ingress decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// Ingress admits it; IAM decides next.
    #[serde(rename = "allowed")]
    Allowed,
    /// 404, and no request log.
    #[serde(rename = "404")]
    NotFound,
    /// It depends on a fact that could not be read.
    #[serde(rename = "undetermined")]
    Undetermined,
}

impl Ingress {
    /// What this setting answers a caller on `path`: an undetermined path
    /// stays undetermined unless the setting admits everyone or no one.
    pub fn answer(self, path: &Path) -> Answer {
        match (self, path.origin()) {
            (Ingress::All, _) => Answer::Allowed,
            (Ingress::None, _) => Answer::NotFound,
            (_, None) => Answer::Undetermined,
            (_, Some(o)) if self.admits(o) => Answer::Allowed,
            _ => Answer::NotFound,
        }
    }
}

/// The facts that decide where a caller's requests arrive from. A fact
/// left `None` was not read: the answer is then undetermined when that
/// fact could change it, never a guess.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathFacts {
    /// The called service's project id.
    pub target_project: String,
    pub caller: Caller,
    /// The caller's subnetwork has Private Google Access
    /// (`privateIpGoogleAccess`; unverified: no Compute discovery document here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_google_access: Option<bool>,
    /// The target project's Shared VPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_vpc: Option<SharedVpc>,
    /// A connector's network, `projects/P/global/networks/N` (unverified:
    /// no Serverless VPC Access discovery document here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_network: Option<String>,
    /// The caller's project is in a VPC Service Controls perimeter with the
    /// target's that restricts run.googleapis.com.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_perimeter: Option<bool>,
}

/// A project's Shared VPC: the host project it is attached to, if any
/// (Compute `projects.getXpnHost`; unverified).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SharedVpc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// Who calls.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Caller {
    /// A client outside Google Cloud.
    #[default]
    Internet,
    /// A Cloud Run service or job, with its serving revision's `vpcAccess`
    /// (`{}` when it has none; `None` when the caller was not read).
    #[serde(rename_all = "camelCase")]
    CloudRun {
        project: String,
        region: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vpc_access: Option<VpcAccess>,
    },
    /// A Compute Engine VM and its first interface's network (unverified
    /// field `networkInterfaces[].network`; `None` when the VM was not read).
    #[serde(rename_all = "camelCase")]
    Vm {
        project: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        network: Option<String>,
    },
    /// A Google product calling the run.app URL from `project`.
    #[serde(rename_all = "camelCase")]
    Product { product: Product, project: String },
}

/// The products Cloud Run's ingress counts as internal from the same
/// project or perimeter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Product {
    Pubsub,
    Scheduler,
    Tasks,
    Eventarc,
    Workflows,
}

impl Product {
    pub fn describe(self) -> &'static str {
        match self {
            Product::Pubsub => "Pub/Sub",
            Product::Scheduler => "Cloud Scheduler",
            Product::Tasks => "Cloud Tasks",
            Product::Eventarc => "Eventarc",
            Product::Workflows => "Workflows",
        }
    }
}

/// Why a known path arrives as it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Internet,
    /// A Cloud Run caller without Direct VPC egress or a connector.
    NoVpcAccess,
    /// Only private ranges go through the VPC; `egress` is the setting as
    /// read (`None`: unset, Run's default).
    PrivateRangesOnly {
        egress: Option<String>,
    },
    /// Through a network neither in the target's project nor its Shared VPC host's.
    NetworkElsewhere {
        network_project: String,
    },
    /// Through the VPC, but its subnetwork lacks Private Google Access.
    NoPrivateGoogleAccess,
    /// Through a network of the target's project or its Shared VPC host.
    ThroughVpc {
        network_project: String,
    },
    SameProject(Product),
    SamePerimeter(Product),
    /// A product in another project, in no perimeter with the target.
    OtherProject(Product),
}

impl Route {
    /// The route in words.
    pub fn describe(&self) -> String {
        match self {
            Route::Internet => "a client outside Google Cloud".to_owned(),
            Route::NoVpcAccess => "the caller has no VPC access, so its requests leave through the internet".to_owned(),
            Route::PrivateRangesOnly { egress } => format!(
                "the caller's VPC egress is {}, so a run.app address (not a private range) is reached through the internet",
                egress.as_deref().unwrap_or("unset (PRIVATE_RANGES_ONLY)")
            ),
            Route::NetworkElsewhere { network_project } => format!(
                "the caller's network is in {network_project}, neither the service's project nor its Shared VPC host"
            ),
            Route::NoPrivateGoogleAccess => {
                "the caller's subnetwork has no Private Google Access, so it does not reach run.app from inside the network"
                    .to_owned()
            }
            Route::ThroughVpc { network_project } => {
                format!("routed through a network of {network_project} with Private Google Access")
            }
            Route::SameProject(p) => format!("{} in the service's project", p.describe()),
            Route::SamePerimeter(p) => format!("{} in a VPC Service Controls perimeter with the service", p.describe()),
            Route::OtherProject(p) => {
                format!("{} in another project, in no VPC Service Controls perimeter with the service", p.describe())
            }
        }
    }
}

/// A fact that could not be read, and the permission that would read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unread {
    pub fact: String,
    pub permission: &'static str,
}

/// Where a caller's requests arrive from, or which fact is missing to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Path {
    Known { origin: Origin, route: Route },
    Undetermined(Unread),
}

impl Path {
    /// The origin, when known.
    pub fn origin(&self) -> Option<Origin> {
        match self {
            Path::Known { origin, .. } => Some(*origin),
            Path::Undetermined(_) => None,
        }
    }
}

fn internal(route: Route) -> Path {
    Path::Known { origin: Origin::Internal, route }
}

fn external(route: Route) -> Path {
    Path::Known { origin: Origin::External, route }
}

fn unread(fact: String, permission: &'static str) -> Path {
    Path::Undetermined(Unread { fact, permission })
}

/// The project of a network or subnetwork as Run and Compute write it: a
/// `projects/P/...` path (or a URL holding one), else a short name in
/// `home`'s project.
pub fn network_project<'a>(name: &'a str, home: &'a str) -> &'a str {
    match name.split_once("projects/") {
        Some((_, rest)) => rest.split('/').next().filter(|p| !p.is_empty()).unwrap_or(home),
        None => home,
    }
}

/// The subnetwork Direct VPC egress takes its addresses from, as
/// `projects/P/regions/R/subnetworks/S`: the one named, else the one named
/// like the network (Run v2's rule). `None` for a connector.
pub fn direct_subnetwork(project: &str, region: &str, vpc: &VpcAccess) -> Option<String> {
    let nic = vpc.network_interfaces.first()?;
    let (home, name) = match (&nic.subnetwork, &nic.network) {
        (Some(s), _) => (network_project(s, project), s.rsplit('/').next().unwrap_or(s)),
        (None, Some(n)) => (network_project(n, project), n.rsplit('/').next().unwrap_or(n)),
        (None, None) => return None,
    };
    Some(format!("projects/{home}/regions/{region}/subnetworks/{name}"))
}

/// Where the caller's requests to a run.app URL of a service in
/// `facts.target_project` arrive from (docs/cloud-run.md "The caller's
/// path"). Known facts are checked in an order that lets the first one
/// that settles the answer do so, so an unread fact matters only when the
/// answer depends on it.
pub fn derive(facts: &PathFacts) -> Path {
    match &facts.caller {
        Caller::Internet => external(Route::Internet),
        Caller::Product { product, project } => {
            if *project == facts.target_project {
                return internal(Route::SameProject(*product));
            }
            match facts.same_perimeter {
                None => unread(
                    format!(
                        "whether a VPC Service Controls perimeter holds both {project} and {}",
                        facts.target_project
                    ),
                    "accesscontextmanager.servicePerimeters.list",
                ),
                Some(true) => internal(Route::SamePerimeter(*product)),
                Some(false) => external(Route::OtherProject(*product)),
            }
        }
        Caller::Vm { project, network } => match network {
            None => unread(format!("the VM's network (a VM in {project})"), "compute.instances.get"),
            Some(n) => through_network(facts, network_project(n, project), None),
        },
        Caller::CloudRun { project, region, vpc_access } => {
            let Some(vpc) = vpc_access else {
                return unread(
                    format!("the calling service's vpcAccess (a Cloud Run caller in {project}, {region})"),
                    "run.services.get",
                );
            };
            // A run.app address is in no private range.
            if !vpc.through_vpc(false) {
                return external(if vpc.attached() {
                    Route::PrivateRangesOnly { egress: vpc.egress.clone() }
                } else {
                    Route::NoVpcAccess
                });
            }
            let network_project = match (&vpc.connector, vpc.network_interfaces.first()) {
                (Some(c), _) => match &facts.connector_network {
                    Some(n) => network_project(n, project).to_owned(),
                    None => return unread(format!("the network of connector {c}"), "vpcaccess.connectors.get"),
                },
                (None, Some(nic)) => match nic.network.as_deref().or(nic.subnetwork.as_deref()) {
                    Some(n) => network_project(n, project).to_owned(),
                    None => {
                        return unread(
                            "the network of Direct VPC egress (it names neither network nor subnetwork)".to_owned(),
                            "run.services.get",
                        );
                    }
                },
                (None, None) => return external(Route::NoVpcAccess),
            };
            let subnet = direct_subnetwork(project, region, vpc);
            through_network(facts, &network_project, subnet.as_deref())
        }
    }
}

/// A caller inside a VPC network of `network_project`: internal when that
/// is the target's project or its Shared VPC host and the subnetwork has
/// Private Google Access (of `subnet`, when the caller's settings name it).
fn through_network(facts: &PathFacts, network_project: &str, subnet: Option<&str>) -> Path {
    if network_project != facts.target_project {
        match &facts.shared_vpc {
            None => {
                return unread(
                    format!(
                        "the Shared VPC host of {} (the caller's network is in {network_project})",
                        facts.target_project
                    ),
                    "compute.projects.get",
                );
            }
            Some(s) if s.host.as_deref() != Some(network_project) => {
                return external(Route::NetworkElsewhere { network_project: network_project.to_owned() });
            }
            Some(_) => {}
        }
    }
    match facts.private_google_access {
        None => unread(
            format!("privateIpGoogleAccess of {}", subnet.unwrap_or("the caller's subnetwork")),
            "compute.subnetworks.get",
        ),
        Some(false) => external(Route::NoPrivateGoogleAccess),
        Some(true) => internal(Route::ThroughVpc { network_project: network_project.to_owned() }),
    }
}

/// The internal addresses `PRIVATE_RANGES_ONLY` sends through the VPC
/// (docs/cloud-run.md "The caller's path"): RFC 1918, RFC 6598, Class E
/// (RFC 5735) and Private Google Access's private.googleapis.com and
/// restricted.googleapis.com (199.36.153.8/30, 199.36.153.4/30); IPv6
/// unique local addresses.
pub fn private_range(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            a == 10
                || (a == 172 && (16..32).contains(&b))
                || (a == 192 && b == 168)
                || (a == 100 && (64..128).contains(&b))
                || a >= 240
                || (a, b, c) == (199, 36, 153) && (4..12).contains(&d)
        }
        std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// An ingress value that is none of Cloud Run's four settings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not an ingress setting; use INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY, INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER or INGRESS_TRAFFIC_NONE"
)]
pub struct UnknownIngress(pub String);

/// `GoogleCloudRunV2VpcAccess`: Direct VPC egress (`networkInterfaces`) or
/// a Serverless VPC Access `connector`, and which traffic goes through it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VpcAccess {
    /// `projects/P/locations/L/connectors/C`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    /// `ALL_TRAFFIC` or `PRIVATE_RANGES_ONLY` (Run's default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_interfaces: Vec<NetworkInterface>,
}

impl VpcAccess {
    /// The `egress` values (`VPC_EGRESS_UNSPECIFIED` is no setting).
    pub const EGRESS: [&str; 2] = ["ALL_TRAFFIC", "PRIVATE_RANGES_ONLY"];

    /// Whether the caller has Direct VPC egress or a connector.
    pub fn attached(&self) -> bool {
        self.connector.is_some() || !self.network_interfaces.is_empty()
    }

    /// Whether a packet to an address goes through the VPC: with VPC
    /// access, everything under `ALL_TRAFFIC`, else (Run's default,
    /// `PRIVATE_RANGES_ONLY`) only addresses in [`private_range`]. Ingress's
    /// path ([`derive`]) and the emulator's Connectivity Tests both route by it.
    pub fn through_vpc(&self, private_destination: bool) -> bool {
        self.attached() && (private_destination || self.egress.as_deref() == Some("ALL_TRAFFIC"))
    }

    /// Why `egress` is no setting, if it is not.
    pub fn egress_problem(&self) -> Option<String> {
        let e = self.egress.as_deref()?;
        (!Self::EGRESS.contains(&e))
            .then(|| format!("'{e}' is not a VpcEgress value; use {}", Self::EGRESS.join(" or ")))
    }
}

/// `GoogleCloudRunV2NetworkInterface`: a network, a subnetwork or both
/// (each a short name in the caller's project or a `projects/...` path).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnetwork: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cloud Run's documented rule: `all` admits everyone, `internal` only
    /// the project's networks, `internal-and-cloud-load-balancing` those and
    /// an external Application Load Balancer, `none` no one.
    #[test]
    fn who_each_setting_admits() {
        use Origin::*;
        let table = [
            (Ingress::All, [true, true, true]),
            (Ingress::InternalOnly, [false, true, false]),
            (Ingress::InternalLoadBalancer, [false, true, true]),
            (Ingress::None, [false, false, false]),
        ];
        for (ingress, admitted) in table {
            assert_eq!([External, Internal, LoadBalancer].map(|o| ingress.admits(o)), admitted, "{ingress}");
        }
    }

    #[test]
    fn network_names_give_their_project() {
        assert_eq!(network_project("default", "home"), "home");
        assert_eq!(network_project("projects/host/global/networks/shared", "home"), "host");
        assert_eq!(
            network_project("https://www.googleapis.com/compute/v1/projects/host/regions/r/subnetworks/s", "home"),
            "host"
        );
        assert_eq!(network_project("projects/", "home"), "home");
        let vpc = |network: Option<&str>, subnetwork: Option<&str>| VpcAccess {
            network_interfaces: vec![NetworkInterface {
                network: network.map(str::to_owned),
                subnetwork: subnetwork.map(str::to_owned),
                tags: Vec::new(),
            }],
            ..Default::default()
        };
        assert_eq!(
            direct_subnetwork("p", "r", &vpc(Some("default"), None)).as_deref(),
            Some("projects/p/regions/r/subnetworks/default")
        );
        assert_eq!(
            direct_subnetwork("p", "r", &vpc(Some("default"), Some("projects/h/regions/r/subnetworks/s"))).as_deref(),
            Some("projects/h/regions/r/subnetworks/s")
        );
        assert_eq!(direct_subnetwork("p", "r", &vpc(None, None)), None);
        assert_eq!(direct_subnetwork("p", "r", &VpcAccess::default()), None);
    }

    proptest::proptest! {
        /// Names come from outside input: any string gives a project, never a panic.
        #[test]
        fn any_network_name_gives_a_project(name in ".*", home in "[a-z]{1,8}") {
            let p = network_project(&name, &home);
            proptest::prop_assert!(!p.contains('/'));
        }
    }

    #[test]
    fn private_ranges_are_the_ones_run_routes_through_the_vpc() {
        let private = |s: &str| private_range(s.parse().unwrap());
        for inside in [
            "10.8.0.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "240.0.0.1",
            "199.36.153.8",
            "199.36.153.4",
            "fd00::1",
        ] {
            assert!(private(inside), "{inside}");
        }
        for outside in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "199.36.153.12",
            "199.36.153.3",
            "216.239.32.53",
            "127.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!private(outside), "{outside}");
        }
        let vpc = VpcAccess { network_interfaces: vec![NetworkInterface::default()], ..Default::default() };
        assert!(vpc.through_vpc(true) && !vpc.through_vpc(false));
        let all = VpcAccess { egress: Some("ALL_TRAFFIC".into()), ..vpc };
        assert!(all.through_vpc(false));
        assert!(!VpcAccess { egress: Some("ALL_TRAFFIC".into()), ..Default::default() }.through_vpc(true));
    }

    #[test]
    fn names_round_trip_and_unknown_values_are_refused() {
        use serde_json::json;
        assert_eq!(Ingress::from_name_or_number(&json!(3)), Some(Ingress::InternalLoadBalancer));
        for unspecified in [json!(0), json!("INGRESS_TRAFFIC_UNSPECIFIED"), json!(9), json!(true)] {
            assert_eq!(Ingress::from_name_or_number(&unspecified), None, "{unspecified}");
        }
        for i in Ingress::ALL {
            assert_eq!(Ingress::from_name_or_number(&json!(i.v2())), Some(i));
            assert_eq!(Ingress::from_name_or_number(&json!(i.number())), Some(i));
            assert_eq!(Ingress::from_v2(Some(i.v2())), Ok(i));
            assert_eq!(Ingress::from_gcloud(i.gcloud()), Some(i));
        }
        assert_eq!(Ingress::from_v2(None), Ok(Ingress::All));
        assert!(Ingress::from_v2(Some("INGRESS_TRAFFIC_UNSPECIFIED")).is_err());
        assert!(Ingress::from_v2(Some("internal")).is_err());
    }
}
