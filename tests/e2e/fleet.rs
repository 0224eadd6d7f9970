//! `runiam export --organization/--folder/--projects` and
//! `--from-asset-export` against the emulator: a generated estate (1
//! organization, 5 folders, 40 projects, 2,000 services in 3 regions)
//! exported whole through Asset Inventory and through the per-project
//! fallback, each equal to the world; the export-file route equal to the
//! search route; a snapshot from Asset Inventory never trusted for a write.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::common::{Emulator, cmd, policy, put_policy, root, run, runiam};

use runiam_emulator::estate::{FOLDERS, ORG, Size, fleet};

const SERVICES: usize = 2000;

/// The estate; with `operator`, an operator who may read Run and Resource
/// Manager but not search Asset Inventory.
fn estate(operator: bool) -> Value {
    fleet(Size { projects: 40, services: SERVICES }, operator)
}

fn start(dir: &Path, operator: bool) -> Emulator {
    let path = dir.join(if operator { "fleet-operator.yaml" } else { "fleet.yaml" });
    std::fs::write(&path, serde_saphyr::to_string(&estate(operator)).unwrap()).unwrap();
    Emulator::start(&path, &[])
}

/// `runiam-export ARGS`, pointed at `emu` when given; (exit, stdout, stderr).
fn export(emu: Option<&Emulator>, home: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut c = cmd("runiam-export", home);
    if let Some(e) = emu {
        c.env("RUNIAM_EMULATOR_HOST", e.host());
    }
    c.args(args);
    let (out, _) = run(c, stdin);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// JSON-line snapshots by full name.
fn by_name(json: &str) -> BTreeMap<String, Value> {
    json.lines()
        .map(|l| {
            let d: Value = serde_json::from_str(l).unwrap();
            (d["service"]["fullName"].as_str().unwrap().to_owned(), d)
        })
        .collect()
}

/// What two routes must agree on: everything but when and how it was read.
fn settings(d: &Value) -> Value {
    let mut d = d.clone();
    let o = d.as_object_mut().unwrap();
    for volatile in ["capturedAt", "source", "etag"] {
        o.remove(volatile);
    }
    let p = o.get_mut("iamPolicy").unwrap().as_object_mut().unwrap();
    p.remove("etag");
    p.remove("version");
    d
}

/// Every service of the world exported once, with its world settings and policy.
fn assert_equals_world(world: &Value, got: &BTreeMap<String, Value>, source: Option<&str>) {
    assert_eq!(got.len(), SERVICES);
    for p in world["projects"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap();
        for s in p["services"].as_array().unwrap() {
            let (name, region) = (s["name"].as_str().unwrap(), s["region"].as_str().unwrap());
            let full = format!("projects/{id}/locations/{region}/services/{name}");
            let d = got.get(&full).unwrap_or_else(|| panic!("{full} not exported"));
            assert_eq!(d["service"]["projectNumber"], p["number"], "{full}");
            assert_eq!(d["ancestry"], json!([p["parent"], format!("organizations/{ORG}")]), "{full}");
            assert_eq!(d["ingress"], s["ingress"], "{full}");
            assert_eq!(d["invokerIamDisabled"], s["invokerIamDisabled"], "{full}");
            assert_eq!(d["customAudiences"], s.get("customAudiences").cloned().unwrap_or(json!([])), "{full}");
            let account = s["serviceAccount"].as_str().map_or(
                format!("{}-compute@developer.gserviceaccount.com", p["number"].as_str().unwrap()),
                str::to_owned,
            );
            assert_eq!(d["serviceAccount"], account, "{full}");
            assert_eq!(
                d["uri"],
                format!("https://{name}-{}.{region}.run.app", p["number"].as_str().unwrap()),
                "{full}"
            );
            assert_eq!(d["urls"].as_array().unwrap().len(), 2, "{full}");
            let bindings = d["iamPolicy"].get("bindings").cloned().unwrap_or(json!([]));
            assert_eq!(bindings, s["iamPolicy"]["bindings"], "{full}");
            assert_eq!(d.get("source").and_then(Value::as_str), source, "{full}");
        }
    }
}

#[test]
fn an_organization_exports_whole_through_asset_inventory_and_through_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let world = estate(false);
    let home = dir.path();
    // The two routes run side by side, each on its own emulator.
    let (searched, listed) = std::thread::scope(|t| {
        let searched = t.spawn(|| {
            let emu = start(home, false);
            export(Some(&emu), home, &["--organization", ORG, "-o", "json", "--verbose"], "")
        });
        // The operator may not search Asset Inventory: export warns and lists each project through Run.
        let listed = t.spawn(|| {
            let guarded = start(home, true);
            export(Some(&guarded), home, &["--organization", ORG, "-o", "json"], "")
        });
        (searched.join().unwrap(), listed.join().unwrap())
    });
    let (code, out, err) = searched;
    assert_eq!(code, 0, "{err}");
    let searched = by_name(&out);
    assert_equals_world(&world, &searched, Some("assetInventory"));
    // 2,000 services: a few pages of each search, and nothing from Run or Resource Manager.
    let calls = err.lines().find(|l| l.starts_with("runiam-export: API calls: ")).unwrap();
    assert_eq!(calls, "runiam-export: API calls: cloudasset 8 (0 answered 429)", "{calls}");
    assert!(!err.contains("warning"), "{err}");

    let (code, out, err) = listed;
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("runiam-export: warning: Cloud Asset Inventory cannot search organizations/700000000001 (403 PERMISSION_DENIED)"),
        "{err}"
    );
    assert!(
        err.contains("40 project(s)")
            && err.contains("cloudasset.assets.searchAllResources and cloudasset.assets.searchAllIamPolicies"),
        "{err}"
    );
    let listed = by_name(&out);
    assert_equals_world(&world, &listed, None);
    for (name, d) in &listed {
        assert_eq!(settings(d), settings(&searched[name]), "{name}");
    }
}

#[test]
fn folders_and_project_lists_are_scopes_too() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path(), false);
    let (code, out, err) = export(Some(&emu), dir.path(), &["--folder", "710000000003", "-o", "json"], "");
    assert_eq!(code, 0, "{err}");
    let got = by_name(&out);
    assert_eq!(got.len(), SERVICES / FOLDERS);
    assert!(got.values().all(|d| d["ancestry"][0] == "folders/710000000003"));
    // A project by id and one by number.
    let (code, out, err) = export(Some(&emu), dir.path(), &["--projects", "fleet-01,720000000002", "-o", "json"], "");
    assert_eq!(code, 0, "{err}");
    let projects: std::collections::BTreeSet<String> =
        by_name(&out).values().map(|d| d["service"]["project"].as_str().unwrap().to_owned()).collect();
    assert_eq!(projects.into_iter().collect::<Vec<_>>(), ["fleet-01", "fleet-02"]);
    let (code, _, err) = export(Some(&emu), dir.path(), &["--organization", ORG, "--rate-limit", "cloudasset=0"], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("'0' is not a number of calls a minute above 0"), "{err}");
}

#[test]
fn a_restore_from_an_asset_inventory_snapshot_reads_the_live_policy() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(&root().join("examples/acme-world.yaml"), &[]);
    let hello = "projects/acme-staging/locations/us-central1/services/hello";
    let (code, out, err) = runiam(&emu, dir.path(), &["export", "--projects", "acme-staging", "-o", "yaml"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("source: assetInventory") && !out.contains("etag: B"), "{out}");
    // Someone grants after the snapshot: Asset Inventory's record is stale.
    let mut live = policy(&emu, hello);
    live["bindings"][0]["members"].as_array_mut().unwrap().push(json!("user:erin@acme.example"));
    live.as_object_mut().unwrap().remove("etag");
    put_policy(&emu, hello, live);
    let before = policy(&emu, hello);
    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--apply", "--yes"], &out);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("user:erin@acme.example"), "{err}");
    assert_eq!(policy(&emu, hello), before, "a refused restore writes nothing");
    // Forced, the write carries the live etag (the snapshot has none) and lands.
    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--apply", "--yes", "--force"], &out);
    assert_eq!(code, 0, "{err}");
    let after = policy(&emu, hello);
    assert!(!after.to_string().contains("erin@"), "{after}");
    assert_ne!(after["etag"], before["etag"]);
}

#[test]
fn an_asset_export_gives_the_snapshots_the_searches_give() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(&root().join("examples/acme-world.yaml"), &[]);
    let (code, out, err) = export(Some(&emu), dir.path(), &["--organization", "123456789012", "-o", "json"], "");
    assert_eq!(code, 0, "{err}");
    let searched = by_name(&out);
    let data = root().join("tests/data/asset-export");
    let resources = std::fs::read_to_string(data.join("resources.json")).unwrap();
    let policies = std::fs::read_to_string(data.join("iam-policy.json")).unwrap();
    // Two files, no emulator, no credentials: no API is called.
    let files = [data.join("resources.json"), data.join("iam-policy.json")];
    let args = ["--from-asset-export", files[0].to_str().unwrap(), "--from-asset-export", files[1].to_str().unwrap()];
    let (code, out, err) = export(None, dir.path(), &[&args[..], &["-o", "json"]].concat(), "");
    assert_eq!(code, 0, "{err}");
    let from_files = by_name(&out);
    // Policies first, interleaved with resources, on stdin.
    let mut mixed: Vec<&str> = policies.lines().collect();
    for (i, r) in resources.lines().enumerate() {
        mixed.insert((2 * i + 1).min(mixed.len()), r);
    }
    let (code, out, err) =
        export(None, dir.path(), &["--from-asset-export", "-", "-o", "json"], &(mixed.join("\n") + "\n"));
    assert_eq!(code, 0, "{err}");
    let from_stdin = by_name(&out);
    assert_eq!(searched.len(), 6);
    for (name, d) in &searched {
        assert_eq!(settings(&from_files[name]), settings(d), "{name}");
        assert_eq!(settings(&from_stdin[name]), settings(d), "{name}");
        assert_eq!(from_files[name]["source"], "assetExport");
    }
    // A bad line: its number, exit 2, no panic.
    let broken = format!("{}\n{{\"name\": 3}}\n", resources.lines().next().unwrap());
    let (code, _, err) = export(None, dir.path(), &["--from-asset-export", "-", "-o", "json"], &broken);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 2 of stdin: not an Asset"), "{err}");
    let (code, _, err) = export(None, dir.path(), &["--from-asset-export", "/nonexistent/x.json"], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read the Asset Inventory export /nonexistent/x.json"), "{err}");
    // An export without Run services: said on stderr, not left to an empty stdout.
    let bucket = r#"{"name":"//storage.googleapis.com/b","asset_type":"storage.googleapis.com/Bucket"}"#;
    let (code, out, err) =
        export(None, dir.path(), &["--from-asset-export", "-", "-o", "json"], &format!("{bucket}\n"));
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(err.contains("warning: no run.googleapis.com/Service resource line in stdin: nothing exported"), "{err}");
}

/// A scope that cannot name anything is exit 2 naming the flag, before any call.
#[test]
fn bad_scopes_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (&["--organization", "acme"][..], "invalid value 'acme' for '--organization <N>': 'acme' is not a numeric id"),
        (&["--folder", "folders/12"][..], "for '--folder <N>': 'folders/12' is not a numeric id"),
        (&["--projects", "acme-prod,"][..], "invalid value '' for '--projects <P,Q>'"),
        (&["--projects", "Acme_Prod"][..], "project 'Acme_Prod' must be a project id"),
    ] {
        let (code, out, err) = export(None, dir.path(), args, "");
        assert_eq!((code, out.as_str()), (2, ""), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// An organization without Run services exports nothing, and says so.
#[test]
fn an_empty_estate_is_said_not_left_to_an_empty_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("empty-world.yaml");
    std::fs::write(
        &world,
        "organization: {id: \"900000000001\", domain: empty.example}\nprojects:\n  - {id: empty-proj, number: \"920000000001\", parent: organizations/900000000001}\n",
    )
    .unwrap();
    let emu = Emulator::start(&world, &[]);
    let (code, out, err) = export(Some(&emu), dir.path(), &["--organization", "900000000001", "-o", "json"], "");
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(err.contains("warning: no Cloud Run service under organizations/900000000001: nothing exported"), "{err}");
    let (code, _, err) =
        export(Some(&emu), dir.path(), &["--organization", "900000000001", "-o", "json", "--quiet"], "");
    assert_eq!((code, err.as_str()), (0, ""));
}

/// A project-level operator cannot list the folders or projects of its
/// organization: an export or an audit of the organization says so (exit
/// 3, with what would allow it) instead of exporting an empty estate.
#[test]
fn an_organization_nobody_may_list_is_an_error_not_an_empty_estate() {
    let emu = Emulator::start(&root().join("tests/e2e/data/partial-world.yaml"), &[]);
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["export", "--organization", "800000000001", "-o", "json"][..],
        &["troubleshoot", "--audit", "--under", "organizations/800000000001", "-o", "json"][..],
    ] {
        let (code, out, err) = runiam(&emu, dir.path(), args, "");
        assert_eq!(code, 3, "{args:?}: {out}{err}");
        assert_eq!(out, "", "{args:?}");
        assert!(err.contains("no project below organizations/800000000001 could be listed"), "{err}");
        assert!(err.contains("resourcemanager.projects.list") && err.contains("--projects"), "{err}");
    }
    // Named, its one project exports as the operator sees it.
    let (code, out, err) = runiam(&emu, dir.path(), &["export", "--projects", "pv-proj", "-o", "json"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
}
