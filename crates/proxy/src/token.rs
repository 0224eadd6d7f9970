//! The caller's ID token, minted as verify mints it
//! (`runiam_verify::identity::mint`) and renewed in the background before
//! it expires, so that requests only ever read the current one. The token
//! is held as a sensitive header value and a `Secret`: never printed.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use http::HeaderValue;
use runiam_core::CommandError;
use runiam_core::cli::Context;
use runiam_core::model::Principal;
use runiam_core::redact::redact;
use runiam_verify::identity::{self, Identity};

/// Renewal starts this long before expiry at most (a third of the
/// lifetime for short-lived tokens).
const RENEW_BEFORE: TimeDelta = TimeDelta::minutes(5);
/// A failed renewal is retried after this long.
const RETRY: Duration = Duration::from_secs(2);

/// One minted token, as the header that carries it.
struct Current {
    bearer: HeaderValue,
}

/// The current token, shared by every request and the renewal task.
pub struct Keeper {
    current: Arc<RwLock<Current>>,
    principal: Option<Principal>,
}

/// How to mint again.
struct Minter {
    ctx: Arc<Context>,
    principal: Option<Principal>,
    id_token_cmd: Option<String>,
    audience: String,
}

impl Minter {
    /// A token and its expiry, or why there is none.
    async fn mint(&self) -> Result<(Current, Option<DateTime<Utc>>, Option<Principal>), CommandError> {
        let minted =
            identity::mint(&self.ctx, self.principal.as_ref(), self.id_token_cmd.as_deref(), &self.audience).await?;
        match minted {
            Identity::Token { principal, token, expires, .. } => {
                let mut bearer = HeaderValue::try_from(format!("Bearer {}", token.expose()))
                    .map_err(|_| CommandError::api("the ID token holds characters an HTTP header cannot carry"))?;
                bearer.set_sensitive(true);
                Ok((Current { bearer }, expires, principal))
            }
            Identity::Unconfirmed { why, .. } => Err(CommandError::api(why)),
            Identity::Anonymous => Err(CommandError::api("no ID token to send")),
        }
    }
}

impl Keeper {
    /// Mints the first token (its failure is the command's) and starts renewing it.
    pub async fn start(
        ctx: Arc<Context>,
        principal: Option<Principal>,
        id_token_cmd: Option<String>,
        audience: String,
        quiet: bool,
    ) -> Result<Self, CommandError> {
        let minter = Minter { ctx, principal, id_token_cmd, audience };
        let (current, expires, principal) = minter.mint().await?;
        let current = Arc::new(RwLock::new(current));
        tokio::spawn(renew(minter, Arc::clone(&current), expires, quiet));
        Ok(Self { current, principal })
    }

    /// Whom the token speaks for, when known.
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// `Bearer TOKEN`, marked sensitive.
    pub fn bearer(&self) -> HeaderValue {
        self.current.read().unwrap_or_else(|p| p.into_inner()).bearer.clone()
    }
}

/// When to renew a token minted now that expires at `expires`: a third of
/// its life before, at most five minutes before.
pub fn renew_at(now: DateTime<Utc>, expires: DateTime<Utc>) -> DateTime<Utc> {
    let life = (expires - now).max(TimeDelta::zero());
    expires - (life / 3).min(RENEW_BEFORE)
}

/// Renews the token before each expiry, for as long as the proxy runs; a
/// token without a known expiry is kept.
async fn renew(minter: Minter, current: Arc<RwLock<Current>>, mut expires: Option<DateTime<Utc>>, quiet: bool) {
    let mut at = expires.map(|e| renew_at(Utc::now(), e));
    while let Some(when) = at {
        tokio::time::sleep((when - Utc::now()).to_std().unwrap_or_default()).await;
        match minter.mint().await {
            Ok((fresh, e, _)) => {
                *current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
                expires = e;
                at = e.map(|e| renew_at(Utc::now(), e));
                if !quiet {
                    let until = e.map_or_else(|| "no expiry".to_owned(), |e| format!("valid until {}", e.to_rfc3339()));
                    eprintln!("runiam proxy: renewed the ID token ({until})");
                }
            }
            Err(e) => {
                let left =
                    expires.map_or_else(String::new, |e| format!("; the current one expires at {}", e.to_rfc3339()));
                eprintln!("runiam proxy: cannot renew the ID token: {}{left}; retrying", redact(&e.error.to_string()));
                at = Some(Utc::now() + RETRY);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_leaves_a_third_of_a_short_life_and_five_minutes_of_an_hour() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let hour = now + TimeDelta::hours(1);
        assert_eq!(renew_at(now, hour), hour - TimeDelta::minutes(5));
        let short = now + TimeDelta::seconds(3);
        assert_eq!(renew_at(now, short), now + TimeDelta::seconds(2));
        // Already expired: at once.
        assert_eq!(renew_at(now, now - TimeDelta::seconds(1)), now - TimeDelta::seconds(1));
    }
}
