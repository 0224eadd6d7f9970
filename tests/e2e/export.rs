//! `runiam export` against the emulator on the example world: documents
//! equal to what the world declares, the `--out-dir` tree, Terraform,
//! resilience to injected faults, front-binary parity, and bad input.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::common::{Emulator, cmd, normalize, path_with, root, run, script};

const WORLD: &str = "examples/acme-world.yaml";

fn world() -> Value {
    let text = std::fs::read_to_string(root().join(WORLD)).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// `runiam-export ARGS` pointed at the emulator; returns (exit, stdout, stderr).
fn export(emu: &Emulator, home: &Path, args: &[&str]) -> (i32, String, String) {
    let mut c = cmd("runiam-export", home);
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).args(args);
    let (out, _) = run(c, "");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Snapshots keyed by full name, capture time removed.
fn by_name(docs: Vec<Value>) -> BTreeMap<String, Value> {
    docs.into_iter()
        .map(|mut d| {
            d.as_object_mut().unwrap().remove("capturedAt");
            (d["service"]["fullName"].as_str().unwrap().to_owned(), d)
        })
        .collect()
}

fn yaml_docs(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(text).unwrap()
}

fn json_docs(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn export_all_equals_the_world() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let w = world();
    for project in w["projects"].as_array().unwrap() {
        let id = project["id"].as_str().unwrap();
        let (code, yaml, err) = export(&emu, home.path(), &["--all", "--project", id, "-o", "yaml"]);
        assert_eq!(code, 0, "{err}");
        let (code, json, err) = export(&emu, home.path(), &["--all", "--project", id, "-o", "json"]);
        assert_eq!(code, 0, "{err}");
        let got = by_name(yaml_docs(&yaml));
        assert_eq!(got, by_name(json_docs(&json)), "yaml and json disagree");

        let declared = project["services"].as_array().cloned().unwrap_or_default();
        assert_eq!(got.len(), declared.len(), "{id}: {:?}", got.keys());
        for s in declared {
            let (name, region) = (s["name"].as_str().unwrap(), s["region"].as_str().unwrap());
            let full = format!("projects/{id}/locations/{region}/services/{name}");
            let d = got.get(&full).unwrap_or_else(|| panic!("{full} not exported"));
            assert_eq!(d["apiVersion"], "runiam/v1");
            assert_eq!(d["kind"], "ServiceSnapshot");
            let number = d["service"]["projectNumber"].as_str().unwrap();
            if let Some(n) = project["number"].as_str() {
                assert_eq!(number, n);
            }
            assert_eq!(d["uri"], format!("https://{name}-{number}.{region}.run.app"), "{full}");
            assert_eq!(d["urls"][0], format!("https://{name}-{number}.{region}.run.app"), "{full}");
            assert!(d["urls"][1].as_str().unwrap().ends_with(".a.run.app"), "{full}");
            assert_eq!(d["ingress"], s.get("ingress").cloned().unwrap_or("INGRESS_TRAFFIC_ALL".into()), "{full}");
            assert_eq!(d["invokerIamDisabled"], s.get("invokerIamDisabled").cloned().unwrap_or(false.into()), "{full}");
            let want_bindings = s.pointer("/iamPolicy/bindings").cloned().unwrap_or(Value::Array(vec![]));
            let got_bindings = d["iamPolicy"].get("bindings").cloned().unwrap_or(Value::Array(vec![]));
            assert_eq!(got_bindings, want_bindings, "{full}");
            let etag = d["iamPolicy"]["etag"].as_str().unwrap();
            assert!(!etag.is_empty(), "{full} has no etag");
        }
    }
}

#[test]
fn out_dir_tree_is_ready_for_git() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let w = world();
    let project = w["projects"][0]["id"].as_str().unwrap();
    let (code, stdout, err) =
        export(&emu, home.path(), &["--all", "--project", project, "--out-dir", out.path().to_str().unwrap()]);
    assert_eq!((code, stdout.as_str()), (0, ""), "{err}");
    let mut files = Vec::new();
    for entry in walk(out.path()) {
        let rel = entry.strip_prefix(out.path()).unwrap().display().to_string();
        let docs = yaml_docs(&std::fs::read_to_string(&entry).unwrap());
        assert_eq!(docs.len(), 1, "{rel}");
        let s = &docs[0]["service"];
        assert_eq!(
            rel,
            format!(
                "{}/{}/{}.yaml",
                s["project"].as_str().unwrap(),
                s["region"].as_str().unwrap(),
                s["name"].as_str().unwrap()
            )
        );
        files.push(rel);
    }
    let mut want: Vec<String> = w["projects"][0]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{project}/{}/{}.yaml", s["region"].as_str().unwrap(), s["name"].as_str().unwrap()))
        .collect();
    want.sort();
    files.sort();
    assert_eq!(files, want);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn terraform_has_one_import_block_per_member() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let w = world();
    let project = w["projects"][0]["id"].as_str().unwrap();
    let (code, tf, err) = export(&emu, home.path(), &["--all", "--project", project, "-o", "terraform"]);
    assert_eq!(code, 0, "{err}");
    let members: usize = w["projects"][0]["services"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s.pointer("/iamPolicy/bindings").and_then(Value::as_array).cloned().unwrap_or_default())
        .map(|b| b["members"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(tf.matches("import {").count(), members);
    assert_eq!(tf.matches("resource \"google_cloud_run_v2_service_iam_member\"").count(), members);
    insta::assert_snapshot!("export_terraform", tf);
}

#[test]
fn injected_faults_do_not_change_the_output() {
    let calm = Emulator::start(&root().join(WORLD), &["--seed", "11"]);
    // 30% of control-plane calls fail with 503 or 429. The client makes up to
    // 10 attempts per call, so one call fails for good with probability
    // 0.3^10 ≈ 6e-6; this export makes about 20 calls: ≈ 1e-4 per run.
    let stormy =
        Emulator::start(&root().join(WORLD), &["--seed", "11", "--fail-rate", "0.3", "--fail-codes", "503,429"]);
    let home = tempfile::tempdir().unwrap();
    let project = world()["projects"][0]["id"].as_str().unwrap().to_owned();
    let (code, a, err) = export(&calm, home.path(), &["--all", "--project", &project, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let (code, b, err) = export(&stormy, home.path(), &["--all", "--project", &project, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(by_name(json_docs(&a)), by_name(json_docs(&b)));
}

#[test]
fn front_binary_runs_the_same_command() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let project = world()["projects"][0]["id"].as_str().unwrap().to_owned();

    let help = |bin: &str, args: &[&str]| {
        let mut c = cmd(bin, home.path());
        c.args(args);
        run(c, "").1
    };
    assert_eq!(help("runiam", &["export", "--help"]), help("runiam-export", &["--help"]));
    assert_eq!(help("runiam", &["help", "export"]), help("runiam-export", &["--help"]));

    // A plugin of the same name on PATH must not shadow the built-in.
    let plugins = tempfile::tempdir().unwrap();
    script(&plugins.path().join("runiam-export"), "#!/bin/sh\necho impostor\nexit 9\n");
    let out = |bin: &str| {
        let mut c = cmd(bin, home.path());
        c.env("RUNIAM_EMULATOR_HOST", emu.host()).env("PATH", path_with(plugins.path()));
        if bin == "runiam" {
            c.arg("export");
        }
        c.args(["--all", "--project", &project, "-o", "yaml"]);
        let (o, text) = run(c, "");
        (o.status.code(), normalize(&text, &emu))
    };
    let (front, direct) = (out("runiam"), out("runiam-export"));
    assert_eq!(front.0, Some(0), "{}", front.1);
    assert!(!front.1.contains("impostor"));
    assert_eq!(front, direct);
}

#[test]
fn bad_input_is_named_and_writes_nothing() {
    let emu = Emulator::start(&root().join("tests/e2e/data/two-regions.yaml"), &[]);
    let home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["hello", "--project", "twin-proj", "--out-dir", dir],
            2,
            "service hello exists in several regions of project twin-proj: europe-west1, us-central1",
        ),
        (
            &["--all", "--project", "no-such-proj", "--out-dir", dir],
            2,
            "cannot list the services of project no-such-proj",
        ),
        (
            &["hello", "--project", "twin-proj", "--region", "mars-north1", "--out-dir", dir],
            2,
            "cannot read service projects/twin-proj/locations/mars-north1/services/hello",
        ),
        (&["Bad_Name", "--project", "twin-proj", "--out-dir", dir], 2, "SERVICE 'Bad_Name' is not a service name"),
        (
            &["projects/twin-proj/services/hello", "--out-dir", dir],
            2,
            "SERVICE 'projects/twin-proj/services/hello' is not a valid name",
        ),
        (&["hello", "--region", "europe-west1", "--out-dir", dir], 2, "no project is set"),
    ];
    for (args, code, message) in cases {
        let (got, stdout, err) = export(&emu, home.path(), args);
        assert_eq!(got, *code, "{args:?}: {err}");
        assert_eq!(stdout, "", "{args:?}");
        assert!(err.starts_with(&format!("runiam-export: error: {message}")), "{args:?}:\n{err}");
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "{args:?} wrote to --out-dir");
    }
    // Two services, one of them missing: nothing is written for either.
    let (got, _, err) = export(
        &emu,
        home.path(),
        &[
            "projects/twin-proj/locations/europe-west1/services/hello",
            "projects/twin-proj/locations/europe-west1/services/ghost",
            "--out-dir",
            dir,
        ],
    );
    assert_eq!(got, 2, "{err}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);

    // Nothing listens on the port: exit 3 naming the endpoint.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut c = cmd("runiam-export", home.path());
    c.env("RUNIAM_EMULATOR_HOST", format!("127.0.0.1:{port}")).args([
        "hello",
        "--project",
        "twin-proj",
        "--region",
        "europe-west1",
        "--out-dir",
        dir,
    ]);
    let (o, text) = run(c, "");
    assert_eq!(o.status.code(), Some(3), "{text}");
    let text = text.replace(&port.to_string(), "[PORT]");
    insta::assert_snapshot!(text, @r"
    [stderr]
    runiam-export: error: cannot read service projects/twin-proj/locations/europe-west1/services/hello

    Caused by:
      1: cannot reach run.googleapis.com at http://127.0.0.1:[PORT]/v2/projects/twin-proj/locations/europe-west1/services/hello
      2: error sending request for url (http://127.0.0.1:[PORT]/v2/projects/twin-proj/locations/europe-west1/services/hello)
      3: client error (Connect)
      4: tcp connect error
      5: Connection refused (os error 111)

    hint: nothing answered at 127.0.0.1: check the network, HTTPS_PROXY/NO_PROXY, CLOUDSDK_API_ENDPOINT_OVERRIDES_*, or, for runiam-emulator, that it runs where RUNIAM_EMULATOR_HOST says
    [exit status: 3]
    ");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}
