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
use runiam_core::api::asset::{self, MAX_PAGE_SIZE, Placement, RUN_SERVICE, Search};
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
    for (i, s) in searched.iter().enumerate() {
        match through_inventory(clients, s, sink, &bar).await {
            Ok(()) => {}
            Err(Short::Failed(e)) => return Err(e),
            Err(Short::Unavailable(e)) => {
                let projects = match scope {
                    Scope::Projects(ps) => resolve_projects(clients, &ps[i..]).await?,
                    _ => runiam_core::change::projects_below(clients, s).await?,
                };
                if !quiet {
                    bar.suspend(|| eprintln!("runiam-export: warning: {}", fallback_warning(s, &e, projects.len())));
                }
                through_run(clients, projects, sink, &bar).await?;
                break;
            }
        }
    }
    bar.finish_and_clear();
    Ok(())
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

/// Resource pages fetched ahead while the policies are searched: the two
/// searches' page chains overlap instead of running one after the other,
/// and no more than this many pages wait in memory.
const RESOURCE_PAGES_AHEAD: usize = 4;

/// Both searches over one scope, writing each resource page's snapshots.
async fn through_inventory(clients: &Clients, scope: &str, sink: &mut Sink, bar: &ProgressBar) -> Result<(), Short> {
    let failed = |e: ApiError, first: bool| {
        if first && unavailable(&e) {
            Short::Unavailable(e)
        } else {
            Short::Failed(user_named(e, format!("cannot search Cloud Asset Inventory at {scope}")))
        }
    };
    let (pages, mut ahead) = tokio::sync::mpsc::channel(RESOURCE_PAGES_AHEAD);
    let fetch = resource_pages(clients.clone(), scope.to_owned(), pages);
    let write = async {
        let mut policies: BTreeMap<String, Policy> = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let search = Search {
                asset_types: &[RUN_SERVICE],
                page_size: Some(MAX_PAGE_SIZE),
                page_token: token.as_deref(),
                ..Search::default()
            };
            let page = clients
                .cloud_asset
                .search_all_iam_policies(scope, &search)
                .await
                .map_err(|e| failed(e, token.is_none()))?;
            policies.extend(asset::policies_by_resource(page.results));
            match page.next_page_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        let mut written = false;
        while let Some(page) = ahead.recv().await {
            let page = page.map_err(|e| failed(e, !written))?;
            let captured_at = Utc::now();
            let mut unversioned = Vec::new();
            for r in page.results.into_iter().filter(|r| r.asset_type == RUN_SERVICE) {
                let policy = policies.remove(&r.name).unwrap_or_default();
                let placement = Placement::of_search(r.project.as_deref(), &r.folders, r.organization.as_deref());
                match asset::preferred(&r.versioned_resources) {
                    Some(v) => {
                        let s = asset::snapshot(
                            &r.name,
                            &v.version,
                            &v.resource,
                            &placement,
                            policy,
                            SnapshotSource::AssetInventory,
                            captured_at,
                        )
                        .map_err(|e| unreadable(&r.name, &e.to_string()))?;
                        sink.put(s)?;
                        bar.inc(1);
                    }
                    None => unversioned.push((r.name, placement, policy)),
                }
            }
            for s in read_from_run(clients, unversioned).await? {
                sink.put(s)?;
                bar.inc(1);
            }
            written = true;
        }
        Ok(())
    };
    // Writing stops at the first error; dropping its receiver then stops the fetch.
    let ((), written) = tokio::join!(fetch, write);
    written
}

/// `searchAllResources` page after page into `pages`, the last one an
/// error if one comes; stops when the receiver is gone.
async fn resource_pages(
    clients: Clients,
    scope: String,
    pages: tokio::sync::mpsc::Sender<Result<asset::Page<asset::ResourceSearchResult>, ApiError>>,
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
/// once, each project's snapshots written as soon as it completes.
async fn through_run(
    clients: &Clients,
    projects: Vec<String>,
    sink: &mut Sink,
    bar: &ProgressBar,
) -> Result<(), CommandError> {
    set_total(bar, projects.len() as u64, "projects");
    let mut done = futures::stream::iter(projects)
        .map(|p| async move {
            let listed = list_project(clients, &p).await?;
            let targets: Vec<(ServiceRef, Option<_>)> = listed.into_iter().map(|(r, s)| (r, Some(s))).collect();
            snapshots(clients, targets, true).await
        })
        .buffer_unordered(PROJECTS_AT_ONCE);
    while let Some(snapshots) = done.next().await {
        for s in snapshots? {
            sink.put(s)?;
        }
        bar.inc(1);
    }
    Ok(())
}
