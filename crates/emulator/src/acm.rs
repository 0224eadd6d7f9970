//! VPC Service Controls (docs/emulator.md "VPC Service Controls"): the
//! world's perimeters (crate::access_policy), served by
//! control::access_context and enforced by the front end through
//! runiam-core's [`judge`], as troubleshoot decides.

use chrono::{DateTime, Utc};
use runiam_core::api::access_context::ServicePerimeter;
use runiam_core::perimeter::{Call, Fence, Mode, judge};
use serde_json::{Value, json};

use crate::authz::ancestry;
use crate::world::World;

/// `projects/NUMBER` of a world project and its folders and organization,
/// as perimeters name them; empty for a project the world lacks.
pub fn perimeter_ancestry(world: &World, project: &str) -> Vec<String> {
    let Some(p) = world.project(project) else { return Vec::new() };
    let mut chain = ancestry(world, &format!("projects/{}", p.id));
    chain[0] = format!("projects/{}", p.number);
    chain
}

/// The project of the caller `X-Emulator-Caller` names
/// (`//API/projects/P/...`), where its requests come from.
pub fn caller_project(caller: &str) -> Option<String> {
    let rest = caller.strip_prefix("//")?.split_once("/projects/")?.1;
    rest.split('/').next().filter(|p| !p.is_empty()).map(str::to_owned)
}

/// Every perimeter of the world, across its access policies.
pub fn perimeters(world: &World) -> Vec<ServicePerimeter> {
    world.access_policies.iter().flat_map(|p| p.service_perimeters.iter().cloned()).collect()
}

/// Whether one enforced perimeter restricting run.googleapis.com holds
/// both projects (by id or number).
pub fn same_perimeter(world: &World, a: &str, b: &str) -> bool {
    runiam_core::perimeter::same_perimeter(
        &perimeters(world),
        &perimeter_ancestry(world, a),
        &perimeter_ancestry(world, b),
    )
}

/// What the enforced perimeters make of a call from `caller_project` (none:
/// the internet) as `identity` to a service of `target_project`.
pub fn fence(world: &World, caller_project: Option<&str>, target_project: &str, identity: Option<&str>) -> Fence {
    let call = Call {
        caller: caller_project.map(|p| perimeter_ancestry(world, p)).unwrap_or_default(),
        target: perimeter_ancestry(world, target_project),
        identity: identity.map(str::to_owned),
    };
    judge(&perimeters(world), &call, Mode::Enforced)
}

/// The Policy Denied audit entry VPC Service Controls writes instead of a
/// request log (docs/cloud-run.md: `audited_resource`,
/// `cloudaudit.googleapis.com%2Fpolicy`, method `run.googleapis.com/HttpIngress`).
pub fn denial_entry(
    world: &World,
    service: (&str, &str, &str),
    perimeter: &str,
    reason: &str,
    identity: Option<&str>,
    (id, now): (&str, DateTime<Utc>),
) -> Value {
    let (project, region, name) = service;
    let full = world
        .access_policies
        .iter()
        .flat_map(|p| p.service_perimeters.iter())
        .find(|p| p.short_name() == perimeter)
        .map_or_else(|| perimeter.to_owned(), |p| p.name.clone());
    let number = world.project(project).map_or("", |p| p.number.as_str());
    let mut entry = json!({
        "insertId": id,
        "logName": format!("projects/{project}/logs/cloudaudit.googleapis.com%2Fpolicy"),
        "resource": {"type": "audited_resource", "labels": {
            "method": runiam_core::requestlog::HTTP_INGRESS,
            "service": runiam_core::perimeter::RUN,
            "project_id": project,
        }},
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "receiveTimestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "severity": "ERROR",
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "serviceName": runiam_core::perimeter::RUN,
            "methodName": runiam_core::requestlog::HTTP_INGRESS,
            "resourceName": format!("projects/{project}/locations/{region}/services/{name}"),
            "status": {"code": 7, "message": format!("Request is prohibited by organization's policy. vpcServiceControlsUniqueIdentifier: {id}")},
            "metadata": {
                "@type": "type.googleapis.com/google.cloud.audit.VpcServiceControlAuditMetadata",
                "violationReason": reason,
                "resourceNames": [format!("projects/{number}")],
                "securityPolicyInfo": {"servicePerimeterName": full, "organizationId": world.organization.as_ref().map(|o| o.id.clone())},
                "ingressViolations": [{"servicePerimeter": full, "targetResource": format!("projects/{number}")}],
            },
        },
    });
    if let Some(who) = identity {
        entry["protoPayload"]["authenticationInfo"] =
            json!({"principalEmail": who.split_once(':').map_or(who, |(_, e)| e)});
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_give_their_project() {
        assert_eq!(caller_project("//run.googleapis.com/projects/p/locations/r/services/s").as_deref(), Some("p"));
        assert_eq!(caller_project("//compute.googleapis.com/projects/q/zones/z/instances/i").as_deref(), Some("q"));
        for none in ["", "//", "projects/p", "//x/projects/", "run.googleapis.com/projects/p"] {
            assert_eq!(caller_project(none), None, "{none}");
        }
    }

    proptest::proptest! {
        /// The header comes from outside: any value gives a project or none, never a panic.
        #[test]
        fn any_caller_header_gives_a_project_or_none(caller in "(//[a-z.]{0,20})?(/projects/)?[a-z0-9/-]{0,30}") {
            if let Some(p) = caller_project(&caller) {
                proptest::prop_assert!(!p.is_empty() && !p.contains('/'));
            }
        }
    }

    #[test]
    fn bad_policies_are_refused_by_field() {
        let world = |policy: &str| {
            World::parse(&format!(r#"{{"organization": {{"id": "1"}}, "accessPolicies": [{policy}]}}"#), "w")
                .map_err(|e| e.to_string())
        };
        assert!(world(r#"{"name": "accessPolicies/42", "parent": "organizations/1"}"#).is_ok());
        // Real fields runiam does not read are accepted.
        assert!(world(r#"{"name": "accessPolicies/42", "parent": "organizations/1", "servicePerimeters": [{"name": "accessPolicies/42/servicePerimeters/p", "etag": "x", "status": {"egressPolicies": []}}]}"#).is_ok());
        for (bad, field) in [
            (r#"{"name": "policies/42", "parent": "organizations/1"}"#, "accessPolicies[0].name"),
            (r#"{"name": "accessPolicies/42", "parent": "organizations/2"}"#, "accessPolicies[0].parent"),
            (
                r#"{"name": "accessPolicies/42", "parent": "organizations/1", "servicePerimeters": [{"name": "accessPolicies/7/servicePerimeters/p"}]}"#,
                "accessPolicies[0].servicePerimeters[0].name",
            ),
            (
                r#"{"name": "accessPolicies/42", "parent": "organizations/1", "servicePerimeters": [{"name": "accessPolicies/42/servicePerimeters/p", "status": {"resources": ["acme-prod"]}}]}"#,
                "accessPolicies[0].servicePerimeters[0].status.resources[0]",
            ),
            (
                r#"{"name": "accessPolicies/42", "parent": "organizations/1", "servicePerimeters": [{"name": "accessPolicies/42/servicePerimeters/p", "status": {"restrictedService": ["run.googleapis.com"]}}]}"#,
                "accessPolicies[0].servicePerimeters[0].status.restrictedService",
            ),
            (
                r#"{"name": "accessPolicies/42", "parent": "organizations/1", "servicePerimeters": [{"name": "accessPolicies/42/servicePerimeters/p", "perimiterType": "PERIMETER_TYPE_BRIDGE"}]}"#,
                "accessPolicies[0].servicePerimeters[0].perimiterType",
            ),
            (
                r#"{"name": "accessPolicies/42", "parent": "organizations/1", "servicePerimeters": [{"name": "accessPolicies/42/servicePerimeters/p", "status": {"ingressPolicies": [{"ingressFrom": {"identity": ["user:a@b.c"]}}]}}]}"#,
                "accessPolicies[0].servicePerimeters[0].status.ingressPolicies[0].ingressFrom.identity",
            ),
        ] {
            let e = world(bad).unwrap_err();
            assert!(e.contains(field), "{bad}: {e}");
        }
    }
}
