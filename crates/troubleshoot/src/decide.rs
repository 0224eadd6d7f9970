//! Decide: from gathered facts to the findings of a [`Draft`], with no
//! I/O. The network and service settings come first (they act before IAM
//! at Cloud Run's front end), then core's evaluator, then what the org
//! policy means for the fix and what could not be read. The verdict and
//! the fix are settled later, once, in `settle`.

use runiam_core::doc::{Evidence, Finding, Fix, FixAction, Verdict};
use runiam_core::eval::{Evaluation, Reason, ReasonKind, Uncertainty, evaluate};
use runiam_core::ingress::Ingress;
use runiam_core::model::{INVOKE_PERMISSION, Policy, Principal, ServiceRef};
use runiam_core::roles;
use serde_json::json;

use crate::findings as f;
use crate::gather::{Drs, Gathered, Read, Unreadable};
use crate::settle::Draft;

/// Where the call comes from (`--from`): runiam-core's ingress origin.
pub use runiam_core::ingress::Origin;

/// What the user asked about.
#[derive(Clone, Debug)]
pub struct Request {
    pub caller: Principal,
    /// Where the call comes from when no path was derived (`--from`).
    pub from: Origin,
    /// The caller's path, derived from its settings; decides ingress instead of `from`.
    pub path: Option<crate::network::CallerPath>,
}

/// Another service of the same name the caller may have meant.
#[derive(Clone, Debug)]
pub struct Elsewhere {
    pub service: ServiceRef,
    pub policy: Policy,
}

fn evidence(source: &str, detail: impl Into<String>, data: Option<serde_json::Value>) -> Evidence {
    Evidence { source: source.to_owned(), detail: detail.into(), data }
}

fn policy_source(resource: &str) -> &'static str {
    if resource.contains("/services/") {
        "run.googleapis.com getIamPolicy"
    } else {
        "cloudresourcemanager.googleapis.com getIamPolicy"
    }
}

fn reason_evidence(r: &Reason) -> Evidence {
    let source = match r.kind {
        ReasonKind::Deny | ReasonKind::DenyPolicyUnreadable => "iam.googleapis.com v2 deny policies",
        _ => policy_source(&r.resource),
    };
    evidence(
        source,
        format!("{}: {}", r.resource, r.why),
        Some(json!({"role": r.role, "member": r.member, "condition": r.condition, "policy": r.policy})),
    )
}

/// The service-scoped grant that fixes an IAM cause.
fn grant_fix(service: &ServiceRef, caller: &Principal) -> Fix {
    Fix {
        action: FixAction::Grant,
        member: Some(caller.clone()),
        role: Some("roles/run.invoker".to_owned()),
        condition: None,
        command: format!("runiam grant-invoker {} --member {caller} --apply", service.full_name()),
    }
}

fn manual(command: String) -> Fix {
    Fix { action: FixAction::Manual, member: None, role: None, condition: None, command }
}

/// Whether a role carries run.routes.invoke, as far as known.
fn role_invokes(role: &str, g: &Gathered) -> bool {
    match g.facts.roles.get(role) {
        Some(Some(perms)) => perms.iter().any(|p| p == INVOKE_PERMISSION),
        Some(None) => false,
        None => roles::predefined(role).is_some_and(|r| r.included_permissions.iter().any(|p| p == INVOKE_PERMISSION)),
    }
}

/// Every finding the configuration gives for one (service, caller), and
/// IAM's verdict, for [`settle`](crate::settle::settle) to decide on.
pub fn diagnose(g: &Gathered, req: &Request, elsewhere: &[Elsewhere]) -> Draft {
    let service = &g.facts.service;
    let gcloud_service = format!(
        "gcloud run services update {} --region {} --project {}",
        service.name, service.region, service.project
    );
    let mut findings: Vec<Finding> = Vec::new();
    front_end_findings(g, req, &gcloud_service, &mut findings);
    let ev = evaluate(&g.facts, INVOKE_PERMISSION);
    let iam = if g.service.invoker_iam_disabled {
        findings.push(f::config_invoker_check_disabled(vec![evidence(
            "run.googleapis.com services.get",
            format!("{}: invokerIamDisabled is true", service.full_name()),
            None,
        )]));
        Verdict::Allowed
    } else {
        iam_findings(g, req, &ev, elsewhere, &mut findings);
        ev.verdict
    };
    if iam != Verdict::Allowed {
        org_findings(g, req, &gcloud_service, &mut findings);
        unreadable_findings(g, &ev, &mut findings);
    }
    Draft { service: service.clone(), caller: req.caller.clone(), iam, findings, log_evidence: Vec::new() }
}

/// What Cloud Run's front end and the service itself decide before IAM:
/// the default URL, ingress, IAP, a disabled caller account, a service
/// that cannot serve.
fn front_end_findings(g: &Gathered, req: &Request, gcloud_service: &str, findings: &mut Vec<Finding>) {
    let service = &g.facts.service;
    let svc_ev = |detail: String| evidence("run.googleapis.com services.get", detail, None);
    if g.service.default_uri_disabled {
        findings.push(f::network_default_url_disabled(
            vec![svc_ev(format!("{}: defaultUriDisabled is true", service.full_name()))],
            manual(format!("call it through its custom domain or load balancer, or re-enable the URL: {gcloud_service} --default-url")),
        ));
    }
    // A setting runiam does not know (a newer API value) is not judged.
    if let Ok(ingress) = Ingress::from_v2(g.service.ingress.as_deref())
        && let Some(from) = crate::network::judge(req.path.as_ref(), req.from, ingress, findings)
    {
        findings.push(f::network_ingress(
            ingress.gcloud(),
            from,
            vec![svc_ev(format!("{}: ingress is {}", service.full_name(), ingress.v2()))],
            manual(format!("call from an admitted network, or widen ingress: {gcloud_service} --ingress all")),
        ));
    }
    if g.service.iap_enabled {
        findings.push(f::network_iap(vec![svc_ev(format!("{}: iapEnabled is true", service.full_name()))]));
    }
    if let Some(a) = g.caller_account.as_ref().filter(|a| a.disabled) {
        findings.push(f::iam_caller_disabled(
            &a.email,
            vec![evidence("iam.googleapis.com serviceAccounts.get", format!("{}: disabled is true", a.name), None)],
            manual(format!("gcloud iam service-accounts enable {}", a.email)),
        ));
    }
    if let Some((why, ev)) = not_ready(&g.service) {
        findings.push(f::config_not_ready(
            &why,
            ev,
            manual(format!(
                "fix the revision (its logs say why), then redeploy: gcloud run services describe {} --region {} --project {}",
                service.name, service.region, service.project
            )),
        ));
    }
}

/// What could not be read, where it leaves IAM's answer open.
fn unreadable_findings(g: &Gathered, ev: &Evaluation, findings: &mut Vec<Finding>) {
    let doubts = open_reads(g, ev);
    if doubts.is_empty() {
        return;
    }
    let deny_doubt = ev.grant_fixes && doubts.iter().any(|u| u.read == Read::Deny);
    findings.push(f::iam_unreadable(
        deny_doubt,
        doubts
            .iter()
            .map(|u| evidence("gather", format!("{}: {}", u.what, u.error), Some(json!({"permission": u.permission}))))
            .collect(),
    ));
}

fn iam_findings(g: &Gathered, req: &Request, ev: &Evaluation, elsewhere: &[Elsewhere], out: &mut Vec<Finding>) {
    let service = &g.facts.service;
    let caller = &req.caller;
    let caller_s = caller.to_string();
    let fix = grant_fix(service, caller);
    let (public, named): (Vec<&Reason>, Vec<&Reason>) =
        ev.grants.iter().partition(|r| r.member.as_deref() == Some("allUsers"));
    if !public.is_empty() {
        out.push(f::config_public(public.into_iter().map(reason_evidence).collect()));
    }
    if ev.verdict == runiam_core::doc::Verdict::Allowed && !named.is_empty() {
        out.push(f::iam_granted(&caller_s, named.into_iter().map(reason_evidence).collect()));
    }
    if !ev.denials.is_empty() {
        let names: Vec<String> = ev.denials.iter().filter_map(|d| d.policy.clone()).collect();
        out.push(f::iam_denied(
            &caller_s,
            ev.denials.iter().map(reason_evidence).collect(),
            manual(format!(
                "ask the owner of the deny policy {} to add {caller_s} to the rule's exceptionPrincipals; no allow grant can override a deny",
                names.join(", ")
            )),
        ));
    }
    let mut unknown_groups = Vec::new();
    let mut unknown_conditions = Vec::new();
    for r in &ev.unknowns {
        for u in &r.uncertain {
            match u {
                Uncertainty::Group { group } => unknown_groups.push((group.clone(), reason_evidence(r))),
                Uncertainty::Condition { .. } => unknown_conditions.push(reason_evidence(r)),
                Uncertainty::PrincipalSet { .. } | Uncertainty::Role { .. } => {}
            }
        }
    }
    if !unknown_groups.is_empty() {
        let mut names: Vec<String> = unknown_groups.iter().map(|(g, _)| format!("group:{g}")).collect();
        names.dedup();
        out.push(f::iam_group_unknown(&names.join(", "), unknown_groups.into_iter().map(|(_, e)| e).collect()));
    }
    if !unknown_conditions.is_empty() {
        out.push(f::iam_condition_unknown(unknown_conditions));
    }
    // Whatever the unread policies hold, a missing grant is reported with
    // its fix; the doubt goes into iam.unreadable.
    if !ev.grant_fixes {
        return;
    }
    let near = |k: ReasonKind| ev.near.iter().filter(move |r| r.kind == k);
    let lacking: Vec<&Reason> = near(ReasonKind::RoleLacksPermission).collect();
    let cond_false: Vec<&Reason> = near(ReasonKind::ConditionFalse).collect();
    let deleted: Vec<&Reason> = near(ReasonKind::DeletedPrincipal).collect();
    if !lacking.is_empty() {
        let mut roles: Vec<String> = lacking.iter().filter_map(|r| r.role.clone()).collect();
        roles.dedup();
        out.push(f::iam_role_lacks_invoke(
            &caller_s,
            &roles.join(", "),
            lacking.iter().map(|r| reason_evidence(r)).collect(),
            fix.clone(),
        ));
    }
    if !cond_false.is_empty() {
        out.push(f::iam_condition_false(
            &caller_s,
            cond_false.iter().map(|r| reason_evidence(r)).collect(),
            fix.clone(),
        ));
    }
    if !deleted.is_empty() {
        out.push(f::iam_deleted_principal(
            &caller_s,
            deleted.iter().map(|r| reason_evidence(r)).collect(),
            fix.clone(),
        ));
    }
    let misses = near_misses(g, caller, elsewhere);
    if !misses.is_empty() {
        let (what, evidence): (Vec<String>, Vec<Evidence>) = misses.into_iter().unzip();
        out.push(f::iam_near_miss(&caller_s, &what, evidence, fix.clone()));
    }
    if lacking.is_empty() && cond_false.is_empty() && deleted.is_empty() {
        let (read, unread): (Vec<_>, Vec<_>) = g.facts.allow.iter().partition(|a| a.policy.is_some());
        let names =
            |v: Vec<&runiam_core::eval::AllowPolicyAt>| v.iter().map(|a| a.resource.clone()).collect::<Vec<_>>();
        let (read, unread) = (names(read), names(unread));
        out.push(f::iam_no_grant(
            &caller_s,
            &service.full_name(),
            &unread,
            vec![evidence("getIamPolicy", format!("searched the allow policies of {}", read.join(", ")), None)],
            fix,
        ));
    }
}

/// Why a service read from the API cannot serve: failed conditions (their
/// reason and message quoted), no ready revision, no URL. A service known
/// only from a snapshot carries no conditions and is not judged.
fn not_ready(s: &runiam_core::api::run::Service) -> Option<(String, Vec<Evidence>)> {
    let terminal = s.extra.get("terminalCondition")?;
    let conditions = s.extra.get("conditions").and_then(serde_json::Value::as_array);
    let mut why = Vec::new();
    let mut ev = Vec::new();
    for c in std::iter::once(terminal).chain(conditions.into_iter().flatten()) {
        if c["state"].as_str() != Some("CONDITION_FAILED") {
            continue;
        }
        let reason = ["revisionReason", "reason", "executionReason"]
            .iter()
            .find_map(|k| c[*k].as_str())
            .unwrap_or("CONDITION_FAILED");
        let line = format!("{} {reason}: {}", c["type"].as_str().unwrap_or("?"), c["message"].as_str().unwrap_or(""));
        if !why.contains(&reason.to_owned()) {
            why.push(reason.to_owned());
        }
        ev.push(evidence("run.googleapis.com services.get", format!("{}: {line}", s.name), Some(c.clone())));
    }
    if s.extra.get("latestReadyRevision").and_then(serde_json::Value::as_str).is_none_or(str::is_empty) {
        why.push("no ready revision".into());
        ev.push(evidence("run.googleapis.com services.get", format!("{}: latestReadyRevision is empty", s.name), None));
    }
    if s.uri.as_deref().is_none_or(str::is_empty) {
        why.push("no URL".into());
        ev.push(evidence("run.googleapis.com services.get", format!("{}: uri is empty", s.name), None));
    }
    (!why.is_empty()).then(|| (why.join(", "), ev))
}

/// The failed reads that leave this answer open: allow policies while no
/// readable grant settles it, deny policies while nothing readable denies,
/// the roles and groups the evaluation hangs on, the org policy when a
/// grant is the fix, the caller's account. A
/// failed read that cannot change the answer is left out.
fn open_reads<'g>(g: &'g Gathered, ev: &Evaluation) -> Vec<&'g Unreadable> {
    let hangs_on = |want: &dyn Fn(&Uncertainty) -> bool| ev.unknowns.iter().any(|r| r.uncertain.iter().any(want));
    g.unreadable
        .iter()
        .filter(|u| match &u.read {
            Read::Allow => ev.grants.is_empty() && ev.denials.is_empty(),
            Read::Deny => ev.denials.is_empty(),
            Read::Role(role) => hangs_on(&|x| matches!(x, Uncertainty::Role { role: r, .. } if r == role)),
            Read::Group(group) => {
                hangs_on(&|x| matches!(x, Uncertainty::Group { group: gr } if gr.eq_ignore_ascii_case(group)))
            }
            Read::OrgPolicy => ev.grant_fixes,
            Read::Account => true,
        })
        .collect()
}

/// Grants with run.routes.invoke to a look-alike of the caller: another
/// member type with the same email, an email within two edits, or the
/// caller on a service of the same name elsewhere.
fn near_misses(g: &Gathered, caller: &Principal, elsewhere: &[Elsewhere]) -> Vec<(String, Evidence)> {
    let mut out = Vec::new();
    let Some(email) = caller.email() else { return out };
    let caller_s = caller.to_string();
    for at in &g.facts.allow {
        let Some(p) = &at.policy else { continue };
        for b in p.bindings.iter().filter(|b| role_invokes(&b.role, g)) {
            for m in &b.members {
                let Ok(other) = Principal::parse(m) else { continue };
                let Some(other_email) = other.email() else { continue };
                let what = if other_email == email && other != *caller {
                    format!("{m} (wrong member type) holds {} on {}", b.role, at.resource)
                } else if other_email != email
                    && std::mem::discriminant(&other) == std::mem::discriminant(caller)
                    && strsim::levenshtein(other_email, email) <= 2
                {
                    format!("{m} (a typo?) holds {} on {}", b.role, at.resource)
                } else {
                    continue;
                };
                out.push((
                    what.clone(),
                    evidence(policy_source(&at.resource), what, Some(json!({"role": b.role, "member": m}))),
                ));
            }
        }
    }
    for e in elsewhere {
        let holds = e.policy.bindings.iter().any(|b| role_invokes(&b.role, g) && b.members.contains(&caller_s));
        if holds {
            let what = format!(
                "{caller_s} is granted invoke on {}, a service of the same name elsewhere",
                e.service.full_name()
            );
            out.push((what.clone(), evidence("run.googleapis.com getIamPolicy", what, None)));
        }
    }
    out
}

/// Domain restricted sharing: will the fix be refused?
fn org_findings(g: &Gathered, req: &Request, gcloud_service: &str, out: &mut Vec<Finding>) {
    let Drs::Allowed(customers) = &g.drs else { return };
    let ev = vec![evidence(
        "orgpolicy.googleapis.com getEffectivePolicy",
        format!("iam.allowedPolicyMemberDomains allows only {}", customers.join(", ")),
        None,
    )];
    if req.caller.is_public() {
        out.push(f::org_public_blocked(
            ev,
            Fix {
                action: FixAction::DisableInvokerCheck,
                member: None,
                role: None,
                condition: None,
                command: format!("{gcloud_service} --no-invoker-iam-check"),
            },
        ));
        return;
    }
    let Some(email) = req.caller.email() else { return };
    let domain = email.rsplit('@').next().unwrap_or_default();
    let org_domain = g.organization.as_ref().and_then(|o| o.display_name.clone());
    let org_customer = g.organization.as_ref().and_then(|o| o.directory_customer_id.clone());
    let project_account = domain.ends_with(".iam.gserviceaccount.com") || domain.ends_with(".gserviceaccount.com");
    if project_account {
        // Service accounts belong to a project; those under this organization are allowed.
        return;
    }
    match (org_domain, org_customer) {
        (Some(d), Some(c)) if d == domain => {
            if !customers.contains(&c) {
                out.push(f::org_member_blocked(&req.caller.to_string(), true, ev));
            }
        }
        (Some(_), Some(_)) => out.push(f::org_member_blocked(&req.caller.to_string(), domain == "gmail.com", ev)),
        _ => out.push(f::org_member_blocked(&req.caller.to_string(), false, ev)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use runiam_core::api::run::Service;
    use runiam_core::eval::{AllowPolicyAt, DenyPolicyAt, Facts};
    use runiam_core::model::Binding;

    const CALLER: &str = "serviceAccount:caller@p.iam.gserviceaccount.com";

    fn unread(read: Read, what: &str, permission: &str) -> Unreadable {
        Unreadable {
            read,
            what: what.into(),
            permission: permission.into(),
            error: format!("could not read (permission {permission})"),
        }
    }

    /// The caller holds custom role `a` on the project; someone else holds `b`.
    /// Neither role, nor the folder's policy, nor its deny policies could be read.
    fn gathered() -> Gathered {
        let binding = |role: &str, member: &str| Binding {
            role: role.into(),
            members: vec![member.into()],
            ..Binding::default()
        };
        let service = ServiceRef::new("p", "r", "s");
        Gathered {
            service: Service {
                name: service.full_name(),
                uri: Some("https://s-1.r.run.app".into()),
                ..Default::default()
            },
            facts: Facts {
                service: service.clone(),
                caller: Some(Principal::parse(CALLER).unwrap()),
                allow: vec![
                    AllowPolicyAt { resource: service.full_name(), policy: Some(Policy::default()) },
                    AllowPolicyAt {
                        resource: "projects/p".into(),
                        policy: Some(Policy {
                            bindings: vec![
                                binding("projects/p/roles/a", CALLER),
                                binding("projects/p/roles/b", "user:other@x.example"),
                            ],
                            ..Policy::default()
                        }),
                    },
                    AllowPolicyAt { resource: "folders/1".into(), policy: None },
                ],
                deny: vec![DenyPolicyAt {
                    attachment: "cloudresourcemanager.googleapis.com/folders/1".into(),
                    policies: None,
                }],
                roles: [("projects/p/roles/a".to_owned(), None), ("projects/p/roles/b".to_owned(), None)].into(),
                groups: Default::default(),
                now: Utc::now(),
            },
            parents: vec!["folders/1".into()],
            organization: None,
            caller_account: None,
            drs: Drs::Off,
            unreadable: vec![
                unread(Read::Role("projects/p/roles/a".into()), "the role projects/p/roles/a", "iam.roles.get"),
                unread(Read::Role("projects/p/roles/b".into()), "the role projects/p/roles/b", "iam.roles.get"),
                unread(Read::Allow, "the IAM policy of folders/1", "resourcemanager.folders.getIamPolicy"),
                unread(Read::Deny, "the deny policies at folders/1", "iam.denypolicies.list"),
            ],
            rounds: 3,
        }
    }

    #[test]
    fn only_the_reads_that_leave_the_answer_open_are_named() {
        let g = gathered();
        let ev = evaluate(&g.facts, INVOKE_PERMISSION);
        let named: Vec<&str> = open_reads(&g, &ev).iter().map(|u| u.what.as_str()).collect();
        // Role b names someone else: its failed read cannot matter.
        assert_eq!(
            named,
            ["the role projects/p/roles/a", "the IAM policy of folders/1", "the deny policies at folders/1"]
        );
        // A possible grant through role a: no grant fix is proposed, the
        // doubt is named.
        let d = crate::settle::settle(diagnose(
            &g,
            &Request { caller: Principal::parse(CALLER).unwrap(), from: Origin::External, path: None },
            &[],
        ));
        assert_eq!(d.verdict, Verdict::Unknown);
        assert!(d.fix.is_none());
        let ids: Vec<&str> = d.findings.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["iam.unreadable"]);
    }
}
