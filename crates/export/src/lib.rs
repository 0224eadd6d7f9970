//! `runiam export`: snapshot services and their IAM policies.
//!
//! Gather (resolve the services, read each service, its policy and its
//! project's ancestry, concurrently) → decide (build ServiceSnapshots) →
//! act (nothing: export only reads) → report (YAML/JSON documents, an
//! `--out-dir` tree, or Terraform). For named services and `--all`,
//! everything is gathered before anything is written, so a failure leaves
//! `--out-dir` untouched. A fleet (`--organization`, `--folder`,
//! `--projects`: `fleet`) or an Asset Inventory export (`asset_export`)
//! streams instead: each snapshot is written as it completes, so an estate
//! of any size never sits in memory (docs/fleet.md).

pub mod asset_export;
pub mod fleet;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{Stdout, Write};
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use runiam_core::api::run::Service;
use runiam_core::change::{list_project, snapshots};
use runiam_core::cli::{CommonArgs, Context, run_command};
use runiam_core::config::Api;
use runiam_core::doc::{DocFormat, DocWriter, Document, ServiceSnapshot, render};
use runiam_core::http::HttpOptions;
use runiam_core::model::{ServiceRef, check_project_id};
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
    #[arg(value_name = "SERVICE", required_unless_present_any = ["all", "organization", "folder", "projects", "from_asset_export"])]
    pub services: Vec<String>,
    /// Export every service of the project, in every region.
    #[arg(long, conflicts_with = "services")]
    pub all: bool,
    /// Export every service of organization N (its numeric id) through Cloud Asset Inventory, streaming snapshots as they complete.
    #[arg(long, value_name = "N", value_parser = resource_number, conflicts_with_all = ["services", "all", "folder", "projects", "from_asset_export"])]
    pub organization: Option<String>,
    /// Export every service of folder N and the folders below it, through Cloud Asset Inventory.
    #[arg(long, value_name = "N", value_parser = resource_number, conflicts_with_all = ["services", "all", "projects", "from_asset_export"])]
    pub folder: Option<String>,
    /// Export every service of these projects (ids or numbers, comma-separated), through Cloud Asset Inventory.
    #[arg(long, value_name = "P,Q", value_delimiter = ',', value_parser = project_id_or_number, conflicts_with_all = ["services", "all", "from_asset_export"])]
    pub projects: Vec<String>,
    /// Read an Asset Inventory export instead of calling any API: newline-delimited Asset JSON (--content-type resource and iam-policy, in one file or several; - for stdin); files are read twice, policies first, so memory holds only the policies.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["services", "all"])]
    pub from_asset_export: Vec<PathBuf>,
    /// Calls a minute allowed to one API, as API=N (cloudasset=350, run=540, cloudresourcemanager=540 by default against Google, under its published quotas; repeatable).
    #[arg(long = "rate-limit", value_name = "API=N", value_parser = parse_rate_limit)]
    pub rate_limits: Vec<(Api, f64)>,
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

/// `--rate-limit API=N`: the API by its host label, N calls a minute.
fn parse_rate_limit(s: &str) -> Result<(Api, f64), String> {
    let (api, n) = s.split_once('=').ok_or_else(|| format!("'{s}' is not API=N (cloudasset=300)"))?;
    let api = Api::ALL.into_iter().find(|a| a.host_label() == api.trim()).ok_or_else(|| {
        let known: Vec<&str> = Api::ALL.iter().map(|a| a.host_label()).collect();
        format!("'{api}' is not an API runiam calls; use one of {}", known.join(", "))
    })?;
    match n.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok((api, n)),
        _ => Err(format!("'{n}' is not a number of calls a minute above 0")),
    }
}

/// `--organization`, `--folder`: Resource Manager names both by number.
fn resource_number(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err(format!("'{s}' is not a numeric id (gcloud organizations list, gcloud resource-manager folders list)"))
    }
}

/// `--projects`: each a project id or number.
fn project_id_or_number(s: &str) -> Result<String, String> {
    let number = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if number { Ok(s.to_owned()) } else { check_project_id(s).map(|()| s.to_owned()).map_err(|e| e.to_string()) }
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
    let mut sink = Sink::new(format, args.out_dir.clone());
    if !args.from_asset_export.is_empty() {
        asset_export::export(&args.from_asset_export, &mut sink, args.common.quiet)?;
        return sink.finish().map(|()| Exit::Ok);
    }
    let options = HttpOptions { rates: args.rate_limits.iter().copied().collect(), ..HttpOptions::default() };
    let ctx = args.common.context(options)?;
    let scope = match (&args.organization, &args.folder) {
        (Some(o), _) => Some(fleet::Scope::Organization(o.clone())),
        (None, Some(f)) => Some(fleet::Scope::Folder(f.clone())),
        (None, None) if !args.projects.is_empty() => Some(fleet::Scope::Projects(args.projects.clone())),
        _ => None,
    };
    let exported = match scope {
        Some(scope) => fleet::export(&ctx.clients, &scope, &mut sink, args.common.quiet).await,
        None => export_project(&args, &ctx, &mut sink).await,
    };
    if args.common.verbose {
        report_calls(&ctx);
    }
    exported?;
    sink.finish()?;
    Ok(Exit::Ok)
}

/// `--verbose`: the calls made per API, and how many were answered 429.
fn report_calls(ctx: &Context) {
    let calls: Vec<String> = ctx
        .http
        .calls_by_api()
        .iter()
        .map(|(api, c)| format!("{} {} ({} answered 429)", api.host_label(), c.calls, c.exhausted))
        .collect();
    eprintln!("runiam-export: API calls: {}", if calls.is_empty() { "none".to_owned() } else { calls.join(", ") });
}

/// Named services, or `--all`: gathered whole, then written.
async fn export_project(args: &Args, ctx: &Context, sink: &mut Sink) -> Result<(), CommandError> {
    let targets = gather_targets(args, ctx).await?;
    for s in snapshots(&ctx.clients, targets, args.common.quiet).await? {
        sink.put(s)?;
    }
    Ok(())
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

/// Where snapshots go as they complete: documents and `--out-dir` files
/// at once; a table or Terraform (whose labels are made unique across
/// services) once every snapshot is in.
pub enum Sink {
    Docs(DocWriter<Stdout>),
    /// `DIR/PROJECT/REGION/SERVICE.yaml`, one document each.
    Tree(PathBuf),
    Table(Vec<ServiceSnapshot>),
    Terraform(Vec<ServiceSnapshot>),
}

impl Sink {
    pub fn new(format: ExportFormat, out_dir: Option<PathBuf>) -> Self {
        match (out_dir, format) {
            (Some(dir), _) => Sink::Tree(dir),
            (None, ExportFormat::Yaml) => Sink::Docs(DocWriter::new(std::io::stdout(), DocFormat::Yaml)),
            (None, ExportFormat::Json) => Sink::Docs(DocWriter::new(std::io::stdout(), DocFormat::Json)),
            (None, ExportFormat::Text) => Sink::Table(Vec::new()),
            (None, ExportFormat::Terraform) => Sink::Terraform(Vec::new()),
        }
    }

    pub fn put(&mut self, s: ServiceSnapshot) -> Result<(), CommandError> {
        self.put_all(vec![s])
    }

    /// Snapshots that arrived together (a page of search results), written
    /// to a stream in one go.
    pub fn put_all(&mut self, snapshots: Vec<ServiceSnapshot>) -> Result<(), CommandError> {
        match self {
            Sink::Docs(w) => {
                let docs: Vec<Document> =
                    snapshots.into_iter().map(|s| Document::ServiceSnapshot(Box::new(s))).collect();
                w.write_batch(&docs)?;
            }
            Sink::Tree(dir) => snapshots.iter().try_for_each(|s| write_file(dir, s))?,
            Sink::Table(all) | Sink::Terraform(all) => all.extend(snapshots),
        }
        Ok(())
    }

    pub fn finish(self) -> Result<(), CommandError> {
        let mut out = std::io::stdout().lock();
        match self {
            Sink::Docs(_) | Sink::Tree(_) => {}
            Sink::Terraform(all) => {
                let grants = all.iter().flat_map(|s| s.iam_policy.bindings.iter().map(move |b| (&s.service, b)));
                out.write_all(runiam_core::terraform::render(grants, true).as_bytes())?;
            }
            Sink::Table(all) => out.write_all(text_table(&all).as_bytes())?,
        }
        Ok(())
    }
}

fn write_file(dir: &Path, s: &ServiceSnapshot) -> Result<(), CommandError> {
    let path = dir.join(&s.service.project).join(&s.service.region).join(format!("{}.yaml", s.service.name));
    let text = render(&Document::ServiceSnapshot(Box::new(s.clone())), DocFormat::Yaml);
    let parent = path.parent().expect("a joined path has a parent");
    std::fs::create_dir_all(parent)
        .and_then(|_| std::fs::write(&path, text))
        .map_err(|e| CommandError::new(Exit::Api, e).context(format!("cannot write {}", path.display())))
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
