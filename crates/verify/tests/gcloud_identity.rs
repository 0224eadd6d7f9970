//! ID tokens from gcloud's active account, through a fake `gcloud` on PATH
//! answering `config config-helper --format=json` with an `id_token`: the
//! ambient identity without --as, `--as user:` naming the active account,
//! and a clear "unconfirmed" for any other user.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine;
use runiam_core::api::Clients;
use runiam_core::auth::{AuthOptions, TokenSource};
use runiam_core::cli::Context;
use runiam_core::config::{Config, Env, Flags, GcloudProperties};
use runiam_core::http::{Http, HttpOptions};
use runiam_core::model::Principal;
use runiam_verify::identity::{self, Identity};
use serde_json::json;

const ME: &str = "me@acme.example";
const AUD: &str = "https://hello-100000000001.europe-west1.run.app";

fn jwt(claims: serde_json::Value) -> String {
    let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2ln", b64(json!({"alg": "RS256"})), b64(claims))
}

/// gcloud logged in as ME, with a fake gcloud that logs its runs.
fn context(dir: &Path) -> Context {
    let cfg = dir.join("gcloud/configurations");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config_default"), format!("[core]\naccount = {ME}\nproject = acme-prod\n")).unwrap();
    let exp = chrono::Utc::now().timestamp() + 3600;
    let answer = json!({
        "configuration": {"properties": {"core": {"account": ME}}},
        "credential": {
            "access_token": "ya29.user",
            "token_expiry": "2099-01-01T00:00:00Z",
            "id_token": jwt(json!({"email": ME, "aud": "32555940559.apps.googleusercontent.com", "exp": exp})),
        },
    });
    std::fs::write(dir.join("answer.json"), answer.to_string()).unwrap();
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    let gcloud = dir.join("bin/gcloud");
    std::fs::write(
        &gcloud,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\ncat '{}'\n",
            dir.join("runs").display(),
            dir.join("answer.json").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&gcloud, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (home, conf, bin) =
        (dir.display().to_string(), dir.join("gcloud").display().to_string(), dir.join("bin").display().to_string());
    let env = Env::from_pairs([("HOME", home.as_str()), ("CLOUDSDK_CONFIG", conf.as_str()), ("PATH", bin.as_str())]);
    let config = Config::resolve(&Flags::default(), &env, &GcloudProperties::load(&env)).unwrap();
    let source = TokenSource::from_config(&config, &env, &AuthOptions::default()).unwrap();
    assert!(matches!(source, TokenSource::Gcloud(_)), "{source:?}");
    let http = Http::new(&config, source, HttpOptions::default());
    let clients = Clients::new(&config, http.clone());
    Context { config, clients, http }
}

#[tokio::test]
async fn gcloud_users_identity_token_is_used_for_their_own_account() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());

    let Ok(Identity::Token { principal, source, expires, .. }) = identity::ambient(&ctx, AUD).await else {
        panic!("no ambient token")
    };
    assert_eq!(principal, Some(Principal::User(ME.to_owned())));
    assert_eq!(source, format!("gcloud's identity token for {ME}"));
    assert!(expires.is_some());

    let me = Principal::User(ME.to_owned());
    let Identity::Token { principal, .. } = identity::impersonate(&ctx.clients, ctx.http.source(), &me, AUD).await
    else {
        panic!("--as user:{ME} is gcloud's account")
    };
    assert_eq!(principal, Some(me));

    let other = Principal::User("erin@acme.example".to_owned());
    let Identity::Unconfirmed { why, .. } = identity::impersonate(&ctx.clients, ctx.http.source(), &other, AUD).await
    else {
        panic!("erin is not gcloud's account")
    };
    assert!(why.starts_with("user:erin@acme.example is not gcloud's active account (me@acme.example)"), "{why}");

    let runs = std::fs::read_to_string(dir.path().join("runs")).unwrap();
    assert_eq!(runs.lines().count(), 1, "one config-helper run serves every token: {runs}");
}
