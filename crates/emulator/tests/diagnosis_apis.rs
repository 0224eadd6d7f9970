//! The APIs a diagnosis reads besides Run and Resource Manager, served
//! in-process through the dispatcher: Logging (filters, audit entries),
//! IAM v2 deny policies, Org Policy and domain restricted sharing, Policy
//! Troubleshooter (agreeing with the evaluator), Cloud Identity groups,
//! the callers' configs, operator enforcement, and the fault knobs.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use runiam_core::doc::Verdict;
use runiam_core::eval::evaluate;
use runiam_core::model::Principal;
use runiam_emulator::{ApiRequest, Reply, State, World, authz, dispatch};
use serde_json::{Value, json};

const HELLO: &str = "/v2/projects/acme-prod/locations/europe-west1/services/hello";

fn acme() -> Mutex<State> {
    let text = include_str!("../../../examples/acme-world.yaml");
    Mutex::new(State::new(World::parse(text, "acme-world.yaml").unwrap()))
}

fn world(yaml: &str) -> Mutex<State> {
    Mutex::new(State::new(World::parse(yaml, "w.yaml").unwrap()))
}

fn call(state: &Mutex<State>, method: &str, path: &str, query: &str, body: Option<Value>) -> Reply {
    let body = body.map(|b| serde_json::to_vec(&b).unwrap()).unwrap_or_default();
    dispatch(
        state,
        &ApiRequest { method: method.into(), path: path.into(), query: query.into(), body, ..Default::default() },
    )
}

fn get(state: &Mutex<State>, path: &str, query: &str) -> Reply {
    call(state, "GET", path, query, None)
}

fn post(state: &Mutex<State>, path: &str, body: Value) -> Reply {
    call(state, "POST", path, "", Some(body))
}

fn list_logs(state: &Mutex<State>, body: Value) -> Reply {
    post(state, "/v2/entries:list", body)
}

fn ids(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["entries"]
        .as_array()
        .map(|a| a.iter().map(|e| e["insertId"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default()
}

const LOG_WORLD: &str = r#"
projects:
  - {id: acme-one}
  - {id: acme-two}
logEntries:
  - {insertId: e1, logName: projects/acme-one/logs/run.googleapis.com%2Frequests, severity: WARNING,
     timestamp: "2025-01-20T08:00:00Z", httpRequest: {status: 403, requestMethod: GET},
     resource: {type: cloud_run_revision, labels: {service_name: hello, location: europe-west1}},
     textPayload: "The request was not authenticated. Either allow unauthenticated invocations or set the proper Authorization header."}
  - {insertId: e2, logName: projects/acme-one/logs/run.googleapis.com%2Frequests, severity: INFO,
     timestamp: "2025-01-20T09:00:00Z", httpRequest: {status: 200, requestMethod: GET},
     resource: {type: cloud_run_revision, labels: {service_name: hello, location: europe-west1}}}
  - {insertId: e3, logName: projects/acme-one/logs/run.googleapis.com%2Frequests, severity: WARNING,
     timestamp: "2025-01-20T10:00:00Z", httpRequest: {status: 401, requestMethod: POST},
     resource: {type: cloud_run_revision, labels: {service_name: other, location: europe-west1}},
     textPayload: "The request was not authorized to invoke this service. The access token could not be verified."}
  - {insertId: e4, logName: projects/acme-one/logs/cloudaudit.googleapis.com%2Factivity, severity: NOTICE,
     timestamp: "2025-01-21T00:00:00Z",
     resource: {type: cloud_run_revision, labels: {service_name: "", location: europe-west1}},
     protoPayload: {"@type": type.googleapis.com/google.cloud.audit.AuditLog, serviceName: run.googleapis.com,
       methodName: google.cloud.run.v1.Services.SetIamPolicy,
       resourceName: projects/acme-one/locations/europe-west1/services/hello}}
  - {insertId: e5, logName: projects/acme-one/logs/run.googleapis.com%2Fstderr, severity: ERROR,
     timestamp: "2025-01-22T00:00:00Z", labels: {"run.googleapis.com/x": "y"},
     resource: {type: cloud_run_revision, labels: {service_name: other}}, jsonPayload: {message: Boom}}
  - {insertId: e6, logName: projects/acme-two/logs/run.googleapis.com%2Frequests, severity: ERROR,
     timestamp: "2025-01-20T08:30:00Z", httpRequest: {status: 403}}
  - {insertId: e7, logName: projects/acme-one/logs/app, timestamp: "2025-01-19T00:00:00Z", textPayload: hello world}
"#;

#[test]
fn logging_filters_return_exactly_their_entries() {
    let state = world(LOG_WORLD);
    let table: &[(&str, &[&str])] = &[
        ("", &["e7", "e1", "e2", "e3", "e4", "e5"]),
        ("httpRequest.status=403", &["e1"]),
        ("httpRequest.status>=400", &["e1", "e3"]),
        ("http_request.status<300", &["e2"]),
        (r#"resource.labels.service_name="hello""#, &["e1", "e2"]),
        (r#"resource.type="cloud_run_revision" AND severity>=WARNING"#, &["e1", "e3", "e5"]),
        ("severity=NOTICE", &["e4"]),
        ("severity<INFO", &["e7"]),
        ("severity>=ERROR", &["e5"]),
        (r#"logName="projects/acme-one/logs/run.googleapis.com%2Frequests""#, &["e1", "e2", "e3"]),
        (r#"log_name:"cloudaudit.googleapis.com%2Factivity""#, &["e4"]),
        (
            r#"protoPayload.methodName=("google.cloud.run.v1.Services.SetIamPolicy" OR "google.cloud.run.v2.Services.SetIamPolicy")"#,
            &["e4"],
        ),
        (r#"protoPayload.methodName:"SetIamPolicy" protoPayload.resourceName:"services/hello""#, &["e4"]),
        (r#"textPayload:"not authenticated""#, &["e1"]),
        ("NOT httpRequest.status=403 AND httpRequest.status:*", &["e2", "e3"]),
        ("-httpRequest.status:*", &["e7", "e4", "e5"]),
        (r#"timestamp>="2025-01-20T09:00:00Z" timestamp<"2025-01-21T00:00:00Z""#, &["e2", "e3"]),
        (r#"timestamp>"2025-01-20T09:30:00+01:00""#, &["e2", "e3", "e4", "e5"]),
        ("httpRequest.status=401 OR severity=ERROR", &["e3", "e5"]),
        ("(httpRequest.status=401 OR httpRequest.status=403) resource.labels.service_name=hello", &["e1"]),
        // OR binds tighter than AND: 403 AND (401 OR ERROR) matches nothing.
        ("httpRequest.status=403 AND httpRequest.status=401 OR severity=ERROR", &[]),
        (r#"labels."run.googleapis.com/x"="y""#, &["e5"]),
        ("jsonPayload.message:BOOM", &["e5"]),
        (r#""world""#, &["e7"]),
        ("insertId!=e1 httpRequest.status>=400", &["e3"]),
        (r#"resource.labels.service_name!="hello" resource.type=cloud_run_revision"#, &["e3", "e4", "e5"]),
        ("httpRequest.requestMethod=(GET OR POST) -textPayload:*", &["e2"]),
    ];
    for (filter, want) in table {
        let got = ids(&list_logs(&state, json!({"resourceNames": ["projects/acme-one"], "filter": filter})));
        assert_eq!(got, *want, "filter {filter}");
    }
    // Order, pages, several resource names, projects by number.
    let desc =
        list_logs(&state, json!({"resourceNames": ["projects/acme-one"], "orderBy": "timestamp desc", "pageSize": 4}));
    assert_eq!(ids(&desc), ["e5", "e4", "e3", "e2"]);
    let token = desc.body["nextPageToken"].as_str().unwrap().to_owned();
    let rest = list_logs(
        &state,
        json!({"resourceNames": ["projects/acme-one"], "orderBy": "timestamp desc", "pageSize": 4, "pageToken": token}),
    );
    assert_eq!(ids(&rest), ["e1", "e7"]);
    assert!(rest.body.get("nextPageToken").is_none());
    let number = state.lock().unwrap().world.project("acme-two").unwrap().number.clone();
    let both = list_logs(
        &state,
        json!({"resourceNames": ["projects/acme-one", format!("projects/{number}")], "filter": "httpRequest.status=403"}),
    );
    assert_eq!(ids(&both), ["e1", "e6"]);
}

#[test]
fn bad_filters_and_requests_are_400s_naming_the_position() {
    let state = world(LOG_WORLD);
    let bad = |filter: &str| {
        let r = list_logs(&state, json!({"resourceNames": ["projects/acme-one"], "filter": filter}));
        assert_eq!((r.status, r.body["error"]["status"].clone()), (400, json!("INVALID_ARGUMENT")), "{filter}");
        r.body["error"]["message"].as_str().unwrap().to_owned()
    };
    assert_eq!(bad("severity>=ERROR )"), "Unparseable filter: syntax error at line 1, column 17, token ')'");
    assert_eq!(
        bad("httpRequest.status="),
        "Unparseable filter: syntax error, unexpected end of filter at line 1, column 20"
    );
    assert_eq!(bad("(a=1 OR"), "Unparseable filter: syntax error, unexpected end of filter at line 1, column 8");
    assert_eq!(bad("a=1 AND AND b=2"), "Unparseable filter: syntax error at line 1, column 9, token 'AND'");
    assert!(bad("textPayload:\"open").contains("unterminated string at line 1, column 13"));
    assert!(bad("timestamp>=\"last week\"").contains("invalid timestamp 'last week'"));
    let r = list_logs(&state, json!({"filter": ""}));
    assert_eq!(r.status, 400);
    assert_eq!(list_logs(&state, json!({"resourceNames": ["projects/acme-one"], "orderBy": "severity"})).status, 400);
    assert_eq!(list_logs(&state, json!({"resourceNames": ["projects/acme-one"], "pageSize": -1})).status, 400);
    assert_eq!(list_logs(&state, json!({"resourceNames": ["projects/nope"]})).status, 404);
    assert_eq!(list_logs(&state, json!({"resourceNames": "projects/acme-one"})).status, 400);
}

fn audit_entries(state: &Mutex<State>, method: &str) -> Vec<Value> {
    let filter = format!(r#"logName:"cloudaudit.googleapis.com%2Factivity" protoPayload.methodName="{method}""#);
    let r = list_logs(state, json!({"resourceNames": ["projects/acme-prod"], "filter": filter}));
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["entries"].as_array().cloned().unwrap_or_default()
}

#[test]
fn set_iam_policy_leaves_an_audit_entry_with_the_delta() {
    let state = acme();
    let policy = get(&state, &format!("{HELLO}:getIamPolicy"), "options.requestedPolicyVersion=3").body;
    let mut changed = policy.clone();
    let bindings = changed["bindings"].as_array_mut().unwrap();
    bindings.retain(|b| b["role"] != "roles/run.viewer");
    bindings.push(json!({"role": "roles/run.invoker", "members": ["user:erin@acme.example"]}));
    let r = post(&state, &format!("{HELLO}:setIamPolicy"), json!({ "policy": changed }));
    assert_eq!(r.status, 200, "{}", r.body);
    let entries = audit_entries(&state, "google.cloud.run.v2.Services.SetIamPolicy");
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e["logName"], "projects/acme-prod/logs/cloudaudit.googleapis.com%2Factivity");
    let p = &e["protoPayload"];
    assert_eq!(p["@type"], "type.googleapis.com/google.cloud.audit.AuditLog");
    assert_eq!(p["serviceName"], "run.googleapis.com");
    assert_eq!(p["resourceName"], "projects/acme-prod/locations/europe-west1/services/hello");
    assert_eq!(p["authenticationInfo"]["principalEmail"], "ops@acme.example");
    assert_eq!(
        p["serviceData"]["policyDelta"]["bindingDeltas"],
        json!([
            {"action": "REMOVE", "role": "roles/run.viewer", "member": "group:devs@acme.example"},
            {"action": "ADD", "role": "roles/run.invoker", "member": "user:erin@acme.example"},
        ])
    );
    assert_eq!(e["resource"]["labels"]["service_name"], "hello");
    // Run v1 and Resource Manager name their own methods.
    let v1 = "/v1/projects/acme-prod/locations/europe-west1/services/orders";
    let policy = get(&state, &format!("{v1}:getIamPolicy"), "").body;
    let mut fewer = policy.clone();
    fewer["bindings"] = json!([]);
    assert_eq!(post(&state, &format!("{v1}:setIamPolicy"), json!({ "policy": fewer })).status, 200);
    let v1_entries = audit_entries(&state, "google.cloud.run.v1.Services.SetIamPolicy");
    assert_eq!(
        v1_entries[0]["protoPayload"]["serviceData"]["policyDelta"]["bindingDeltas"],
        json!([{"action": "REMOVE", "role": "roles/run.invoker", "member": "serviceAccount:push@acme-prod.iam.gserviceaccount.com"}])
    );
    let project = post(&state, "/v3/projects/acme-prod:getIamPolicy", json!({})).body;
    assert_eq!(post(&state, "/v3/projects/acme-prod:setIamPolicy", json!({ "policy": project })).status, 200);
    let crm = audit_entries(&state, "SetIamPolicy");
    assert_eq!(crm[0]["protoPayload"]["serviceName"], "cloudresourcemanager.googleapis.com");
    assert_eq!(crm[0]["protoPayload"]["serviceData"]["policyDelta"]["bindingDeltas"], json!([]));
    // The world's entry is still there, oldest first.
    let all = ids(&list_logs(&state, json!({"resourceNames": ["projects/acme-prod"]})));
    assert_eq!(all.len(), 4);
    assert_eq!(all[0], "65f2a1000001");
}

#[test]
fn deny_policies_list_without_rules_and_get_with_them() {
    let state = acme();
    let base = "/v2/policies/cloudresourcemanager.googleapis.com%2Fprojects%2Facme-prod/denypolicies";
    let list = get(&state, base, "");
    assert_eq!(list.status, 200, "{}", list.body);
    let p = &list.body["policies"][0];
    assert_eq!(
        p["name"],
        "policies/cloudresourcemanager.googleapis.com%2Fprojects%2F100000000001/denypolicies/no-contractors"
    );
    assert_eq!((p["kind"].clone(), p.get("rules")), (json!("DenyPolicy"), None));
    let one = get(&state, &format!("{base}/no-contractors"), "").body;
    assert_eq!(
        one["rules"],
        json!([{"denyRule": {
            "deniedPrincipals": ["principalSet://goog/group/contractors@acme.example"],
            "deniedPermissions": ["run.googleapis.com/routes.invoke"],
        }}])
    );
    assert_eq!(one["displayName"], "Contractors never invoke production");
    assert_eq!(get(&state, &format!("{base}/nope"), "").status, 404);
    let staging = "/v2/policies/cloudresourcemanager.googleapis.com%2Fprojects%2Facme-staging/denypolicies";
    assert_eq!(get(&state, staging, "").body, json!({}));
    let folder = "/v2/policies/cloudresourcemanager.googleapis.com%2Ffolders%2F200000000001/denypolicies";
    assert_eq!(get(&state, folder, "").status, 200);
    assert_eq!(get(&state, "/v2/policies/projects%2Facme-prod/denypolicies", "").status, 400);
}

#[test]
fn org_policy_is_inherited_and_get_is_404_where_not_set() {
    let state = acme();
    let c = "iam.allowedPolicyMemberDomains";
    let eff = get(&state, &format!("/v2/projects/acme-prod/policies/{c}:getEffectivePolicy"), "");
    assert_eq!(eff.status, 200, "{}", eff.body);
    assert_eq!(
        eff.body,
        json!({"name": format!("projects/100000000001/policies/{c}"),
               "spec": {"rules": [{"values": {"allowedValues": ["C0acme01"]}}]}})
    );
    let folder = get(&state, &format!("/v2/folders/200000000002/policies/{c}:getEffectivePolicy"), "");
    assert_eq!(folder.body["spec"]["rules"][0]["values"]["allowedValues"], json!(["C0acme01"]));
    let here = get(&state, &format!("/v2/projects/acme-prod/policies/{c}"), "");
    assert_eq!((here.status, here.body["error"]["status"].clone()), (404, json!("NOT_FOUND")));
    let org = get(&state, &format!("/v2/organizations/123456789012/policies/{c}"), "");
    assert_eq!(org.status, 200);
    assert!(org.body["etag"].is_string() && org.body["spec"]["etag"].is_string());
    let unset =
        get(&state, "/v2/projects/acme-prod/policies/iam.disableServiceAccountKeyCreation:getEffectivePolicy", "");
    assert_eq!(unset.body, json!({"name": "projects/100000000001/policies/iam.disableServiceAccountKeyCreation"}));
}

fn add_member(state: &Mutex<State>, path: &str, role: &str, member: &str) -> Reply {
    let mut policy = get(state, &format!("{path}:getIamPolicy"), "options.requestedPolicyVersion=3").body;
    let mut bindings = policy["bindings"].as_array().cloned().unwrap_or_default();
    bindings.push(json!({"role": role, "members": [member]}));
    policy["bindings"] = Value::Array(bindings);
    post(state, &format!("{path}:setIamPolicy"), json!({ "policy": policy }))
}

#[test]
fn domain_restricted_sharing_refuses_what_a_write_adds() {
    let state = acme();
    for member in [
        "allUsers",
        "allAuthenticatedUsers",
        "user:eve@gmail.com",
        "serviceAccount:x@other-proj.iam.gserviceaccount.com",
    ] {
        let r = add_member(&state, HELLO, "roles/run.invoker", member);
        assert_eq!((r.status, r.body["error"]["status"].clone()), (400, json!("FAILED_PRECONDITION")), "{member}");
        let detail = &r.body["error"]["details"][0];
        assert_eq!(detail["@type"], "type.googleapis.com/google.rpc.PreconditionFailure");
        assert_eq!(detail["violations"][0]["type"], "constraints/iam.allowedPolicyMemberDomains");
    }
    assert_eq!(state.lock().unwrap().writes(), 0);
    for member in [
        "user:erin@acme.example",
        "group:oncall@acme.example",
        "domain:acme.example",
        "serviceAccount:ci@acme-staging.iam.gserviceaccount.com",
        "serviceAccount:100000000002-compute@developer.gserviceaccount.com",
    ] {
        assert_eq!(add_member(&state, HELLO, "roles/run.invoker", member).status, 200, "{member}");
    }
}

const LEGACY_PUBLIC: &str = r#"
organization: {id: "1", domain: acme.example, customerId: C0acme01}
projects:
  - id: acme-one
    parent: organizations/1
    services:
      - name: hello
        region: us-east1
        iamPolicy: {bindings: [{role: roles/run.invoker, members: [allUsers]}]}
orgPolicies:
  - {parent: organizations/1, constraint: iam.allowedPolicyMemberDomains, allowedValues: [C0acme01]}
"#;

#[test]
fn a_policy_that_already_holds_a_forbidden_member_can_still_be_edited() {
    let state = world(LEGACY_PUBLIC);
    let path = "/v2/projects/acme-one/locations/us-east1/services/hello";
    let r = add_member(&state, path, "roles/run.viewer", "user:bob@acme.example");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["bindings"].to_string().contains("allUsers"));
    // Moving allUsers to another role adds it there, which is refused.
    let r = add_member(&state, path, "roles/run.viewer", "allUsers");
    assert_eq!(r.status, 400);
}

const OPERATOR_WORLD: &str = r#"
projects:
  - id: acme-one
    iamPolicy: {bindings: [{role: roles/run.viewer, members: ["user:viewer@acme.example"]}]}
    services:
      - {name: hello, region: us-east1}
operator: user:viewer@acme.example
"#;

#[test]
fn the_operator_needs_each_permission_and_gets_google_403s() {
    let state = world(OPERATOR_WORLD);
    let path = "/v2/projects/acme-one/locations/us-east1/services/hello";
    assert_eq!(get(&state, path, "").status, 200);
    assert_eq!(get(&state, &format!("{path}:getIamPolicy"), "").status, 200);
    let r = add_member(&state, path, "roles/run.invoker", "user:a@acme.example");
    assert_eq!(r.status, 403, "{}", r.body);
    let e = &r.body["error"];
    assert_eq!(e["status"], "PERMISSION_DENIED");
    assert_eq!(
        e["message"],
        "Permission 'run.services.setIamPolicy' denied on resource 'projects/acme-one/locations/us-east1/services/hello' (or it may not exist)."
    );
    assert_eq!(e["details"][0]["@type"], "type.googleapis.com/google.rpc.ErrorInfo");
    assert_eq!(e["details"][0]["reason"], "IAM_PERMISSION_DENIED");
    assert_eq!(e["details"][0]["metadata"]["permission"], "run.services.setIamPolicy");
    let held = post(
        &state,
        &format!("{path}:testIamPermissions"),
        json!({"permissions": ["run.services.get", "run.services.setIamPolicy", "run.routes.invoke"]}),
    );
    assert_eq!(held.body, json!({"permissions": ["run.services.get"]}));
    let logs = list_logs(&state, json!({"resourceNames": ["projects/acme-one"]}));
    assert_eq!(logs.body["error"]["details"][0]["metadata"]["permission"], "logging.logEntries.list");
    assert_eq!(post(&state, "/v3/projects/acme-one:getIamPolicy", json!({})).status, 403);
    assert_eq!(get(&state, "/v3/projects/acme-one", "").status, 200);
}

#[test]
fn groups_answer_transitively_and_nested() {
    let state = acme();
    let lookup = get(&state, "/v1/groups:lookup", "groupKey.id=devs%40acme.example");
    assert_eq!(lookup.status, 200);
    let devs = lookup.body["name"].as_str().unwrap().to_owned();
    assert!(devs.starts_with("groups/0") && devs.len() == "groups/".len() + 15, "{devs}");
    let members = get(&state, &format!("/v1/{devs}/memberships"), "").body;
    let keys: Vec<&str> = members["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["preferredMemberKey"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["alice@acme.example", "bob@acme.example", "contractors@acme.example"]);
    assert_eq!(members["memberships"][2]["type"], "GROUP");
    let check = |who: &str| {
        let q = format!("query=member_key_id%20%3D%3D%20%27{who}%27");
        get(&state, &format!("/v1/{devs}/memberships:checkTransitiveMembership"), &q).body["hasMembership"].clone()
    };
    // dave is in contractors, which is in devs.
    assert_eq!(check("dave%40contractor.example"), json!(true));
    assert_eq!(check("alice%40acme.example"), json!(true));
    assert_eq!(check("carol%40acme.example"), json!(false));
    let search = get(
        &state,
        "/v1/groups/-/memberships:searchTransitiveGroups",
        "query=member_key_id%3D%3D%22dave%40contractor.example%22",
    )
    .body;
    let relations: Vec<(String, String)> = search["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["groupKey"]["id"].as_str().unwrap().into(), m["relationType"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        relations,
        [("devs@acme.example".into(), "INDIRECT".into()), ("contractors@acme.example".into(), "DIRECT".into())]
    );
    assert_eq!(get(&state, "/v1/groups:lookup", "groupKey.id=nobody%40acme.example").status, 403);
    assert_eq!(get(&state, &format!("/v1/{devs}/memberships:checkTransitiveMembership"), "query=x").status, 400);
}

#[test]
fn transitive_calls_are_403_on_editions_without_them() {
    let state = world(
        "groups: [{email: g@acme.example, members: [user:a@acme.example]}]\ncloudIdentity: {transitiveMembership: false}\n",
    );
    let g = get(&state, "/v1/groups:lookup", "groupKey.id=g%40acme.example").body["name"].as_str().unwrap().to_owned();
    let r = get(
        &state,
        &format!("/v1/{g}/memberships:checkTransitiveMembership"),
        "query=member_key_id%3D%3D%27a%40acme.example%27",
    );
    assert_eq!((r.status, r.body["error"]["status"].clone()), (403, json!("PERMISSION_DENIED")));
    let s = get(
        &state,
        "/v1/groups/-/memberships:searchTransitiveGroups",
        "query=member_key_id%3D%3D%27a%40acme.example%27",
    );
    assert_eq!(s.status, 403);
    // The direct listing still works: clients fall back to walking it.
    assert_eq!(get(&state, &format!("/v1/{g}/memberships"), "").status, 200);
}

fn troubleshoot(state: &Mutex<State>, principal: &str, resource: &str, permission: &str, at: &str) -> Value {
    let r = post(
        state,
        "/v3/iam:troubleshoot",
        json!({"accessTuple": {"principal": principal, "fullResourceName": resource, "permission": permission,
               "conditionContext": {"request": {"receiveTime": at}}}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[test]
fn troubleshooter_agrees_with_the_evaluator() {
    let state = acme();
    // A grant the deny policy overrides: contractors may invoke hello, but not in acme-prod.
    assert_eq!(add_member(&state, HELLO, "roles/run.invoker", "group:contractors@acme.example").status, 200);
    let hello = "//run.googleapis.com/projects/acme-prod/locations/europe-west1/services/hello";
    let staging = "//run.googleapis.com/projects/acme-staging/locations/us-central1/services/hello";
    let checkout = "//run.googleapis.com/projects/acme-prod/locations/us-central1/services/checkout";
    let scenarios: &[(&str, &str, &str, &str, &str)] = &[
        // (principal, resource, permission, receiveTime, expected)
        ("sched@acme-prod.iam.gserviceaccount.com", hello, "run.routes.invoke", "2026-06-01T00:00:00Z", "CAN_ACCESS"),
        (
            "sched@acme-prod.iam.gserviceaccount.com",
            hello,
            "run.routes.invoke",
            "2028-01-01T00:00:00Z",
            "CANNOT_ACCESS",
        ),
        (
            "batch@acme-prod.iam.gserviceaccount.com",
            hello,
            "run.googleapis.com/routes.invoke",
            "2026-06-01T00:00:00Z",
            "CAN_ACCESS",
        ),
        ("carol@acme.example", hello, "run.routes.invoke", "2026-06-01T00:00:00Z", "CAN_ACCESS"),
        ("dave@contractor.example", hello, "run.routes.invoke", "2026-06-01T00:00:00Z", "CANNOT_ACCESS"),
        ("alice@acme.example", hello, "run.routes.invoke", "2026-06-01T00:00:00Z", "CANNOT_ACCESS"),
        ("alice@acme.example", staging, "run.routes.invoke", "2026-06-01T00:00:00Z", "CAN_ACCESS"),
        ("ops@acme.example", checkout, "run.routes.invoke", "2026-06-01T00:00:00Z", "CAN_ACCESS"),
        (
            "ci@acme-staging.iam.gserviceaccount.com",
            checkout,
            "run.routes.invoke",
            "2026-06-01T00:00:00Z",
            "CANNOT_ACCESS",
        ),
        (
            "ops@acme.example",
            "//cloudresourcemanager.googleapis.com/projects/acme-prod",
            "resourcemanager.projects.getIamPolicy",
            "2026-06-01T00:00:00Z",
            "CAN_ACCESS",
        ),
        (
            "alice@acme.example",
            "//cloudresourcemanager.googleapis.com/folders/200000000002",
            "resourcemanager.folders.getIamPolicy",
            "2026-06-01T00:00:00Z",
            "CANNOT_ACCESS",
        ),
    ];
    for (principal, resource, permission, at, want) in scenarios {
        let body = troubleshoot(&state, principal, resource, permission, at);
        let got = body["overallAccessState"].as_str().unwrap().to_owned();
        let key = resource
            .trim_start_matches("//run.googleapis.com/")
            .trim_start_matches("//cloudresourcemanager.googleapis.com/");
        let member = if principal.ends_with(".gserviceaccount.com") { "serviceAccount" } else { "user" };
        let caller = Principal::parse(&format!("{member}:{principal}")).unwrap();
        let now: DateTime<Utc> = at.parse().unwrap();
        let v1 = permission.replace("run.googleapis.com/", "run.");
        let verdict = evaluate(&authz::facts(&state.lock().unwrap(), key, Some(caller), now), &v1).verdict;
        let expected_from_eval = match verdict {
            Verdict::Allowed => "CAN_ACCESS",
            Verdict::Denied => "CANNOT_ACCESS",
            Verdict::Unknown => "UNKNOWN",
        };
        assert_eq!(got, expected_from_eval, "{principal} on {resource}");
        assert_eq!(got, *want, "{principal} on {resource}");
    }
    // The explanations say why.
    let dave = troubleshoot(&state, "dave@contractor.example", hello, "run.routes.invoke", "2026-06-01T00:00:00Z");
    assert_eq!(dave["allowPolicyExplanation"]["allowAccessState"], "ALLOW_ACCESS_STATE_GRANTED");
    let deny = &dave["denyPolicyExplanation"];
    assert_eq!(deny["denyAccessState"], "DENY_ACCESS_STATE_DENIED");
    let rule = &deny["explainedResources"][0]["explainedPolicies"][0]["ruleExplanations"][0];
    assert_eq!(rule["combinedDeniedPrincipal"]["membership"], "MEMBERSHIP_MATCHED");
    assert_eq!(rule["combinedDeniedPermission"]["permissionMatchingState"], "PERMISSION_PATTERN_MATCHED");
    assert_eq!(dave["accessTuple"]["permissionFqdn"], "run.googleapis.com/routes.invoke");
    let carol = troubleshoot(&state, "carol@acme.example", hello, "run.routes.invoke", "2026-06-01T00:00:00Z");
    let policies = carol["allowPolicyExplanation"]["explainedPolicies"].as_array().unwrap();
    let folder = policies
        .iter()
        .find(|p| p["fullResourceName"] == "//cloudresourcemanager.googleapis.com/folders/200000000001")
        .unwrap();
    assert_eq!(folder["allowAccessState"], "ALLOW_ACCESS_STATE_GRANTED");
    let b = &folder["bindingExplanations"][0];
    assert_eq!(b["memberships"]["group:oncall@acme.example"]["membership"], "MEMBERSHIP_MATCHED");
    assert_eq!(b["rolePermission"], "ROLE_PERMISSION_INCLUDED");
    let late = troubleshoot(
        &state,
        "sched@acme-prod.iam.gserviceaccount.com",
        hello,
        "run.routes.invoke",
        "2028-01-01T00:00:00Z",
    );
    let cond = &late["allowPolicyExplanation"]["explainedPolicies"][0]["bindingExplanations"][0];
    assert_eq!(cond["conditionExplanation"]["value"], false);
    assert_eq!(cond["combinedMembership"]["membership"], "MEMBERSHIP_MATCHED");
    let bad = post(&state, "/v3/iam:troubleshoot", json!({"accessTuple": {"principal": "a@b.example"}}));
    assert_eq!(bad.status, 400);
}

#[test]
fn callers_are_read_from_the_world() {
    let state = acme();
    let sub = get(&state, "/v1/projects/acme-prod/subscriptions/orders-push", "").body;
    assert_eq!(sub["topic"], "projects/acme-prod/topics/orders");
    assert_eq!(
        sub["pushConfig"]["oidcToken"],
        json!({"serviceAccountEmail": "push@acme-prod.iam.gserviceaccount.com"})
    );
    assert_eq!(
        get(&state, "/v1/projects/acme-prod/subscriptions", "").body["subscriptions"].as_array().map(Vec::len),
        Some(1)
    );
    let job = get(&state, "/v1/projects/acme-prod/locations/europe-west1/jobs/nightly-report", "").body;
    assert_eq!(job["httpTarget"]["oidcToken"]["audience"], "https://hello-100000000001.europe-west1.run.app");
    assert_eq!(get(&state, "/v1/projects/acme-prod/locations/us-central1/jobs", "").body, json!({}));
    let trigger = get(&state, "/v1/projects/acme-prod/locations/europe-west1/triggers/on-upload", "").body;
    assert_eq!(
        trigger["destination"]["cloudRun"],
        json!({"service": "hello", "region": "europe-west1", "path": "/upload"})
    );
    assert_eq!(get(&state, "/v1/projects/acme-prod/locations/europe-west1/triggers/nope", "").status, 404);
}

#[test]
fn queues_and_workflows_are_read_from_the_world_as_google_answers() {
    let yaml = r#"
projects:
  - id: tw-one
    number: "700000000001"
    iamPolicy: {bindings: [{role: roles/cloudtasks.viewer, members: ["user:ops@tw.example"]}]}
    cloudTasksQueues:
      - name: q
        region: us-east1
        httpTarget:
          uriOverride: {host: a.run.app, port: 8443, pathOverride: {path: /p}}
          oidcToken: {serviceAccountEmail: t@tw-one.iam.gserviceaccount.com}
      - name: plain
        region: us-east1
        tasks: [{name: "7", httpRequest: {url: "https://a.run.app/t", oidcToken: {serviceAccountEmail: t@tw-one.iam.gserviceaccount.com}}}]
    workflows:
      - name: w
        region: asia-east1
        sourceContents: "main: {steps: []}"
operator: user:ops@tw.example
"#;
    let state = world(yaml);
    let locations = get(&state, "/v2/projects/tw-one/locations", "").body;
    assert!(locations["locations"].as_array().unwrap().iter().any(|l| l["locationId"] == "us-east1"), "{locations}");
    let queues = get(&state, "/v2/projects/tw-one/locations/us-east1/queues", "").body;
    assert_eq!(queues["queues"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        queues["queues"][0]["httpTarget"],
        json!({
            "uriOverride": {"host": "a.run.app", "port": "8443", "pathOverride": {"path": "/p"}, "uriOverrideEnforceMode": "ALWAYS"},
            "oidcToken": {"serviceAccountEmail": "t@tw-one.iam.gserviceaccount.com"}
        })
    );
    assert!(queues["queues"][1].get("httpTarget").is_none());
    assert_eq!(get(&state, "/v2/projects/tw-one/locations/europe-west1/queues", "").body, json!({}));
    let one = get(&state, "/v2/projects/tw-one/locations/us-east1/queues/q", "");
    assert_eq!(one.body["name"], "projects/tw-one/locations/us-east1/queues/q");
    assert_eq!(get(&state, "/v2/projects/tw-one/locations/us-east1/queues/nope", "").status, 404);
    let tasks = get(&state, "/v2/projects/tw-one/locations/us-east1/queues/plain/tasks", "").body;
    let task = &tasks["tasks"][0];
    assert_eq!(task["name"], "projects/tw-one/locations/us-east1/queues/plain/tasks/7");
    assert_eq!(task["view"], "BASIC");
    assert_eq!(
        task["httpRequest"],
        json!({"url": "https://a.run.app/t", "httpMethod": "POST", "oidcToken": {"serviceAccountEmail": "t@tw-one.iam.gserviceaccount.com"}})
    );
    assert_eq!(get(&state, "/v2/projects/tw-one/locations/us-east1/queues/nope/tasks", "").status, 404);
    // FULL needs cloudtasks.tasks.fullView, which a viewer lacks.
    let full = get(&state, "/v2/projects/tw-one/locations/us-east1/queues/plain/tasks", "responseView=FULL");
    assert_eq!(full.body["error"]["details"][0]["metadata"]["permission"], "cloudtasks.tasks.fullView");

    // A Cloud Tasks viewer may not list workflows: Google's 403, naming the permission.
    let denied = get(&state, "/v1/projects/tw-one/locations/asia-east1/workflows", "");
    assert_eq!(denied.status, 403);
    assert_eq!(denied.body["error"]["details"][0]["metadata"]["permission"], "workflows.workflows.list");

    let state = world(&yaml.replace("roles/cloudtasks.viewer", "roles/workflows.viewer"));
    let flows = get(&state, "/v1/projects/tw-one/locations/asia-east1/workflows", "").body;
    let w = &flows["workflows"][0];
    assert_eq!(w["name"], "projects/tw-one/locations/asia-east1/workflows/w");
    assert_eq!(w["sourceContents"], "main: {steps: []}");
    // No account set: Google answers the project's default compute account.
    assert_eq!(
        w["serviceAccount"],
        "projects/tw-one/serviceAccounts/700000000001-compute@developer.gserviceaccount.com"
    );
    assert_eq!(get(&state, "/v1/projects/tw-one/locations/asia-east1/workflows/w", "").body, *w);
    assert_eq!(get(&state, "/v1/projects/tw-one/locations/asia-east1/workflows/x", "").status, 404);
    let denied = get(&state, "/v2/projects/tw-one/locations/us-east1/queues", "");
    assert_eq!(denied.body["error"]["details"][0]["metadata"]["permission"], "cloudtasks.queues.list");
}

#[test]
fn faults_race_commit_then_fail_and_reset() {
    let state = acme();
    let original = get(&state, &format!("{HELLO}:getIamPolicy"), "options.requestedPolicyVersion=3").body;
    let set = post(&state, "/emulator/v1/faults", json!({"raceRate": 1.0}));
    assert_eq!(set.body["raceRate"], 1.0);
    assert_eq!(post(&state, "/emulator/v1/faults", json!({"raceRate": 3})).status, 400);
    // The read hands out an etag the concurrent writer makes stale at once.
    let read = get(&state, &format!("{HELLO}:getIamPolicy"), "options.requestedPolicyVersion=3").body;
    let mut mine = read.clone();
    mine["bindings"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "roles/run.invoker", "members": ["user:me@acme.example"]}));
    let stale = post(&state, &format!("{HELLO}:setIamPolicy"), json!({ "policy": mine }));
    assert_eq!((stale.status, stale.body["error"]["status"].clone()), (409, json!("ABORTED")));
    post(&state, "/emulator/v1/faults", json!({"raceRate": 0, "commitThenFail": 1}));
    let now = get(&state, &format!("{HELLO}:getIamPolicy"), "options.requestedPolicyVersion=3").body;
    assert!(now["bindings"].to_string().contains("user:racer-1@acme.example"), "{now}");
    let racer = audit_entries(&state, "google.cloud.run.v2.Services.SetIamPolicy");
    assert_eq!(racer[0]["protoPayload"]["authenticationInfo"]["principalEmail"], "racer-1@acme.example");
    // Committed, then 503.
    let mut retry = now.clone();
    retry["bindings"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "roles/run.invoker", "members": ["user:me@acme.example"]}));
    let failed = post(&state, &format!("{HELLO}:setIamPolicy"), json!({ "policy": retry }));
    assert_eq!((failed.status, failed.body["error"]["status"].clone()), (503, json!("UNAVAILABLE")));
    let after = get(&state, &format!("{HELLO}:getIamPolicy"), "options.requestedPolicyVersion=3").body;
    assert!(after["bindings"].to_string().contains("user:me@acme.example"));
    assert_ne!(after["etag"], now["etag"]);
    // Reset: the world as loaded, logs included; fault settings stay.
    assert_eq!(post(&state, "/emulator/v1/reset", json!({})).status, 200);
    assert_eq!(get(&state, &format!("{HELLO}:getIamPolicy"), "options.requestedPolicyVersion=3").body, original);
    assert_eq!(ids(&list_logs(&state, json!({"resourceNames": ["projects/acme-prod"]}))), ["65f2a1000001"]);
    assert_eq!(get(&state, "/emulator/v1/faults", "").body["commitThenFail"], 1.0);
    assert_eq!(state.lock().unwrap().writes(), 0);
}

#[test]
fn functions_list_every_location_pages_and_reports_a_disabled_api() {
    let yaml = r#"
projects:
  - id: fn-one
    number: "700000000002"
    cloudFunctions:
      - {name: hook, region: europe-west1, environment: GEN_1, serviceAccount: runner@fn-one.iam.gserviceaccount.com}
      - {name: thumbs, region: us-east1, environment: GEN_2, service: thumbs}
      - {name: resize, region: us-east1, environment: GEN_2, serviceAccount: runner@fn-one.iam.gserviceaccount.com}
operator: user:ops@fn.example
"#;
    let state = world(yaml);
    let all = get(&state, "/v2/projects/fn-one/locations/-/functions", "").body;
    assert_eq!(
        all["functions"],
        json!([
            {"name": "projects/fn-one/locations/europe-west1/functions/hook", "environment": "GEN_1", "state": "ACTIVE",
             "serviceConfig": {"serviceAccountEmail": "runner@fn-one.iam.gserviceaccount.com"}},
            // No account set: none is named, as runiam must infer the default.
            {"name": "projects/fn-one/locations/us-east1/functions/thumbs", "environment": "GEN_2", "state": "ACTIVE",
             "serviceConfig": {"service": "projects/fn-one/locations/us-east1/services/thumbs"}},
            {"name": "projects/fn-one/locations/us-east1/functions/resize", "environment": "GEN_2", "state": "ACTIVE",
             "serviceConfig": {"serviceAccountEmail": "runner@fn-one.iam.gserviceaccount.com"}},
        ])
    );
    // One location; pages of one, the token leading to the next.
    let first = get(&state, "/v2/projects/fn-one/locations/us-east1/functions", "pageSize=1").body;
    assert_eq!(first["functions"][0]["name"], "projects/fn-one/locations/us-east1/functions/thumbs");
    let token = first["nextPageToken"].as_str().unwrap();
    let second =
        get(&state, "/v2/projects/fn-one/locations/us-east1/functions", &format!("pageSize=1&pageToken={token}")).body;
    assert_eq!(second["functions"][0]["name"], "projects/fn-one/locations/us-east1/functions/resize");
    assert!(second.get("nextPageToken").is_none(), "{second}");
    assert_eq!(get(&state, "/v2/projects/fn-one/locations/asia-east1/functions", "").body, json!({}));
    // The check is recorded (the role table cannot grant it, so it is not enforced).
    let served = state.lock().unwrap().checks.requests();
    let checked: Vec<&str> = served.iter().flat_map(|s| &s.checks).map(|c| c.permission.as_str()).collect();
    assert!(checked.contains(&"cloudfunctions.functions.list"), "{checked:?}");

    let disabled =
        world(&yaml.replace("operator:", "    apiErrors: {cloudfunctions.googleapis.com: disabled}\noperator:"));
    let r = get(&disabled, "/v2/projects/fn-one/locations/-/functions", "");
    assert_eq!(
        (r.status, r.body["error"]["details"][0]["reason"].clone()),
        (403, json!("SERVICE_DISABLED")),
        "{}",
        r.body
    );

    let gen1_with_service = yaml.replace("environment: GEN_1,", "environment: GEN_1, service: hook,");
    let e = World::parse(&gen1_with_service, "w.yaml").unwrap_err().to_string();
    assert!(e.contains("cloudFunctions[0].service"), "{e}");
}
