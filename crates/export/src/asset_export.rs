//! `--from-asset-export FILE|-`: snapshots from an Asset Inventory export
//! (`gcloud asset export --content-type=resource` and `iam-policy`,
//! newline-delimited `Asset` JSON as Google writes it to Cloud Storage),
//! without calling any API (docs/fleet.md).
//!
//! One pass over every file in order: each Run service's resource line and
//! policy line are joined by name, in whatever order and file they come,
//! and its snapshot is written as soon as both are in. Services still
//! waiting at the end have no policy line (nobody is granted anything on
//! them) and are written with an empty policy. Other asset types are
//! skipped. A line that is not an Asset, or a Run service runiam cannot
//! read, stops the export with its file and line number (exit 2).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::Utc;
use runiam_core::CommandError;
use runiam_core::api::asset::{self, Asset, Placement, RUN_SERVICE};
use runiam_core::api::run::Service;
use runiam_core::doc::{ServiceSnapshot, SnapshotSource};
use runiam_core::model::{Policy, ServiceRef};
use runiam_core::output::counter;

use crate::Sink;

/// Reads every file (`-` is stdin) into `sink`.
pub fn export(files: &[PathBuf], sink: &mut Sink, quiet: bool) -> Result<(), CommandError> {
    let bar = counter("reading the export", "services", quiet);
    let mut join = Join::default();
    for file in files {
        let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let f = std::fs::File::open(file).map_err(|e| {
                CommandError::usage(format!("cannot read the Asset Inventory export {}: {e}", file.display()))
            })?;
            Box::new(BufReader::new(f))
        };
        for (i, line) in reader.lines().enumerate() {
            let at = Line { file, number: i + 1 };
            let line = line.map_err(|e| at.error(&format!("cannot be read: {e}")))?;
            if line.trim().is_empty() {
                continue;
            }
            if let Some(s) = join.push(&line).map_err(|why| at.error(&why))? {
                sink.put(s)?;
                bar.inc(1);
            }
        }
    }
    let (rest, orphans) = join.finish();
    for s in rest {
        sink.put(s)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(first) = orphans.first().filter(|_| !quiet) {
        eprintln!(
            "runiam-export: warning: {} IAM polic{} name{} a Run service with no resource line (first: {first}); skipped: export --content-type=resource too",
            orphans.len(),
            if orphans.len() == 1 { "y" } else { "ies" },
            if orphans.len() == 1 { "s" } else { "" },
        );
    }
    Ok(())
}

/// Where a line is, for errors.
struct Line<'a> {
    file: &'a Path,
    number: usize,
}

impl Line<'_> {
    fn error(&self, why: &str) -> CommandError {
        let file = if self.file.as_os_str() == "-" { "stdin".to_owned() } else { self.file.display().to_string() };
        CommandError::usage(format!("line {} of {file}: {why}", self.number)).hinted(
            "each line must be one Asset as `gcloud asset export --content-type=resource` or `--content-type=iam-policy` writes it",
        )
    }
}

/// A service whose resource line was read.
struct Resource {
    target: ServiceRef,
    service: Service,
    placement: Placement,
}

/// The halves read so far of services not yet written.
#[derive(Default)]
struct Join {
    resources: BTreeMap<String, Resource>,
    policies: BTreeMap<String, Policy>,
}

impl Join {
    /// Reads one line; returns a snapshot when it completes a service.
    fn push(&mut self, line: &str) -> Result<Option<ServiceSnapshot>, String> {
        let a: Asset = serde_json::from_str(line).map_err(|e| format!("not an Asset: {e}"))?;
        if a.asset_type != RUN_SERVICE {
            return Ok(None);
        }
        if a.resource.is_none() && a.iam_policy.is_none() {
            return Err(format!("the {RUN_SERVICE} {} has neither resource nor iam_policy", a.name));
        }
        if let Some(r) = &a.resource {
            let data = r.data.as_ref().ok_or_else(|| format!("resource.data of {} is missing", a.name))?;
            let target = asset::service_of(&a.name).map_err(|e| e.to_string())?;
            let service = asset::run_service(&r.version, data).map_err(|e| format!("resource.data: {e}"))?;
            let placement = Placement::of_ancestors(&a.ancestors);
            if placement.project_number.is_empty() {
                return Err(format!("ancestors of {} name no projects/NUMBER", a.name));
            }
            self.resources.insert(a.name.clone(), Resource { target, service, placement });
        }
        if let Some(p) = a.iam_policy {
            self.policies.insert(a.name.clone(), p);
        }
        if !self.resources.contains_key(&a.name) || !self.policies.contains_key(&a.name) {
            return Ok(None);
        }
        let (Some(r), Some(p)) = (self.resources.remove(&a.name), self.policies.remove(&a.name)) else {
            return Ok(None);
        };
        complete(r, p).map(Some)
    }

    /// The services with no policy line (an empty policy), and the names
    /// of policies with no resource line.
    fn finish(self) -> (Vec<ServiceSnapshot>, Vec<String>) {
        let done = self.resources.into_values().filter_map(|r| complete(r, Policy::default()).ok()).collect();
        (done, self.policies.into_keys().collect())
    }
}

fn complete(r: Resource, policy: Policy) -> Result<ServiceSnapshot, String> {
    asset::finish(r.target, r.service, &r.placement, policy, SnapshotSource::AssetExport, Utc::now())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RESOURCE: &str = r#"{"name":"//run.googleapis.com/projects/proj-1/locations/us-east1/services/s","asset_type":"run.googleapis.com/Service","resource":{"version":"v2","data":{"name":"projects/proj-1/locations/us-east1/services/s","ingress":"INGRESS_TRAFFIC_INTERNAL_ONLY"}},"ancestors":["projects/7","organizations/1"]}"#;
    const POLICY: &str = r#"{"name":"//run.googleapis.com/projects/proj-1/locations/us-east1/services/s","asset_type":"run.googleapis.com/Service","iam_policy":{"bindings":[{"role":"roles/run.invoker","members":["allUsers"]}]},"ancestors":["projects/7","organizations/1"]}"#;

    #[test]
    fn halves_join_in_either_order() {
        for (first, second) in [(RESOURCE, POLICY), (POLICY, RESOURCE)] {
            let mut j = Join::default();
            assert!(j.push(first).unwrap().is_none());
            let s = j.push(second).unwrap().unwrap();
            assert_eq!(s.iam_policy.bindings[0].members, ["allUsers"]);
            assert_eq!(s.ingress.as_deref(), Some("INGRESS_TRAFFIC_INTERNAL_ONLY"));
            assert_eq!(s.service.project_number.as_deref(), Some("7"));
            assert_eq!(s.source, Some(SnapshotSource::AssetExport));
            assert_eq!(j.finish(), (vec![], vec![]));
        }
        let mut j = Join::default();
        j.push(RESOURCE).unwrap();
        let (done, orphans) = j.finish();
        assert!(done[0].iam_policy.bindings.is_empty() && orphans.is_empty());
    }

    #[test]
    fn bad_lines_say_why() {
        let mut j = Join::default();
        assert!(j.push("{").unwrap_err().starts_with("not an Asset"));
        assert!(j.push(r#"{"asset_type":"storage.googleapis.com/Bucket"}"#).unwrap().is_none());
        let bad = RESOURCE.replace("\"ingress\":\"INGRESS_TRAFFIC_INTERNAL_ONLY\"", "\"urls\":3");
        assert!(j.push(&bad).unwrap_err().starts_with("resource.data: the v2 service at urls"));
        let no_project = RESOURCE.replace("\"projects/7\",", "");
        assert!(j.push(&no_project).unwrap_err().contains("ancestors"));
    }

    proptest! {
        #[test]
        fn no_line_panics(line in ".{0,200}", cut in 0usize..400) {
            let mut j = Join::default();
            let _ = j.push(&line);
            let _ = j.push(&RESOURCE[..cut.min(RESOURCE.len())]);
            let _ = j.push(&POLICY[..cut.min(POLICY.len())]);
        }
    }
}
