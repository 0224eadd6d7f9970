//! Whom the call is made as, and its ID token: minted by IAM Credentials
//! for a service account (impersonation); the ambient credential's own
//! (an ADC file, gcloud's active account, the metadata server) without
//! `--as`; gcloud's for `--as user:` naming an account gcloud holds; or
//! printed by `--id-token-cmd`. Tokens stay in `Secret` and are never printed;
//! failures say why in words only.

use std::process::Stdio;

use chrono::{DateTime, Utc};
use runiam_core::CommandError;
use runiam_core::api::Clients;
use runiam_core::auth::{AuthError, AuthOptions, IdToken, Metadata, Secret, TokenSource, jwt_claims};
use runiam_core::cli::Context;
use runiam_core::model::Principal;
use runiam_core::redact::redact;

/// How the call will be authenticated.
#[derive(Debug)]
pub enum Identity {
    /// An ID token for `principal` (when known), from `source`.
    Token { principal: Option<Principal>, token: Secret, source: String, expires: Option<DateTime<Utc>> },
    /// No credential at all (public services, the invoker check off).
    Anonymous,
    /// No token could be had: only IAM can be evaluated, never confirmed.
    Unconfirmed { principal: Principal, why: String },
}

impl Identity {
    fn from_id_token(t: IdToken, principal: Option<Principal>) -> Self {
        let principal = principal.or_else(|| t.email.as_deref().and_then(|e| Principal::from_email(e).ok()));
        Identity::Token { principal, token: t.secret, source: t.source, expires: t.expires }
    }
}

/// When a JWT expires (its `exp` claim), if it says.
fn expiry(token: &Secret) -> Option<DateTime<Utc>> {
    jwt_claims(token.expose())?.get("exp")?.as_i64().and_then(|s| DateTime::from_timestamp(s, 0))
}

/// An ID token for `principal` with `audience`: a service account's through
/// `generateIdToken`; a user's from gcloud, when gcloud is the credential
/// in use and holds that account; anything else cannot be impersonated.
pub async fn impersonate(clients: &Clients, source: &TokenSource, principal: &Principal, audience: &str) -> Identity {
    let unconfirmed = |why: String| Identity::Unconfirmed { principal: principal.clone(), why };
    match principal {
        Principal::ServiceAccount(email) if email.contains('@') => {
            match clients.iam_credentials.generate_id_token(email, audience).await {
                Ok(token) => Identity::Token {
                    principal: Some(principal.clone()),
                    expires: expiry(&token),
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
        Principal::User(email) => {
            let TokenSource::Gcloud(gcloud) = source else {
                return unconfirmed(format!(
                    "{principal} cannot be impersonated and gcloud is not the credential in use; \
                     pass --id-token-cmd with a command that prints its ID token"
                ));
            };
            // Cloud Run accepts the identity token gcloud holds for a user
            // account (`gcloud auth print-identity-token --account`): the
            // active one's from the run already made, another's from one more.
            let other;
            let gcloud = if gcloud.account().await.as_deref() == Some(email.as_str()) {
                gcloud.as_ref()
            } else {
                other = gcloud.for_account(email);
                &other
            };
            match gcloud.id_token().await {
                Ok(t) if t.email.as_deref().is_none_or(|e| e == email) => {
                    Identity::from_id_token(t, Some(principal.clone()))
                }
                Ok(t) => unconfirmed(format!(
                    "gcloud's identity token for --account {email} names {}; pass --id-token-cmd",
                    t.email.unwrap_or_default()
                )),
                Err(e) => unconfirmed(format!("{principal}: {}; {}", redact(&e.to_string()), e.hint())),
            }
        }
        Principal::Group(_) => unconfirmed(format!(
            "{principal} cannot be impersonated; pass --id-token-cmd with a command that prints its ID token"
        )),
        _ => unconfirmed(format!("no ID token can be minted for {principal}")),
    }
}

/// The identity runiam runs as and its own ID token for `audience`, with
/// the email claim: from the ADC file, gcloud's active account or the
/// metadata server (the emulator's, against the emulator).
pub async fn ambient(ctx: &Context, audience: &str) -> Result<Identity, AuthError> {
    let token = match &ctx.config.emulator {
        Some(e) => Metadata::at(e.clone(), &AuthOptions::default()).id_token(audience).await?,
        None => ctx.http.source().id_token(audience).await?,
    };
    Ok(Identity::from_id_token(token, None))
}

/// Why `--id-token-cmd` gave no token.
#[derive(Debug, thiserror::Error)]
pub enum IdTokenCmdError {
    #[error("cannot run --id-token-cmd: {0}")]
    Spawn(#[from] std::io::Error),
    /// Its exit status and its stderr, redacted.
    #[error("--id-token-cmd failed ({0}): {1}")]
    Failed(std::process::ExitStatus, String),
    #[error("--id-token-cmd must print exactly one token on stdout")]
    NotOneToken,
}

/// The token `cmd` prints on stdout, run through `sh -c` with the audience
/// in `RUNIAM_AUDIENCE`. Its stderr is shown redacted only when it fails.
pub async fn from_command(
    cmd: &str,
    audience: &str,
    principal: Option<Principal>,
) -> Result<Identity, IdTokenCmdError> {
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("RUNIAM_AUDIENCE", audience)
        .stdin(Stdio::null())
        .output()
        .await?;
    if !out.status.success() {
        return Err(IdTokenCmdError::Failed(out.status, redact(String::from_utf8_lossy(&out.stderr).trim())));
    }
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(IdTokenCmdError::NotOneToken);
    }
    let token = Secret::new(token);
    Ok(Identity::Token { principal, expires: expiry(&token), token, source: "--id-token-cmd".to_owned() })
}

/// An ID token for `audience`, the way verify (and proxy) get one: printed
/// by `id_token_cmd` when given; else minted for `principal`
/// ([`impersonate`]); else the credential in use's own ([`ambient`]).
pub async fn mint(
    ctx: &Context,
    principal: Option<&Principal>,
    id_token_cmd: Option<&str>,
    audience: &str,
) -> Result<Identity, CommandError> {
    if let Some(cmd) = id_token_cmd {
        return from_command(cmd, audience, principal.cloned())
            .await
            .map_err(|e| CommandError::usage(e.to_string()).hinted("the command must print one ID token and exit 0"));
    }
    match principal {
        Some(p) => Ok(impersonate(&ctx.clients, ctx.http.source(), p, audience).await),
        None => ambient(ctx, audience).await.map_err(|e| {
            let (hint, about_as) = (e.hint(), matches!(e, AuthError::NoIdToken { .. }));
            let err =
                CommandError::new(e.exit(), e).context("no --as given, and the credential in use gives no ID token");
            if about_as {
                err.hinted(hint)
            } else {
                err.hinted(hint).hinted("or name the caller with --as PRINCIPAL, or pass --id-token-cmd CMD")
            }
        }),
    }
}
