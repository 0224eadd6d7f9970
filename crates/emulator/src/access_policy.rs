//! The world's access policies and service perimeters (docs/emulator.md
//! "VPC Service Controls"), in Access Context Manager v1's shapes
//! (runiam-core's `ServicePerimeter`), checked field by field; crate::acm
//! serves and enforces them.

use runiam_core::api::access_context::{PerimeterConfig, ServicePerimeter};
use serde::Deserialize;
use serde_json::{Map, Value};

/// An access policy of the world's organization (`accessPolicies/N`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessPolicy {
    /// `accessPolicies/N`.
    pub name: String,
    /// `organizations/N`, the world's organization.
    pub parent: String,
    #[serde(default)]
    pub title: String,
    /// Each named `NAME/servicePerimeters/P`.
    #[serde(default)]
    pub service_perimeters: Vec<ServicePerimeter>,
}

/// Checks what serde cannot; the error names the field below `accessPolicies[i]`.
pub fn check(organization: Option<&str>, p: &AccessPolicy) -> Result<(), (String, String)> {
    let id = p.name.strip_prefix("accessPolicies/").unwrap_or_default();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(("name".into(), format!("'{}' is not accessPolicies/NUMBER", p.name)));
    }
    if p.parent.strip_prefix("organizations/").is_none_or(|o| Some(o) != organization) {
        return Err(("parent".into(), format!("'{}' is not organizations/N of the world's organization", p.parent)));
    }
    for (i, s) in p.service_perimeters.iter().enumerate() {
        let at = |field: &str| format!("servicePerimeters[{i}].{field}");
        let short = s.name.strip_prefix(&format!("{}/servicePerimeters/", p.name)).unwrap_or_default();
        if short.is_empty() || short.contains('/') {
            return Err((at("name"), format!("'{}' is not {}/servicePerimeters/NAME", s.name, p.name)));
        }
        if let Some(t) =
            s.perimeter_type.as_deref().filter(|t| !matches!(*t, "PERIMETER_TYPE_REGULAR" | "PERIMETER_TYPE_BRIDGE"))
        {
            return Err((at("perimeterType"), format!("'{t}' is not PERIMETER_TYPE_REGULAR or PERIMETER_TYPE_BRIDGE")));
        }
        unknown(&s.extra, "ServicePerimeter", &at(""))?;
        for (config, c) in [("status", &s.status), ("spec", &s.spec)] {
            if let Some(c) = c {
                config_fields(c, &at(&format!("{config}.")))?;
            }
            for (j, r) in c.iter().flat_map(|c| c.resources.iter()).enumerate() {
                if !(r.starts_with("projects/")
                    || r.starts_with("folders/")
                    || r.starts_with("//compute.googleapis.com/"))
                {
                    return Err((
                        at(&format!("{config}.resources[{j}]")),
                        format!("'{r}' is not projects/NUMBER, folders/N or a VPC network"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Every field of Access Context Manager v1's schemas that runiam keeps
/// unread (its `extra`): a world naming anything else has a typo, which
/// would otherwise be silently ignored.
const UNREAD: &[(&str, &[&str])] = &[
    ("ServicePerimeter", &["description", "etag"]),
    ("ServicePerimeterConfig", &["egressPolicies", "vpcAccessibleServices"]),
    ("IngressPolicy", &[]),
    ("IngressFrom", &[]),
    ("IngressSource", &["pscEndpoint"]),
    ("IngressTo", &[]),
];

/// `Err` naming the first field of `extra` that `schema` does not have.
fn unknown(extra: &Map<String, Value>, schema: &str, at: &str) -> Result<(), (String, String)> {
    let known = UNREAD.iter().find(|(s, _)| *s == schema).map_or(&[][..], |(_, f)| *f);
    match extra.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err((format!("{at}{k}"), format!("'{k}' is not a field of Access Context Manager's {schema}"))),
        None => Ok(()),
    }
}

/// The unknown fields of a perimeter's `status` or `spec` and its ingress rules.
fn config_fields(c: &PerimeterConfig, at: &str) -> Result<(), (String, String)> {
    unknown(&c.extra, "ServicePerimeterConfig", at)?;
    for (k, rule) in c.ingress_policies.iter().enumerate() {
        let at = format!("{at}ingressPolicies[{k}].");
        unknown(&rule.extra, "IngressPolicy", &at)?;
        if let Some(from) = &rule.ingress_from {
            unknown(&from.extra, "IngressFrom", &format!("{at}ingressFrom."))?;
            for (m, src) in from.sources.iter().enumerate() {
                unknown(&src.extra, "IngressSource", &format!("{at}ingressFrom.sources[{m}]."))?;
            }
        }
        if let Some(to) = &rule.ingress_to {
            unknown(&to.extra, "IngressTo", &format!("{at}ingressTo."))?;
        }
    }
    Ok(())
}
