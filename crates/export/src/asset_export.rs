//! `--from-asset-export FILE|-`: snapshots from an Asset Inventory export
//! (`gcloud asset export --content-type=resource` and `iam-policy`,
//! newline-delimited `Asset` JSON as Google writes it to Cloud Storage),
//! without calling any API (docs/fleet.md).
//!
//! Memory holds the policies, compact, and never the resources: the files
//! are read twice, first for their policy lines only (the resource halves
//! skipped unread), then for their resource lines, each of which completes
//! its service at once, with its policy or, having none, an empty one.
//! Stdin cannot be read twice: it is read once in between, its two halves
//! joined by name in whatever order they come, so a service of stdin waits
//! for its policy until stdin ends. Other asset types are skipped. A line
//! that is not an Asset, or a Run service runiam cannot read, stops the
//! export with its file and line number (exit 2).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::Utc;
use runiam_core::CommandError;
use runiam_core::api::asset::{self, Asset, AssetPolicy, Placement, RUN_SERVICE};
use runiam_core::api::run::Service;
use runiam_core::doc::{ServiceSnapshot, SnapshotSource};
use runiam_core::model::{Policy, ServiceRef};
use runiam_core::output::counter;

use crate::Sink;

/// Reads every file (`-` is stdin) into `sink`.
pub fn export(files: &[PathBuf], sink: &mut Sink, quiet: bool) -> Result<(), CommandError> {
    let bar = counter("reading the export", "services", quiet);
    let (stdin, named): (Vec<&PathBuf>, Vec<&PathBuf>) = files.iter().partition(|f| f.as_os_str() == "-");
    let mut join = Join::default();
    for file in &named {
        each_line(file, |line| {
            let a: AssetPolicy = serde_json::from_str(line).map_err(|e| Stop::Line(format!("not an Asset: {e}")))?;
            if let Some(p) = a.iam_policy.filter(|_| a.asset_type == RUN_SERVICE) {
                join.keep_policy(a.name, &p);
            }
            Ok(())
        })?;
    }
    let mut exported = 0usize;
    let mut put = |s: Option<ServiceSnapshot>| -> Result<(), Stop> {
        if let Some(s) = s {
            sink.put(s).map_err(Stop::Sink)?;
            bar.inc(1);
            exported += 1;
        }
        Ok(())
    };
    if !stdin.is_empty() {
        each_line(Path::new("-"), |line| match parse(line)? {
            Some(Half::Resource(_, r, Some(p))) => put(Some(complete(*r, p).map_err(Stop::Line)?)),
            Some(Half::Resource(name, r, None)) => put(join.resource(name, r, false)?),
            Some(Half::Policy(name, p)) => put(join.policy(name, p)?),
            None => Ok(()),
        })?;
    }
    // Every policy is in: a service still without one has none.
    for s in join.settle()? {
        put(Some(s)).map_err(Stop::into_error)?;
    }
    for file in &named {
        // A resource line's own policy, if any, was kept by the first pass.
        each_line(file, |line| match parse(line)? {
            Some(Half::Resource(name, r, _)) => put(join.resource(name, r, true)?),
            _ => Ok(()),
        })?;
    }
    bar.finish_and_clear();
    if exported == 0 && !quiet {
        let names: Vec<String> = files
            .iter()
            .map(|f| if f.as_os_str() == "-" { "stdin".to_owned() } else { f.display().to_string() })
            .collect();
        eprintln!(
            "runiam-export: warning: no {RUN_SERVICE} resource line in {}: nothing exported (gcloud asset export --content-type=resource, with --asset-types={RUN_SERVICE} or every type)",
            names.join(", ")
        );
    }
    let orphans = join.orphans();
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

/// Why reading stopped: a bad line, or the output failing.
enum Stop {
    Line(String),
    Sink(CommandError),
}

impl From<String> for Stop {
    fn from(why: String) -> Self {
        Stop::Line(why)
    }
}

impl Stop {
    fn into_error(self) -> CommandError {
        match self {
            Stop::Line(why) => CommandError::usage(why),
            Stop::Sink(e) => e,
        }
    }
}

/// Calls `f` on each non-empty line of `file` (`-`: stdin); a bad line's
/// error names the file and line.
fn each_line(file: &Path, mut f: impl FnMut(&str) -> Result<(), Stop>) -> Result<(), CommandError> {
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let opened = std::fs::File::open(file).map_err(|e| {
            CommandError::usage(format!("cannot read the Asset Inventory export {}: {e}", file.display()))
        })?;
        Box::new(BufReader::with_capacity(1 << 20, opened))
    };
    for (i, line) in reader.lines().enumerate() {
        let at = Line { file, number: i + 1 };
        let line = line.map_err(|e| at.error(&format!("cannot be read: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        match f(&line) {
            Ok(()) => {}
            Err(Stop::Line(why)) => return Err(at.error(&why)),
            Err(Stop::Sink(e)) => return Err(e),
        }
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

/// What one line of a Run service holds: its resource (and its policy,
/// should one line carry both, which Google's exports never do), or its
/// policy.
enum Half {
    Resource(String, Box<Resource>, Option<Policy>),
    Policy(String, Policy),
}

/// One line: None for another asset type.
fn parse(line: &str) -> Result<Option<Half>, String> {
    let a: Asset = serde_json::from_str(line).map_err(|e| format!("not an Asset: {e}"))?;
    if a.asset_type != RUN_SERVICE {
        return Ok(None);
    }
    match (a.resource, a.iam_policy) {
        (Some(r), policy) => {
            let data = r.data.as_ref().ok_or_else(|| format!("resource.data of {} is missing", a.name))?;
            let target = asset::service_of(&a.name).map_err(|e| e.to_string())?;
            let service = asset::run_service(&r.version, data).map_err(|e| format!("resource.data: {e}"))?;
            let placement = Placement::of_ancestors(&a.ancestors);
            if placement.project_number.is_empty() {
                return Err(format!("ancestors of {} name no projects/NUMBER", a.name));
            }
            Ok(Some(Half::Resource(a.name, Box::new(Resource { target, service, placement }), policy)))
        }
        (None, Some(p)) => Ok(Some(Half::Policy(a.name, p))),
        (None, None) => Err(format!("the {RUN_SERVICE} {} has neither resource nor iam_policy", a.name)),
    }
}

/// The policies read and not yet paired, as compact JSON (a third of the
/// memory of the parsed form), and stdin's services waiting for theirs.
#[derive(Default)]
struct Join {
    policies: HashMap<Box<str>, Box<str>>,
    waiting: BTreeMap<String, Resource>,
}

impl Join {
    fn keep_policy(&mut self, name: String, policy: &Policy) {
        let compact = serde_json::to_string(policy).unwrap_or_default();
        self.policies.insert(name.into_boxed_str(), compact.into_boxed_str());
    }

    /// A policy line: completes its waiting service, else is kept.
    fn policy(&mut self, name: String, policy: Policy) -> Result<Option<ServiceSnapshot>, String> {
        match self.waiting.remove(&name) {
            Some(r) => complete(r, policy).map(Some),
            None => {
                self.keep_policy(name, &policy);
                Ok(None)
            }
        }
    }

    /// A resource line: completed with its kept policy; else with an empty
    /// one when every policy is in (`all_policies`), else it waits.
    fn resource(
        &mut self,
        name: String,
        r: Box<Resource>,
        all_policies: bool,
    ) -> Result<Option<ServiceSnapshot>, String> {
        match self.policies.remove(name.as_str()) {
            Some(compact) => {
                let policy = serde_json::from_str(&compact).map_err(|e| format!("the policy of {name}: {e}"))?;
                complete(*r, policy).map(Some)
            }
            None if all_policies => complete(*r, Policy::default()).map(Some),
            None => {
                self.waiting.insert(name, *r);
                Ok(None)
            }
        }
    }

    /// The waiting services, with empty policies: no policy line is to come.
    fn settle(&mut self) -> Result<Vec<ServiceSnapshot>, CommandError> {
        std::mem::take(&mut self.waiting)
            .into_values()
            .map(|r| complete(r, Policy::default()).map_err(CommandError::usage))
            .collect()
    }

    /// Names of the policies no resource line claimed.
    fn orphans(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.policies.keys().map(|k| &**k).collect();
        names.sort_unstable();
        names
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

    fn half(line: &str) -> Half {
        parse(line).unwrap().unwrap()
    }

    fn resource_of(line: &str) -> (String, Box<Resource>) {
        let Half::Resource(name, r, _) = half(line) else { panic!("not a resource line") };
        (name, r)
    }

    #[test]
    fn halves_on_stdin_join_in_either_order() {
        let Half::Policy(name, policy) = half(POLICY) else { panic!("not a policy line") };
        // The resource first: it waits for its policy.
        let mut j = Join::default();
        let (n, r) = resource_of(RESOURCE);
        assert!(j.resource(n, r, false).unwrap().is_none());
        let s = j.policy(name.clone(), policy.clone()).unwrap().unwrap();
        assert_eq!(s.iam_policy.bindings[0].members, ["allUsers"]);
        assert_eq!(s.ingress.as_deref(), Some("INGRESS_TRAFFIC_INTERNAL_ONLY"));
        assert_eq!(s.service.project_number.as_deref(), Some("7"));
        assert_eq!(s.source, Some(SnapshotSource::AssetExport));
        assert!(j.settle().unwrap().is_empty() && j.orphans().is_empty());
        // The policy first: kept compact, taken by the resource.
        let mut j = Join::default();
        assert!(j.policy(name, policy).unwrap().is_none());
        let (n, r) = resource_of(RESOURCE);
        assert_eq!(j.resource(n, r, false).unwrap().unwrap().iam_policy.bindings[0].members, ["allUsers"]);
        // No policy ever: settled with an empty one.
        let mut j = Join::default();
        let (n, r) = resource_of(RESOURCE);
        assert!(j.resource(n, r, false).unwrap().is_none());
        assert!(j.settle().unwrap()[0].iam_policy.bindings.is_empty());
    }

    /// Files: each service is written as its resource line is read, in the
    /// resources' order, though every policy line comes in a later file and
    /// in another order: nothing but the policies waits.
    #[test]
    fn files_hold_only_the_policies() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["a", "b", "c"];
        let resources: Vec<String> =
            names.iter().map(|n| RESOURCE.replace("services/s", &format!("services/{n}"))).collect();
        let policies: Vec<String> = ["c", "a"]
            .iter()
            .map(|n| {
                POLICY
                    .replace("services/s", &format!("services/{n}"))
                    .replace("allUsers", &format!("user:{n}@x.example"))
            })
            .collect();
        let bucket = r#"{"name":"//storage.googleapis.com/b","asset_type":"storage.googleapis.com/Bucket","resource":{"version":"v1","data":{}}}"#;
        let orphan = POLICY.replace("services/s", "services/gone");
        let files = [dir.path().join("resources.json"), dir.path().join("iam.json")];
        std::fs::write(&files[0], format!("{}\n{bucket}\n\n", resources.join("\n"))).unwrap();
        std::fs::write(&files[1], format!("{}\n{orphan}\n", policies.join("\n"))).unwrap();
        let mut sink = Sink::Table(Vec::new());
        export(&files, &mut sink, true).unwrap();
        let Sink::Table(written) = sink else { unreachable!() };
        let got: Vec<(&str, Vec<String>)> = written
            .iter()
            .map(|s| (s.service.name.as_str(), s.iam_policy.bindings.iter().flat_map(|b| b.members.clone()).collect()))
            .collect();
        assert_eq!(
            got,
            [("a", vec!["user:a@x.example".to_owned()]), ("b", vec![]), ("c", vec!["user:c@x.example".to_owned()]),]
        );
        // A bad line in the second file is named by file and line, in either pass.
        std::fs::write(&files[1], format!("{}\n{{\n", policies[0])).unwrap();
        let e = export(&files, &mut Sink::Table(Vec::new()), true).unwrap_err();
        assert!(e.to_string().contains(&format!("line 2 of {}: not an Asset", files[1].display())), "{e}");
    }

    #[test]
    fn bad_lines_say_why() {
        assert!(parse("{").err().unwrap().starts_with("not an Asset"));
        assert!(parse(r#"{"asset_type":"storage.googleapis.com/Bucket"}"#).unwrap().is_none());
        let bad = RESOURCE.replace("\"ingress\":\"INGRESS_TRAFFIC_INTERNAL_ONLY\"", "\"urls\":3");
        assert!(parse(&bad).err().unwrap().starts_with("resource.data: the v2 service at urls"));
        let no_project = RESOURCE.replace("\"projects/7\",", "");
        assert!(parse(&no_project).err().unwrap().contains("ancestors"));
        let neither = r#"{"name":"//run.googleapis.com/projects/p/locations/r/services/s","asset_type":"run.googleapis.com/Service"}"#;
        assert!(parse(neither).err().unwrap().contains("neither resource nor iam_policy"));
    }

    proptest! {
        #[test]
        fn no_line_panics(line in ".{0,200}", cut in 0usize..400) {
            let _ = parse(&line);
            let _ = serde_json::from_str::<AssetPolicy>(&line);
            let _ = parse(&RESOURCE[..cut.min(RESOURCE.len())]);
            let _ = parse(&POLICY[..cut.min(POLICY.len())]);
        }
    }
}
