//! Cloud Run's ingress rule, in one place: which origins a service's
//! ingress setting admits, and its names in Run v2 (`INGRESS_TRAFFIC_*`),
//! gcloud's `--ingress` and Run v1's annotation. The emulator's front end
//! and troubleshoot both decide through `Ingress::admits`.

use std::fmt;

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

/// An ingress value that is none of Cloud Run's four settings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not an ingress setting; use INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY, INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER or INGRESS_TRAFFIC_NONE"
)]
pub struct UnknownIngress(pub String);

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
