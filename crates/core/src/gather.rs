//! Gather: every fact a decision about (service, caller) needs, for
//! troubleshoot's findings and verify's IAM-alone verdict, read
//! concurrently in dependent rounds. Round 1 needs only the service name; round 2 the ancestry;
//! round 3 the policies read in round 2; round 4 group lookups. A read
//! that fails is kept as "unreadable, and this permission would read it"
//! rather than failing the command: the evaluator turns it into UNKNOWN
//! where it matters.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::Clients;
use crate::api::iam::ServiceAccount;
use crate::api::iam_v2::attachment_point;
use crate::api::orgpolicy::DRS;
use crate::api::resourcemanager::Organization;
use crate::api::run::Service;
use crate::eval::{AllowPolicyAt, DenyPolicy, DenyPolicyAt, Facts, GroupFacts, MAX_GROUP_DEPTH, Membership};
use crate::http::ApiError;
use crate::model::{Policy, Principal, ServiceRef};
use crate::target::user_named;
use crate::{CommandError, roles};
use chrono::Utc;
use futures::future::join_all;

/// Something that could not be read, and the permission that would read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// Which fact it would have given: the decision uses it to tell the
    /// reads that leave the answer open from those that cannot matter.
    pub read: Read,
    pub what: String,
    /// The permission that would allow the read.
    pub permission: String,
    /// Why, as [`failure`] words it.
    pub error: String,
}

/// The fact an unreadable read would have given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// An allow policy, or the ancestry that names them.
    Allow,
    Deny,
    Role(String),
    Group(String),
    OrgPolicy,
    /// The caller's service account.
    Account,
}

/// Why a read failed, worded so that nobody takes it for "none": an API
/// not enabled, a permission missing, a resource not found, or the error
/// itself.
pub fn failure(e: &ApiError, permission: &str) -> String {
    match e.status() {
        Some(s) if s.http == 403 && s.reason.as_deref() == Some("SERVICE_DISABLED") => {
            let api = s.metadata.get("service").map_or_else(|| s.api.to_string(), Clone::clone);
            match s.metadata.get("consumer") {
                Some(c) => format!("API not enabled: {api} is disabled in {c}"),
                None => format!("API not enabled: {api}"),
            }
        }
        Some(s) if s.http == 403 => {
            let named = s.denied_permission().unwrap_or_else(|| permission.to_owned());
            format!("could not read (permission {named})")
        }
        Some(s) if s.http == 404 => "not found".to_owned(),
        _ => e.to_string(),
    }
}

/// Domain restricted sharing, as far as it could be read.
#[derive(Clone, Debug, PartialEq)]
pub enum Drs {
    /// Not enforced on this project.
    Off,
    /// Only these customer ids may be granted.
    Allowed(Vec<String>),
    Unknown,
}

/// Everything gathered for one (service, caller).
#[derive(Clone, Debug)]
pub struct Gathered {
    pub service: Service,
    pub facts: Facts,
    /// `folders/N`, `organizations/N` above the project, nearest first.
    pub parents: Vec<String>,
    pub organization: Option<Organization>,
    /// The caller's service account, when the caller is one and it was readable.
    pub caller_account: Option<ServiceAccount>,
    pub drs: Drs,
    pub unreadable: Vec<Unreadable>,
    /// Dependent rounds of API calls it took.
    pub rounds: u32,
}

fn unreadable(read: Read, what: impl Into<String>, permission: &str, e: &ApiError) -> Unreadable {
    // The permission the API names wins over the one expected.
    let permission = e.status().and_then(|s| s.denied_permission()).unwrap_or_else(|| permission.to_owned());
    Unreadable { read, what: what.into(), error: failure(e, &permission), permission }
}

/// A deny-policy read: the policies, or where and why it failed.
type DenyRead = Result<Vec<DenyPolicy>, (String, ApiError)>;

/// What round 1 learnt from the service name alone.
struct First {
    service: Service,
    /// `None`: unreadable (recorded).
    service_policy: Option<Policy>,
    /// `folders/N`, `organizations/N` above the project; `None`: the
    /// ancestry could not be read (recorded).
    parents: Option<Vec<String>>,
    caller_account: Option<ServiceAccount>,
    drs: Drs,
    project_deny: DenyRead,
    /// The caller's transitive groups, when Cloud Identity answered.
    caller_groups: Option<Vec<String>>,
}

/// What round 2 learnt: every allow policy, the deny lists above the
/// project, the project's deny rules, the organization.
struct Second {
    allow: Vec<AllowPolicyAt>,
    parent_denies: Vec<DenyRead>,
    project_deny_rules: DenyRead,
    organization: Option<Organization>,
}

/// A failed read that is bad input (404/400) on the service itself aborts;
/// everything else becomes an Unreadable.
pub async fn gather(
    clients: &Clients,
    target: &ServiceRef,
    caller: Option<&Principal>,
    known: Option<(Service, Policy)>,
) -> Result<Gathered, CommandError> {
    let project_res = format!("projects/{}", target.project);
    let mut unread = Vec::new();
    let mut rounds = 1;
    let first = first_round(clients, target, caller, known, &mut unread).await?;
    let parents = first.parents.clone().unwrap_or_default();
    if !parents.is_empty() {
        rounds += 1;
    }
    let second = second_round(clients, target, &parents, first.service_policy, first.project_deny, &mut unread).await;
    rounds += 1;
    let org_domain = second.organization.as_ref().and_then(|o| o.display_name.clone());
    let mut allow = second.allow;
    let (mut deny, roles, groups, group_rounds) = third_round(
        clients,
        caller,
        first.caller_groups.as_deref(),
        org_domain,
        &allow,
        std::iter::once((project_res.as_str(), second.project_deny_rules))
            .chain(parents.iter().map(String::as_str).zip(second.parent_denies))
            .collect(),
        &mut unread,
    )
    .await;
    rounds += group_rounds;
    // Ancestors that could not even be named still hold policies: say so
    // rather than evaluate as if the project stood alone.
    if first.parents.is_none() {
        let above = format!("the folders and organization above {project_res}");
        allow.push(AllowPolicyAt { resource: above.clone(), policy: None });
        deny.push(DenyPolicyAt { attachment: above, policies: None });
    }
    let mut service_ref = target.clone();
    if service_ref.project_number.is_none() {
        service_ref.project_number = first.service.uri.as_deref().and_then(number_from_uri);
    }
    Ok(Gathered {
        facts: Facts { service: service_ref, caller: caller.cloned(), allow, deny, roles, groups, now: Utc::now() },
        service: first.service,
        parents,
        organization: second.organization,
        caller_account: first.caller_account,
        drs: first.drs,
        unreadable: unread,
        rounds,
    })
}

/// Round 1: the service and its policy, the ancestry, the caller's
/// account and groups, domain restricted sharing, the project's deny list.
async fn first_round(
    clients: &Clients,
    target: &ServiceRef,
    caller: Option<&Principal>,
    known: Option<(Service, Policy)>,
    unread: &mut Vec<Unreadable>,
) -> Result<First, CommandError> {
    let project = &target.project;
    let project_res = format!("projects/{project}");
    let caller_sa = caller.and_then(|c| match c {
        Principal::ServiceAccount(e) if e.contains('@') => Some(e.clone()),
        _ => None,
    });
    let caller_email = caller.and_then(Principal::email).map(str::to_owned);
    let service_and_policy = async {
        match known {
            Some(k) => Ok((k.0, Ok(k.1))),
            None => {
                let (s, p) = tokio::join!(clients.run_v2.get_service(target), clients.run_v2.get_iam_policy(target));
                s.map(|s| (s, p))
            }
        }
    };
    let account = async {
        match &caller_sa {
            Some(e) => Some(clients.iam.get_service_account(e).await),
            None => None,
        }
    };
    let caller_groups = async {
        match &caller_email {
            Some(e) => clients.cloud_identity.search_transitive_groups(e).await.ok(),
            None => None,
        }
    };
    let (service_and_policy, ancestry, account, drs, project_deny, caller_groups) = tokio::join!(
        service_and_policy,
        clients.resource_manager.get_ancestry(project),
        account,
        clients.org_policy.get_effective_policy(&project_res, DRS),
        list_deny(clients, &project_res),
        caller_groups,
    );
    let (service, service_policy) =
        service_and_policy.map_err(|e| user_named(e, format!("cannot read service {}", target.full_name())))?;
    let service_policy = match service_policy {
        Ok(p) => Some(p),
        Err(e) => {
            let what = format!("the IAM policy of {}", target.full_name());
            unread.push(unreadable(Read::Allow, what, "run.services.getIamPolicy", &e));
            None
        }
    };
    let parents = match ancestry {
        Ok(a) => Some(a.iter().filter(|a| a.kind != "project").map(|a| a.resource()).collect()),
        Err(e) => {
            let what = format!("the ancestry of project {project}");
            unread.push(unreadable(Read::Allow, what, "resourcemanager.projects.get", &e));
            None
        }
    };
    let caller_account = match account {
        Some(Ok(a)) => Some(a),
        Some(Err(e)) if e.is_not_found() => None,
        Some(Err(e)) => {
            let what = format!("the service account {}", caller_sa.unwrap_or_default());
            unread.push(unreadable(Read::Account, what, "iam.serviceAccounts.get", &e));
            None
        }
        None => None,
    };
    // A 404 is not "no policy" (an unset constraint answers its default):
    // like any failed read, it leaves domain restricted sharing unknown.
    let drs = match drs {
        Ok(p) => p.allowed_customers().map(Drs::Allowed).unwrap_or(Drs::Off),
        Err(e) => {
            let what = format!("the org policy {DRS} of {project_res}");
            unread.push(unreadable(Read::OrgPolicy, what, "orgpolicy.policy.get", &e));
            Drs::Unknown
        }
    };
    Ok(First { service, service_policy, parents, caller_account, drs, project_deny, caller_groups })
}

/// Round 2: the project's and the ancestors' allow policies, the
/// ancestors' deny lists, the project's deny rules, the organization.
async fn second_round(
    clients: &Clients,
    target: &ServiceRef,
    parents: &[String],
    service_policy: Option<Policy>,
    project_deny: DenyRead,
    unread: &mut Vec<Unreadable>,
) -> Second {
    let project_res = format!("projects/{}", target.project);
    let org_name = parents.iter().find(|p| p.starts_with("organizations/")).cloned();
    let organization = async {
        match &org_name {
            Some(o) => clients.resource_manager.get_organization(o).await.ok(),
            None => None,
        }
    };
    let (parent_policies, parent_denies, organization, project_policy, project_deny_rules) = tokio::join!(
        join_all(parents.iter().map(|p| clients.resource_manager.get_iam_policy(p))),
        join_all(parents.iter().map(|p| list_deny(clients, p))),
        organization,
        clients.resource_manager.get_iam_policy(&project_res),
        get_rules(clients, project_deny),
    );
    let mut allow = vec![AllowPolicyAt { resource: target.full_name(), policy: service_policy }];
    let reads = std::iter::once((&project_res, project_policy)).chain(parents.iter().zip(parent_policies));
    for (resource, read) in reads {
        let permission = match resource.split('/').next() {
            Some("folders") => "resourcemanager.folders.getIamPolicy",
            Some("organizations") => "resourcemanager.organizations.getIamPolicy",
            _ => "resourcemanager.projects.getIamPolicy",
        };
        let policy = match read {
            Ok(p) => Some(p),
            Err(e) => {
                unread.push(unreadable(Read::Allow, format!("the IAM policy of {resource}"), permission, &e));
                None
            }
        };
        allow.push(AllowPolicyAt { resource: resource.clone(), policy });
    }
    Second { allow, parent_denies, project_deny_rules, organization }
}

/// Round 3 (and 4 for groups): the deny rules above the project (`denies`:
/// the project's rules first, then each ancestor's list), custom roles,
/// the caller's membership of every group a grant or a deny rule names.
/// Returns the deny policies, roles and groups, and how many more
/// dependent rounds the group lookups took.
async fn third_round(
    clients: &Clients,
    caller: Option<&Principal>,
    caller_groups: Option<&[String]>,
    org_domain: Option<String>,
    allow: &[AllowPolicyAt],
    denies: Vec<(&str, DenyRead)>,
    unread: &mut Vec<Unreadable>,
) -> (Vec<DenyPolicyAt>, BTreeMap<String, Option<Vec<String>>>, BTreeMap<String, GroupFacts>, u32) {
    let bindings = || allow.iter().filter_map(|a| a.policy.as_ref()).flat_map(|p| p.bindings.iter());
    let roles_to_read: BTreeSet<String> =
        bindings().map(|b| b.role.clone()).filter(|r| roles::predefined(r).is_none()).collect();
    let groups_to_check: BTreeSet<String> =
        bindings().flat_map(|b| b.members.iter()).filter_map(|m| m.strip_prefix("group:").map(str::to_owned)).collect();
    // The project's rules were read in round 2; the ancestors' are read now.
    let mut denies = denies.into_iter();
    let project_deny = denies.next();
    let (parents, parent_denies): (Vec<&str>, Vec<DenyRead>) = denies.unzip();
    let (parent_rules, role_reads, group_facts) = tokio::join!(
        join_all(parent_denies.into_iter().map(|d| get_rules(clients, d))),
        join_all(roles_to_read.iter().map(|r| clients.iam.get_role(r))),
        groups(clients, caller, caller_groups, org_domain.clone(), &groups_to_check),
    );
    let mut rounds = u32::from(group_facts.2);
    let mut deny: Vec<DenyPolicyAt> = project_deny.into_iter().map(|(p, r)| deny_at(p, r, unread)).collect();
    for (p, r) in parents.into_iter().zip(parent_rules) {
        deny.push(deny_at(p, r, unread));
    }
    let mut role_map = BTreeMap::new();
    for (name, r) in roles_to_read.iter().zip(role_reads) {
        let permissions = match r {
            Ok(role) => Some(role.included_permissions),
            Err(e) => {
                unread.push(unreadable(Read::Role(name.clone()), format!("the role {name}"), "iam.roles.get", &e));
                None
            }
        };
        role_map.insert(name.clone(), permissions);
    }
    let (mut group_map, group_unread, _) = group_facts;
    unread.extend(group_unread);
    // Groups named by deny rules are known only now.
    let deny_groups: BTreeSet<String> = deny
        .iter()
        .filter_map(|d| d.policies.as_ref())
        .flatten()
        .flat_map(|p| p.rules.iter().filter_map(|r| r.deny_rule.as_ref()))
        .flat_map(|r| r.denied_principals.iter().chain(r.exception_principals.iter()))
        .filter_map(|p| p.strip_prefix("principalSet://goog/group/").map(str::to_owned))
        .filter(|g| !group_map.contains_key(g) && !groups_to_check.contains(g))
        .collect();
    if !deny_groups.is_empty() {
        let (more, more_unread, called) = groups(clients, caller, caller_groups, org_domain, &deny_groups).await;
        rounds += u32::from(called);
        group_map.extend(more);
        unread.extend(more_unread);
    }
    (deny, role_map, group_map, rounds)
}

/// `https://NAME-NUMBER.REGION.run.app` → NUMBER.
fn number_from_uri(uri: &str) -> Option<String> {
    let host = uri.strip_prefix("https://")?.split('.').next()?;
    let n = host.rsplit('-').next()?;
    n.chars().all(|c| c.is_ascii_digit()).then(|| n.to_owned())
}

async fn list_deny(clients: &Clients, resource: &str) -> Result<Vec<DenyPolicy>, (String, ApiError)> {
    let at = attachment_point(resource);
    clients.iam_v2.list_deny_policies(&at).await.map_err(|e| (at, e))
}

/// Reads each listed deny policy for its rules (the list omits them).
async fn get_rules(
    clients: &Clients,
    listed: Result<Vec<DenyPolicy>, (String, ApiError)>,
) -> Result<Vec<DenyPolicy>, (String, ApiError)> {
    let listed = listed?;
    let got = join_all(listed.iter().map(|p| async {
        match &p.name {
            Some(n) => clients.iam_v2.get_deny_policy(n).await.map_err(|e| (n.clone(), e)),
            None => Ok(p.clone()),
        }
    }))
    .await;
    got.into_iter().collect()
}

fn deny_at(
    resource: &str,
    r: Result<Vec<DenyPolicy>, (String, ApiError)>,
    unread: &mut Vec<Unreadable>,
) -> DenyPolicyAt {
    let attachment = attachment_point(resource);
    match r {
        Ok(policies) => DenyPolicyAt { attachment, policies: Some(policies) },
        Err((what, e)) => {
            unread.push(unreadable(Read::Deny, format!("the deny policies at {what}"), "iam.denypolicies.get", &e));
            DenyPolicyAt { attachment, policies: None }
        }
    }
}

/// Membership of the caller in each group. Best: the caller's transitive
/// groups from one `searchTransitiveGroups` in round 1, which settles every
/// group of the organization's own domain. Else Cloud Identity's transitive
/// check per group; when the edition refuses it (403), a walk of direct
/// members, nested groups included up to `MAX_GROUP_DEPTH` levels, which
/// the evaluator then follows. The flag says whether calls were needed.
async fn groups(
    clients: &Clients,
    caller: Option<&Principal>,
    caller_groups: Option<&[String]>,
    org_domain: Option<String>,
    emails: &BTreeSet<String>,
) -> (BTreeMap<String, GroupFacts>, Vec<Unreadable>, bool) {
    let mut map = BTreeMap::new();
    let mut unread = Vec::new();
    let Some(member) = caller.and_then(Principal::email) else { return (map, unread, false) };
    let mut rest = BTreeSet::new();
    for g in emails {
        let in_org = org_domain.as_deref().is_some_and(|d| g.rsplit('@').next() == Some(d));
        match caller_groups {
            Some(all) if all.iter().any(|x| x.eq_ignore_ascii_case(g)) => {
                map.insert(g.clone(), GroupFacts { caller: Some(Membership::Member), members: None });
            }
            // The search covers the organization's directory, not others'.
            Some(_) if in_org => {
                map.insert(g.clone(), GroupFacts { caller: Some(Membership::NotMember), members: None });
            }
            _ => {
                rest.insert(g.clone());
            }
        }
    }
    if rest.is_empty() {
        return (map, unread, false);
    }
    let emails = &rest;
    let checks = join_all(emails.iter().map(|g| async move {
        let name = clients.cloud_identity.lookup_group(g).await?;
        match clients.cloud_identity.check_transitive_membership(&name, member).await {
            Ok(is) => Ok(Some(if is { Membership::Member } else { Membership::NotMember })),
            // Editions without the transitive check answer 403: walk instead.
            Err(e) if e.status().is_some_and(|s| s.http == 403) => Ok(None),
            Err(e) => Err(e),
        }
    }))
    .await;
    let mut frontier = Vec::new();
    for (g, r) in emails.iter().zip(checks) {
        match r {
            Ok(Some(m)) => {
                map.insert(g.clone(), GroupFacts { caller: Some(m), members: None });
            }
            Ok(None) => frontier.push(g.clone()),
            Err(e) => unread.push(unreadable(
                Read::Group(g.clone()),
                format!("the members of group {g}"),
                "cloudidentity.groups.get",
                &e,
            )),
        }
    }
    for _ in 0..MAX_GROUP_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let listed = join_all(frontier.iter().map(|g| async move {
            let name = clients.cloud_identity.lookup_group(g).await?;
            clients.cloud_identity.list_members(&name).await
        }))
        .await;
        let mut next = Vec::new();
        for (g, r) in frontier.iter().zip(listed) {
            match r {
                Ok(members) => {
                    next.extend(
                        members
                            .iter()
                            .filter_map(|m| m.strip_prefix("group:"))
                            .filter(|n| !map.contains_key(*n) && !frontier.iter().any(|f| f == n))
                            .map(str::to_owned),
                    );
                    map.insert(g.clone(), GroupFacts { caller: None, members: Some(members) });
                }
                Err(e) => unread.push(unreadable(
                    Read::Group(g.clone()),
                    format!("the members of group {g}"),
                    "cloudidentity.memberships.list",
                    &e,
                )),
            }
        }
        next.sort();
        next.dedup();
        frontier = next;
    }
    (map, unread, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Api;
    use crate::http::Status;

    fn answered(http: u16, body: &str) -> ApiError {
        ApiError::Status(Box::new(Status::parse(
            Api::CloudScheduler,
            "GET",
            "https://cloudscheduler.googleapis.com/v1/projects/p/locations/-/jobs",
            http,
            None,
            body.as_bytes(),
        )))
    }

    #[test]
    fn a_failed_read_says_why_and_is_never_none() {
        let disabled = answered(
            403,
            r#"{"error":{"code":403,"message":"Cloud Scheduler API has not been used in project 123 before or it is disabled.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com","metadata":{"service":"cloudscheduler.googleapis.com","consumer":"projects/123"}}]}}"#,
        );
        assert_eq!(
            failure(&disabled, "cloudscheduler.jobs.list"),
            "API not enabled: cloudscheduler.googleapis.com is disabled in projects/123"
        );
        let denied = answered(
            403,
            r#"{"error":{"code":403,"message":"Permission 'cloudscheduler.jobs.list' denied on resource 'projects/p' (or it may not exist).","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"IAM_PERMISSION_DENIED","domain":"iam.googleapis.com","metadata":{"permission":"cloudscheduler.jobs.list"}}]}}"#,
        );
        assert_eq!(failure(&denied, "x.y.z"), "could not read (permission cloudscheduler.jobs.list)");
        let bare = answered(403, r#"{"error":{"code":403,"message":"no","status":"PERMISSION_DENIED"}}"#);
        assert_eq!(failure(&bare, "cloudscheduler.jobs.list"), "could not read (permission cloudscheduler.jobs.list)");
        let missing = answered(404, r#"{"error":{"code":404,"message":"gone","status":"NOT_FOUND"}}"#);
        assert_eq!(failure(&missing, "cloudscheduler.jobs.list"), "not found");
    }
}
