//! The real `runiam-emulator` binary on loopback, driven over HTTP the way
//! runiam's clients and Google's drive it: get, list, policies, etags.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

/// The emulator process; killed when dropped so a failing test leaves nothing behind.
struct Running {
    child: Child,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn() -> Running {
    let world = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/acme-world.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_runiam-emulator"))
        .args(["--world", world, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the emulator starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("the emulator prints its URL");
    let url = line.trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"), "{url}");
    Running { child, url }
}

async fn call(http: &reqwest::Client, method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = http.request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("the emulator answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("the answer is JSON"))
}

#[tokio::test]
async fn control_plane_over_http() {
    let emu = spawn();
    let http = reqwest::Client::new();
    let base = &emu.url;
    let hello = format!("{base}/v2/projects/acme-prod/locations/europe-west1/services/hello");

    // get: Google's shape, defaults omitted, URLs derived.
    let (status, svc) = call(&http, reqwest::Method::GET, &hello, None).await;
    assert_eq!(status, 200);
    assert_eq!(svc["name"], "projects/acme-prod/locations/europe-west1/services/hello");
    assert_eq!(svc["uri"], "https://hello-100000000001.europe-west1.run.app");
    assert_eq!(svc["ingress"], "INGRESS_TRAFFIC_ALL");
    assert_eq!(svc["launchStage"], "GA");
    assert_eq!(svc["generation"], "1");
    assert!(svc.get("invokerIamDisabled").is_none());
    let hash_url = svc["urls"][1].as_str().unwrap_or_default();
    assert!(hash_url.starts_with("https://hello-") && hash_url.ends_with("-ew.a.run.app"), "{hash_url}");

    // The same service by project number, and with integer enums.
    let by_number = format!(
        "{base}/v2/projects/100000000001/locations/europe-west1/services/hello?%24alt=json%3Benum-encoding%3Dint"
    );
    let (_, svc) = call(&http, reqwest::Method::GET, &by_number, None).await;
    assert_eq!((svc["ingress"].clone(), svc["launchStage"].clone()), (json!(1), json!(4)));

    // list, two pages.
    let list = format!("{base}/v2/projects/acme-prod/locations/us-central1/services?pageSize=1");
    let (_, page1) = call(&http, reqwest::Method::GET, &list, None).await;
    let token = page1["nextPageToken"].as_str().expect("a second page").to_owned();
    let (_, page2) = call(&http, reqwest::Method::GET, &format!("{list}&pageToken={token}"), None).await;
    let names: Vec<&str> =
        [&page1, &page2].iter().map(|p| p["services"][0]["name"].as_str().unwrap_or_default()).collect();
    assert_eq!(
        names,
        [
            "projects/acme-prod/locations/us-central1/services/checkout",
            "projects/acme-prod/locations/us-central1/services/status-page"
        ]
    );
    assert!(page2.get("nextPageToken").is_none());

    // Knative list across regions, the region of a namespaced get from the Host.
    let (_, all) =
        call(&http, reqwest::Method::GET, &format!("{base}/v1/projects/acme-prod/locations/-/services"), None).await;
    assert_eq!(all["kind"], "ServiceList");
    assert_eq!(all["items"].as_array().map(Vec::len), Some(4));
    let knative = http
        .get(format!("{base}/apis/serving.knative.dev/v1/namespaces/acme-prod/services/checkout"))
        .header("host", "us-central1-runiam-emulator")
        .send()
        .await
        .expect("answers");
    let knative: Value = knative.json().await.expect("JSON");
    assert_eq!(knative["metadata"]["annotations"]["run.googleapis.com/ingress"], "internal-and-cloud-load-balancing");

    // getIamPolicy, setIamPolicy with the etag, then the stale etag.
    let get_policy = format!("{hello}:getIamPolicy?options.requestedPolicyVersion=3");
    let (status, policy) = call(&http, reqwest::Method::GET, &get_policy, None).await;
    assert_eq!(status, 200);
    assert_eq!(policy["version"], 3);
    assert_eq!(policy["bindings"][0]["condition"]["title"], "until-2027");
    let mut changed = policy.clone();
    changed["bindings"]
        .as_array_mut()
        .expect("bindings")
        .push(json!({"role": "roles/run.invoker", "members": ["user:erin@acme.example"]}));
    let (status, written) =
        call(&http, reqwest::Method::POST, &format!("{hello}:setIamPolicy"), Some(json!({"policy": changed}))).await;
    assert_eq!(status, 200, "{written}");
    assert_ne!(written["etag"], policy["etag"]);
    assert_eq!(written["bindings"].as_array().map(Vec::len), Some(3));
    let (status, err) =
        call(&http, reqwest::Method::POST, &format!("{hello}:setIamPolicy"), Some(json!({"policy": changed}))).await;
    assert_eq!(status, 409);
    assert_eq!(err["error"]["status"], "ABORTED");
    assert_eq!(
        err["error"]["message"],
        "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff."
    );

    // v1 reads the same policy v2 wrote.
    let v1 = format!(
        "{base}/v1/projects/acme-prod/locations/europe-west1/services/hello:getIamPolicy?options.requestedPolicyVersion=3"
    );
    let (_, via_v1) = call(&http, reqwest::Method::GET, &v1, None).await;
    assert_eq!(via_v1["etag"], written["etag"]);

    // Resource Manager: v3 names projects by number; the empty policy is ACAB.
    let (_, project) = call(&http, reqwest::Method::GET, &format!("{base}/v3/projects/acme-staging"), None).await;
    assert_eq!(
        (project["name"].clone(), project["parent"].clone()),
        (json!("projects/100000000002"), json!("folders/200000000002"))
    );
    let (_, ancestry) =
        call(&http, reqwest::Method::POST, &format!("{base}/v1/projects/acme-prod:getAncestry"), Some(json!({}))).await;
    assert_eq!(
        ancestry["ancestor"],
        json!([
            {"resourceId": {"type": "project", "id": "acme-prod"}},
            {"resourceId": {"type": "folder", "id": "200000000001"}},
            {"resourceId": {"type": "organization", "id": "123456789012"}},
        ])
    );
    let (_, empty) = call(
        &http,
        reqwest::Method::POST,
        &format!("{base}/v1/projects/acme-prod/serviceAccounts/batch@acme-prod.iam.gserviceaccount.com:getIamPolicy"),
        None,
    )
    .await;
    assert_eq!(empty, json!({"etag": "ACAB"}));

    // Missing things are 404 NOT_FOUND in the google.rpc.Status envelope.
    let (status, err) = call(
        &http,
        reqwest::Method::GET,
        &format!("{base}/v2/projects/acme-prod/locations/europe-west1/services/nope"),
        None,
    )
    .await;
    assert_eq!((status, err["error"]["status"].clone()), (404, json!("NOT_FOUND")));
    let (status, _) = call(&http, reqwest::Method::GET, &format!("{base}/v1/roles/run.nothing"), None).await;
    assert_eq!(status, 404);
    let (status, role) =
        call(&http, reqwest::Method::GET, &format!("{base}/v1/projects/acme-prod/roles/callerLite"), None).await;
    assert_eq!((status, role["includedPermissions"].clone()), (200, json!(["run.routes.invoke"])));
}
