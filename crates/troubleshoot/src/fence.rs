//! VPC Service Controls from the perimeters themselves (docs/cloud-run.md
//! "VPC Service Controls"), beside the log-based `network.vpc-sc`.
//! Gather reads the access policies of the organization above the
//! service's project (Access Context Manager `accessPolicies.list`, which
//! needs the organization as parent), their perimeters, and the numbers and
//! ancestors of the service's and the caller's projects; decide asks
//! runiam-core's [`judge`] about the enforced `status` and, apart, the
//! dry-run configuration. A caller without a project (no
//! `--caller-service`/`--caller-vm`) is a client outside Google Cloud.
//! What could not be read is partial visibility, never "no perimeter".

use runiam_core::api::Clients;
use runiam_core::api::access_context::{PERIMETERS_LIST, POLICIES_LIST, ServicePerimeter};
use runiam_core::doc::{Evidence, Finding, Fix, FixAction};
use runiam_core::gather::{Gathered, Read, failure};
use runiam_core::http::ApiError;
use runiam_core::model::{Principal, ServiceRef};
use runiam_core::perimeter::{Call, Fence, Mode, judge, missing_rule};

use crate::decide::{Origin, Request};
use crate::findings as f;

const SOURCE: &str = "accesscontextmanager.googleapis.com";

/// The perimeters that may fence the service, or why they are not known.
#[derive(Clone, Debug)]
pub enum Perimeters {
    /// No organization above the project: no access policy can apply.
    NoOrganization,
    Read(Vec<ServicePerimeter>),
    /// A read failed: what failed, and the permission it needs.
    Unreadable {
        what: String,
        permission: String,
    },
}

/// What was read for one call.
#[derive(Clone, Debug)]
pub struct Fenced {
    pub call: Call,
    pub perimeters: Perimeters,
    pub evidence: Vec<Evidence>,
}

fn ev(source: &str, detail: String) -> Evidence {
    Evidence { source: source.to_owned(), detail, data: None }
}

fn unreadable(what: String, permission: &str, e: &ApiError) -> Perimeters {
    let permission = e.status().and_then(|s| s.denied_permission()).unwrap_or_else(|| permission.to_owned());
    Perimeters::Unreadable { what: format!("{what}: {}", failure(e, &permission)), permission }
}

/// `projects/NUMBER` and its ancestors, for a project other than the service's.
async fn ancestry(clients: &Clients, project: &str) -> Result<Vec<String>, (String, &'static str, ApiError)> {
    let (p, chain) =
        tokio::join!(clients.resource_manager.get_project(project), clients.resource_manager.get_ancestry(project));
    let p = p.map_err(|e| (format!("the caller's project {project}"), "resourcemanager.projects.get", e))?;
    let chain = chain.map_err(|e| (format!("the ancestry of {project}"), "resourcemanager.projects.get", e))?;
    let mut out = vec![format!("projects/{}", p.number())];
    out.extend(chain.iter().filter(|a| a.kind != "project").map(|a| a.resource()));
    Ok(out)
}

/// The service's `projects/NUMBER` and its ancestors, as gather read
/// them; `Err` (what, permission) when they could not be read.
pub fn target_of(g: &Gathered) -> Result<Vec<String>, (String, String)> {
    let service = &g.facts.service;
    if let Some(u) = g.unreadable.iter().find(|u| u.read == Read::Allow && u.what.starts_with("the ancestry of")) {
        return Err((u.what.clone(), u.permission.clone()));
    }
    let number = service.project_number.as_deref().ok_or_else(|| {
        (format!("the number of project {}", service.project), "resourcemanager.projects.get".to_owned())
    })?;
    Ok(std::iter::once(format!("projects/{number}")).chain(g.parents.iter().cloned()).collect())
}

/// The project the call comes from: the calling service's or VM's; the
/// service's own for `--from internal`; none (the internet) otherwise.
pub fn caller_project<'a>(req: &'a Request, target: &'a ServiceRef) -> Option<&'a str> {
    match &req.path {
        Some(path) => Some(path.spec.project()),
        None if req.from == Origin::Internal => Some(&target.project),
        None => None,
    }
}

/// The caller as perimeters name identities; none for `allUsers`.
pub fn identity(req: &Request) -> Option<String> {
    (req.caller != Principal::AllUsers).then(|| req.caller.to_string())
}

/// Reads what VPC Service Controls decides the call on: `target` is the
/// service's `projects/NUMBER` and its ancestors ([`target_of`]), `caller`
/// the calling project's id, if any.
pub async fn read(
    clients: &Clients,
    target: Result<Vec<String>, (String, String)>,
    caller: Option<&str>,
    identity: Option<String>,
) -> Fenced {
    let mut evidence = Vec::new();
    let target = match target {
        Ok(t) => t,
        Err((what, permission)) => {
            let call = Call { caller: Vec::new(), target: Vec::new(), identity };
            return Fenced { call, perimeters: Perimeters::Unreadable { what, permission }, evidence };
        }
    };
    let mut call = Call { caller: Vec::new(), target, identity };
    let Some(org) = call.target.iter().find(|r| r.starts_with("organizations/")).cloned() else {
        evidence.push(ev(SOURCE, "no organization above the project: no access policy applies".to_owned()));
        return Fenced { call, perimeters: Perimeters::NoOrganization, evidence };
    };
    let caller_chain = async {
        match caller {
            Some(p) if format!("projects/{p}") != call.target[0] => Some(ancestry(clients, p).await),
            _ => None,
        }
    };
    let (policies, caller_chain) = tokio::join!(clients.access_context.list_policies(&org), caller_chain);
    match (caller, caller_chain) {
        (Some(_), Some(Ok(chain))) => call.caller = chain,
        (Some(_), None) => call.caller = call.target.clone(),
        (Some(_), Some(Err((what, permission, e)))) => {
            return Fenced { perimeters: unreadable(what, permission, &e), call, evidence };
        }
        (None, _) => {}
    }
    let policies = match policies {
        Ok(p) => p,
        Err(e) => {
            let perimeters = unreadable(format!("the access policies of {org}"), POLICIES_LIST, &e);
            return Fenced { call, perimeters, evidence };
        }
    };
    let mut perimeters = Vec::new();
    for p in &policies {
        match clients.access_context.list_perimeters(&p.name).await {
            Ok(found) => {
                let names: Vec<&str> = found.iter().map(|s| s.short_name()).collect();
                evidence.push(ev(
                    &format!("{SOURCE} servicePerimeters.list"),
                    format!(
                        "{} ({}): perimeters {}",
                        p.name,
                        p.title,
                        if names.is_empty() { "none".to_owned() } else { names.join(", ") }
                    ),
                ));
                perimeters.extend(found);
            }
            Err(e) => {
                let perimeters = unreadable(format!("the perimeters of {}", p.name), PERIMETERS_LIST, &e);
                return Fenced { call, perimeters, evidence };
            }
        }
    }
    if policies.is_empty() {
        evidence.push(ev(&format!("{SOURCE} accessPolicies.list"), format!("{org}: no access policy")));
    }
    Fenced { call, perimeters: Perimeters::Read(perimeters), evidence }
}

/// The findings of one call: the enforced perimeter that blocks it (and
/// the ingress rule it lacks), the one that may, the dry-run configuration
/// that would block it once enforced, or what could not be read.
pub fn findings(fenced: &Fenced, service: &str) -> Vec<Finding> {
    let perimeters = match &fenced.perimeters {
        Perimeters::NoOrganization => return Vec::new(),
        Perimeters::Unreadable { what, permission } => {
            let mut evidence = fenced.evidence.clone();
            evidence.push(ev(SOURCE, what.clone()));
            return vec![f::network_perimeter_unreadable(service, permission, evidence)];
        }
        Perimeters::Read(p) => p,
    };
    let who = caller_words(&fenced.call);
    let enforced = judge(perimeters, &fenced.call, Mode::Enforced);
    let mut out = Vec::new();
    match &enforced {
        Fence::Denied { perimeter, reason } => {
            let p = full(perimeters, perimeter);
            let mut evidence = fenced.evidence.clone();
            evidence.push(ev(SOURCE, format!("{}: {reason}", p.name)));
            if let Some(rule) = missing_rule(&fenced.call) {
                evidence.push(Evidence {
                    source: "runiam".to_owned(),
                    detail: "the ingress rule that would admit the call".to_owned(),
                    data: Some(serde_json::json!({ "ingressPolicy": rule })),
                });
            }
            out.push(f::network_perimeter(
                &who,
                service,
                &p.name,
                &rule_words(&fenced.call),
                evidence,
                rule_fix(&p, &fenced.call),
            ));
        }
        Fence::Unsure { perimeter, why } => {
            let p = full(perimeters, perimeter);
            out.push(f::network_perimeter_undetermined(&who, service, &p.name, why, fenced.evidence.clone()));
        }
        _ => {}
    }
    if !matches!(enforced, Fence::Denied { .. })
        && let Fence::Denied { perimeter, .. } = judge(perimeters, &fenced.call, Mode::DryRun)
    {
        let p = full(perimeters, &perimeter);
        out.push(f::network_perimeter_dry_run(
            &who,
            service,
            &p.name,
            &rule_words(&fenced.call),
            fenced.evidence.clone(),
        ));
    }
    out
}

/// The perimeter a fence names by its short name ([`judge`] names only
/// perimeters it was given).
fn full(perimeters: &[ServicePerimeter], short: &str) -> ServicePerimeter {
    perimeters
        .iter()
        .find(|p| p.short_name() == short)
        .cloned()
        .unwrap_or_else(|| ServicePerimeter { name: short.to_owned(), ..Default::default() })
}

fn caller_words(call: &Call) -> String {
    let from = call.caller.first().map_or_else(|| "outside Google Cloud".to_owned(), |p| format!("from {p}"));
    match &call.identity {
        Some(id) => format!("{id} {from}"),
        None => format!("a caller {from}"),
    }
}

fn rule_words(call: &Call) -> String {
    match missing_rule(call) {
        Some(rule) => format!("no ingress rule admits it; the missing rule is {rule}"),
        None => "no access level admits a client outside Google Cloud".to_owned(),
    }
}

fn rule_fix(p: &ServicePerimeter, call: &Call) -> Fix {
    let policy = p.policy().trim_start_matches("accessPolicies/");
    let command = match missing_rule(call) {
        Some(rule) => format!(
            "add this ingress rule to the perimeter's ingressPolicies (--set-ingress-policies replaces them: keep the existing ones in the file): gcloud access-context-manager perimeters update {} --policy={policy} --set-ingress-policies=ingress.yaml  # ingress.yaml: [{rule}]",
            p.short_name()
        ),
        None => format!(
            "call from a project inside {} or allowed by an ingress rule, or add an access level for the caller's network to the perimeter: gcloud access-context-manager perimeters describe {} --policy={policy}",
            p.short_name(),
            p.short_name()
        ),
    };
    Fix { action: FixAction::Manual, member: None, role: None, condition: None, command }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use serde_json::Value;

    /// Every row of core's perimeter table (crates/core/tests/data/perimeter_cases.yaml):
    /// an enforced denial is `network.perimeter`, an enforced unsure answer
    /// `network.perimeter-undetermined`, a dry-run-only denial
    /// `network.perimeter-dry-run`, anything else no finding.
    #[test]
    fn findings_follow_the_table() {
        let text = include_str!("../../core/tests/data/perimeter_cases.yaml");
        let table: Value = serde_saphyr::from_str(text).unwrap();
        let all: BTreeMap<String, ServicePerimeter> = serde_json::from_value(table["perimeters"].clone()).unwrap();
        let mut failures = Vec::new();
        for case in table["cases"].as_array().unwrap() {
            let mut call = table["defaults"].as_object().unwrap().clone();
            call.extend(case.get("call").and_then(Value::as_object).cloned().unwrap_or_default());
            let call: Call = serde_json::from_value(Value::Object(call)).unwrap();
            let perimeters =
                case["perimeters"].as_array().unwrap().iter().map(|p| all[p.as_str().unwrap()].clone()).collect();
            let fenced = Fenced { call, perimeters: Perimeters::Read(perimeters), evidence: Vec::new() };
            let got: Vec<String> = findings(&fenced, "s").into_iter().map(|f| f.id).collect();
            let (enforced, dry) = (&case["expect"]["enforced"]["fence"], &case["expect"]["dryRun"]["fence"]);
            let want: Vec<&str> = match (enforced.as_str().unwrap(), dry.as_str().unwrap()) {
                ("denied", _) => vec!["network.perimeter"],
                ("unsure", "denied") => vec!["network.perimeter-undetermined", "network.perimeter-dry-run"],
                ("unsure", _) => vec!["network.perimeter-undetermined"],
                (_, "denied") => vec!["network.perimeter-dry-run"],
                _ => vec![],
            };
            if got != want {
                failures.push(format!("{}: want {want:?}, got {got:?}", case["name"]));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn a_denial_names_the_perimeter_and_the_missing_rule() {
        let p: ServicePerimeter = serde_json::from_value(serde_json::json!({
            "name": "accessPolicies/42/servicePerimeters/prod",
            "status": {"resources": ["projects/1"], "restrictedServices": ["run.googleapis.com"]}
        }))
        .unwrap();
        let call = Call {
            caller: vec!["projects/2".into()],
            target: vec!["projects/1".into()],
            identity: Some("serviceAccount:c@dev.iam.gserviceaccount.com".into()),
        };
        let found = findings(&Fenced { call, perimeters: Perimeters::Read(vec![p]), evidence: Vec::new() }, "s");
        assert_eq!(found[0].id, "network.perimeter");
        assert!(found[0].explanation.contains("accessPolicies/42/servicePerimeters/prod"), "{}", found[0].explanation);
        let fix = &found[0].fix.as_ref().unwrap().command;
        assert!(fix.starts_with("add this ingress rule"), "{fix}");
        assert!(fix.contains("gcloud access-context-manager perimeters update prod --policy=42"), "{fix}");
        assert!(fix.contains(r#""identities":["serviceAccount:c@dev.iam.gserviceaccount.com"]"#), "{fix}");
        assert!(fix.contains(r#""sources":[{"resource":"projects/2"}]"#), "{fix}");
        let unread = Fenced {
            call: Call::default(),
            perimeters: Perimeters::Unreadable { what: "x".into(), permission: POLICIES_LIST.into() },
            evidence: Vec::new(),
        };
        let found = findings(&unread, "s");
        assert_eq!(found[0].id, "network.perimeter-unreadable");
        assert!(found[0].explanation.contains(POLICIES_LIST), "{}", found[0].explanation);
    }
}
