//! Cloud Identity Groups v1, read-only: `groups:lookup`,
//! `groups/ID/memberships` (direct members), and the Premium-only
//! `memberships:checkTransitiveMembership` and
//! `groups/-/memberships:searchTransitiveGroups`, which answer 403 when the
//! world's `cloudIdentity.transitiveMembership` is false, as Google does on
//! other editions. Group ids are derived from the group's email.

use runiam_core::model::Principal;
use serde_json::{Map, Value, json};

use super::{Answer, CREATE_TIME, Call, page};
use crate::errors::{ApiError, Code};
use crate::state::State;
use crate::world::{Group, World, derive_unique_id, sha256};

/// `memberships.list`'s default and largest page sizes (BASIC view).
const DEFAULT_PAGE: usize = 200;
const MAX_PAGE: usize = 1000;

/// The label every Google group carries.
const DISCUSSION_FORUM: &str = "cloudidentity.googleapis.com/groups.discussion_forum";

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    if !call.is("GET") {
        return None;
    }
    let world = &state.world;
    if segs.first() == Some(&"v1") && segs.get(1) == Some(&"groups") && !world.cloud_identity.readable {
        return Some(Err(ApiError::new(
            Code::PermissionDenied,
            "Error(2028): Permission denied for resource groups (or it may not exist).".to_owned(),
        )));
    }
    match (segs, call.verb.as_deref()) {
        (["v1", "groups"], Some("lookup")) => Some(lookup(world, call)),
        (["v1", "groups", g, "memberships"], None) => Some(list(world, call, g)),
        (["v1", "groups", g, "memberships"], Some("checkTransitiveMembership")) => Some(check(world, call, g)),
        (["v1", "groups", "-", "memberships"], Some("searchTransitiveGroups")) => Some(search(world, call)),
        _ => None,
    }
}

/// A stable 15-character group id like Google's (`0` then base 36).
pub fn group_id(email: &str) -> String {
    let d = sha256(format!("group-id:{}", email.to_ascii_lowercase()).as_bytes());
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    std::iter::once('0').chain(d[..14].iter().map(|b| char::from(alphabet[usize::from(*b) % 36]))).collect()
}

fn find<'w>(world: &'w World, id: &str) -> Result<&'w Group, ApiError> {
    world.groups.iter().find(|g| group_id(&g.email) == id).ok_or_else(|| {
        ApiError::new(
            Code::PermissionDenied,
            format!("Error(2028): Permission denied for resource groups/{id} (or it may not exist)."),
        )
    })
}

fn lookup(world: &World, call: &Call) -> Answer {
    let email = call
        .param(&["groupKey.id", "group_key.id"])
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ApiError::invalid_field("groupKey.id", "groupKey.id is required."))?;
    let group = world.groups.iter().find(|g| g.email.eq_ignore_ascii_case(email)).ok_or_else(|| {
        ApiError::new(
            Code::PermissionDenied,
            format!("Error(4003): Permission denied for group {email} (or it may not exist)."),
        )
    })?;
    Ok(json!({ "name": format!("groups/{}", group_id(&group.email)) }))
}

/// A member's kind and email (`user:a@b` → `USER`, `a@b`).
fn member_key(member: &str) -> (&'static str, String) {
    match Principal::parse(member) {
        Ok(Principal::ServiceAccount(e)) => ("SERVICE_ACCOUNT", e),
        Ok(Principal::Group(e)) => ("GROUP", e),
        Ok(Principal::User(e)) => ("USER", e),
        _ => ("OTHER", member.to_owned()),
    }
}

fn list(world: &World, call: &Call, id: &str) -> Answer {
    let group = find(world, id)?;
    let size = call.count_param(&["pageSize", "page_size"])?.filter(|n| *n > 0).unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
    let (shown, next) = page(&group.members, size, call.param(&["pageToken", "page_token"]))?;
    let memberships: Vec<Value> = shown
        .iter()
        .map(|m| {
            let (kind, email) = member_key(m);
            let mid =
                world.service_account(&email).map_or_else(|| derive_unique_id(&email), |(_, a)| a.unique_id.clone());
            json!({
                "name": format!("groups/{id}/memberships/{mid}"),
                "preferredMemberKey": {"id": email},
                "roles": [{"name": "MEMBER"}],
                "type": kind,
                "createTime": CREATE_TIME,
                "updateTime": CREATE_TIME,
            })
        })
        .collect();
    let mut out = Map::new();
    if !memberships.is_empty() {
        out.insert("memberships".into(), Value::Array(memberships));
    }
    if let Some(t) = next {
        out.insert("nextPageToken".into(), json!(t));
    }
    Ok(Value::Object(out))
}

fn premium(world: &World, what: &str) -> Result<(), ApiError> {
    if world.cloud_identity.transitive_membership {
        return Ok(());
    }
    Err(ApiError::new(
        Code::PermissionDenied,
        format!(
            "The caller does not have permission: {what} is available only to Google Workspace Enterprise and Cloud Identity Premium accounts."
        ),
    ))
}

/// The email in a query's `member_key_id == 'EMAIL'` (either quote).
fn member_key_id(call: &Call) -> Result<String, ApiError> {
    let query = call.param(&["query"]).unwrap_or_default();
    let bad =
        || ApiError::invalid_field("query", format!("Invalid query '{query}': expected member_key_id == 'EMAIL'."));
    let rest = query.split_once("member_key_id").ok_or_else(bad)?.1.trim_start();
    let rest = rest.strip_prefix("==").ok_or_else(bad)?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"').ok_or_else(bad)?;
    let inner = &rest[quote.len_utf8()..];
    let end = inner.find(quote).ok_or_else(bad)?;
    Ok(inner[..end].to_owned())
}

/// Is `email` in `group`, directly or through nested groups? Groups already
/// seen are skipped, so a cycle ends the walk.
fn reaches(world: &World, group: &Group, email: &str, seen: &mut Vec<String>) -> bool {
    if seen.iter().any(|s| s.eq_ignore_ascii_case(&group.email)) {
        return false;
    }
    seen.push(group.email.clone());
    group.members.iter().any(|m| {
        let (kind, e) = member_key(m);
        e.eq_ignore_ascii_case(email)
            || (kind == "GROUP"
                && world
                    .groups
                    .iter()
                    .find(|g| g.email.eq_ignore_ascii_case(&e))
                    .is_some_and(|g| reaches(world, g, email, seen)))
    })
}

fn check(world: &World, call: &Call, id: &str) -> Answer {
    premium(world, "checkTransitiveMembership")?;
    let group = find(world, id)?;
    let email = member_key_id(call)?;
    Ok(json!({ "hasMembership": reaches(world, group, &email, &mut Vec::new()) }))
}

fn search(world: &World, call: &Call) -> Answer {
    premium(world, "searchTransitiveGroups")?;
    let email = member_key_id(call)?;
    let memberships: Vec<Value> = world
        .groups
        .iter()
        .filter_map(|g| {
            let direct = g.members.iter().any(|m| member_key(m).1.eq_ignore_ascii_case(&email));
            let indirect = g.members.iter().any(|m| {
                let (kind, e) = member_key(m);
                kind == "GROUP"
                    && world
                        .groups
                        .iter()
                        .find(|n| n.email.eq_ignore_ascii_case(&e))
                        .is_some_and(|n| reaches(world, n, &email, &mut vec![g.email.clone()]))
            });
            let relation = match (direct, indirect) {
                (true, true) => "DIRECT_AND_INDIRECT",
                (true, false) => "DIRECT",
                (false, true) => "INDIRECT",
                (false, false) => return None,
            };
            let mut out = Map::new();
            out.insert("group".into(), json!(format!("groups/{}", group_id(&g.email))));
            out.insert("groupKey".into(), json!({"id": g.email}));
            if let Some(d) = &g.display_name {
                out.insert("displayName".into(), json!(d));
            }
            out.insert("labels".into(), json!({ DISCUSSION_FORUM: "" }));
            out.insert("relationType".into(), json!(relation));
            out.insert("roles".into(), json!([{"role": "MEMBER"}]));
            Some(Value::Object(out))
        })
        .collect();
    let size = call.count_param(&["pageSize", "page_size"])?.filter(|n| *n > 0).unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
    let (shown, next) = page(&memberships, size, call.param(&["pageToken", "page_token"]))?;
    let mut out = Map::new();
    if !shown.is_empty() {
        out.insert("memberships".into(), Value::Array(shown));
    }
    if let Some(t) = next {
        out.insert("nextPageToken".into(), json!(t));
    }
    Ok(Value::Object(out))
}
