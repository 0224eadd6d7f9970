//! VPC Service Controls on a call to Cloud Run, in one place: whether a
//! call from the caller's project to a service's project crosses a service
//! perimeter that restricts `run.googleapis.com`, and which ingress rule
//! admits it (docs/cloud-run.md "VPC Service Controls"). The emulator's
//! front end and troubleshoot both decide through [`judge`]; the case
//! table `tests/data/perimeter_cases.yaml` holds the expected answers.
//!
//! Projects are named as perimeters name them, `projects/NUMBER`, each
//! with its ancestors (`folders/N`, `organizations/N`), since a perimeter
//! or an ingress source may list a folder.

use serde::{Deserialize, Serialize};

use crate::api::access_context::{IngressPolicy, PerimeterConfig, ServicePerimeter};
use crate::ingress::Ingress;

/// The service a perimeter must restrict for it to fence Cloud Run.
pub const RUN: &str = "run.googleapis.com";

/// Which configuration of a perimeter is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `status`, what VPC Service Controls enforces.
    Enforced,
    /// `spec` when `useExplicitDryRunSpec` is set, else `status` again.
    DryRun,
}

impl Mode {
    /// The configuration `perimeter` has in this mode.
    pub fn config(self, perimeter: &ServicePerimeter) -> Option<&PerimeterConfig> {
        match self {
            Mode::Enforced => perimeter.status.as_ref(),
            Mode::DryRun if perimeter.use_explicit_dry_run_spec => perimeter.spec.as_ref(),
            Mode::DryRun => perimeter.status.as_ref(),
        }
    }
}

/// One call: where it comes from and goes to, and who makes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Call {
    /// The caller's `projects/NUMBER` and its ancestors; empty for a client
    /// outside Google Cloud.
    #[serde(default)]
    pub caller: Vec<String>,
    /// The called service's `projects/NUMBER` and its ancestors.
    pub target: Vec<String>,
    /// The caller's member (`serviceAccount:...`, `user:...`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

/// What VPC Service Controls makes of a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fence {
    /// No perimeter restricting run.googleapis.com holds the service.
    Open,
    /// The caller's project is in the service's perimeter, or a bridge
    /// joins them (`perimeter` names which).
    Inside { perimeter: String },
    /// The call crosses into `perimeter` and its ingress rule `rule`
    /// (0-based, in `ingressPolicies` order) admits it.
    Admitted { perimeter: String, rule: usize },
    /// The call crosses into `perimeter` and no ingress rule admits it;
    /// `reason` is the audit entry's `violationReason`.
    Denied { perimeter: String, reason: &'static str },
    /// A rule of `perimeter` would admit the call on a fact runiam does not
    /// evaluate (`why`: an access level, a group, IAM roles in `ingressTo`).
    Unsure { perimeter: String, why: String },
}

impl Fence {
    pub fn perimeter(&self) -> Option<&str> {
        match self {
            Fence::Open => None,
            Fence::Inside { perimeter }
            | Fence::Admitted { perimeter, .. }
            | Fence::Denied { perimeter, .. }
            | Fence::Unsure { perimeter, .. } => Some(perimeter),
        }
    }
}

/// The status Cloud Run's front end answers a call VPC Service Controls
/// blocks: 403 under ingress `all`, 404 under the others (docs/cloud-run.md);
/// neither writes a request log.
pub fn denial_status(ingress: Ingress) -> u16 {
    if ingress == Ingress::All { 403 } else { 404 }
}

fn holds(config: &PerimeterConfig, ancestry: &[String]) -> bool {
    config.resources.iter().any(|r| ancestry.contains(r))
}

fn restricts_run(config: &PerimeterConfig) -> bool {
    config.restricted_services.iter().any(|s| s == RUN)
}

/// The regular perimeter that holds `project` (with ancestors) and
/// restricts run.googleapis.com in `mode`, with its configuration.
fn fencing<'p>(
    perimeters: &'p [ServicePerimeter],
    project: &[String],
    mode: Mode,
) -> Option<(&'p ServicePerimeter, &'p PerimeterConfig)> {
    perimeters.iter().filter(|p| !p.is_bridge()).find_map(|p| {
        let config = mode.config(p)?;
        (holds(config, project) && restricts_run(config)).then_some((p, config))
    })
}

/// Whether one enforced perimeter restricting run.googleapis.com holds both
/// projects: the fact `ingress::PathFacts::same_perimeter` carries.
pub fn same_perimeter(perimeters: &[ServicePerimeter], a: &[String], b: &[String]) -> bool {
    fencing(perimeters, b, Mode::Enforced).is_some_and(|(_, config)| holds(config, a))
}

/// What VPC Service Controls makes of `call` in `mode`.
pub fn judge(perimeters: &[ServicePerimeter], call: &Call, mode: Mode) -> Fence {
    let Some((perimeter, config)) = fencing(perimeters, &call.target, mode) else { return Fence::Open };
    let name = perimeter.short_name().to_owned();
    if holds(config, &call.caller) {
        return Fence::Inside { perimeter: name };
    }
    let bridge = perimeters.iter().filter(|p| p.is_bridge()).find(|p| {
        mode.config(p).is_some_and(|c| !call.caller.is_empty() && holds(c, &call.caller) && holds(c, &call.target))
    });
    if let Some(b) = bridge {
        return Fence::Inside { perimeter: b.short_name().to_owned() };
    }
    let mut unsure = None;
    for (i, rule) in config.ingress_policies.iter().enumerate() {
        match admits(rule, call) {
            Match::Yes => return Fence::Admitted { perimeter: name, rule: i },
            Match::Unsure(why) => unsure = unsure.or(Some(why)),
            Match::No => {}
        }
    }
    match unsure {
        Some(why) => Fence::Unsure { perimeter: name, why },
        None if call.caller.is_empty() => Fence::Denied { perimeter: name, reason: "NO_MATCHING_ACCESS_LEVEL" },
        None => Fence::Denied { perimeter: name, reason: "NETWORK_NOT_IN_SAME_SERVICE_PERIMETER" },
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Match {
    Yes,
    No,
    Unsure(String),
}

impl Match {
    fn and(self, other: impl FnOnce() -> Match) -> Match {
        match self {
            Match::No => Match::No,
            Match::Yes => other(),
            Match::Unsure(why) => match other() {
                Match::No => Match::No,
                _ => Match::Unsure(why),
            },
        }
    }

    fn any(items: impl IntoIterator<Item = Match>) -> Match {
        let mut unsure = None;
        for m in items {
            match m {
                Match::Yes => return Match::Yes,
                Match::Unsure(why) => unsure = unsure.or(Some(why)),
                Match::No => {}
            }
        }
        unsure.map_or(Match::No, Match::Unsure)
    }
}

fn admits(rule: &IngressPolicy, call: &Call) -> Match {
    let (Some(from), Some(to)) = (&rule.ingress_from, &rule.ingress_to) else { return Match::No };
    identity_matches(from.identity_type.as_deref(), &from.identities, call.identity.as_deref())
        .and(|| {
            Match::any(from.sources.iter().map(|s| match (&s.resource, s.access_level.as_deref()) {
                (Some(r), _) if call.caller.contains(r) => Match::Yes,
                (_, Some("*")) => Match::Yes,
                (_, Some(level)) => Match::Unsure(format!("access level {level} is not evaluated")),
                _ => Match::No,
            }))
        })
        .and(|| if to.resources.iter().any(|r| r == "*" || call.target.contains(r)) { Match::Yes } else { Match::No })
        .and(|| {
            let op = to.operations.iter().any(|op| {
                op.service_name == "*"
                    || (op.service_name == RUN
                        && op.method_selectors.iter().any(|m| {
                            m.method.as_deref() == Some("*") || m.permission.as_deref() == Some("run.routes.invoke")
                        }))
            });
            match (op, to.roles.is_empty()) {
                (true, _) => Match::Yes,
                (false, false) => Match::Unsure(format!("ingressTo.roles {} are not evaluated", to.roles.join(", "))),
                (false, true) => Match::No,
            }
        })
}

fn identity_matches(kind: Option<&str>, identities: &[String], identity: Option<&str>) -> Match {
    let prefix = match kind {
        Some("ANY_IDENTITY") => return Match::Yes,
        Some("ANY_SERVICE_ACCOUNT") => "serviceAccount:",
        Some("ANY_USER_ACCOUNT") => "user:",
        _ => {
            return match identity {
                Some(id) if identities.iter().any(|i| i == id) => Match::Yes,
                _ if identities.is_empty() => Match::No,
                None => Match::Unsure("the caller's identity is not known".to_owned()),
                Some(_) => match identities.iter().find(|i| i.starts_with("group:")) {
                    Some(g) => Match::Unsure(format!("membership of {g} is not evaluated")),
                    None => Match::No,
                },
            };
        }
    };
    match identity {
        Some(id) if id.starts_with(prefix) => Match::Yes,
        Some(_) => Match::No,
        None => Match::Unsure("the caller's identity is not known".to_owned()),
    }
}

/// The narrowest ingress rule that admits `call`: its identity, from its
/// project, to the service's project, for Cloud Run only. `None` for a
/// client outside Google Cloud, which needs an access level instead.
pub fn missing_rule(call: &Call) -> Option<serde_json::Value> {
    let source = call.caller.first()?;
    let target = call.target.first()?;
    let from = match &call.identity {
        Some(id) => serde_json::json!({"identities": [id], "sources": [{"resource": source}]}),
        None => serde_json::json!({"identityType": "ANY_IDENTITY", "sources": [{"resource": source}]}),
    };
    Some(serde_json::json!({
        "ingressFrom": from,
        "ingressTo": {
            "resources": [target],
            "operations": [{"serviceName": RUN, "methodSelectors": [{"method": "*"}]}],
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Perimeters come from an API: any names in them give an answer, never a panic.
        #[test]
        fn any_perimeter_gives_an_answer(
            resources in proptest::collection::vec("(projects/|folders/)?[0-9*]{0,3}", 0..4),
            identities in proptest::collection::vec("(user:|group:|serviceAccount:)?[a-z@.]{0,6}", 0..3),
            kind in proptest::option::of("ANY_IDENTITY|ANY_USER_ACCOUNT|ANY_SERVICE_ACCOUNT|[A-Z_]{0,5}"),
            level in proptest::option::of("\\*|[a-z/]{0,8}"),
            service in "run.googleapis.com|\\*|[a-z.]{0,8}",
            explicit in proptest::bool::ANY,
        ) {
            let config = serde_json::json!({
                "resources": resources, "restrictedServices": [RUN],
                "ingressPolicies": [{
                    "ingressFrom": {"identities": identities, "identityType": kind, "sources": [{"accessLevel": level, "resource": resources.first()}]},
                    "ingressTo": {"resources": resources, "operations": [{"serviceName": service, "methodSelectors": [{"method": "*"}]}]}
                }]
            });
            let p: ServicePerimeter = serde_json::from_value(serde_json::json!({
                "name": "accessPolicies/1/servicePerimeters/p", "status": config, "spec": config, "useExplicitDryRunSpec": explicit
            })).unwrap();
            let call = Call { caller: resources.clone(), target: resources.iter().rev().cloned().collect(), identity: identities.first().cloned() };
            for mode in [Mode::Enforced, Mode::DryRun] {
                let _ = judge(std::slice::from_ref(&p), &call, mode);
            }
            let _ = same_perimeter(std::slice::from_ref(&p), &call.caller, &call.target);
        }
    }

    #[test]
    fn the_missing_rule_is_read_back_as_admitting_the_call() {
        let call = Call {
            caller: vec!["projects/2".into()],
            target: vec!["projects/1".into()],
            identity: Some("serviceAccount:a@p.iam.gserviceaccount.com".into()),
        };
        let rule: IngressPolicy = serde_json::from_value(missing_rule(&call).unwrap()).unwrap();
        assert_eq!(admits(&rule, &call), Match::Yes);
        let other = Call { identity: Some("user:b@example.com".into()), ..call.clone() };
        assert_eq!(admits(&rule, &other), Match::No);
        assert_eq!(missing_rule(&Call { caller: Vec::new(), ..call }), None);
    }
}
