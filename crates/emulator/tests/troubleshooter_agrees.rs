//! For every IAM scenario of the front-end tests, the Policy Troubleshooter
//! API's answer agrees with what the Cloud Run front end does with a real
//! call (both come from the one evaluator; this shows they are wired alike).
//! Scenarios decided before IAM (404s, IAP, the invoker check off) are the
//! front end's alone and have no Troubleshooter counterpart.

use std::path::Path;

use runiam_emulator::client::Client;
use runiam_emulator::{Options, World, start};
use serde_json::{Value, json};

const HELLO: &str = "hello-100000000009.europe-west1.run.app";
const PUBLIC: &str = "public-100000000009.europe-west1.run.app";

#[tokio::test]
async fn troubleshooter_agrees_with_the_front_end() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/frontend-world.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace("operator: user:ops@acme.example\n", "");
    let world = World::parse(&text, "frontend-world.yaml").unwrap();
    let emu = start(world, Options::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (base, http) = (emu.url(), reqwest::Client::new());
    let cases = [
        (HELLO, "sched"),
        (HELLO, "nobody"),
        (HELLO, "cond"),
        (HELLO, "denied"),
        (HELLO, "folder-caller"),
        (HELLO, "project-caller"),
        (HELLO, "group-member"),
        (PUBLIC, "nobody"),
    ];
    for (host, who) in cases {
        let email = format!("{who}@front-proj.iam.gserviceaccount.com");
        let token = Client::new(&base).mint_id_token(&email, &format!("https://{host}")).await.unwrap();
        let status =
            http.get(format!("{base}/")).header("Host", host).bearer_auth(token).send().await.unwrap().status();
        let name = host.split('-').next().unwrap();
        let answer: Value = http
            .post(format!("{base}/v3/iam:troubleshoot"))
            .json(&json!({"accessTuple": {
                "principal": email,
                "fullResourceName": format!("//run.googleapis.com/projects/front-proj/locations/europe-west1/services/{name}"),
                "permission": "run.routes.invoke",
            }}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let state = answer["overallAccessState"].as_str().unwrap_or_default().to_owned();
        assert_eq!(
            state == "CAN_ACCESS",
            status.as_u16() == 200,
            "{who} on {host}: front end {status}, Troubleshooter {answer}"
        );
        assert!(matches!(state.as_str(), "CAN_ACCESS" | "CANNOT_ACCESS"), "{who}: {answer}");
    }
}
