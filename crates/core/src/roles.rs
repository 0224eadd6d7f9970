//! The offline table of predefined roles, compiled from
//! `data/roles.json`: every predefined role by name, each with only the
//! permissions runiam reasons about (so many carry none). A role named
//! here is settled offline; `roles.get` is called only for custom roles
//! and roles newer than the table.
//!
//! A live `roles.get` wins when reachable; this table answers offline and
//! for the hints on permission errors.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// A role and the permissions it carries.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    pub name: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub stage: String,
    #[serde(default)]
    pub included_permissions: Vec<String>,
}

#[derive(Deserialize)]
struct Table {
    roles: Vec<Role>,
}

fn table() -> &'static BTreeMap<String, Role> {
    static TABLE: OnceLock<BTreeMap<String, Role>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let t: Table = serde_json::from_str(include_str!("../data/roles.json")).expect("data/roles.json is valid");
        t.roles.into_iter().map(|r| (r.name.clone(), r)).collect()
    })
}

/// A predefined role by name (`roles/run.invoker`).
pub fn predefined(name: &str) -> Option<&'static Role> {
    table().get(name)
}

/// Every predefined role, by name.
pub fn all() -> impl Iterator<Item = &'static Role> {
    table().values()
}

/// The narrowest predefined role that carries `permission`: the one with
/// the fewest permissions, preferring the permission's own service
/// (`run.*` → `roles/run.*`), then the name. Service-agent roles are skipped.
pub fn smallest_role_with(permission: &str) -> Option<&'static str> {
    let service = permission.split('.').next().unwrap_or_default();
    let own = format!("roles/{service}.");
    all()
        // Service-agent roles are Google's to hold, never a user's to grant.
        .filter(|r| !r.name.ends_with("serviceAgent") && r.included_permissions.iter().any(|p| p == permission))
        .min_by_key(|r| (!r.name.starts_with(&own), r.included_permissions.len(), r.name.clone()))
        .map(|r| r.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoker_roles() {
        assert!(predefined("roles/run.invoker").unwrap().included_permissions.iter().any(|p| p == "run.routes.invoke"));
        assert!(!predefined("roles/run.viewer").unwrap().included_permissions.iter().any(|p| p == "run.routes.invoke"));
        assert_eq!(all().filter(|r| r.included_permissions.iter().any(|p| p == "run.routes.invoke")).count(), 27);
        assert_eq!(smallest_role_with("run.routes.invoke"), Some("roles/run.servicesInvoker"));
        assert_eq!(smallest_role_with("no.such.permission"), None);
        // Every predefined role is named, with or without kept permissions.
        assert_eq!(all().count(), 2387);
        assert!(predefined("roles/agentidentity.admin").is_some_and(|r| r.included_permissions.is_empty()));
    }
}
