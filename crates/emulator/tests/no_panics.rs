//! Nothing that reads outside input may panic: arbitrary requests to the
//! dispatcher and arbitrary world files get an answer or an error.

use std::sync::Mutex;

use proptest::prelude::*;
use runiam_emulator::{ApiRequest, State, World, dispatch};
use serde_json::{Value, json};

const WORLD: &str = include_str!("../../../examples/acme-world.yaml");

fn state() -> Mutex<State> {
    Mutex::new(State::new(World::parse(WORLD, "acme-world.yaml").expect("the example world loads")))
}

/// Segments that reach deep into the routes, mixed with noise.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "v1",
            "v2",
            "v3",
            "projects",
            "acme-prod",
            "100000000001",
            "acme-staging",
            "locations",
            "europe-west1",
            "us-central1",
            "-",
            "services",
            "hello",
            "checkout",
            "hello:getIamPolicy",
            "hello:setIamPolicy",
            "hello:testIamPermissions",
            "acme-prod:getAncestry",
            "acme-prod:getIamPolicy",
            "folders",
            "200000000001",
            "organizations",
            "123456789012",
            "roles",
            "run.invoker",
            "callerLite",
            "serviceAccounts",
            "sched@acme-prod.iam.gserviceaccount.com",
            "sched%40acme-prod.iam.gserviceaccount.com:getIamPolicy",
            "apis",
            "serving.knative.dev",
            "namespaces",
            "%ff",
            "%",
            ":",
            "a:b:c",
            "alertPolicies",
            "14000000000000000001",
            "",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,12}",
        "\\PC{0,6}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,16}".prop_map(Value::String),
        prop::sample::select(vec!["roles/run.invoker", "allUsers", "user:a@b.example", "roles/viewer", "ACAB", "3"])
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "policy",
                    "bindings",
                    "role",
                    "members",
                    "condition",
                    "expression",
                    "title",
                    "etag",
                    "version",
                    "updateMask",
                    "options",
                    "requestedPolicyVersion",
                    "permissions",
                    "auditConfigs",
                    "displayName",
                    "conditions",
                    "conditionMatchedLog",
                    "conditionThreshold",
                    "filter",
                    "alertStrategy",
                    "notificationRateLimit",
                    "period",
                    "userLabels",
                    "notificationChannels",
                    "documentation",
                    "content",
                    "mimeType",
                    "combiner",
                    "x",
                ]),
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        json_value().prop_map(|v| json!({"policy": v}).to_string().into_bytes()),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        prop::sample::select(vec![
            "options.requestedPolicyVersion=1",
            "options.requestedPolicyVersion=99999999999",
            "%24alt=json%3Benum-encoding%3Dint",
            "pageSize=1&pageToken=b2Zmc2V0OjE",
            "pageSize=-1",
            "limit=1&continue=%%%",
            "pageToken=b2Zmc2V0Ojk5",
        ])
        .prop_map(str::to_owned),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn dispatcher_answers_everything(
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "get"]),
        host in prop_oneof![Just(String::new()), "[ -~]{0,30}", Just("us-central1-runiam-emulator".to_owned())],
        segments in prop::collection::vec(segment(), 0..9),
        query in query(),
        body in body(),
    ) {
        let state = state();
        let request = ApiRequest {
            method: method.to_owned(),
            host,
            path: format!("/{}", segments.join("/")),
            query,
            body,
            user_agent: None,
        };
        let reply = dispatch(&state, &request);
        prop_assert!((200..600).contains(&reply.status));
        prop_assert!(reply.body.is_object());
        if reply.status != 200 {
            prop_assert_eq!(&reply.body["error"]["code"], &json!(reply.status));
        }
        // The state stays usable after whatever that was.
        let after = dispatch(&state, &ApiRequest { method: "GET".into(), path: "/v3/projects/acme-prod".into(), ..Default::default() });
        prop_assert_eq!(after.status, 200);
    }

    #[test]
    fn world_parser_never_panics(text in "\\PC{0,200}") {
        let _ = World::parse(&text, "fuzz.yaml");
    }

    #[test]
    fn world_parser_survives_mutated_worlds(cut in 0usize..WORLD.len(), insert in "[ -~\n]{0,12}") {
        let mut text = WORLD.to_owned();
        let at = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.insert_str(at, &insert);
        let _ = World::parse(&text, "fuzz.yaml");
        let _ = World::parse(&WORLD[..at], "fuzz.yaml");
    }
}
