//! `runiam export`: snapshot services and their IAM policies.
//!
//! Gather (resolve the services, read each service, its policy and its
//! project's ancestry, concurrently) → decide (build ServiceSnapshots) →
//! act (nothing: export only reads) → report (YAML/JSON documents, an
//! `--out-dir` tree, or Terraform). Everything is gathered before anything
//! is written, so a failure leaves `--out-dir` untouched.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use runiam_core::api::run::Service;
use runiam_core::change::{list_project, snapshots};
use runiam_core::cli::{CommonArgs, Context, run_command};
use runiam_core::doc::{DocFormat, Document, ServiceSnapshot, render, write_stdout};
use runiam_core::http::HttpOptions;
use runiam_core::model::ServiceRef;
use runiam_core::target::resolve_service;
use runiam_core::{CommandError, Exit};

/// Shown after `--help` and as the man page's EXAMPLES.
const EXAMPLES: &str = "\
Examples:
  # Every Cloud Run service of a project, in every region, as YAML snapshots
  runiam export --all --project acme-prod > estate.yaml

  # One file per service, ready for git
  runiam export --all --project acme-prod --out-dir snapshots/

  # Terraform import blocks and invoker-member resources for one service
  runiam export hello --region europe-west1 -o terraform";

/// Snapshot Cloud Run services and their IAM policies.
///
/// Writes one ServiceSnapshot document per service: its URLs, ingress,
/// invoker check, custom audiences, runtime service account, its full IAM
/// policy with etag, and its project's ancestry. Snapshots are what
/// `runiam troubleshoot` and `runiam rollback` read, and what belongs in git
/// before a change.
#[derive(Parser, Debug)]
#[command(name = "runiam-export", version, after_long_help = EXAMPLES)]
pub struct Args {
    /// Services to export: NAME (with --region), projects/P/locations/R/services/S, or a service URL.
    #[arg(value_name = "SERVICE", required_unless_present = "all")]
    pub services: Vec<String>,
    /// Export every service of the project, in every region.
    #[arg(long, conflicts_with = "services")]
    pub all: bool,
    /// Output format [default: text on a terminal, yaml otherwise].
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<ExportFormat>,
    /// Write one YAML file per service to DIR/PROJECT/REGION/SERVICE.yaml, ready for git.
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    pub out_dir: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// What `-o` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// A table for people.
    Text,
    /// A YAML stream of ServiceSnapshot documents.
    Yaml,
    /// One ServiceSnapshot per line, as JSON.
    Json,
    /// Terraform `import {}` blocks and google_cloud_run_v2_service_iam_member resources.
    Terraform,
}

/// The clap definition (for the front binary, man pages and completions).
pub fn command() -> clap::Command {
    Args::command()
}

/// Runs `runiam-export` on full argv.
pub fn run(args: Vec<OsString>) -> Exit {
    run_command("runiam-export", args, |a: &Args| &a.common, export)
}

async fn export(args: Args) -> Result<Exit, CommandError> {
    let format = match args.output {
        Some(f) => f,
        None if args.out_dir.is_some() => ExportFormat::Yaml,
        None => match runiam_core::output::Format::resolve(None) {
            runiam_core::output::Format::Text => ExportFormat::Text,
            _ => ExportFormat::Yaml,
        },
    };
    let ctx = args.common.context(HttpOptions::default())?;
    let targets = gather_targets(&args, &ctx).await?;
    let snapshots = snapshots(&ctx.clients, targets, args.common.quiet).await?;
    match &args.out_dir {
        Some(dir) => write_tree(dir, &snapshots)?,
        None => report(&snapshots, format)?,
    }
    Ok(Exit::Ok)
}

/// The services to export, deduplicated, in a stable order.
/// With `--all`, the services come whole from the listing.
async fn gather_targets(args: &Args, ctx: &Context) -> Result<Vec<(ServiceRef, Option<Service>)>, CommandError> {
    if args.all {
        let listed = list_project(&ctx.clients, ctx.config.project()?).await?;
        return Ok(listed.into_iter().map(|(r, s)| (r, Some(s))).collect());
    }
    let mut out = BTreeSet::new();
    for s in &args.services {
        out.insert(resolve_service(s, &ctx.config, &ctx.clients).await?);
    }
    Ok(out.into_iter().map(|r| (r, None)).collect())
}

/// `DIR/PROJECT/REGION/SERVICE.yaml`, one document each.
fn write_tree(dir: &Path, snapshots: &[ServiceSnapshot]) -> Result<(), CommandError> {
    for s in snapshots {
        let path = dir.join(&s.service.project).join(&s.service.region).join(format!("{}.yaml", s.service.name));
        let text = render(&Document::ServiceSnapshot(Box::new(s.clone())), DocFormat::Yaml);
        let parent = path.parent().expect("a joined path has a parent");
        std::fs::create_dir_all(parent)
            .and_then(|_| std::fs::write(&path, text))
            .map_err(|e| CommandError::new(Exit::Api, e).context(format!("cannot write {}", path.display())))?;
    }
    Ok(())
}

fn report(snapshots: &[ServiceSnapshot], format: ExportFormat) -> Result<(), CommandError> {
    match format {
        ExportFormat::Yaml | ExportFormat::Json => {
            let f = if format == ExportFormat::Yaml { DocFormat::Yaml } else { DocFormat::Json };
            write_stdout(snapshots.iter().map(|s| Document::ServiceSnapshot(Box::new(s.clone()))), f)?;
        }
        ExportFormat::Terraform => {
            let mut out = std::io::stdout().lock();
            let grants = snapshots.iter().flat_map(|s| s.iam_policy.bindings.iter().map(move |b| (&s.service, b)));
            out.write_all(runiam_core::terraform::render(grants, true).as_bytes())?;
        }
        ExportFormat::Text => {
            let mut out = std::io::stdout().lock();
            out.write_all(text_table(snapshots).as_bytes())?;
        }
    }
    Ok(())
}

/// Ingress as gcloud spells it (`--ingress`); a value runiam does not
/// know is shown as the API gave it.
fn gcloud_ingress(v2: Option<&str>) -> &str {
    match runiam_core::ingress::Ingress::from_v2(v2) {
        Ok(i) => i.gcloud(),
        Err(_) => v2.unwrap_or_default(),
    }
}

/// One line per service, for a terminal.
fn text_table(snapshots: &[ServiceSnapshot]) -> String {
    let rows: Vec<[String; 6]> = snapshots
        .iter()
        .map(|s| {
            [
                s.service.name.clone(),
                s.service.project.clone(),
                s.service.region.clone(),
                gcloud_ingress(s.ingress.as_deref()).to_owned(),
                if s.invoker_iam_disabled { "off".into() } else { "on".into() },
                s.iam_policy.bindings.iter().map(|b| b.members.len()).sum::<usize>().to_string(),
            ]
        })
        .collect();
    let header = ["SERVICE", "PROJECT", "REGION", "INGRESS", "INVOKER CHECK", "MEMBERS"].map(String::from);
    let widths: Vec<usize> =
        (0..6).map(|i| rows.iter().chain([&header]).map(|r| r[i].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in [&header].into_iter().chain(rows.iter()) {
        let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
