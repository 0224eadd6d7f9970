//! IAM evaluation alone, for when no token can be had: the allow policies
//! of the service and every ancestor and the deny policies above it, read
//! concurrently and handed to runiam-core's evaluator. Unreadable policies
//! stay unreadable (the evaluator turns them into UNKNOWN where they
//! matter); groups are not expanded, so a grant through one stays UNKNOWN.

use chrono::Utc;
use futures::future::join_all;
use runiam_core::api::Clients;
use runiam_core::api::iam_v2::attachment_point;
use runiam_core::eval::{AllowPolicyAt, DenyPolicy, DenyPolicyAt, Evaluation, Facts, evaluate};
use runiam_core::http::ApiError;
use runiam_core::model::{INVOKE_PERMISSION, Policy, Principal, ServiceRef};

/// What IAM alone says about `caller` invoking `target`, and what could not be read.
pub async fn iam_alone(
    clients: &Clients,
    target: &ServiceRef,
    service_policy: Option<Policy>,
    caller: &Principal,
) -> (Evaluation, Vec<String>) {
    let mut unread = Vec::new();
    let project = format!("projects/{}", target.project);
    let parents: Vec<String> = match clients.resource_manager.get_ancestry(&target.project).await {
        Ok(a) => a.iter().filter(|a| a.kind != "project").map(|a| a.resource()).collect(),
        Err(e) => {
            unread.push(format!("the ancestry of {project}: {e}"));
            Vec::new()
        }
    };
    let above: Vec<String> = std::iter::once(project).chain(parents).collect();
    let (policies, denies) = tokio::join!(
        join_all(above.iter().map(|r| clients.resource_manager.get_iam_policy(r))),
        join_all(above.iter().map(|r| deny_policies(clients, r))),
    );
    let mut allow = vec![AllowPolicyAt { resource: target.full_name(), policy: service_policy }];
    for (resource, p) in above.iter().zip(policies) {
        let policy = p.map_err(|e| unread.push(format!("the IAM policy of {resource}: {e}"))).ok();
        allow.push(AllowPolicyAt { resource: resource.clone(), policy });
    }
    let mut deny = Vec::new();
    for (resource, d) in above.iter().zip(denies) {
        let policies = d.map_err(|e| unread.push(format!("the deny policies at {resource}: {e}"))).ok();
        deny.push(DenyPolicyAt { attachment: attachment_point(resource), policies });
    }
    let facts = Facts {
        service: target.clone(),
        caller: Some(caller.clone()),
        allow,
        deny,
        roles: Default::default(),
        groups: Default::default(),
        now: Utc::now(),
    };
    (evaluate(&facts, INVOKE_PERMISSION), unread)
}

/// Every deny policy at `resource`, with its rules (the listing omits them).
async fn deny_policies(clients: &Clients, resource: &str) -> Result<Vec<DenyPolicy>, ApiError> {
    let listed = match clients.iam_v2.list_deny_policies(&attachment_point(resource)).await {
        Ok(l) => l,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let got = join_all(listed.iter().map(|p| async {
        match &p.name {
            Some(n) => clients.iam_v2.get_deny_policy(n).await,
            None => Ok(p.clone()),
        }
    }))
    .await;
    got.into_iter().collect()
}
