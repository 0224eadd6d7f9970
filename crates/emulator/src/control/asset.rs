//! Cloud Asset Inventory v1: `{scope}:searchAllIamPolicies` and
//! `{scope}:searchAllResources` over the world (docs/emulator.md).
//!
//! A scope is `organizations/N`, `folders/N` (with every folder below it)
//! or `projects/ID-or-NUMBER`. What is searched: the allow policies of the
//! organization, folders, projects and Run services in the scope, and the
//! Run services themselves (with `versionedResources` in Run v1's Knative
//! form and Run v2's form when `readMask` asks). Results come in full
//! resource name order, paged, under Google's per-minute quotas.

use std::collections::HashMap;

use runiam_core::model::{Binding, Policy};
use serde_json::{Map, Value, json};

use super::run_v1::knative;
use super::run_v2::service_json;
use super::{CREATE_TIME, Call, Reply, UPDATE_TIME, page, page_start, page_token};
use crate::authz::{ancestry, operator_holds, permission_denied};
use crate::errors::ApiError;
use crate::quota::{self, Limit};
use crate::state::{State, Versioned, service_key};
use crate::world::{Project, Service, World};

const RUN_SERVICE: &str = "run.googleapis.com/Service";
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 500;

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Result<Reply, ApiError>> {
    let ["v1", kind @ ("organizations" | "folders" | "projects"), id] = segs else { return None };
    let verb = call.verb.as_deref()?;
    let (permission, limits) = match verb {
        "searchAllIamPolicies" => {
            ("cloudasset.assets.searchAllIamPolicies", [quota::SEARCH_IAM_PER_PROJECT, quota::SEARCH_IAM_PER_ORG])
        }
        "searchAllResources" => (
            "cloudasset.assets.searchAllResources",
            [quota::SEARCH_RESOURCES_PER_PROJECT, quota::SEARCH_RESOURCES_PER_ORG],
        ),
        _ => return None,
    };
    if !call.is("GET") {
        return None;
    }
    Some(search(state, call, kind, id, verb, permission, limits))
}

fn search(
    state: &mut State,
    call: &Call,
    kind: &str,
    id: &str,
    verb: &str,
    permission: &str,
    limits: [Limit; 2],
) -> Result<Reply, ApiError> {
    let shown = format!("{kind}/{id}");
    if scope(&state.world, kind, id).is_none() {
        return Err(permission_denied(permission, &shown));
    }
    let key = match kind {
        "projects" => format!("projects/{}", state.world.project(id).map_or(id, |p| p.id.as_str())),
        _ => shown.clone(),
    };
    // The offline role table carries searchAllIamPolicies only; every
    // predefined role that grants it grants searchAllResources too.
    if !operator_holds(state, &key, "cloudasset.assets.searchAllIamPolicies") {
        return Err(permission_denied(permission, &shown));
    }
    let request = Request::parse(call)?;
    let cap = state.faults.settings().asset_quota_per_minute;
    state.quotas.take(limits[0], "project:runiam-emulator", cap)?;
    if let Some(org) = &state.world.organization {
        state.quotas.take(limits[1], &format!("organizations/{}", org.id), cap)?;
    }
    let world = &state.world;
    let nodes: Vec<Node> =
        scope(world, kind, id).unwrap_or_default().into_iter().filter(|n| request.wants_type(n.asset_type())).collect();
    let token = call.param(&["pageToken", "page_token"]);
    if verb == "searchAllResources" {
        // Only the page's results are written: a service's versioned forms are large.
        let matching: Vec<&Node> = nodes.iter().filter(|n| request.matches_resource(world, n)).collect();
        let (shown, next) = page(&matching, request.page_size, token)?;
        return Ok(Reply::written(resource_page(world, &mut state.versioned, &shown, next, &request)));
    }
    // Only the page's results are built: the token is a place among the
    // scope's resources, not among the results, so no page renders the
    // policies of the pages before it.
    let mut shown = Vec::new();
    let mut next = None;
    for (i, n) in nodes.iter().enumerate().skip(page_start(token, nodes.len())?) {
        if let Some(result) = policy_result(state, world, n, &request).transpose()? {
            if shown.len() == request.page_size {
                next = Some(page_token(i));
                break;
            }
            shown.push(result);
        }
    }
    let mut out = Map::new();
    if !shown.is_empty() {
        out.insert("results".into(), Value::Array(shown));
    }
    if let Some(t) = next {
        out.insert("nextPageToken".into(), json!(t));
    }
    Ok(Reply::ok(Value::Object(out)))
}

/// A searchAllResources page, written as the tree `{results, nextPageToken}`
/// would be (compact), with each service's `versionedResources` copied
/// from `cache`.
fn resource_page(
    world: &World,
    cache: &mut HashMap<String, Versioned>,
    shown: &[&Node],
    next: Option<String>,
    request: &Request,
) -> Vec<u8> {
    let versions = request.wants_field("versionedResources");
    let mut out = Vec::with_capacity(if versions { shown.len() * 5000 } else { shown.len() * 500 } + 100);
    out.push(b'{');
    if !shown.is_empty() {
        out.extend_from_slice(b"\"results\":[");
        for (i, n) in shown.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json(&mut out, &resource_result(world, n, request));
            if let (true, Node::Service(p, s)) = (versions, n) {
                // The field comes last: reopen the object to add it.
                out.pop();
                if out.last() != Some(&b'{') {
                    out.push(b',');
                }
                out.extend_from_slice(b"\"versionedResources\":");
                out.extend_from_slice(versioned_json(cache, p, s));
                out.push(b'}');
            }
        }
        out.push(b']');
    }
    if let Some(t) = next {
        if !shown.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"nextPageToken\":");
        write_json(&mut out, &json!(t));
    }
    out.push(b'}');
    out
}

/// Writes a tree; writing to memory fails only for maps with non-string
/// keys, which a `Value` cannot hold.
fn write_json(out: &mut Vec<u8>, tree: &Value) {
    if serde_json::to_writer(&mut *out, tree).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// Writes the `versionedResources` of every Run service of the world, so
/// no search page waits for them.
pub(crate) fn prerender(state: &mut State) {
    for p in &state.world.projects {
        for s in &p.services {
            versioned_json(&mut state.versioned, p, s);
        }
    }
}

/// A service's `versionedResources`, written once per form of the service
/// (a services.patch or a reset changes it) and kept.
fn versioned_json<'c>(cache: &'c mut HashMap<String, Versioned>, p: &Project, s: &Service) -> &'c [u8] {
    let key = service_key(&p.id, &s.region, &s.name);
    let stale = cache.get(&key).is_none_or(|v| v.number != p.number || v.service != *s);
    if stale {
        let mut json = Vec::new();
        write_json(&mut json, &versioned_resources(p, s));
        cache.insert(key.clone(), Versioned { number: p.number.clone(), service: s.clone(), json });
    }
    cache.get(&key).map_or(b"null", |v| v.json.as_slice())
}

/// The service's own JSON in each API version.
fn versioned_resources(p: &Project, s: &Service) -> Value {
    json!([
        {"version": "v1", "resource": knative(p, s)},
        {"version": "v2", "resource": service_json(&Call::names(), p, s)},
    ])
}

/// One searchable resource of the world.
enum Node<'w> {
    Organization(&'w str),
    Folder(&'w str),
    Project(&'w Project),
    Service(&'w Project, &'w Service),
}

impl Node<'_> {
    fn asset_type(&self) -> &'static str {
        match self {
            Node::Organization(_) => "cloudresourcemanager.googleapis.com/Organization",
            Node::Folder(_) => "cloudresourcemanager.googleapis.com/Folder",
            Node::Project(_) => "cloudresourcemanager.googleapis.com/Project",
            Node::Service(..) => RUN_SERVICE,
        }
    }

    /// The key of its allow policy in the state.
    fn key(&self) -> String {
        match self {
            Node::Organization(id) => format!("organizations/{id}"),
            Node::Folder(id) => format!("folders/{id}"),
            Node::Project(p) => format!("projects/{}", p.id),
            Node::Service(p, s) => service_key(&p.id, &s.region, &s.name),
        }
    }

    /// The full resource name Asset Inventory gives it (Run services by
    /// project id, Resource Manager resources by number).
    /// Joined rather than formatted: every search sorts its whole scope by it.
    fn full_name(&self) -> String {
        const CRM: &str = "//cloudresourcemanager.googleapis.com/";
        match self {
            Node::Organization(id) => [CRM, "organizations/", id].concat(),
            Node::Folder(id) => [CRM, "folders/", id].concat(),
            Node::Project(p) => [CRM, "projects/", &p.number].concat(),
            Node::Service(p, s) => ["//run.googleapis.com/", &service_key(&p.id, &s.region, &s.name)].concat(),
        }
    }

    /// `project`, `folders` (nearest first) and `organization`, as results carry them.
    fn placement(&self, world: &World, out: &mut Map<String, Value>) {
        let chain = match self {
            Node::Organization(id) => vec![format!("organizations/{id}")],
            Node::Folder(id) => ancestry(world, &format!("folders/{id}")),
            Node::Project(p) | Node::Service(p, _) => {
                out.insert("project".into(), json!(format!("projects/{}", p.number)));
                ancestry(world, &format!("projects/{}", p.id))
            }
        };
        let folders: Vec<&String> = chain.iter().filter(|c| c.starts_with("folders/")).collect();
        if !folders.is_empty() {
            out.insert("folders".into(), json!(folders));
        }
        if let Some(org) = chain.iter().find(|c| c.starts_with("organizations/")) {
            out.insert("organization".into(), json!(org));
        }
    }
}

/// Every resource in the scope, in full resource name order; None for a
/// scope the world does not have.
fn scope<'w>(world: &'w World, kind: &str, id: &str) -> Option<Vec<Node<'w>>> {
    let root = match kind {
        "organizations" => format!("organizations/{}", world.organization(id)?.id),
        "folders" => format!("folders/{}", world.folder(id)?.id),
        _ => format!("projects/{}", world.project(id)?.id),
    };
    let within = |key: &str| ancestry(world, key).contains(&root);
    let mut nodes = Vec::new();
    if let Some(o) = world.organization.as_ref().filter(|o| within(&format!("organizations/{}", o.id))) {
        nodes.push(Node::Organization(o.id.as_str()));
    }
    for f in world.folders.iter().filter(|f| within(&format!("folders/{}", f.id))) {
        nodes.push(Node::Folder(f.id.as_str()));
    }
    for p in world.projects.iter().filter(|p| within(&format!("projects/{}", p.id))) {
        nodes.push(Node::Project(p));
        nodes.extend(p.services.iter().map(|s| Node::Service(p, s)));
    }
    nodes.sort_by_cached_key(Node::full_name);
    Some(nodes)
}

/// One term of a query: `field:value` (contains) or `field=value` (exact).
#[derive(Debug, PartialEq)]
struct Term {
    field: String,
    value: String,
    exact: bool,
}

/// A search request's parameters, checked.
struct Request {
    terms: Vec<Term>,
    asset_types: Vec<String>,
    /// None: the default fields; `*`: all of them.
    read_mask: Option<Vec<String>>,
    page_size: usize,
}

/// The fields a ResourceSearchResult may carry (readMask paths).
const RESOURCE_FIELDS: [&str; 14] = [
    "name",
    "assetType",
    "project",
    "folders",
    "organization",
    "displayName",
    "description",
    "location",
    "labels",
    "state",
    "createTime",
    "updateTime",
    "parentFullResourceName",
    "versionedResources",
];

/// What searchAllResources returns without a readMask.
const DEFAULT_FIELDS: [&str; 9] =
    ["name", "assetType", "project", "folders", "organization", "displayName", "location", "labels", "state"];

impl Request {
    fn parse(call: &Call) -> Result<Self, ApiError> {
        let terms = parse_query(call.param(&["query"]).unwrap_or_default())?;
        let asset_types = call
            .query
            .iter()
            .filter(|(k, _)| k == "assetTypes" || k == "asset_types")
            .flat_map(|(_, v)| v.split(','))
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        let read_mask = match call.param(&["readMask", "read_mask"]).map(str::trim).filter(|m| !m.is_empty()) {
            None => None,
            Some(m) => {
                let paths: Vec<String> = m.split(',').map(|p| p.trim().to_owned()).collect();
                if let Some(bad) = paths.iter().find(|p| *p != "*" && !RESOURCE_FIELDS.contains(&p.as_str())) {
                    return Err(ApiError::invalid_field(
                        "readMask",
                        format!("Invalid read_mask: '{bad}' is not a field of ResourceSearchResult."),
                    ));
                }
                Some(paths)
            }
        };
        let size = call.param(&["pageSize", "page_size"]).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let page_size = if size <= 0 { DEFAULT_PAGE } else { usize::try_from(size).unwrap_or(MAX_PAGE).min(MAX_PAGE) };
        Ok(Self { terms, asset_types, read_mask, page_size })
    }

    /// `assetTypes`: exact names, or patterns where `.*` stands for anything.
    fn wants_type(&self, asset_type: &str) -> bool {
        self.asset_types.is_empty() || self.asset_types.iter().any(|t| glob(t, asset_type))
    }

    fn wants_field(&self, field: &str) -> bool {
        match &self.read_mask {
            None => DEFAULT_FIELDS.contains(&field),
            Some(paths) => paths.iter().any(|p| p == "*" || p == field),
        }
    }

    /// searchAllResources' query: `name`, `location`, `assetType` and
    /// `project` fields; an unknown field was refused by `parse_query`.
    fn matches_resource(&self, world: &World, n: &Node) -> bool {
        if self.terms.is_empty() {
            return true;
        }
        let location = match n {
            Node::Service(_, s) => s.region.as_str(),
            _ => "global",
        };
        let mut placement = Map::new();
        n.placement(world, &mut placement);
        let project = placement.get("project").and_then(Value::as_str).unwrap_or_default().to_owned();
        self.terms.iter().all(|t| {
            let field = match t.field.as_str() {
                "name" => n.full_name(),
                "location" => location.to_owned(),
                "assetType" => n.asset_type().to_owned(),
                "project" => project.clone(),
                _ => return true,
            };
            text_matches(&field, t)
        })
    }
}

/// `.*` matches any run of characters; anything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split(".*").collect();
    let [first, middle @ .., last] = parts.as_slice() else { return pattern == text };
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    for m in middle {
        match rest.find(m) {
            Some(i) => rest = &rest[i + m.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

fn text_matches(field: &str, t: &Term) -> bool {
    if t.exact { field == t.value } else { field.to_ascii_lowercase().contains(&t.value.to_ascii_lowercase()) }
}

/// The query forms gcloud users write: space-separated terms joined by
/// AND (`AND` itself may be written), each `field:value` or
/// `field=value`, values optionally double-quoted.
fn parse_query(query: &str) -> Result<Vec<Term>, ApiError> {
    let mut terms = Vec::new();
    let mut token = String::new();
    let mut tokens = Vec::new();
    let mut quoted = false;
    for c in query.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !token.is_empty() {
                    tokens.push(std::mem::take(&mut token));
                }
            }
            c => token.push(c),
        }
    }
    if quoted {
        return Err(ApiError::invalid_field("query", "Invalid query: a double quote is not closed."));
    }
    if !token.is_empty() {
        tokens.push(token);
    }
    for t in tokens.into_iter().filter(|t| t != "AND") {
        let split = t.find([':', '=']).map(|i| (&t[..i], &t[i..i + 1], &t[i + 1..]));
        let Some((field, op, value)) = split.filter(|(f, _, v)| !f.is_empty() && !v.is_empty()) else {
            return Err(ApiError::invalid_field(
                "query",
                format!("Invalid query: '{t}' is not a field:value term (this emulator serves field queries only)."),
            ));
        };
        const FIELDS: [&str; 8] = [
            "policy",
            "policy.role.permissions",
            "memberTypes",
            "resource",
            "name",
            "location",
            "assetType",
            "project",
        ];
        if !FIELDS.contains(&field) {
            return Err(ApiError::invalid_field(
                "query",
                format!("Invalid query: field '{field}' is not one of {}.", FIELDS.join(", ")),
            ));
        }
        terms.push(Term { field: field.to_owned(), value: value.to_owned(), exact: op == "=" });
    }
    Ok(terms)
}

/// The permissions of a role: the offline table's, or a custom role's.
fn role_permissions(world: &World, role: &str) -> Vec<String> {
    if let Some(r) = runiam_core::roles::predefined(role) {
        return r.included_permissions.clone();
    }
    let org = world.organization.iter().flat_map(|o| o.custom_roles.iter());
    org.chain(world.projects.iter().flat_map(|p| p.custom_roles.iter()))
        .find(|r| r.name == role)
        .map(|r| r.included_permissions.clone())
        .unwrap_or_default()
}

/// `memberTypes` of a member: `user`, `group`, `serviceAccount`, `domain`,
/// `allUsers`, `allAuthenticatedUsers`...
fn member_type(member: &str) -> &str {
    member.split_once(':').map_or(member, |(t, _)| t)
}

/// The policy of one node as a search result, with only the bindings the
/// query's policy terms match; None when nothing matches or the policy is empty.
fn policy_result(state: &State, world: &World, n: &Node, request: &Request) -> Option<Result<Value, ApiError>> {
    let policy = match state.get_policy(&n.key(), 3) {
        Ok(p) => p,
        Err(e) => return Some(Err(e)),
    };
    if policy.bindings.is_empty() {
        return None;
    }
    let name = n.full_name();
    if !request.terms.iter().filter(|t| t.field == "resource").all(|t| text_matches(&name, t)) {
        return None;
    }
    let mut matched_permissions = Map::new();
    let bindings: Vec<Binding> = policy
        .bindings
        .iter()
        .filter(|b| {
            request.terms.iter().all(|t| match t.field.as_str() {
                "policy" => {
                    text_matches(&b.role, t)
                        || b.members.iter().any(|m| text_matches(m, t))
                        || b.condition.as_ref().is_some_and(|c| text_matches(&c.expression, t))
                }
                "policy.role.permissions" => {
                    let held: Vec<String> =
                        role_permissions(world, &b.role).into_iter().filter(|p| text_matches(p, t)).collect();
                    if !held.is_empty() {
                        matched_permissions.insert(b.role.clone(), json!({ "permissions": held }));
                    }
                    !held.is_empty()
                }
                "memberTypes" => b.members.iter().any(|m| text_matches(member_type(m), t)),
                _ => true,
            })
        })
        .cloned()
        .collect();
    if bindings.is_empty() {
        return None;
    }
    let shown = Policy { version: policy.version, etag: None, bindings, extra: Map::new() };
    let mut out = Map::new();
    out.insert("resource".into(), json!(name));
    out.insert("assetType".into(), json!(n.asset_type()));
    n.placement(world, &mut out);
    out.insert("policy".into(), serde_json::to_value(shown).unwrap_or_default());
    if !matched_permissions.is_empty() {
        out.insert("explanation".into(), json!({ "matchedPermissions": matched_permissions }));
    }
    Some(Ok(Value::Object(out)))
}

/// One ResourceSearchResult, with the fields `readMask` asks for but
/// `versionedResources`, which `resource_page` adds last from its cache.
fn resource_result(world: &World, n: &Node, request: &Request) -> Value {
    let mut all = Map::new();
    all.insert("name".into(), json!(n.full_name()));
    all.insert("assetType".into(), json!(n.asset_type()));
    n.placement(world, &mut all);
    let (display, location) = match n {
        Node::Organization(id) => (world.organization.as_ref().map_or(*id, |o| o.domain.as_str()).to_owned(), "global"),
        Node::Folder(id) => (world.folder(id).map_or(String::new(), |f| f.display_name.clone()), "global"),
        Node::Project(p) => (p.display_name.clone().unwrap_or_else(|| p.id.clone()), "global"),
        Node::Service(_, s) => (s.name.clone(), s.region.as_str()),
    };
    all.insert("displayName".into(), json!(display));
    all.insert("location".into(), json!(location));
    all.insert("state".into(), json!("ACTIVE"));
    all.insert("createTime".into(), json!(CREATE_TIME));
    all.insert("updateTime".into(), json!(UPDATE_TIME));
    if let Node::Service(p, s) = n {
        if !s.labels.is_empty() {
            all.insert("labels".into(), json!(s.labels));
        }
        all.insert(
            "parentFullResourceName".into(),
            json!(format!("//cloudresourcemanager.googleapis.com/projects/{}", p.number)),
        );
    }
    Value::Object(all.into_iter().filter(|(k, _)| request.wants_field(k)).collect())
}

/// Which half of an Asset Inventory export (`--content-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportContent {
    Resource,
    IamPolicy,
}

/// Writes the Run services of `scope` (`organizations/N`, `folders/N` or
/// `projects/ID`) as `gcloud asset export --asset-types
/// run.googleapis.com/Service --content-type …` leaves them in Cloud
/// Storage: one `Asset` per line, snake_case, `ancestors` bottom up
/// (docs/emulator.md). Resources alternate Run's v2 and v1 (Knative) forms,
/// so readers of both are exercised; only services with a policy have a
/// policy line. Returns the lines written.
pub fn export(
    state: &State,
    scope_name: &str,
    content: ExportContent,
    out: &mut impl std::io::Write,
) -> std::io::Result<usize> {
    let world = &state.world;
    let unknown =
        || std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("no scope {scope_name} in the world"));
    let (kind, id) = scope_name.split_once('/').ok_or_else(unknown)?;
    let nodes = scope(world, kind, id).ok_or_else(unknown)?;
    let mut lines = 0;
    let services = nodes.iter().filter(|n| matches!(n, Node::Service(..)));
    for (i, n) in services.enumerate() {
        let Node::Service(p, s) = n else { continue };
        let mut ancestors = ancestry(world, &format!("projects/{}", p.id));
        ancestors[0] = format!("projects/{}", p.number);
        let mut line = json!({"name": n.full_name(), "asset_type": RUN_SERVICE});
        match content {
            ExportContent::Resource => {
                let (version, data) =
                    if i % 2 == 0 { ("v2", service_json(&Call::names(), p, s)) } else { ("v1", knative(p, s)) };
                line["resource"] = json!({
                    "version": version,
                    "discovery_document_uri": format!("https://run.googleapis.com/$discovery/rest?version={version}"),
                    "discovery_name": "Service",
                    "parent": format!("//cloudresourcemanager.googleapis.com/projects/{}", p.number),
                    "data": data,
                    "location": s.region,
                });
            }
            ExportContent::IamPolicy => {
                let policy = state.get_policy(&n.key(), 3).map_err(|e| std::io::Error::other(e.message))?;
                if policy.bindings.is_empty() {
                    continue;
                }
                line["iam_policy"] = serde_json::to_value(Policy { etag: None, ..policy })?;
            }
        }
        line["ancestors"] = json!(ancestors);
        line["update_time"] = json!(UPDATE_TIME);
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        lines += 1;
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{example, get};
    use super::super::{ApiRequest, Reply};
    use super::*;
    use runiam_core::api::asset::{Asset, IamPolicySearchResult, ResourceSearchResult, run_service};
    use std::sync::Mutex;

    fn names(r: &Reply, field: &str) -> Vec<String> {
        r.json()["results"].as_array().into_iter().flatten().map(|x| x[field].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn policies_are_searched_by_scope_and_query() {
        let state = example();
        let services = "assetTypes=run.googleapis.com%2FService";
        let org = get(&state, "/v1/organizations/123456789012:searchAllIamPolicies", services);
        assert_eq!(org.status, 200, "{}", org.body);
        // Every service with a policy, in name order; status-page and preview have none.
        assert_eq!(
            names(&org, "resource"),
            [
                "//run.googleapis.com/projects/acme-prod/locations/europe-west1/services/hello",
                "//run.googleapis.com/projects/acme-prod/locations/europe-west1/services/orders",
                "//run.googleapis.com/projects/acme-prod/locations/us-central1/services/checkout",
                "//run.googleapis.com/projects/acme-staging/locations/us-central1/services/hello",
            ]
        );
        let first: IamPolicySearchResult = serde_json::from_value(org.body["results"][0].clone()).unwrap();
        assert_eq!(first.project.as_deref(), Some("projects/100000000001"));
        assert_eq!(first.folders, ["folders/200000000001"]);
        assert_eq!(first.organization.as_deref(), Some("organizations/123456789012"));
        assert_eq!(first.policy.bindings.len(), 2);
        let folder = get(&state, "/v1/folders/200000000002:searchAllIamPolicies", services);
        assert_eq!(names(&folder, "resource").len(), 1);
        // A project by number, every asset type: the project's own policy too.
        let project = get(&state, "/v1/projects/100000000002:searchAllIamPolicies", "");
        assert_eq!(
            names(&project, "assetType"),
            ["cloudresourcemanager.googleapis.com/Project", "run.googleapis.com/Service"]
        );
        // Only the bindings the query matches.
        let public = get(&state, "/v1/organizations/123456789012:searchAllIamPolicies", "query=memberTypes%3Duser");
        assert_eq!(
            names(&public, "resource"),
            ["//run.googleapis.com/projects/acme-staging/locations/us-central1/services/hello"]
        );
        let invokers = get(
            &state,
            "/v1/organizations/123456789012:searchAllIamPolicies",
            "query=policy.role.permissions%3Arun.routes.invoke+policy%3Aoncall",
        );
        assert_eq!(names(&invokers, "resource"), ["//cloudresourcemanager.googleapis.com/folders/200000000001"]);
        assert_eq!(
            invokers.body["results"][0]["explanation"]["matchedPermissions"]["roles/run.invoker"]["permissions"],
            json!(["run.routes.invoke"])
        );
        assert_eq!(get(&state, "/v1/organizations/9:searchAllIamPolicies", "").status, 403);
        assert_eq!(get(&state, "/v1/projects/acme-prod:searchAllIamPolicies", "query=nope").status, 400);
    }

    #[test]
    fn resources_page_and_carry_both_run_versions() {
        let state = example();
        let q = "assetTypes=run.googleapis.com%2FService&readMask=name,project,folders,organization,versionedResources&pageSize=4";
        let first = get(&state, "/v1/organizations/123456789012:searchAllResources", q);
        assert_eq!(names(&first, "name").len(), 4);
        let token = first.json()["nextPageToken"].as_str().unwrap().to_owned();
        let rest = get(&state, "/v1/organizations/123456789012:searchAllResources", &format!("{q}&pageToken={token}"));
        assert_eq!(names(&rest, "name").len(), 2);
        assert!(rest.json().get("nextPageToken").is_none());
        let checkout: ResourceSearchResult = serde_json::from_value(first.json()["results"][2].clone()).unwrap();
        assert!(checkout.name.ends_with("/services/checkout"));
        assert!(checkout.extra.get("displayName").is_none(), "readMask keeps only what it names");
        let versions: Vec<_> =
            checkout.versioned_resources.iter().map(|v| run_service(&v.version, &v.resource).unwrap()).collect();
        assert_eq!(versions.len(), 2);
        for s in &versions {
            assert_eq!(s.ingress.as_deref(), Some("INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"));
            assert_eq!(s.custom_audiences, ["https://checkout.acme.example"]);
            assert_eq!((&s.uri, &s.urls), (&versions[1].uri, &versions[1].urls));
            assert_eq!(s.urls.len(), 2);
        }
        // Without a readMask, no versionedResources.
        let plain = get(&state, "/v1/projects/acme-prod:searchAllResources", "assetTypes=run.googleapis.com.*");
        assert!(plain.json()["results"][0].get("versionedResources").is_none());
        assert_eq!(names(&plain, "name").len(), 4);
        assert_eq!(get(&state, "/v1/projects/acme-prod:searchAllResources", "readMask=nope").status, 400);
    }

    #[test]
    fn policy_pages_hold_every_result_once() {
        let state = example();
        let path = "/v1/organizations/123456789012:searchAllIamPolicies";
        let whole = names(&get(&state, path, ""), "resource");
        assert!(whole.len() > 5, "{whole:?}");
        let mut paged = Vec::new();
        let mut token = String::new();
        loop {
            let r = get(&state, path, &format!("pageSize=2&pageToken={token}"));
            let got = names(&r, "resource");
            assert!(got.len() == 2 || r.body.get("nextPageToken").is_none(), "{got:?}");
            paged.extend(got);
            match r.body["nextPageToken"].as_str() {
                Some(t) => token = t.to_owned(),
                None => break,
            }
        }
        assert_eq!(paged, whole);
        assert_eq!(get(&state, path, "pageToken=nope").status, 400);
    }

    /// A searchAllResources page as the handler built it before pages were
    /// written straight to bytes: one tree, `versionedResources` rendered
    /// afresh for every result.
    fn tree_page(state: &State, scope_name: &str, query: &str) -> Value {
        let (kind, id) = scope_name.split_once('/').unwrap();
        let asked = ApiRequest { method: "GET".into(), query: query.into(), ..Default::default() };
        let call = Call::parse(&asked).unwrap();
        let request = Request::parse(&call).unwrap();
        let world = &state.world;
        let nodes: Vec<Node> =
            scope(world, kind, id).unwrap().into_iter().filter(|n| request.wants_type(n.asset_type())).collect();
        let matching: Vec<&Node> = nodes.iter().filter(|n| request.matches_resource(world, n)).collect();
        let (shown, next) = page(&matching, request.page_size, call.param(&["pageToken"])).unwrap();
        let results: Vec<Value> = shown
            .iter()
            .map(|n| {
                let mut result = resource_result(world, n, &request);
                if let (true, Node::Service(p, s)) = (request.wants_field("versionedResources"), n) {
                    result["versionedResources"] = versioned_resources(p, s);
                }
                result
            })
            .collect();
        let mut out = Map::new();
        if !results.is_empty() {
            out.insert("results".into(), Value::Array(results));
        }
        if let Some(t) = next {
            out.insert("nextPageToken".into(), json!(t));
        }
        Value::Object(out)
    }

    /// Walks every page of each query, checking each written page against
    /// the tree, byte for byte; returns how many results it saw.
    fn walk_as_the_tree(state: &Mutex<State>, scope_name: &str) -> usize {
        let queries = [
            "assetTypes=run.googleapis.com%2FService&readMask=name,project,folders,organization,versionedResources&pageSize=7",
            "readMask=*&pageSize=5",
            "readMask=versionedResources&pageSize=9",
            "pageSize=11",
            "query=location%3Aus-central1&readMask=*&pageSize=6",
        ];
        let path = format!("/v1/{scope_name}:searchAllResources");
        let mut seen = 0;
        for q in queries {
            let mut token = String::new();
            loop {
                let query = format!("{q}&pageToken={token}");
                let reply = get(state, &path, &query);
                let written = reply.written.clone().expect("a written page");
                let tree = tree_page(&state.lock().unwrap(), scope_name, &query);
                assert_eq!(String::from_utf8(written).unwrap(), serde_json::to_string(&tree).unwrap(), "{query}");
                seen += tree["results"].as_array().map_or(0, Vec::len);
                match tree["nextPageToken"].as_str() {
                    Some(t) => token = t.to_owned(),
                    None => break,
                }
            }
        }
        seen
    }

    #[test]
    fn written_pages_are_the_trees_the_handler_answered() {
        let estate = crate::estate::fleet(crate::estate::Size { projects: 4, services: 60 }, false);
        let world = World::parse(&estate.to_string(), "fleet.json").unwrap();
        let state = Mutex::new(State::new(world));
        let scope_name = format!("organizations/{}", crate::estate::ORG);
        // Rendered as pages ask, then from a cache filled before serving.
        let cold = walk_as_the_tree(&state, &scope_name);
        assert!(cold > 60 * 3, "{cold}");
        prerender(&mut state.lock().unwrap());
        assert_eq!(walk_as_the_tree(&state, &scope_name), cold);
        // A service changed behind the cache (as services.patch does) is
        // written as it is now.
        {
            let mut s = state.lock().unwrap();
            let service = &mut s.world.projects[1].services[0];
            service.ingress = Some("INGRESS_TRAFFIC_INTERNAL_ONLY".into());
            service.generation += 1;
        }
        assert_eq!(walk_as_the_tree(&state, &scope_name), cold);
        let page = get(&state, &format!("/v1/{scope_name}:searchAllResources"), "readMask=*&pageSize=500").json();
        let changed = page["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| {
                r["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with(&state.lock().unwrap().world.projects[1].services[0].name))
            })
            .unwrap()
            .clone();
        assert_eq!(changed["versionedResources"][1]["resource"]["ingress"], "INGRESS_TRAFFIC_INTERNAL_ONLY");
    }

    #[test]
    fn exports_are_lines_of_assets_as_google_writes_them() {
        let state = example();
        let state = state.lock().unwrap();
        let (mut resources, mut policies) = (Vec::new(), Vec::new());
        assert_eq!(export(&state, "organizations/123456789012", ExportContent::Resource, &mut resources).unwrap(), 6);
        // status-page and preview have no policy, so no line.
        assert_eq!(export(&state, "folders/200000000001", ExportContent::IamPolicy, &mut policies).unwrap(), 3);
        let assets: Vec<Asset> =
            String::from_utf8(resources).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let versions: Vec<&str> = assets.iter().map(|a| a.resource.as_ref().unwrap().version.as_str()).collect();
        assert_eq!(versions, ["v2", "v1", "v2", "v1", "v2", "v1"]);
        for a in &assets {
            let r = a.resource.as_ref().unwrap();
            let s = run_service(&r.version, r.data.as_ref().unwrap()).unwrap();
            let short = s.name.rsplit('/').next().unwrap();
            assert!(a.name.ends_with(&format!("/services/{short}")), "{} {}", a.name, s.name);
            assert!(a.ancestors[0].starts_with("projects/1000000000"), "{:?}", a.ancestors);
            assert_eq!(a.ancestors.last().map(String::as_str), Some("organizations/123456789012"));
        }
        let first: Asset = serde_json::from_slice(policies.split(|b| *b == b'\n').next().unwrap()).unwrap();
        assert!(first.iam_policy.unwrap().etag.is_none(), "exports carry no etag");
        assert!(export(&state, "organizations/9", ExportContent::Resource, &mut Vec::new()).is_err());
    }

    #[test]
    fn a_spent_quota_answers_429() {
        let state = example();
        state
            .lock()
            .unwrap()
            .faults
            .set(crate::faults::FaultSettings { asset_quota_per_minute: Some(2), ..Default::default() });
        let path = "/v1/projects/acme-prod:searchAllResources";
        assert_eq!(get(&state, path, "").status, 200);
        assert_eq!(get(&state, path, "").status, 200);
        let spent = get(&state, path, "");
        assert_eq!(spent.status, 429);
        assert_eq!(spent.body["error"]["details"][0]["reason"], "RATE_LIMIT_EXCEEDED");
        // The other search has its own quota.
        assert_eq!(get(&state, "/v1/projects/acme-prod:searchAllIamPolicies", "").status, 200);
    }

    #[test]
    fn the_operator_needs_the_search_permission() {
        let state = example();
        state.lock().unwrap().world.operator = Some("user:nobody@acme.example".into());
        let denied = get(&state, "/v1/projects/acme-prod:searchAllIamPolicies", "");
        assert_eq!(denied.status, 403);
        assert_eq!(
            denied.body["error"]["details"][0]["metadata"]["permission"],
            "cloudasset.assets.searchAllIamPolicies"
        );
    }

    #[test]
    fn queries_parse_as_gcloud_users_write_them() {
        let t = parse_query(r#"policy:"user:amy@acme.example" AND memberTypes=user"#).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].field.as_str(), t[0].value.as_str(), t[0].exact), ("policy", "user:amy@acme.example", false));
        assert!(t[1].exact);
        assert!(parse_query("policy:").is_err());
        assert!(parse_query("bogus:x").unwrap_err().message.contains("'bogus'"));
        assert!(parse_query("\"open").is_err());
        assert_eq!(parse_query("  ").unwrap(), vec![]);
    }

    #[test]
    fn asset_type_patterns() {
        assert!(glob("run.googleapis.com/Service", "run.googleapis.com/Service"));
        assert!(glob("run.googleapis.com.*", "run.googleapis.com/Service"));
        assert!(glob(".*Service", "run.googleapis.com/Service"));
        assert!(!glob("run.googleapis.com/Job", "run.googleapis.com/Service"));
        assert!(!glob("compute.*", "run.googleapis.com/Service"));
    }
}
