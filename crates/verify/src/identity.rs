//! Whom the call is made as, and its ID token: minted by IAM Credentials
//! for a service account (impersonation), read from the metadata server
//! when runiam runs as that identity, or printed by `--id-token-cmd`.
//! Tokens stay in `Secret` and are never printed; failures say why in
//! words only.

use std::process::Stdio;
use std::time::Duration;

use runiam_core::api::Clients;
use runiam_core::auth::Secret;
use runiam_core::config::Config;
use runiam_core::model::Principal;
use runiam_core::redact::redact;
use url::Url;

/// The metadata server when `GCE_METADATA_HOST` does not say otherwise.
const METADATA_HOST: &str = "metadata.google.internal";

/// How the call will be authenticated.
#[derive(Debug)]
pub enum Identity {
    /// An ID token for `principal` (when known), from `source`.
    Token { principal: Option<Principal>, token: Secret, source: String },
    /// No credential at all (public services, the invoker check off).
    Anonymous,
    /// No token could be had: only IAM can be evaluated, never confirmed.
    Unconfirmed { principal: Principal, why: String },
}

/// An ID token for `principal` with `audience`: a service account's through
/// `generateIdToken`; anything else cannot be impersonated.
pub async fn impersonate(clients: &Clients, principal: &Principal, audience: &str) -> Identity {
    let unconfirmed = |why: String| Identity::Unconfirmed { principal: principal.clone(), why };
    match principal {
        Principal::ServiceAccount(email) if email.contains('@') => {
            match clients.iam_credentials.generate_id_token(email, audience).await {
                Ok(token) => Identity::Token {
                    principal: Some(principal.clone()),
                    token,
                    source: format!("iamcredentials.googleapis.com generateIdToken for {email}"),
                },
                Err(e) => {
                    let hint = e
                        .status()
                        .filter(|s| s.http == 403)
                        .map(|_| {
                            "; minting needs iam.serviceAccounts.getOpenIdToken on the account \
                             (roles/iam.serviceAccountTokenCreator), or pass --id-token-cmd"
                        })
                        .unwrap_or_default();
                    unconfirmed(format!("cannot mint an ID token for {email}: {e}{hint}"))
                }
            }
        }
        Principal::User(_) | Principal::Group(_) => unconfirmed(format!(
            "{principal} cannot be impersonated; pass --id-token-cmd with a command that prints its ID token"
        )),
        _ => unconfirmed(format!("no ID token can be minted for {principal}")),
    }
}

/// The metadata server's base URL: the emulator's, `GCE_METADATA_HOST`, or Google's.
fn metadata_base(config: &Config) -> Result<Url, String> {
    if let Some(e) = &config.emulator {
        return Ok(e.clone());
    }
    let host = std::env::var("GCE_METADATA_HOST").ok().filter(|h| !h.is_empty());
    let host = host.as_deref().unwrap_or(METADATA_HOST);
    let raw = if host.contains("://") { host.to_owned() } else { format!("http://{host}") };
    Url::parse(&raw).map_err(|e| format!("GCE_METADATA_HOST='{host}' is not host:port ({e})"))
}

async fn metadata_get(
    client: &reqwest::Client,
    base: &Url,
    path: &str,
    query: &[(&str, &str)],
) -> Result<String, String> {
    let mut url = base.clone();
    url.set_path(&format!("/computeMetadata/v1/instance/service-accounts/default/{path}"));
    url.query_pairs_mut().extend_pairs(query);
    let resp = client.get(url).header("Metadata-Flavor", "Google").send().await.map_err(|e| {
        format!("the metadata server at {base} did not answer ({})", redact(&e.without_url().to_string()))
    })?;
    let status = resp.status();
    let text =
        resp.text().await.map_err(|e| format!("the metadata server's answer was cut: {}", redact(&e.to_string())))?;
    if !status.is_success() {
        return Err(format!("the metadata server answered {} for {path}", status.as_u16()));
    }
    Ok(text.trim().to_owned())
}

/// The identity runiam runs as, from the metadata server: its email and an
/// ID token for `audience` with the email claim (`format=full`).
pub async fn from_metadata(config: &Config, audience: &str) -> Result<Identity, String> {
    let base = metadata_base(config)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let email = metadata_get(&client, &base, "email", &[]).await?;
    let token = metadata_get(&client, &base, "identity", &[("audience", audience), ("format", "full")]).await?;
    let principal = Principal::parse(&format!("serviceAccount:{email}"))
        .map_err(|e| format!("the metadata server's account '{email}' is not an email: {}", e.why))?;
    Ok(Identity::Token {
        principal: Some(principal),
        token: Secret::new(token),
        source: format!("the metadata server ({base})"),
    })
}

/// The token `cmd` prints on stdout, run through `sh -c` with the audience
/// in `RUNIAM_AUDIENCE`. Its stderr is shown redacted only when it fails.
pub async fn from_command(cmd: &str, audience: &str, principal: Option<Principal>) -> Result<Identity, String> {
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("RUNIAM_AUDIENCE", audience)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run --id-token-cmd: {e}"))?;
    if !out.status.success() {
        let err = redact(String::from_utf8_lossy(&out.stderr).trim());
        return Err(format!("--id-token-cmd failed ({}): {err}", out.status));
    }
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err("--id-token-cmd must print exactly one token on stdout".to_owned());
    }
    Ok(Identity::Token { principal, token: Secret::new(token), source: "--id-token-cmd".to_owned() })
}
