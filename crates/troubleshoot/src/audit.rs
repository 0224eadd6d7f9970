//! `troubleshoot --audit`: exposure findings with no caller (docs/audit.md).
//!
//! Pure: a service's snapshot, or the allow policy of a project, folder or
//! organization above audited services, in; findings with their
//! least-privilege fix out. The command gathers (snapshots one at a time,
//! each ancestor's policy once) and reports.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use runiam_core::doc::{Evidence, Finding, Fix, FixAction, ServiceSnapshot};
use runiam_core::ingress::{Ingress, Origin};
use runiam_core::model::{Binding, Expr, INVOKE_PERMISSION, Policy, Principal, ServiceRef};
use serde_json::json;

use crate::findings;

/// What the audit judges against.
#[derive(Clone, Debug)]
pub struct Rules {
    pub now: DateTime<Utc>,
    /// `--expiring-within`: a time-bound grant ending sooner is reported.
    pub expiring_within: Duration,
    /// The organization's Cloud Identity domains, lowercase; empty: members
    /// are not judged external (nothing to judge them against).
    pub domains: BTreeSet<String>,
}

/// Where a policy is set.
#[derive(Clone, Copy, Debug)]
pub enum Level<'a> {
    Service(&'a ServiceRef),
    /// `projects/P`, `folders/N` or `organizations/N`, with the number of
    /// audited services below it.
    Ancestor {
        resource: &'a str,
        services: usize,
    },
}

impl Level<'_> {
    fn resource(&self) -> String {
        match self {
            Level::Service(s) => s.full_name(),
            Level::Ancestor { resource, .. } => (*resource).to_owned(),
        }
    }

    fn source(&self) -> String {
        match self {
            Level::Service(_) => "run.googleapis.com getIamPolicy".into(),
            Level::Ancestor { .. } => "cloudresourcemanager.googleapis.com getIamPolicy".into(),
        }
    }
}

/// The findings of one service: its invoker check, then its policy.
pub fn service(snap: &ServiceSnapshot, rules: &Rules) -> Vec<Finding> {
    let mut out = Vec::new();
    let s = &snap.service;
    if snap.invoker_iam_disabled {
        // An ingress runiam does not know is taken as open: an audit errs on the side of reporting.
        let ingress = Ingress::from_v2(snap.ingress.as_deref()).ok();
        let exposed = ingress.is_none_or(|i| i.admits(Origin::External));
        let shown = match ingress {
            Some(i) => i.gcloud(),
            None => snap.ingress.as_deref().unwrap_or("unknown"),
        };
        let fix = manual(format!(
            "gcloud run services update {} --region {} --project {} --invoker-iam-check",
            s.name, s.region, s.project
        ));
        let evidence = vec![Evidence {
            source: "run.googleapis.com services.get".into(),
            detail: format!("invokerIamDisabled: true, ingress {shown}"),
            data: None,
        }];
        out.push(findings::audit_invoker_check_off(&s.full_name(), shown, exposed, evidence, fix));
    }
    out.extend(policy(&snap.iam_policy, Level::Service(s), rules));
    out
}

/// The findings of a project's, folder's or organization's allow policy.
pub fn ancestor(resource: &str, p: &Policy, services: usize, rules: &Rules) -> Vec<Finding> {
    policy(p, Level::Ancestor { resource, services }, rules)
}

/// Every member of every binding that lets someone invoke, judged once:
/// an expired grant is only expired; a deleted member only deleted; else
/// it may be expiring, public, external, a basic role or a broad grant.
fn policy(p: &Policy, level: Level, rules: &Rules) -> Vec<Finding> {
    let resource = level.resource();
    let mut out = Vec::new();
    for b in p.bindings.iter().filter(|b| carries_invoke(&b.role)) {
        let end = b.condition.as_ref().and_then(Expr::expiry);
        for m in &b.members {
            let evidence = vec![Evidence {
                source: level.source(),
                detail: format!("{m} holds {} on {resource}", b.role),
                data: Some(json!(b)),
            }];
            let r = &b.role;
            if let Some(end) = end.filter(|e| *e <= rules.now) {
                let fix = revoke_fix(level, m, b, "--revoke-expired");
                out.push(findings::audit_expired_condition(&resource, m, r, &at(end), evidence, fix));
                continue;
            }
            let principal = Principal::canonical(m);
            if principal.is_none() && m.starts_with("deleted:") {
                let fix = revoke_fix(level, m, b, "--revoke-deleted");
                out.push(findings::audit_deleted_principal(&resource, m, r, evidence, fix));
                continue;
            }
            if let Some(end) = end.filter(|e| *e <= rules.now + rules.expiring_within) {
                let extend =
                    format!("{} --member {m} --role {r} --until TIME --keep-condition --apply", grant_cmd(level));
                let fix = Fix { action: FixAction::Manual, member: None, role: None, condition: None, command: extend };
                out.push(findings::audit_expiring(&resource, m, r, &at(end), evidence.clone(), fix));
            }
            let Some(principal) = principal else { continue };
            let services = match level {
                Level::Service(_) => 1,
                Level::Ancestor { services, .. } => services,
            };
            if principal.is_public() && matches!(level, Level::Service(_)) {
                let fix = revoke_fix(level, m, b, "--revoke");
                out.push(findings::audit_public(&resource, m, r, evidence.clone(), fix));
            }
            if external(&principal, &rules.domains) {
                let fix = revoke_fix(level, m, b, "--revoke");
                out.push(findings::audit_external_member(&resource, m, r, evidence.clone(), fix));
            }
            if BASIC_ROLES.contains(&r.as_str()) {
                let fix = narrow_fix(level, m, b);
                out.push(findings::audit_basic_role(&resource, m, r, services, evidence, fix));
            } else if matches!(level, Level::Ancestor { .. }) && !r.ends_with(".serviceAgent") {
                let fix = narrow_fix(level, m, b);
                out.push(findings::audit_broad_grant(&resource, m, r, services, evidence, fix));
            }
        }
    }
    out
}

/// The basic roles, which carry `run.routes.invoke` among everything else.
const BASIC_ROLES: &[&str] = &["roles/owner", "roles/editor"];

/// Whether a role lets its members invoke: a predefined role that carries
/// `run.routes.invoke`, or a custom role (whose permissions a snapshot does
/// not hold, so the audit reports rather than misses it).
pub fn carries_invoke(role: &str) -> bool {
    match runiam_core::roles::predefined(role) {
        Some(r) => r.included_permissions.iter().any(|p| p == INVOKE_PERMISSION),
        None => !role.starts_with("roles/"),
    }
}

/// A user, group or domain whose domain is none of the organization's.
/// Service accounts and federated identities are not judged: their email
/// or pool does not say which organization they belong to.
pub fn external(p: &Principal, domains: &BTreeSet<String>) -> bool {
    let domain = match p {
        Principal::User(e) | Principal::Group(e) => e.rsplit_once('@').map(|(_, d)| d),
        Principal::Domain(d) => Some(d.as_str()),
        _ => None,
    };
    !domains.is_empty() && domain.is_some_and(|d| !domains.contains(&d.to_ascii_lowercase()))
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn manual(command: String) -> Fix {
    Fix { action: FixAction::Manual, member: None, role: None, condition: None, command }
}

/// `runiam grant-invoker SERVICE` for a service; ancestors have no runiam command.
fn grant_cmd(level: Level) -> String {
    match level {
        Level::Service(s) => format!("runiam grant-invoker {}", s.full_name()),
        Level::Ancestor { resource, .. } => format!("runiam grant-invoker SERVICE (for each service under {resource})"),
    }
}

/// The fix that removes the grant: `runiam grant-invoker --revoke…` on a
/// service, gcloud's remove-iam-policy-binding on a project, folder or
/// organization.
fn revoke_fix(level: Level, member: &str, b: &Binding, flag: &str) -> Fix {
    match level {
        Level::Service(s) => {
            let command = match flag {
                "--revoke" => {
                    let role =
                        if b.role == "roles/run.invoker" { String::new() } else { format!(" --role {}", b.role) };
                    format!("runiam grant-invoker {} --revoke --member {member}{role} --apply", s.full_name())
                }
                other => format!("runiam grant-invoker {} {other} --apply", s.full_name()),
            };
            Fix {
                action: FixAction::Revoke,
                member: Principal::parse(member).ok(),
                role: Some(b.role.clone()),
                condition: b.condition.clone(),
                command,
            }
        }
        Level::Ancestor { resource, .. } => manual(remove_binding(resource, member, b)),
    }
}

/// Least privilege instead of a broad or basic grant: invoker on the
/// services the member calls, then the broad grant removed.
fn narrow_fix(level: Level, member: &str, b: &Binding) -> Fix {
    let remove = match level {
        Level::Service(s) => format!(
            "gcloud run services remove-iam-policy-binding {} --region {} --project {} --member={member} --role={}",
            s.name, s.region, s.project, b.role
        ),
        Level::Ancestor { resource, .. } => remove_binding(resource, member, b),
    };
    let grant = match level {
        Level::Service(s) => format!("runiam grant-invoker {} --member {member} --apply", s.full_name()),
        Level::Ancestor { .. } => {
            format!("runiam grant-invoker SERVICE --member {member} --apply for each service it calls")
        }
    };
    manual(format!("{grant}; then {remove}"))
}

/// gcloud's command removing one member's binding from a project, folder or organization.
fn remove_binding(resource: &str, member: &str, b: &Binding) -> String {
    let (kind, id) = resource.split_once('/').unwrap_or(("projects", resource));
    let group = match kind {
        "folders" => "resource-manager folders",
        "organizations" => "organizations",
        _ => "projects",
    };
    let condition = match &b.condition {
        Some(c) => format!(
            " --condition='expression={}{}'",
            c.expression.replace('\'', "'\\''"),
            match &c.title {
                Some(t) => format!(",title={}", t.replace('\'', "'\\''")),
                None => String::new(),
            }
        ),
        None => String::new(),
    };
    format!("gcloud {group} remove-iam-policy-binding {id} --member={member} --role={}{condition}", b.role)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            now: DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z").unwrap().to_utc(),
            expiring_within: Duration::days(14),
            domains: BTreeSet::from(["acme.example".to_owned()]),
        }
    }

    fn binding(role: &str, member: &str, until: Option<&str>) -> Binding {
        Binding {
            role: role.into(),
            members: vec![member.into()],
            condition: until.map(|t| Expr {
                expression: format!("request.time < timestamp(\"{t}\")"),
                title: Some("t".into()),
                ..Expr::default()
            }),
            ..Binding::default()
        }
    }

    fn ids(found: &[Finding]) -> Vec<String> {
        found.iter().map(|f| format!("{} {:?}", f.id, f.severity).to_lowercase()).collect()
    }

    #[test]
    fn service_policies() {
        let svc = ServiceRef::new("p1", "europe-west1", "s");
        let inv = "roles/run.invoker";
        let cases: [(Binding, &[&str]); 12] = [
            (binding(inv, "user:a@acme.example", None), &[]),
            (binding(inv, "user:a@ACME.example", None), &[]),
            (binding(inv, "allUsers", None), &["audit.public risk"]),
            (binding(inv, "allAuthenticatedUsers", None), &["audit.public risk"]),
            (binding(inv, "user:eve@gmail.com", None), &["audit.external-member risk"]),
            (binding(inv, "domain:partner.example", None), &["audit.external-member risk"]),
            (binding(inv, "serviceAccount:x@other.iam.gserviceaccount.com", None), &[]),
            (binding(inv, "deleted:user:gone@acme.example?uid=1", None), &["audit.deleted-principal risk"]),
            (binding(inv, "user:a@acme.example", Some("2026-11-01T00:00:00Z")), &["audit.expired-condition info"]),
            (
                binding(inv, "user:eve@gmail.com", Some("2026-12-01T00:00:00Z")),
                &["audit.expiring info", "audit.external-member risk"],
            ),
            (binding(inv, "user:a@acme.example", Some("2027-12-01T00:00:00Z")), &[]),
            (binding("roles/run.viewer", "allUsers", None), &[]),
        ];
        for (b, want) in cases {
            let snap = ServiceSnapshot::of_policy(
                svc.clone(),
                Policy { bindings: vec![b.clone()], ..Policy::default() },
                rules().now,
            );
            assert_eq!(ids(&service(&snap, &rules())), *want, "{b:?}");
        }
        let snap = ServiceSnapshot::of_policy(
            svc.clone(),
            Policy { bindings: vec![binding("roles/editor", "user:a@acme.example", None)], ..Policy::default() },
            rules().now,
        );
        assert_eq!(ids(&service(&snap, &rules())), ["audit.basic-role risk"]);
    }

    #[test]
    fn revoke_fixes_name_the_command() {
        let svc = ServiceRef::new("p1", "europe-west1", "s");
        let p = Policy {
            bindings: vec![
                binding("roles/run.invoker", "allUsers", None),
                binding("roles/run.invoker", "deleted:user:g@acme.example?uid=1", None),
                binding("roles/run.invoker", "user:a@acme.example", Some("2026-01-01T00:00:00Z")),
            ],
            ..Policy::default()
        };
        let found = service(&ServiceSnapshot::of_policy(svc, p, rules().now), &rules());
        let commands: Vec<&str> = found.iter().map(|f| f.fix.as_ref().unwrap().command.as_str()).collect();
        assert_eq!(
            commands,
            [
                "runiam grant-invoker projects/p1/locations/europe-west1/services/s --revoke --member allUsers --apply",
                "runiam grant-invoker projects/p1/locations/europe-west1/services/s --revoke-deleted --apply",
                "runiam grant-invoker projects/p1/locations/europe-west1/services/s --revoke-expired --apply",
            ]
        );
        assert!(found.iter().all(|f| f.fix.as_ref().unwrap().action == FixAction::Revoke));
    }

    #[test]
    fn invoker_check_off_is_a_risk_unless_ingress_is_internal() {
        let cases = [
            (None, "audit.invoker-check-off risk"),
            (Some("INGRESS_TRAFFIC_ALL"), "audit.invoker-check-off risk"),
            (Some("INGRESS_TRAFFIC_INTERNAL_ONLY"), "audit.invoker-check-off info"),
            (Some("INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"), "audit.invoker-check-off info"),
            (Some("INGRESS_TRAFFIC_SOMETHING_NEW"), "audit.invoker-check-off risk"),
        ];
        for (ingress, want) in cases {
            let mut snap =
                ServiceSnapshot::of_policy(ServiceRef::new("p1", "europe-west1", "s"), Policy::default(), rules().now);
            snap.invoker_iam_disabled = true;
            snap.ingress = ingress.map(str::to_owned);
            assert_eq!(ids(&service(&snap, &rules())), [want], "{ingress:?}");
            snap.invoker_iam_disabled = false;
            assert_eq!(ids(&service(&snap, &rules())), Vec::<String>::new());
        }
    }

    #[test]
    fn ancestor_policies() {
        let cases: [(Binding, &[&str]); 6] = [
            (binding("roles/run.invoker", "group:oncall@acme.example", None), &["audit.broad-grant risk"]),
            (
                binding("roles/run.admin", "user:eve@gmail.com", None),
                &["audit.external-member risk", "audit.broad-grant risk"],
            ),
            (binding("roles/editor", "user:a@acme.example", None), &["audit.basic-role risk"]),
            (binding("roles/viewer", "user:a@acme.example", None), &[]),
            (
                binding(
                    "roles/run.serviceAgent",
                    "serviceAccount:service-1@serverless-robot-prod.iam.gserviceaccount.com",
                    None,
                ),
                &[],
            ),
            (
                binding("roles/run.invoker", "user:a@acme.example", Some("2020-01-01T00:00:00Z")),
                &["audit.expired-condition info"],
            ),
        ];
        for (b, want) in cases {
            let p = Policy { bindings: vec![b.clone()], ..Policy::default() };
            let found = ancestor("folders/7", &p, 12, &rules());
            assert_eq!(ids(&found), *want, "{b:?}");
        }
        let p = Policy {
            bindings: vec![binding("roles/run.invoker", "group:oncall@acme.example", None)],
            ..Policy::default()
        };
        let f = &ancestor("folders/7", &p, 12, &rules())[0];
        assert_eq!(
            f.explanation,
            "group:oncall@acme.example holds roles/run.invoker on folders/7: it can invoke all 12 audited services below it"
        );
        assert!(f.fix.as_ref().unwrap().command.ends_with(
            "gcloud resource-manager folders remove-iam-policy-binding 7 --member=group:oncall@acme.example --role=roles/run.invoker"
        ));
    }

    #[test]
    fn without_domains_no_member_is_external() {
        let p = Principal::parse("user:eve@gmail.com").unwrap();
        assert!(!external(&p, &BTreeSet::new()));
        assert!(external(&p, &rules().domains));
        assert!(carries_invoke("organizations/1/roles/custom"));
        assert!(carries_invoke("roles/owner"));
        assert!(!carries_invoke("roles/run.viewer"));
    }
}
