//! IAM evaluation alone, for when no token can be had: the same facts
//! troubleshoot gathers (allow policies of the service and every ancestor,
//! deny policies, custom roles, the caller's groups), handed to
//! runiam-core's evaluator. What could not be read stays unreadable: the
//! evaluator turns it into UNKNOWN where it matters.

use runiam_core::api::Clients;
use runiam_core::api::run::Service;
use runiam_core::eval::{Evaluation, evaluate};
use runiam_core::gather::gather;
use runiam_core::model::{INVOKE_PERMISSION, Policy, Principal, ServiceRef};

/// What IAM alone says about `caller` invoking `target` (`known`: the
/// service and its policy, already read), and what could not be read, each
/// with the permission that would read it. No evaluation when the service
/// itself cannot be read.
pub async fn iam_alone(
    clients: &Clients,
    target: &ServiceRef,
    known: Option<(Service, Policy)>,
    caller: &Principal,
) -> (Option<Evaluation>, Vec<String>) {
    match gather(clients, target, Some(caller), known).await {
        Ok(g) => {
            let unread = g.unreadable.iter().map(|u| format!("{} ({}: {})", u.what, u.permission, u.error)).collect();
            (Some(evaluate(&g.facts, INVOKE_PERMISSION)), unread)
        }
        Err(e) => (None, vec![e.to_string()]),
    }
}
