//! `runiam proxy`: reach a private Cloud Run service from this machine as
//! a chosen caller, and see at once why a request is refused.
//!
//! Gather (the listen address, refused off loopback without
//! `--allow-remote`; the service, its URL or tag URL; the caller's first ID
//! token, minted as verify mints it) → serve (`forward`: every request to
//! the service with the token, bodies streamed, upgrades spliced; `token`
//! renews the token before it expires) → report (`explain`: one stderr
//! line per refusal of Cloud Run's front end, with troubleshoot's finding;
//! `access`: `--log` request lines).

pub mod access;
pub mod explain;
pub mod forward;
pub mod token;

use std::ffi::OsString;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{CommandFactory, Parser};
use runiam_core::cli::{CommonArgs, run_command};
use runiam_core::http::HttpOptions;
use runiam_core::model::Principal;
use runiam_core::target::{resolve_service, user_named};
use runiam_core::{CommandError, Exit};

use crate::forward::{Proxy, Upstream};
use crate::token::Keeper;

/// Shown after `--help` and as the man page's EXAMPLES.
const EXAMPLES: &str = "\
Examples:
  # Reach a private service as its Scheduler account, on 127.0.0.1:8080
  runiam proxy hello --region europe-west1 --as serviceAccount:sched@acme-prod.iam.gserviceaccount.com
  curl localhost:8080/report

  # A tagged revision, keeping the client's own Authorization header
  runiam proxy hello --tag canary --as user:ana@acme.example --keep-auth --log requests.log";

/// Reach a private Cloud Run service from this machine as a chosen caller.
///
/// Listens on loopback (127.0.0.1:8080 unless --bind/--port) and forwards
/// every request to the service's URL (or the URL of --tag) with an ID token
/// of the caller, got the way runiam verify gets it: IAM Credentials
/// generateIdToken for --as serviceAccount:EMAIL (needs
/// roles/iam.serviceAccountTokenCreator on the account), gcloud's for --as
/// user:EMAIL, the credential in use's own without --as, or --id-token-cmd.
/// The token is renewed before it expires, so a long session never sends an
/// expired one. Request and response bodies stream both ways; WebSockets and
/// server-sent events pass through. The client's own Authorization header is
/// replaced by the token, or with --keep-auth passed on to the container
/// while the token travels in X-Serverless-Authorization.
///
/// Every 401, 403 or 404 that Cloud Run's front end answers (not the
/// container) is explained on stderr in one line: the finding runiam
/// troubleshoot gives for the caller, and the command to run next. Tokens
/// never appear in output or in --log.
///
/// Prints the URL it listens on as the only line on stdout, then serves
/// until Ctrl-C or SIGTERM (exit 0).
#[derive(Parser, Debug)]
#[command(name = "runiam-proxy", version, after_long_help = EXAMPLES)]
pub struct Args {
    /// The service: NAME (with --region), projects/P/locations/R/services/S, or a service URL.
    #[arg(value_name = "SERVICE")]
    pub service: String,
    /// Whom to call as: serviceAccount:EMAIL (its ID token is minted), user:EMAIL (an account gcloud holds credentials for) [default: the identity of the credential in use: ADC file, gcloud account, metadata server].
    #[arg(long = "as", value_name = "PRINCIPAL")]
    pub as_principal: Option<String>,
    /// The ID token's audience [default: the URL requests go to].
    #[arg(long, value_name = "AUDIENCE", conflicts_with = "tag")]
    pub audience: Option<String>,
    /// Send requests to the URL of this traffic tag (and use it as the audience).
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// The port to listen on (0: any free port, printed on stdout).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The address to listen on; anything but loopback needs --allow-remote.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: String,
    /// Allow a --bind address other machines can reach: they would call the service as the caller.
    #[arg(long)]
    pub allow_remote: bool,
    /// Pass the client's own Authorization header to the container and send the ID token in X-Serverless-Authorization.
    #[arg(long)]
    pub keep_auth: bool,
    /// A shell command that prints the caller's ID token on stdout (run with sh -c; RUNIAM_AUDIENCE holds the audience), run again to renew it.
    #[arg(long, value_name = "CMD")]
    pub id_token_cmd: Option<String>,
    /// Append one line per request to FILE: time, method, path (no query), status, latency, who answered.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub fn command() -> clap::Command {
    Args::command()
}

pub fn run(args: Vec<OsString>) -> Exit {
    run_command("runiam-proxy", args, |a: &Args| &a.common, proxy)
}

async fn proxy(args: Args) -> Result<Exit, CommandError> {
    let listen = listen_address(&args.bind, args.port, args.allow_remote)?;
    let principal = args
        .as_principal
        .as_deref()
        .map(|p| Principal::parse(p).map_err(|e| CommandError::usage(format!("--as {e}"))))
        .transpose()?;
    let log = args.log.as_deref().map(access::Log::open).transpose()?;
    let ctx = Arc::new(args.common.context(HttpOptions::default())?);

    let target = resolve_service(&args.service, &ctx.config, &ctx.clients).await?;
    let service = ctx
        .clients
        .run_v2
        .get_service(&target)
        .await
        .map_err(|e| user_named(e, format!("cannot read service {}", target.full_name())))?;
    let url = match &args.tag {
        Some(tag) => service.tag_uri(tag).ok_or_else(|| {
            CommandError::usage(format!("--tag {tag}: {} has no traffic tag {tag}", target.full_name()))
                .hinted("gcloud run services describe shows the tags under traffic")
        })?,
        None => service.uri.clone().or_else(|| service.urls.first().cloned()).ok_or_else(|| {
            CommandError::api(format!("{} has no URL yet (it never became ready)", target.full_name()))
        })?,
    };
    let audience = args.audience.clone().unwrap_or_else(|| url.clone());

    let keeper =
        Keeper::start(Arc::clone(&ctx), principal, args.id_token_cmd.clone(), audience.clone(), args.common.quiet)
            .await?;
    let upstream = Upstream::new(&url, ctx.config.emulator.as_ref(), &ctx.config)?;
    let explainer = explain::Explainer::new(Arc::clone(&ctx), target, keeper.principal().cloned());
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        CommandError::usage(format!("cannot listen on {listen}: {e}")).hinted("pick another --port (0: any free one)")
    })?;
    let local = listener.local_addr().map_err(|e| CommandError::api(format!("cannot read the listen address: {e}")))?;
    println!("http://{local}");
    std::io::stdout().flush()?;
    if !args.common.quiet {
        let who = keeper.principal().map_or_else(|| "the credential in use".to_owned(), Principal::to_string);
        eprintln!("runiam proxy: http://{local} → {url} as {who} (audience {audience}); Ctrl-C stops");
    }
    let proxy = Proxy { upstream, keeper, keep_auth: args.keep_auth, explainer, log };
    forward::serve(listener, Arc::new(proxy), stop()).await;
    Ok(Exit::Ok)
}

/// Where to listen: `bind` must be an IP address (or `localhost`), and
/// loopback unless `allow_remote`: anyone who reaches the port calls the
/// service as the caller.
pub fn listen_address(bind: &str, port: u16, allow_remote: bool) -> Result<SocketAddr, CommandError> {
    let ip = if bind.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        bind.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().map_err(|_| {
            CommandError::usage(format!("--bind '{bind}' is not an IP address"))
                .hinted("--bind 127.0.0.1 (the default) or ::1")
        })?
    };
    if !ip.is_loopback() && !allow_remote {
        return Err(CommandError::usage(format!(
            "--bind {bind} is not a loopback address: whoever reaches it would call the service as the caller"
        ))
        .hinted("add --allow-remote if that is meant, or keep the default 127.0.0.1"));
    }
    Ok(SocketAddr::new(ip, port))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn only_loopback_without_allow_remote() {
        assert_eq!(listen_address("127.0.0.1", 8080, false).unwrap(), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(listen_address("localhost", 1, false).unwrap(), "127.0.0.1:1".parse().unwrap());
        assert_eq!(listen_address("[::1]", 2, false).unwrap(), "[::1]:2".parse().unwrap());
        for remote in ["0.0.0.0", "192.168.1.4", "::"] {
            let e = listen_address(remote, 8080, false).unwrap_err();
            assert_eq!(e.exit, Exit::Usage, "{remote}");
            assert!(e.to_string().contains("not a loopback address"), "{e}");
            assert!(listen_address(remote, 8080, true).is_ok());
        }
        assert_eq!(listen_address("example.com", 8080, true).unwrap_err().exit, Exit::Usage);
    }
}
