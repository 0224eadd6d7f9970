//! Network Management v1 Connectivity Tests (docs/emulator.md
//! "Connectivity Tests"): `connectivityTests` create, get, list and delete
//! under `projects/P/locations/global`, and `operations.get`. A test is
//! analysed at create by the packet model (`packet`); create and
//! delete answer an operation that is not done, and its first get finds it
//! done, so clients poll as against Google. A project's `apiErrors` for
//! `networkmanagement.googleapis.com` and the operator's
//! `networkmanagement.connectivitytests.*` permissions apply;
//! `operations.get` checks none (its permission is not in the role table).

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use super::callers::read;
use super::packet::{Source, trace};
use super::{Answer, CREATE_TIME, Call};
use crate::errors::{ApiError, Code};
use crate::state::State;

const TYPE: &str = "type.googleapis.com/google.cloud.networkmanagement.v1";

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    if call.verb.is_some() {
        return None;
    }
    let answer = match segs {
        ["v1", "projects", p, "locations", "global", "connectivityTests"] if call.is("POST") => create(state, call, p),
        ["v1", "projects", p, "locations", "global", "connectivityTests"] if call.is("GET") => list(state, p),
        ["v1", "projects", p, "locations", "global", "connectivityTests", t] if call.is("GET") => {
            let name = test_name(p, t);
            read(state, p, "networkmanagement.connectivitytests.get", |_| {
                state.connectivity_tests.get(&name).cloned().ok_or_else(|| missing(&name))
            })
        }
        ["v1", "projects", p, "locations", "global", "connectivityTests", t] if call.is("DELETE") => {
            delete(state, p, t)
        }
        ["v1", "projects", p, "locations", "global", "operations", op] if call.is("GET") => {
            let name = format!("projects/{p}/locations/global/operations/{op}");
            state
                .operations
                .get(&name)
                .cloned()
                .ok_or_else(|| ApiError::not_found(format!("Operation '{name}' not found.")))
        }
        _ => return None,
    };
    Some(answer)
}

fn test_name(p: &str, t: &str) -> String {
    format!("projects/{p}/locations/global/connectivityTests/{t}")
}

fn missing(name: &str) -> ApiError {
    ApiError::not_found(format!("Resource '{name}' was not found"))
}

/// Test ids are RFC 1035 labels, as Google asks.
fn valid_id(id: &str) -> bool {
    (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn create(state: &mut State, call: &Call, p: &str) -> Answer {
    read(state, p, "networkmanagement.connectivitytests.create", |_| Ok(Value::Null))?;
    let id = call.param(&["testId", "test_id"]).unwrap_or_default();
    if !valid_id(id) {
        return Err(ApiError::invalid_field(
            "test_id",
            format!("'{id}' is not a test id: 1 to 63 lowercase letters, digits and hyphens, starting with a letter."),
        ));
    }
    let name = test_name(p, id);
    if state.connectivity_tests.contains_key(&name) {
        return Err(ApiError::new(Code::AlreadyExists, format!("Resource '{name}' already exists")));
    }
    let source = call.field(&["source"]).cloned().unwrap_or(Value::Null);
    let destination = call.field(&["destination"]).cloned().unwrap_or(Value::Null);
    let ip = destination.get("ipAddress").and_then(Value::as_str).unwrap_or_default();
    let address: IpAddr = ip.parse().map_err(|_| {
        ApiError::invalid_field(
            "destination.ip_address",
            format!("'{ip}' is not an IP address; the emulator's tests take one."),
        )
    })?;
    let protocol = call.field(&["protocol"]).and_then(Value::as_str).unwrap_or("TCP").to_owned();
    let world = &state.world;
    let from = Source::of(world, &source).map_err(|why| ApiError::invalid_field("source", why))?;
    let details = trace(world, &from, address, front_end(call.host, address))
        .map_err(|why| ApiError::invalid_field("source", why))?;
    let mut test = Map::new();
    test.insert("name".into(), json!(name));
    test.insert("displayName".into(), json!(id));
    for (k, v) in [("description", call.field(&["description"])), ("labels", call.field(&["labels"]))] {
        if let Some(v) = v {
            test.insert(k.into(), v.clone());
        }
    }
    test.insert("source".into(), source);
    test.insert("destination".into(), destination);
    test.insert("protocol".into(), json!(protocol));
    test.insert("createTime".into(), json!(CREATE_TIME));
    test.insert("updateTime".into(), json!(CREATE_TIME));
    test.insert("reachabilityDetails".into(), details);
    let test = Value::Object(test);
    state.connectivity_tests.insert(name.clone(), test.clone());
    let mut response = json!({"@type": format!("{TYPE}.ConnectivityTest")});
    if let (Some(r), Value::Object(t)) = (response.as_object_mut(), test) {
        r.extend(t);
    }
    Ok(operation(state, p, &name, "create", response))
}

fn list(state: &State, p: &str) -> Answer {
    read(state, p, "networkmanagement.connectivitytests.list", |proj| {
        let prefix = format!("projects/{}/locations/global/connectivityTests/", proj.id);
        let tests: Vec<Value> =
            state.connectivity_tests.iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(_, v)| v.clone()).collect();
        Ok(if tests.is_empty() { json!({}) } else { json!({"resources": tests}) })
    })
}

fn delete(state: &mut State, p: &str, t: &str) -> Answer {
    let name = test_name(p, t);
    read(state, p, "networkmanagement.connectivitytests.delete", |_| Ok(Value::Null))?;
    state.connectivity_tests.remove(&name).ok_or_else(|| missing(&name))?;
    Ok(operation(state, p, &name, "delete", json!({"@type": "type.googleapis.com/google.protobuf.Empty"})))
}

/// A new operation on `target`: answered not done, stored done.
fn operation(state: &mut State, p: &str, target: &str, verb: &str, response: Value) -> Value {
    let name = format!("projects/{p}/locations/global/operations/operation-{:013}", state.operations.len() + 1);
    let metadata = json!({"@type": format!("{TYPE}.OperationMetadata"), "createTime": CREATE_TIME,
        "target": target, "verb": verb, "apiVersion": "v1"});
    let mut done = json!({"name": name, "metadata": metadata, "done": true, "response": response});
    state.operations.insert(name.clone(), done.clone());
    if let Some(o) = done.as_object_mut() {
        o.remove("response");
        o.insert("done".into(), json!(false));
    }
    done
}

/// Whether `address` is Cloud Run's front end: every run.app host
/// resolves to the emulator, which listens on loopback or on the address
/// the request came to.
fn front_end(host: &str, address: IpAddr) -> bool {
    let own = host.rsplit_once(':').map_or(host, |(h, _)| h).trim_matches(['[', ']']);
    address.is_loopback() || own.parse::<IpAddr>().is_ok_and(|a| a == address)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::control::tests::get;
    use crate::control::{ApiRequest, dispatch};
    use crate::world::World;

    const TESTS: &str = "/v1/projects/acme-p/locations/global/connectivityTests";

    fn state(operator: bool) -> Mutex<State> {
        let who = if operator { r#""operator": "user:ops@example.com","# } else { "" };
        let text = format!(
            r#"{{{who} "projects": [{{"id": "acme-p", "number": "100000000001",
            "instances": [{{"name": "vm", "zone": "europe-west1-b"}}],
            "services": [{{"name": "s", "region": "europe-west1"}}]}}]}}"#
        );
        Mutex::new(State::new(World::parse(&text, "w").unwrap()))
    }

    fn send(state: &Mutex<State>, method: &str, path: &str, query: &str, body: Value) -> (u16, Value) {
        let r = dispatch(
            state,
            &ApiRequest {
                method: method.into(),
                host: "127.0.0.1:8785".into(),
                path: path.into(),
                query: query.into(),
                body: if body.is_null() { Vec::new() } else { body.to_string().into_bytes() },
                ..Default::default()
            },
        );
        (r.status, r.body)
    }

    fn body() -> Value {
        json!({"source": {"instance": "projects/acme-p/zones/europe-west1-b/instances/vm"},
               "destination": {"ipAddress": "127.0.0.1", "port": 443}, "protocol": "TCP"})
    }

    #[test]
    fn create_answers_an_operation_to_poll_then_get_list_and_delete() {
        let s = state(false);
        let (status, op) = send(&s, "POST", TESTS, "testId=t1", body());
        assert_eq!((status, &op["done"]), (200, &json!(false)), "{op}");
        let polled = get(&s, &format!("/v1/{}", op["name"].as_str().unwrap()), "").body;
        assert_eq!(polled["done"], true);
        assert_eq!(polled["response"]["@type"], format!("{TYPE}.ConnectivityTest"));
        assert_eq!(polled["response"]["reachabilityDetails"]["result"], "UNREACHABLE");
        let test = get(&s, &format!("{TESTS}/t1"), "").body;
        assert_eq!(test["reachabilityDetails"]["traces"][0]["steps"][0]["state"], "START_FROM_INSTANCE");
        assert_eq!(get(&s, TESTS, "").body["resources"].as_array().unwrap().len(), 1);
        assert_eq!(send(&s, "POST", TESTS, "testId=t1", body()).0, 409);
        let (status, op) = send(&s, "DELETE", &format!("{TESTS}/t1"), "", Value::Null);
        assert_eq!((status, &op["metadata"]["verb"]), (200, &json!("delete")));
        assert_eq!(get(&s, TESTS, "").body, json!({}));
        assert_eq!(send(&s, "DELETE", &format!("{TESTS}/t1"), "", Value::Null).0, 404);
    }

    #[test]
    fn bad_bodies_name_the_field_and_permissions_apply() {
        let s = state(false);
        for (query, b, field) in [
            ("", body(), "test_id"),
            ("testId=Bad_Id", body(), "test_id"),
            (
                "testId=t",
                json!({"source": body()["source"], "destination": {"fqdn": "x.run.app"}}),
                "destination.ip_address",
            ),
            (
                "testId=t",
                json!({"source": {"ipAddress": "10.0.0.1"}, "destination": {"ipAddress": "1.2.3.4"}}),
                "source",
            ),
        ] {
            let (status, e) = send(&s, "POST", TESTS, query, b);
            assert_eq!(status, 400, "{e}");
            assert_eq!(e["error"]["details"][0]["fieldViolations"][0]["field"], field, "{e}");
        }
        let denied = state(true);
        let (status, e) = send(&denied, "POST", TESTS, "testId=t", body());
        assert_eq!(status, 403);
        assert!(e["error"]["message"].as_str().unwrap().contains("networkmanagement.connectivitytests.create"), "{e}");
    }
}
