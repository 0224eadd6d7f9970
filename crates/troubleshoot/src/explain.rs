//! One caller's diagnosis for a tool that has just seen Cloud Run refuse a
//! request (`runiam proxy`): the same gather, decide and settle as
//! `runiam troubleshoot SERVICE --caller C --token-file T --no-logs`, so
//! the finding it names is the one troubleshoot would give.

use chrono::Utc;
use runiam_core::CommandError;
use runiam_core::api::Clients;
use runiam_core::doc::Diagnosis;
use runiam_core::ingress::Origin;
use runiam_core::model::{Principal, ServiceRef};

use crate::decide::Request;
use crate::observe::{LogRead, Observed};
use crate::{fetch_jwks, observe, one, settle, signatures, token};

/// `caller`'s diagnosis on `target`, judging `sent` (the credential the
/// request carried, never shown) as a token given with `--token-file`;
/// `emulator` is where the JWKS lives in emulator mode.
pub async fn caller_refused(
    clients: &Clients,
    target: &ServiceRef,
    caller: &Principal,
    sent: Option<&str>,
    emulator: Option<&url::Url>,
) -> Result<Diagnosis, CommandError> {
    let presented = sent.map(token::parse);
    let jwks = match presented {
        Some(_) => fetch_jwks(emulator).await,
        None => None,
    };
    let sigs = signatures(presented.as_ref(), jwks.as_ref());
    let request = Request { caller: caller.clone(), from: Origin::External, path: None };
    let (mut draft, service) = one(clients, target, &request, None, false).await?;
    let observed = Observed {
        token: presented.as_ref().map(|p| (p, sigs.as_slice())),
        logs: LogRead::Skipped,
        saw: None,
        now: Utc::now(),
        named_caller: true,
    };
    observe::apply(&mut draft, &service, &observed);
    Ok(settle::settle(draft))
}
