//! Fleet export (`--organization`, `--folder`, `--projects`): every Run
//! service of the scope and its IAM policy through Cloud Asset Inventory,
//! else project by project through Cloud Run (docs/fleet.md).
//!
//! Gather: page through `searchAllIamPolicies` for the services' policies,
//! then through `searchAllResources` with `versionedResources`, and turn
//! each page into snapshots at once (`source: assetInventory`); a service
//! whose versioned form is missing is read from Run. Where Asset Inventory
//! answers 403 (not permitted, or the API disabled) before anything was
//! written, warn with the cost and the permissions that avoid it, and list
//! each project through Run with bounded concurrency.

use std::collections::BTreeMap;

use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use runiam_core::api::Clients;
use runiam_core::api::asset::{self, MAX_PAGE_SIZE, Placement, RUN_SERVICE, Search, Unread};
use runiam_core::doc::{ServiceSnapshot, SnapshotSource};
use runiam_core::http::ApiError;
use runiam_core::model::{Policy, ServiceRef, check_project_id};
use runiam_core::output::{counter, set_total};
use runiam_core::target::user_named;
use runiam_core::{CommandError, Exit};

use runiam_core::change::{list_project, snapshots};

use crate::Sink;

/// What a fleet export covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Organization(String),
    Folder(String),
    /// Project ids or numbers.
    Projects(Vec<String>),
}

impl Scope {
    /// The Asset Inventory scopes to search, one per project for `--projects`.
    fn searched(&self) -> Vec<String> {
        match self {
            Scope::Organization(n) => vec![format!("organizations/{n}")],
            Scope::Folder(n) => vec![format!("folders/{n}")],
            Scope::Projects(ps) => ps.iter().map(|p| format!("projects/{p}")).collect(),
        }
    }
}

/// What the searches ask `searchAllResources` to return.
const READ_MASK: &str = "name,assetType,project,folders,organization,versionedResources";

/// Projects listed through Run at once in the fallback: as many as the HTTP
/// layer lets calls be in flight, so that one project's listing rounds
/// (v1, then v2 per region, then policies) never leave the others idle.
const PROJECTS_AT_ONCE: usize = 16;

/// Services read from Run at once when their versioned form is missing.
const READS_AT_ONCE: usize = 16;

/// How the Asset Inventory route ended short.
enum Short {
    /// 403 before anything was written: the fallback may take over.
    Unavailable(ApiError),
    Failed(CommandError),
}

impl From<CommandError> for Short {
    fn from(e: CommandError) -> Self {
        Short::Failed(e)
    }
}

/// Exports every service of `scope` into `sink`, as each page completes.
pub async fn export(clients: &Clients, scope: &Scope, sink: &mut Sink, quiet: bool) -> Result<(), CommandError> {
    let bar = counter("exporting", "services", quiet);
    let searched = scope.searched();
    let mut exported = 0;
    for (i, s) in searched.iter().enumerate() {
        match through_inventory(clients, s, sink, &bar).await {
            Ok(n) => exported += n,
            Err(Short::Failed(e)) => return Err(e),
            Err(Short::Unavailable(e)) => {
                let projects = match scope {
                    Scope::Projects(ps) => resolve_projects(clients, &ps[i..]).await?,
                    _ => runiam_core::change::projects_below(clients, s).await?,
                };
                if !quiet {
                    bar.suspend(|| eprintln!("runiam-export: warning: {}", fallback_warning(s, &e, projects.len())));
                }
                exported += through_run(clients, projects, sink, &bar).await?;
                break;
            }
        }
    }
    bar.finish_and_clear();
    if exported == 0 && !quiet {
        eprintln!("runiam-export: warning: {}", nothing_found(&searched));
    }
    Ok(())
}

/// An empty export is said, not left to an empty stdout.
fn nothing_found(searched: &[String]) -> String {
    format!(
        "no Cloud Run service under {}: nothing exported (the caller sees none there, or there are none)",
        searched.join(", ")
    )
}

/// Why Asset Inventory cannot be used, what the fallback costs, and the
/// permissions that avoid it.
fn fallback_warning(scope: &str, e: &ApiError, projects: usize) -> String {
    let why = match e.status() {
        Some(s) if s.reason.as_deref() == Some("SERVICE_DISABLED") => {
            "the Cloud Asset API is disabled (gcloud services enable cloudasset.googleapis.com)".to_owned()
        }
        Some(s) => format!("{} {}", s.http, s.status),
        None => e.to_string(),
    };
    format!(
        "Cloud Asset Inventory cannot search {scope} ({why}); listing each of {projects} project(s) through Cloud Run instead, \
         which costs 3 calls per project, 1 per region in use and 1 getIamPolicy per service (against 2 searches per 500 services); \
         grant cloudasset.assets.searchAllResources and cloudasset.assets.searchAllIamPolicies on {scope} (roles/cloudasset.viewer) to avoid it"
    )
}

/// Is this the answer of a scope Asset Inventory will not search for us?
fn unavailable(e: &ApiError) -> bool {
    e.status().is_some_and(|s| s.http == 403)
}

/// Resource pages read ahead of the policies: the two searches' page
/// chains run at once, each in its own task, and no more than twice this
/// many pages (in the channel, and converted while the policies are still
/// being searched) wait in memory.
const RESOURCE_PAGES_AHEAD: usize = 4;

/// A resource page's services, read before their policies are known.
type Converted = Vec<(String, Pending)>;

/// One service of a resource page, waiting for its policy.
enum Pending {
    /// Read from its versioned form; its `iam_policy` is still empty.
    Read(Box<ServiceSnapshot>),
    /// No versioned form: its settings must come from Run.
    Unversioned(Placement),
}

/// A search running in its own task, stopped when the export stops early.
struct Aborting<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Aborting<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Both searches over one scope, writing each resource page's snapshots;
/// how many.
async fn through_inventory(clients: &Clients, scope: &str, sink: &mut Sink, bar: &ProgressBar) -> Result<usize, Short> {
    let failed = |e: ApiError, first: bool| {
        if first && unavailable(&e) {
            Short::Unavailable(e)
        } else {
            Short::Failed(user_named(e, format!("cannot search Cloud Asset Inventory at {scope}")))
        }
    };
    let mut policies_task = Aborting(tokio::spawn(policies_of(clients.clone(), scope.to_owned())));
    let (pages, mut ahead) = tokio::sync::mpsc::channel(RESOURCE_PAGES_AHEAD);
    let _fetch = Aborting(tokio::spawn(resource_pages(clients.clone(), scope.to_owned(), pages)));
    // Resource pages are read while the policies are searched; once the
    // policies are in, every page is written as it comes.
    let mut policies: Option<BTreeMap<String, Policy>> = None;
    let mut held: Vec<Converted> = Vec::new();
    let (mut read_all, mut written) = (false, 0);
    loop {
        tokio::select! {
            searched = &mut policies_task.0, if policies.is_none() => {
                let searched = searched.map_err(|e| Short::Failed(CommandError::new(Exit::Api, e)))?;
                policies = Some(searched.map_err(|(e, first)| failed(e, first && written == 0))?);
            }
            page = ahead.recv(), if !read_all && held.len() < RESOURCE_PAGES_AHEAD => match page {
                Some(page) => held.push(converted(page.and_then(Unread::read).map_err(|e| failed(e, written == 0))?)?),
                None => read_all = true,
            },
        }
        let Some(policies) = &mut policies else { continue };
        for page in held.drain(..) {
            written += write(clients, page, policies, sink, bar).await?;
        }
        if read_all {
            return Ok(written);
        }
    }
}

/// Every Run service's policy under `scope`, by full resource name; an
/// error says whether it answered the first page. Each page is read while
/// the next one is on its way.
async fn policies_of(clients: Clients, scope: String) -> Result<BTreeMap<String, Policy>, (ApiError, bool)> {
    let fetch = |token: Option<String>| {
        let (clients, scope) = (&clients, &scope);
        async move {
            let search = Search {
                asset_types: &[RUN_SERVICE],
                page_size: Some(MAX_PAGE_SIZE),
                page_token: token.as_deref(),
                ..Search::default()
            };
            clients.cloud_asset.search_all_iam_policies(scope, &search).await.map_err(|e| (e, token.is_none()))
        }
    };
    let mut policies = BTreeMap::new();
    let mut page = fetch(None).await?;
    loop {
        let next = page.next_page_token.clone();
        let read = async { page.read().map_err(|e| (e, false)) };
        let (read, next) = match next {
            Some(t) => {
                let (next, read) = tokio::join!(fetch(Some(t)), read);
                (read, Some(next?))
            }
            None => (read.await, None),
        };
        policies.extend(asset::policies_by_resource(read?.results));
        match next {
            Some(n) => page = n,
            None => return Ok(policies),
        }
    }
}

/// A resource page's Run services, each read from its preferred version.
fn converted(page: asset::Page<asset::ResourceSearchResult>) -> Result<Converted, CommandError> {
    let captured_at = Utc::now();
    page.results
        .into_iter()
        .filter(|r| r.asset_type == RUN_SERVICE)
        .map(|r| {
            let placement = Placement::of_search(r.project.as_deref(), &r.folders, r.organization.as_deref());
            let pending = match asset::preferred(&r.versioned_resources) {
                Some(v) => Pending::Read(Box::new(
                    asset::snapshot(
                        &r.name,
                        &v.version,
                        &v.resource,
                        &placement,
                        Policy::default(),
                        SnapshotSource::AssetInventory,
                        captured_at,
                    )
                    .map_err(|e| unreadable(&r.name, &e.to_string()))?,
                )),
                None => Pending::Unversioned(placement),
            };
            Ok((r.name, pending))
        })
        .collect()
}

/// A converted page's snapshots with their policies, into `sink`; those
/// without a versioned form are read from Run first. How many.
async fn write(
    clients: &Clients,
    page: Converted,
    policies: &mut BTreeMap<String, Policy>,
    sink: &mut Sink,
    bar: &ProgressBar,
) -> Result<usize, CommandError> {
    let mut read = Vec::with_capacity(page.len());
    let mut unversioned = Vec::new();
    for (name, pending) in page {
        let policy = policies.remove(&name).unwrap_or_default();
        match pending {
            Pending::Read(mut s) => {
                s.iam_policy = policy;
                read.push(*s);
            }
            Pending::Unversioned(placement) => unversioned.push((name, placement, policy)),
        }
    }
    read.extend(read_from_run(clients, unversioned).await?);
    let n = read.len();
    bar.inc(n as u64);
    sink.put_all(read)?;
    Ok(n)
}

/// `searchAllResources` page after page into `pages`, unread (the receiver
/// reads each while the next is on its way), the last one an error if one
/// comes; stops when the receiver is gone.
async fn resource_pages(
    clients: Clients,
    scope: String,
    pages: tokio::sync::mpsc::Sender<Result<Unread<asset::ResourceSearchResult>, ApiError>>,
) {
    let mut token: Option<String> = None;
    loop {
        let search = Search {
            asset_types: &[RUN_SERVICE],
            read_mask: Some(READ_MASK),
            page_size: Some(MAX_PAGE_SIZE),
            page_token: token.as_deref(),
            ..Search::default()
        };
        let page = clients.cloud_asset.search_all_resources(&scope, &search).await;
        let next = page.as_ref().ok().and_then(|p| p.next_page_token.clone());
        if pages.send(page).await.is_err() {
            return;
        }
        match next {
            Some(t) => token = Some(t),
            None => return,
        }
    }
}

fn unreadable(name: &str, why: &str) -> CommandError {
    CommandError::new(
        Exit::Api,
        std::io::Error::other(format!("Cloud Asset Inventory returned {name}, which runiam cannot read: {why}")),
    )
}

/// Services Asset Inventory listed without a versioned form: their
/// settings from Run, their policy and placement from Asset Inventory.
async fn read_from_run(
    clients: &Clients,
    services: Vec<(String, Placement, Policy)>,
) -> Result<Vec<ServiceSnapshot>, CommandError> {
    futures::stream::iter(services)
        .map(|(name, placement, policy)| async move {
            let target = asset::service_of(&name).map_err(|e| unreadable(&name, &e.to_string()))?;
            let service = clients
                .run_v2
                .get_service(&target)
                .await
                .map_err(|e| user_named(e, format!("cannot read service {}", target.full_name())))?;
            asset::finish(target, service, &placement, policy, SnapshotSource::AssetInventory, Utc::now())
                .map_err(|e| unreadable(&name, &e.to_string()))
        })
        .buffer_unordered(READS_AT_ONCE)
        .try_collect()
        .await
}

/// Project ids for `--projects` (numbers are looked up).
async fn resolve_projects(clients: &Clients, given: &[String]) -> Result<Vec<String>, CommandError> {
    let mut out = Vec::new();
    for p in given {
        if check_project_id(p).is_ok() {
            out.push(p.clone());
        } else {
            let found = clients
                .resource_manager
                .get_project(p)
                .await
                .map_err(|e| user_named(e, format!("cannot read project {p}")))?;
            out.push(found.project_id);
        }
    }
    Ok(out)
}

/// The fallback: each project's services through Run, a few projects at
/// once, each project's snapshots written as soon as it completes; how many.
async fn through_run(
    clients: &Clients,
    projects: Vec<String>,
    sink: &mut Sink,
    bar: &ProgressBar,
) -> Result<usize, CommandError> {
    set_total(bar, projects.len() as u64, "projects");
    let mut done = futures::stream::iter(projects)
        .map(|p| async move {
            let listed = list_project(clients, &p).await?;
            let targets: Vec<(ServiceRef, Option<_>)> = listed.into_iter().map(|(r, s)| (r, Some(s))).collect();
            snapshots(clients, targets, true).await
        })
        .buffer_unordered(PROJECTS_AT_ONCE);
    let mut exported = 0;
    while let Some(snapshots) = done.next().await {
        let snapshots = snapshots?;
        exported += snapshots.len();
        sink.put_all(snapshots)?;
        bar.inc(1);
    }
    Ok(exported)
}
