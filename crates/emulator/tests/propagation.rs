//! `propagationDelay`: IAM and invoker-check changes reach the Cloud Run
//! front end late, as Google's do (up to about 7 minutes), while the
//! control plane shows them at once.

use std::path::Path;
use std::time::Duration;

use runiam_emulator::client::Client;
use runiam_emulator::{Options, World, start};
use serde_json::{Value, json};

const HELLO: &str = "hello-100000000009.europe-west1.run.app";
const SERVICE: &str = "v2/projects/front-proj/locations/europe-west1/services/hello";

async fn call(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    http.get(format!("{base}/")).header("Host", HELLO).bearer_auth(token).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn changes_reach_the_front_end_after_the_delay() {
    // The front-end world, run by an operator who may do anything.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/frontend-world.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace("operator: user:ops@acme.example\n", "");
    let world = World::parse(&text, "frontend-world.yaml").unwrap();
    let delay = Duration::from_millis(1500);
    let emu = start(world, Options { propagation_delay: delay, ..Options::default() }, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (base, http) = (emu.url(), reqwest::Client::new());
    let token = Client::new(&base)
        .mint_id_token("nobody@front-proj.iam.gserviceaccount.com", &format!("https://{HELLO}"))
        .await
        .unwrap();
    assert_eq!(call(&http, &base, &token).await, 403, "nobody is not granted yet");

    // Grant through the control plane: it answers with the new policy at once...
    let policy: Value = http
        .get(format!("{base}/{SERVICE}:getIamPolicy?options.requestedPolicyVersion=3"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut next = policy.clone();
    next["bindings"].as_array_mut().unwrap().push(
        json!({"role": "roles/run.invoker", "members": ["serviceAccount:nobody@front-proj.iam.gserviceaccount.com"]}),
    );
    let written =
        http.post(format!("{base}/{SERVICE}:setIamPolicy")).json(&json!({"policy": next})).send().await.unwrap();
    assert_eq!(written.status().as_u16(), 200);
    // ...but the front end still decides on the old one until the delay passes.
    assert_eq!(call(&http, &base, &token).await, 403, "the grant must not have propagated yet");
    tokio::time::sleep(delay + Duration::from_millis(300)).await;
    assert_eq!(call(&http, &base, &token).await, 200, "the grant has propagated");

    // The invoker check too: off now, seen off only after the delay.
    let anon = |http: reqwest::Client, base: String| async move {
        http.get(format!("{base}/")).header("Host", HELLO).send().await.unwrap().status().as_u16()
    };
    assert_eq!(anon(http.clone(), base.clone()).await, 403);
    let patched = http
        .patch(format!("{base}/{SERVICE}?updateMask=invokerIamDisabled"))
        .json(&json!({"invokerIamDisabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status().as_u16(), 200);
    assert_eq!(anon(http.clone(), base.clone()).await, 403, "the invoker check is still on at the front end");
    tokio::time::sleep(delay + Duration::from_millis(300)).await;
    assert_eq!(anon(http.clone(), base.clone()).await, 200, "the invoker check is off at the front end");
}
