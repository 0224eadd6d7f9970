//! The shared vocabulary: service references, principals and IAM policies.
//!
//! Policies keep Google's exact JSON: every field Google may add that runiam
//! does not name (`auditConfigs`, future fields) lands in `extra` and is
//! written back untouched on a read-modify-write.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The permission every invoker question is about.
pub const INVOKE_PERMISSION: &str = "run.routes.invoke";

/// The project's default compute account, the identity of what runs with
/// no account of its own (a Cloud Run revision, a gen2 function, a
/// workflow, an Eventarc trigger).
pub fn default_compute_account(project_number: &str) -> String {
    format!("{project_number}-compute@developer.gserviceaccount.com")
}

/// An IAM allow policy (`google.iam.v1.Policy`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// 0, 1 or 3; 3 whenever a binding carries a condition.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: i32,
    /// Base64 read-modify-write token; always sent back on write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<Binding>,
    /// Fields runiam does not interpret (auditConfigs, ...), kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}

/// One role granted to members, optionally under a condition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    pub role: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Expr>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}

/// An IAM Condition (`google.type.Expr`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Expr {
    pub expression: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl Expr {
    /// The end of a time-bound grant's condition (`request.time <
    /// timestamp("…")`, as runiam and the console write it); `None` for any
    /// other condition.
    pub fn expiry(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let rest = self.expression.trim().strip_prefix("request.time")?.trim_start().strip_prefix('<')?;
        let quoted = rest.trim().strip_prefix("timestamp(\"")?.strip_suffix("\")")?;
        chrono::DateTime::parse_from_rfc3339(quoted).ok().map(|t| t.with_timezone(&chrono::Utc))
    }
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

impl Policy {
    /// True when any binding is conditional, which forces policy version 3.
    pub fn has_conditions(&self) -> bool {
        self.bindings.iter().any(|b| b.condition.is_some())
    }

    /// The version a write of this policy must carry (Google: "Any operation
    /// that affects conditional role bindings must specify version 3").
    pub fn required_version(&self) -> i32 {
        if self.has_conditions() { 3 } else { self.version.max(1) }
    }

    /// Every (role, member, condition) grant, one binding per grant.
    fn grants(&self) -> Vec<(String, String, Option<Expr>)> {
        self.bindings
            .iter()
            .flat_map(|b| b.members.iter().map(move |m| (b.role.clone(), m.clone(), b.condition.clone())))
            .collect()
    }

    /// The grants of `self` that `other` lacks, grouped back into bindings
    /// (one per role and condition, in `self`'s order).
    pub fn grants_not_in(&self, other: &Policy) -> Vec<Binding> {
        let theirs = other.grants();
        let mut out: Vec<Binding> = Vec::new();
        for (role, member, condition) in self.grants() {
            if theirs.iter().any(|(r, m, c)| *r == role && *m == member && *c == condition) {
                continue;
            }
            match out.iter_mut().find(|b| b.role == role && b.condition == condition) {
                Some(b) => b.members.push(member),
                None => out.push(Binding { role, members: vec![member], condition, ..Binding::default() }),
            }
        }
        out
    }

    /// Same grants and same uninterpreted fields, whatever the etag,
    /// version and binding order (Google reorders and renumbers freely).
    pub fn same_grants(&self, other: &Policy) -> bool {
        let mut a = self.grants();
        let mut b = other.grants();
        a.sort_by(|x, y| {
            (&x.0, &x.1, x.2.as_ref().map(|c| &c.expression)).cmp(&(&y.0, &y.1, y.2.as_ref().map(|c| &c.expression)))
        });
        b.sort_by(|x, y| {
            (&x.0, &x.1, x.2.as_ref().map(|c| &c.expression)).cmp(&(&y.0, &y.1, y.2.as_ref().map(|c| &c.expression)))
        });
        a.dedup();
        b.dedup();
        a == b && self.extra == other.extra
    }

    /// A policy of unconditional `(role, member)` grants, one binding per
    /// role in the order first named (for plans built by hand and tests).
    pub fn with_grants(grants: &[(&str, &str)]) -> Policy {
        let mut p = Policy { version: 1, ..Policy::default() };
        for (role, member) in grants {
            match p.bindings.iter_mut().find(|b| b.role == *role) {
                Some(b) => b.members.push((*member).into()),
                None => p.bindings.push(Binding {
                    role: (*role).into(),
                    members: vec![(*member).into()],
                    ..Binding::default()
                }),
            }
        }
        p
    }

    /// Members granted `role` without a condition, or with exactly `condition`.
    pub fn members_of(&self, role: &str, condition: Option<&Expr>) -> Vec<&str> {
        self.bindings
            .iter()
            .filter(|b| b.role == role && b.condition.as_ref() == condition)
            .flat_map(|b| b.members.iter().map(String::as_str))
            .collect()
    }
}

/// A Cloud Run service, named the one way every document names it:
/// `{project, projectNumber, region, name, fullName}`, where `fullName` is
/// `projects/ID/locations/R/services/S` and is checked against the parts
/// when read.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "ServiceRefWire", try_from = "ServiceRefWire")]
pub struct ServiceRef {
    /// Project id (never the number).
    pub project: String,
    /// Project number, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_number: Option<String>,
    pub region: String,
    pub name: String,
}

impl ServiceRef {
    pub fn new(project: &str, region: &str, name: &str) -> Self {
        Self { project: project.to_owned(), project_number: None, region: region.to_owned(), name: name.to_owned() }
    }

    /// `projects/ID/locations/R/services/S`.
    pub fn full_name(&self) -> String {
        format!("projects/{}/locations/{}/services/{}", self.project, self.region, self.name)
    }

    /// Parses `projects/P/locations/R/services/S`.
    pub fn parse_full_name(s: &str) -> Result<Self, NameError> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            ["projects", p, "locations", r, "services", n] => {
                check_project_id(p).map_err(|why| NameError::new(s, why.to_string()))?;
                check_region(r).map_err(|why| NameError::new(s, why.to_string()))?;
                check_service_name(n).map_err(|why| NameError::new(s, why.to_string()))?;
                Ok(Self::new(p, r, n))
            }
            _ => Err(NameError::new(s, "expected projects/PROJECT/locations/REGION/services/SERVICE".into())),
        }
    }
}

/// The document form of a `ServiceRef`.
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "ServiceRef")]
struct ServiceRefWire {
    /// Project id (not the number).
    project: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    project_number: Option<String>,
    region: String,
    name: String,
    /// `projects/ID/locations/REGION/services/NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    full_name: Option<String>,
}

impl From<ServiceRef> for ServiceRefWire {
    fn from(s: ServiceRef) -> Self {
        let full_name = Some(s.full_name());
        Self { project: s.project, project_number: s.project_number, region: s.region, name: s.name, full_name }
    }
}

impl TryFrom<ServiceRefWire> for ServiceRef {
    type Error = BadName;
    fn try_from(w: ServiceRefWire) -> Result<Self, BadName> {
        check_project_id(&w.project)?;
        check_region(&w.region)?;
        check_service_name(&w.name)?;
        if let Some(n) = &w.project_number
            && (n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(BadName::ProjectNumber(n.clone()));
        }
        let s = Self { project: w.project, project_number: w.project_number, region: w.region, name: w.name };
        match w.full_name {
            Some(given) if given != s.full_name() => Err(BadName::FullName { given, expected: s.full_name() }),
            _ => Ok(s),
        }
    }
}

impl JsonSchema for ServiceRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ServiceRef".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        ServiceRefWire::json_schema(g)
    }
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full_name())
    }
}

/// A resource or principal name that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a valid name: {why}")]
pub struct NameError {
    pub input: String,
    pub why: String,
}

impl NameError {
    fn new(input: &str, why: String) -> Self {
        Self { input: input.to_owned(), why }
    }
}

/// A resource name, or a part of one, that Google would refuse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadName {
    #[error(
        "service name '{0}' must be 1-49 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen"
    )]
    Service(String),
    #[error(
        "project '{0}' must be a project id (6-30 lowercase letters, digits or hyphens, starting with a letter) or a project number"
    )]
    Project(String),
    #[error("region '{0}' is not a region name such as europe-west1")]
    Region(String),
    #[error("projectNumber '{0}' must be digits only")]
    ProjectNumber(String),
    #[error("fullName '{given}' does not match project, region and name ({expected}); fix one or drop fullName")]
    FullName { given: String, expected: String },
}

/// Cloud Run service names: lowercase letters, digits and hyphens, starting
/// with a letter, not ending with a hyphen, at most 49 characters.
pub fn check_service_name(n: &str) -> Result<(), BadName> {
    let ok = !n.is_empty()
        && n.len() <= 49
        && n.starts_with(|c: char| c.is_ascii_lowercase())
        && !n.ends_with('-')
        && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok { Ok(()) } else { Err(BadName::Service(n.to_owned())) }
}

/// Project ids: 6-30 lowercase letters, digits or hyphens, starting with a
/// letter. Numbers are accepted too, as every Google API does.
pub fn check_project_id(p: &str) -> Result<(), BadName> {
    let id = (6..=30).contains(&p.len())
        && p.starts_with(|c: char| c.is_ascii_lowercase())
        && !p.ends_with('-')
        && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let number = !p.is_empty() && p.len() <= 20 && p.chars().all(|c| c.is_ascii_digit());
    if id || number { Ok(()) } else { Err(BadName::Project(p.to_owned())) }
}

/// Regions look like `europe-west1`: lowercase words and a trailing digit.
pub fn check_region(r: &str) -> Result<(), BadName> {
    let ok = r.contains('-')
        && r.ends_with(|c: char| c.is_ascii_digit())
        && r.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok { Ok(()) } else { Err(BadName::Region(r.to_owned())) }
}

/// The local part of an email as IAM accepts it: RFC 5322's dot-atom.
fn valid_local_part(local: &str) -> bool {
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
}

/// A domain name: dot-separated labels of letters, digits and hyphens.
fn valid_domain(domain: &str) -> bool {
    domain.contains('.')
        && domain.len() <= 253
        && domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// An IAM principal, as written in allow-policy members.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Principal {
    User(String),
    ServiceAccount(String),
    Group(String),
    Domain(String),
    /// `principal://...` (workforce/workload identities, `goog/subject`).
    Principal(String),
    /// `principalSet://...`.
    PrincipalSet(String),
    AllUsers,
    AllAuthenticatedUsers,
    /// `deleted:user:x?uid=N` and friends: the kind and the rest, verbatim.
    Deleted(String),
}

impl Principal {
    /// The principal an email names, as Google's tokens and APIs give it:
    /// a service account when it is one of Google's service-account
    /// domains, else a user.
    pub fn from_email(email: &str) -> Result<Self, NameError> {
        let kind = if email.ends_with(".gserviceaccount.com") { "serviceAccount" } else { "user" };
        Self::parse(&format!("{kind}:{email}"))
    }

    /// Parses a member string, refusing what Google's setIamPolicy refuses.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let err = |why: &str| NameError::new(s, why.to_owned());
        let email = |e: &str| -> Result<String, NameError> {
            let (local, domain) = e.split_once('@').ok_or_else(|| err("expected an email after the prefix"))?;
            if e.contains([',', ';']) || e.matches('@').count() > 1 {
                return Err(err("one member holds one principal: give each member its own --member or binding"));
            }
            if !valid_local_part(local) || !valid_domain(domain) {
                return Err(err("expected an email such as name@example.com after the prefix"));
            }
            Ok(e.to_owned())
        };
        match s {
            "allUsers" => return Ok(Self::AllUsers),
            "allAuthenticatedUsers" => return Ok(Self::AllAuthenticatedUsers),
            _ => {}
        }
        let Some((kind, rest)) = s.split_once(':') else {
            return Err(err(
                "members look like user:EMAIL, serviceAccount:EMAIL, group:EMAIL, domain:DOMAIN, principal://..., principalSet://..., allUsers or allAuthenticatedUsers",
            ));
        };
        match kind {
            "user" => Ok(Self::User(email(rest)?)),
            "serviceAccount" => {
                // Workload Identity members (`P.svc.id.goog[ns/ksa]`) carry no '@'.
                if rest.contains(".svc.id.goog[") && rest.ends_with(']') {
                    Ok(Self::ServiceAccount(rest.to_owned()))
                } else {
                    Ok(Self::ServiceAccount(email(rest)?))
                }
            }
            "group" => Ok(Self::Group(email(rest)?)),
            "domain" if valid_domain(rest) => Ok(Self::Domain(rest.to_owned())),
            "domain" => Err(err("expected a domain such as example.com after domain:")),
            "principal" if rest.starts_with("//") && rest.len() > 2 => Ok(Self::Principal(rest[2..].to_owned())),
            "principalSet" if rest.starts_with("//") && rest.len() > 2 => Ok(Self::PrincipalSet(rest[2..].to_owned())),
            "principal" | "principalSet" => Err(err("expected principal://... or principalSet://...")),
            "deleted" => {
                let inner = rest.split('?').next().unwrap_or_default();
                match Self::parse(inner)? {
                    Self::User(_) | Self::ServiceAccount(_) | Self::Group(_) => Ok(Self::Deleted(rest.to_owned())),
                    _ => Err(err("deleted: applies to user:, serviceAccount: and group: members")),
                }
            }
            other => Err(NameError::new(
                s,
                format!(
                    "unknown member type '{other}:'; use user:, serviceAccount:, group:, domain:, principal://, principalSet://, allUsers or allAuthenticatedUsers"
                ),
            )),
        }
    }

    /// Any member as IAM matches it, v1 and v2 syntax alike: the v2 forms
    /// of a Google account (`principal://goog/subject/E`), a service account
    /// (`principal://iam.googleapis.com/projects/-/serviceAccounts/E`), a
    /// group (`principalSet://goog/group/G`) and everyone
    /// (`principalSet://goog/public:all`) become their v1 equivalents.
    /// `None` for what names nobody: `deleted:` members and what does not
    /// parse.
    pub fn canonical(member: &str) -> Option<Self> {
        if let Some(rest) = member.strip_prefix("principal://") {
            if let Some(email) = rest.strip_prefix("goog/subject/") {
                return Some(Self::User(email.to_owned()));
            }
            if let Some(sa) = rest.strip_prefix("iam.googleapis.com/projects/")
                && let Some((_, email)) = sa.split_once("/serviceAccounts/")
                && !email.is_empty()
            {
                return Some(Self::ServiceAccount(email.to_owned()));
            }
            return Some(Self::Principal(rest.to_owned()));
        }
        if let Some(rest) = member.strip_prefix("principalSet://") {
            if let Some(group) = rest.strip_prefix("goog/group/") {
                return Some(Self::Group(group.to_owned()));
            }
            if rest == "goog/public:all" {
                return Some(Self::AllUsers);
            }
            return Some(Self::PrincipalSet(rest.to_owned()));
        }
        match Self::parse(member) {
            Ok(Self::Deleted(_)) | Err(_) => None,
            Ok(p) => Some(p),
        }
    }

    /// Whether two members name the same principal, as IAM compares them:
    /// the member type exactly, an email or domain without regard to case
    /// (IAM keeps an account's own casing, `Jane.Doe@…`, whatever casing a
    /// grant was written with), `principal://` and `principalSet://` values
    /// exactly.
    pub fn same_as(&self, other: &Principal) -> bool {
        match (self, other) {
            (Self::User(a), Self::User(b))
            | (Self::ServiceAccount(a), Self::ServiceAccount(b))
            | (Self::Group(a), Self::Group(b))
            | (Self::Domain(a), Self::Domain(b)) => a.eq_ignore_ascii_case(b),
            (Self::Deleted(a), Self::Deleted(b)) => a.eq_ignore_ascii_case(b),
            _ => self == other,
        }
    }

    /// Whether a policy's member string names this principal (`same_as`).
    pub fn is_member(&self, member: &str) -> bool {
        Self::parse(member).is_ok_and(|m| self.same_as(&m))
    }

    /// True for `allUsers` and `allAuthenticatedUsers`.
    pub fn is_public(&self) -> bool {
        matches!(self, Self::AllUsers | Self::AllAuthenticatedUsers)
    }

    /// The email of a user, service account or group.
    pub fn email(&self) -> Option<&str> {
        match self {
            Self::User(e) | Self::ServiceAccount(e) | Self::Group(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(e) => write!(f, "user:{e}"),
            Self::ServiceAccount(e) => write!(f, "serviceAccount:{e}"),
            Self::Group(e) => write!(f, "group:{e}"),
            Self::Domain(d) => write!(f, "domain:{d}"),
            Self::Principal(p) => write!(f, "principal://{p}"),
            Self::PrincipalSet(p) => write!(f, "principalSet://{p}"),
            Self::AllUsers => f.write_str("allUsers"),
            Self::AllAuthenticatedUsers => f.write_str("allAuthenticatedUsers"),
            Self::Deleted(rest) => write!(f, "deleted:{rest}"),
        }
    }
}

impl Serialize for Principal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Principal {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Principal".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An IAM member: user:EMAIL, serviceAccount:EMAIL, group:EMAIL, domain:DOMAIN, principal://..., principalSet://..., allUsers, allAuthenticatedUsers or deleted:...",
        })
    }
}

impl std::str::FromStr for Principal {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_name_service_accounts_or_users() {
        let p = |e: &str| Principal::from_email(e).unwrap().to_string();
        assert_eq!(
            p("sched@acme-prod.iam.gserviceaccount.com"),
            "serviceAccount:sched@acme-prod.iam.gserviceaccount.com"
        );
        assert_eq!(
            p("1-compute@developer.gserviceaccount.com"),
            "serviceAccount:1-compute@developer.gserviceaccount.com"
        );
        assert_eq!(p("alice@acme.example"), "user:alice@acme.example");
        assert!(Principal::from_email("not-an-email").is_err());
    }

    #[test]
    fn principals_round_trip() {
        for m in [
            "user:alice@acme.example",
            "serviceAccount:sched@acme-prod.iam.gserviceaccount.com",
            "serviceAccount:acme-prod.svc.id.goog[ns/ksa]",
            "group:devs@acme.example",
            "domain:acme.example",
            "principal://goog/subject/alice@acme.example",
            "principalSet://goog/public:all",
            "allUsers",
            "allAuthenticatedUsers",
            "deleted:serviceAccount:old@acme-prod.iam.gserviceaccount.com?uid=123",
        ] {
            assert_eq!(Principal::parse(m).unwrap().to_string(), m);
        }
    }

    #[test]
    fn malformed_principals_name_the_fix() {
        for m in [
            "alice@acme.example",
            "user:alice",
            "robot:x@y.z",
            "domain:",
            "principal:x",
            "deleted:domain:a.b",
            "user:bob@@acme.example",
            "user:bob@acme.example;rm",
            "user:a@acme.example,user:b@acme.example",
            "user:bob smith@acme.example",
            "domain:acme..example",
        ] {
            let e = Principal::parse(m).unwrap_err();
            assert_eq!(e.input, m);
        }
        assert!(Principal::parse("alice@acme.example").unwrap_err().why.contains("user:EMAIL"));
    }

    #[test]
    fn members_compare_as_iam_does() {
        let p = |s: &str| Principal::parse(s).unwrap();
        assert!(p("user:Jane.Doe@Example.com").same_as(&p("user:jane.doe@example.com")));
        assert!(p("domain:Example.com").same_as(&p("domain:example.com")));
        assert!(!p("user:a@example.com").same_as(&p("group:a@example.com")));
        assert!(!p("principal://goog/subject/A@x.example").same_as(&p("principal://goog/subject/a@x.example")));
        assert!(
            p("serviceAccount:Sched@p.iam.gserviceaccount.com")
                .is_member("serviceAccount:sched@p.iam.gserviceaccount.com")
        );
        assert_eq!(Principal::canonical("principal://goog/subject/a@x.example"), Some(p("user:a@x.example")));
        assert_eq!(Principal::canonical("principalSet://goog/group/g@x.example"), Some(p("group:g@x.example")));
        assert_eq!(Principal::canonical("principalSet://goog/public:all"), Some(Principal::AllUsers));
        assert_eq!(
            Principal::canonical(
                "principal://iam.googleapis.com/projects/-/serviceAccounts/s@p.iam.gserviceaccount.com"
            ),
            Some(p("serviceAccount:s@p.iam.gserviceaccount.com"))
        );
        assert_eq!(Principal::canonical("deleted:user:a@x.example?uid=1"), None);
        assert_eq!(Principal::canonical("nonsense"), None);
    }

    #[test]
    fn service_full_names() {
        let s = ServiceRef::parse_full_name("projects/acme-prod/locations/europe-west1/services/hello").unwrap();
        assert_eq!(s, ServiceRef::new("acme-prod", "europe-west1", "hello"));
        assert_eq!(s.full_name(), "projects/acme-prod/locations/europe-west1/services/hello");
        assert!(ServiceRef::parse_full_name("projects/acme-prod/services/hello").is_err());
        assert!(ServiceRef::parse_full_name("projects/acme-prod/locations/europe-west1/services/Hello").is_err());
    }

    #[test]
    fn unknown_policy_fields_survive() {
        let json = r#"{"version":3,"etag":"BwY=","bindings":[{"role":"roles/run.invoker","members":["allUsers"],"futureField":1}],"auditConfigs":[{"service":"allServices"}]}"#;
        let p: Policy = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), json);
    }

    #[test]
    fn expiries_are_read_from_time_bound_conditions_only() {
        let e = |x: &str| Expr { expression: x.into(), ..Expr::default() }.expiry().map(|t| t.to_rfc3339());
        assert_eq!(
            e("request.time < timestamp(\"2027-01-01T00:00:00Z\")").as_deref(),
            Some("2027-01-01T00:00:00+00:00")
        );
        assert_eq!(
            e(" request.time<timestamp(\"2027-01-01T01:00:00+01:00\") ").as_deref(),
            Some("2027-01-01T00:00:00+00:00")
        );
        for other in [
            "request.time > timestamp(\"2027-01-01T00:00:00Z\")",
            "request.path.startsWith(\"/a\")",
            "",
            "request.time <",
        ] {
            assert_eq!(e(other), None, "{other}");
        }
    }

    proptest::proptest! {
        #[test]
        fn expiry_never_panics(x in ".{0,80}", t in "[0-9TZ:+.-]{0,30}") {
            let _ = Expr { expression: x, ..Expr::default() }.expiry();
            let _ = Expr { expression: format!("request.time < timestamp(\"{t}\")"), ..Expr::default() }.expiry();
        }
    }
}
