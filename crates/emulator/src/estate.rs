//! A generated estate for fleet tests and benchmarks: one organization,
//! `FOLDERS` folders, projects spread over them and services spread over
//! the projects and `REGIONS`, with settings and policies that vary by
//! service number (every ingress, invoker check off on one in 7, custom
//! audiences on one in 5, a runtime account on one in 3, no policy on one
//! in 6, a conditional grant on one in 9), so an export that drops or
//! confuses any of them is caught.

use serde_json::{Value, json};

/// The organization's id.
pub const ORG: &str = "700000000001";
/// Folders directly under the organization.
pub const FOLDERS: usize = 5;
/// The regions services run in.
pub const REGIONS: [&str; 3] = ["europe-west1", "us-central1", "asia-northeast1"];
const INGRESS: [&str; 4] = [
    "INGRESS_TRAFFIC_ALL",
    "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
    "INGRESS_TRAFFIC_NONE",
];

/// How big: projects (`fleet-00`, ...) and services in all (`svc-0000`, ...).
#[derive(Clone, Copy, Debug)]
pub struct Size {
    pub projects: usize,
    pub services: usize,
}

/// The estate of `size`, as world-file JSON; with `operator`, the world's
/// operator (`user:ops@fleet.example`) may read Run and Resource Manager
/// (Cloud Run Viewer and Browser) across the organization but not search
/// Asset Inventory.
pub fn fleet(size: Size, operator: bool) -> Value {
    let folders: Vec<Value> = (0..FOLDERS)
        .map(|f| json!({"id": format!("71000000000{f}"), "parent": format!("organizations/{ORG}"), "displayName": format!("team-{f}")}))
        .collect();
    let per_project = size.services / size.projects.max(1);
    let projects: Vec<Value> = (0..size.projects)
        .map(|p| {
            let id = format!("fleet-{p:02}");
            let services: Vec<Value> = (0..per_project)
                .map(|i| {
                    let n = p * per_project + i;
                    let mut bindings = Vec::new();
                    if !n.is_multiple_of(6) {
                        let mut members = vec![format!("serviceAccount:caller-{n}@{id}.iam.gserviceaccount.com")];
                        if n.is_multiple_of(4) {
                            members.push(format!("group:team-{}@fleet.example", n % FOLDERS));
                        }
                        bindings.push(json!({"role": "roles/run.invoker", "members": members}));
                    }
                    if n.is_multiple_of(9) {
                        bindings.push(json!({
                            "role": "roles/run.developer",
                            "members": [format!("user:dev-{n}@fleet.example")],
                            "condition": {"title": "until-2027", "expression": "request.time < timestamp(\"2027-01-01T00:00:00Z\")"},
                        }));
                    }
                    let mut s = json!({
                        "name": format!("svc-{n:04}"),
                        "region": REGIONS[n % REGIONS.len()],
                        "ingress": INGRESS[n % INGRESS.len()],
                        "invokerIamDisabled": n.is_multiple_of(7),
                        "iamPolicy": {"bindings": bindings},
                    });
                    if n.is_multiple_of(5) {
                        s["customAudiences"] = json!([format!("https://svc-{n}.fleet.example")]);
                    }
                    if n.is_multiple_of(3) {
                        s["serviceAccount"] = json!(format!("runtime@{id}.iam.gserviceaccount.com"));
                    }
                    s
                })
                .collect();
            json!({
                "id": id,
                "number": format!("72000000{p:04}"),
                "parent": format!("folders/71000000000{}", p % FOLDERS),
                "services": services,
            })
        })
        .collect();
    let mut w = json!({
        "organization": {"id": ORG, "domain": "fleet.example"},
        "folders": folders,
        "projects": projects,
    });
    if operator {
        // Browser to see the folders and projects Resource Manager lists, as
        // a platform operator has; no role that searches Asset Inventory.
        w["organization"]["iamPolicy"] = json!({"bindings": [
            {"role": "roles/run.viewer", "members": ["user:ops@fleet.example"]},
            {"role": "roles/browser", "members": ["user:ops@fleet.example"]},
        ]});
        w["operator"] = json!("user:ops@fleet.example");
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::World;

    #[test]
    fn the_estate_is_a_valid_world() {
        let w = fleet(Size { projects: 4, services: 40 }, true);
        let text = serde_json::to_string(&w).unwrap();
        let world = World::parse(&text, "fleet").unwrap();
        assert_eq!((world.folders.len(), world.projects.len()), (FOLDERS, 4));
        assert_eq!(world.projects.iter().map(|p| p.services.len()).sum::<usize>(), 40);
        assert_eq!(world.regions().len(), 3);
    }
}
