//! `-o terraform`: IAM as Terraform, for estates where Terraform owns IAM.
//! One `google_cloud_run_v2_service_iam_member` per (role, member,
//! condition); for existing grants (export) also an `import {}` block whose
//! id is in the provider's space-separated format
//! (`projects/P/locations/L/services/S ROLE MEMBER [CONDITION_TITLE]`), so
//! the next `terraform apply` neither recreates nor reverts them.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::model::{Binding, ServiceRef};

/// An HCL string literal.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Template sequences would be interpolated: escape them.
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A resource label: lowercase letters, digits and underscores.
fn label(parts: &[&str]) -> String {
    let raw = parts.join("_");
    let mut out: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    out.trim_matches('_').to_owned()
}

/// Renders the members of `bindings` on each service; with `import`, each
/// resource is preceded by the `import {}` block that adopts it.
pub fn render<'a>(grants: impl IntoIterator<Item = (&'a ServiceRef, &'a Binding)>, import: bool) -> String {
    let mut out = String::new();
    let mut used = BTreeSet::new();
    for (service, b) in grants {
        let full = service.full_name();
        for m in &b.members {
            let role_short = b.role.rsplit('/').next().unwrap_or(&b.role);
            let who = m.split(['@', '?']).next().unwrap_or(m);
            let mut name = label(&[&service.project, &service.region, &service.name, role_short, who]);
            if let Some(c) = &b.condition {
                name = label(&[&name, c.title.as_deref().unwrap_or("condition")]);
            }
            let base = name.clone();
            let mut n = 2;
            while !used.insert(name.clone()) {
                name = format!("{base}_{n}");
                n += 1;
            }
            if import {
                let mut id = format!("{full} {} {m}", b.role);
                if let Some(title) = b.condition.as_ref().and_then(|c| c.title.as_deref()) {
                    id.push(' ');
                    id.push_str(title);
                }
                let _ = writeln!(
                    out,
                    "import {{\n  to = google_cloud_run_v2_service_iam_member.{name}\n  id = {}\n}}\n",
                    quote(&id)
                );
            }
            let _ = writeln!(out, "resource \"google_cloud_run_v2_service_iam_member\" \"{name}\" {{");
            let _ = writeln!(out, "  project  = {}", quote(&service.project));
            let _ = writeln!(out, "  location = {}", quote(&service.region));
            let _ = writeln!(out, "  name     = {}", quote(&service.name));
            let _ = writeln!(out, "  role     = {}", quote(&b.role));
            let _ = writeln!(out, "  member   = {}", quote(m));
            if let Some(c) = &b.condition {
                out.push_str("\n  condition {\n");
                let _ = writeln!(out, "    title       = {}", quote(c.title.as_deref().unwrap_or_default()));
                if let Some(d) = &c.description {
                    let _ = writeln!(out, "    description = {}", quote(d));
                }
                let _ = writeln!(out, "    expression  = {}", quote(&c.expression));
                out.push_str("  }\n");
            }
            out.push_str("}\n\n");
        }
    }
    if out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_templates_and_quotes() {
        assert_eq!(
            quote(r#"request.time < timestamp("2027-01-01T00:00:00Z")"#),
            r#""request.time < timestamp(\"2027-01-01T00:00:00Z\")""#
        );
        assert_eq!(quote("${x} %{y} $z"), "\"$${x} %%{y} $z\"");
    }

    #[test]
    fn labels_are_identifiers() {
        assert_eq!(
            label(&["acme-prod", "europe-west1", "hello", "run.invoker", "serviceAccount:sched"]),
            "acme_prod_europe_west1_hello_run_invoker_serviceaccount_sched"
        );
    }
}
