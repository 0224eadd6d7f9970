//! ID tokens from gcloud, through a fake `gcloud` on PATH answering
//! `config config-helper --format=json` with an `id_token`: the ambient
//! identity without --as, `--as user:` naming the active account or
//! another credentialed one, and a clear "unconfirmed" for an account
//! gcloud holds no credentials for.

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
const SAM: &str = "sam@acme.example";
const AUD: &str = "https://hello-100000000001.europe-west1.run.app";

fn jwt(claims: serde_json::Value) -> String {
    let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2ln", b64(json!({"alg": "RS256"})), b64(claims))
}

/// What config-helper prints for `account`.
fn answer(account: &str) -> String {
    let exp = chrono::Utc::now().timestamp() + 3600;
    json!({
        "configuration": {"properties": {"core": {"account": account}}},
        "credential": {
            "access_token": "ya29.user",
            "token_expiry": "2099-01-01T00:00:00Z",
            "id_token": jwt(json!({"email": account, "aud": "32555940559.apps.googleusercontent.com", "exp": exp})),
        },
    })
    .to_string()
}

/// gcloud logged in as ME, holding credentials for SAM too, with a fake
/// gcloud that logs its runs.
fn context(dir: &Path) -> Context {
    let cfg = dir.join("gcloud/configurations");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config_default"), format!("[core]\naccount = {ME}\nproject = acme-prod\n")).unwrap();
    std::fs::write(dir.join("me.json"), answer(ME)).unwrap();
    std::fs::write(dir.join("sam.json"), answer(SAM)).unwrap();
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    let gcloud = dir.join("bin/gcloud");
    let script = format!(
        "#!/bin/sh
echo \"$@\" >> '{runs}'
case \"$*\" in
  *--account={ME}*) cat '{me}' ;;
  *--account={SAM}*) cat '{sam}' ;;
  *) echo 'ERROR: (gcloud.config.config-helper) Your current active account [x] does not have any valid credentials' >&2; exit 1 ;;
esac
",
        runs = dir.join("runs").display(),
        me = dir.join("me.json").display(),
        sam = dir.join("sam.json").display(),
    );
    std::fs::write(&gcloud, script).unwrap();
    std::fs::set_permissions(&gcloud, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (home, conf, bin) =
        (dir.display().to_string(), dir.join("gcloud").display().to_string(), dir.join("bin").display().to_string());
    let env = Env::from_pairs([("HOME", home.as_str()), ("CLOUDSDK_CONFIG", conf.as_str()), ("PATH", bin.as_str())]);
    let config = Config::resolve(&Flags::default(), &env, &GcloudProperties::load(&env)).unwrap();
    let source = TokenSource::from_config(&config, &env, &AuthOptions::default()).unwrap();
    assert!(matches!(source, TokenSource::Gcloud(_)), "{source:?}");
    let http = Http::new(&config, source, HttpOptions::default()).unwrap();
    let clients = Clients::new(&config, http.clone());
    Context { config, clients, http }
}

#[tokio::test]
async fn gcloud_identity_tokens_for_its_accounts() {
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

    let sam = Principal::User(SAM.to_owned());
    let Identity::Token { principal, source, .. } =
        identity::impersonate(&ctx.clients, ctx.http.source(), &sam, AUD).await
    else {
        panic!("--as user:{SAM}: gcloud holds credentials for sam too")
    };
    assert_eq!((principal, source.as_str()), (Some(sam), "gcloud's identity token for sam@acme.example"));

    let erin = Principal::User("erin@acme.example".to_owned());
    let Identity::Unconfirmed { why, .. } = identity::impersonate(&ctx.clients, ctx.http.source(), &erin, AUD).await
    else {
        panic!("gcloud holds no credentials for erin")
    };
    assert!(why.starts_with("user:erin@acme.example: `gcloud config config-helper` failed: ERROR:"), "{why}");
    assert!(
        why.ends_with("run `gcloud auth login`, or pass --account EMAIL of an account `gcloud auth list` shows"),
        "{why}"
    );

    let runs = std::fs::read_to_string(dir.path().join("runs")).unwrap();
    let accounts: Vec<_> = runs.lines().map(|l| l.rsplit(' ').next().unwrap()).collect();
    assert_eq!(
        accounts,
        vec!["--account=me@acme.example", "--account=sam@acme.example", "--account=erin@acme.example"],
        "one config-helper run per account: {runs}"
    );
}
