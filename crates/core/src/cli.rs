//! What every runiam binary does around its command: the common flags,
//! tracing for `--verbose`, the async runtime, error printing and exit
//! codes, and the table entry the front binary dispatches through.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use crate::api::Clients;
use crate::auth::TokenSource;
use crate::config::{Config, Env, Flags};
use crate::error::{CommandError, Exit};
use crate::http::{Http, HttpOptions};

/// Flags every command takes (README.md, Configuration).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CommonArgs {
    /// Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud's core/project].
    #[arg(long, global = true, value_name = "PROJECT_ID")]
    pub project: Option<String>,
    /// Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud's run/region].
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud's core/account].
    #[arg(long, global = true, value_name = "EMAIL")]
    pub account: Option<String>,
    /// Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target.
    #[arg(long, global = true, value_name = "EMAIL")]
    pub impersonate_service_account: Option<String>,
    /// Read the access token for API calls from FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub access_token_file: Option<PathBuf>,
    /// Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud's billing/quota_project, else the project].
    #[arg(long, global = true, value_name = "PROJECT_ID")]
    pub billing_project: Option<String>,
    /// Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// Print nothing on stderr but errors.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_name = "WHEN", value_enum, default_value_t)]
    pub color: crate::style::ColorChoice,
    /// Never colour output (the same as --color never).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<std::time::Duration>,
}

/// `--timeout`: a duration, and more than none (0 would give up at once).
fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    match crate::duration::parse(s) {
        Ok(d) if d.is_zero() => Err(format!("'{s}' gives no time at all; give a duration such as 30s or 5m")),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

impl CommonArgs {
    /// `--color`, with `--no-color` as `never`.
    pub fn color_choice(&self) -> crate::style::ColorChoice {
        if self.no_color { crate::style::ColorChoice::Never } else { self.color }
    }

    pub fn flags(&self) -> Flags {
        Flags {
            project: self.project.clone(),
            region: self.region.clone(),
            account: self.account.clone(),
            impersonate_service_account: self.impersonate_service_account.clone(),
            access_token_file: self.access_token_file.clone(),
            billing_project: self.billing_project.clone(),
        }
    }

    /// Resolves configuration and credentials and builds the API clients.
    pub fn context(&self, mut options: HttpOptions) -> Result<Context, CommandError> {
        let env = Env::from_process();
        let props = crate::config::GcloudProperties::load(&env);
        let config = Config::resolve(&self.flags(), &env, &props)?;
        let source = TokenSource::from_config(&config, &env, &options.auth).map_err(|e| {
            let hint = e.hint();
            CommandError::new(e.exit(), e).hinted(hint)
        })?;
        options.roots = crate::http::tls_roots(&config)?;
        let http = Http::new(&config, source, options)?;
        let clients = Clients::new(&config, http.clone());
        Ok(Context { config, clients, http })
    }
}

/// Flags of every command that writes.
#[derive(clap::Args, Clone, Debug)]
pub struct WriteArgs {
    /// Write the change (otherwise only plan it).
    #[arg(long)]
    pub apply: bool,
    /// Apply without asking for confirmation (needed when there is no terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Where --apply writes the backup (a ServiceSnapshot) of each service before changing it.
    #[arg(long, value_name = "DIR", default_value = "runiam-backups")]
    pub backup_dir: PathBuf,
}

/// Resolved configuration and ready API clients.
pub struct Context {
    pub config: Config,
    pub clients: Clients,
    pub http: Arc<Http>,
}

/// An entry of the front binary's table of built-in commands.
pub struct Builtin {
    /// `export` for `runiam export` / `runiam-export`.
    pub name: &'static str,
    /// The command's clap definition (help, man page, completions).
    pub command: fn() -> clap::Command,
    /// Runs the command on full argv (argv[0] included); returns the exit code.
    pub run: fn(Vec<OsString>) -> Exit,
}

/// Sends `--verbose` traces to stderr (only runiam's own, at debug level).
fn init_tracing(verbose: bool) {
    if !verbose {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(crate::style::stderr_enabled())
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn,runiam=debug"))
        .with_target(false)
        .try_init();
}

/// The body of every command binary: parse `args`, run `body` on a Tokio
/// runtime, print any error as `PROGRAM: error: ...`, and return the exit
/// code. Help and version go to stdout with exit 0; usage errors exit 2.
pub fn run_command<A, F>(program: &str, args: Vec<OsString>, common: fn(&A) -> &CommonArgs, body: F) -> Exit
where
    A: clap::Parser,
    F: AsyncFnOnce(A) -> Result<Exit, CommandError>,
{
    let parsed = match A::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { Exit::Usage } else { Exit::Ok };
        }
    };
    let c = common(&parsed);
    crate::style::init(c.color_choice());
    init_tracing(c.verbose);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime starts");
    let timeout = c.timeout;
    let result = runtime.block_on(async {
        let Some(limit) = timeout else { return body(parsed).await };
        let run = body(parsed);
        tokio::pin!(run);
        tokio::select! {
            r = &mut run => r,
            () = tokio::time::sleep(limit) => {
                // A write under way is never cut off: it finishes, is
                // recorded, and the command stops at its next step.
                if crate::interrupt::writing() {
                    crate::interrupt::time_out();
                    run.await
                } else {
                    Err(CommandError::new(Exit::Api, std::io::Error::other(format!(
                        "gave up after {} (--timeout); nothing was written",
                        crate::duration::Shown(limit)
                    )))
                    .hinted("a longer --timeout, or --verbose to see which call is slow"))
                }
            }
        }
    });
    match result {
        Ok(exit) => exit,
        Err(e) => e.report(program),
    }
}
