//! `runiam troubleshoot` as a project-level operator sees the estate
//! (tests/e2e/data/partial-world.yaml): the folder, the organization, the
//! deny and org policies and Cloud Identity answer 403. The finding the
//! readable policies show still comes, with the grant as the fix when one
//! helps, and the headline pipe troubleshoot | grant-invoker | verify ends
//! in a proven call.

use std::path::Path;

use serde_json::Value;

use crate::common::{Emulator, bin, cmd, pipe, policy, root, run};

const WORLD: &str = "tests/e2e/data/partial-world.yaml";
const SVC: &str = "projects/pv-proj/locations/europe-west1/services/api";

fn sa(name: &str) -> String {
    format!("serviceAccount:{name}@pv-proj.iam.gserviceaccount.com")
}

fn diagnose(emu: &Emulator, home: &Path, caller: &str) -> (i32, Value) {
    let mut c = cmd("runiam", home);
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).args(["troubleshoot", SVC, "--caller", caller, "-o", "json"]);
    let (out, text) = run(c, "");
    let d: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim())
        .unwrap_or_else(|e| panic!("{caller}: {e}\n{text}"));
    (out.status.code().unwrap_or(-1), d)
}

/// (id, severity) of every finding.
fn ids(d: &Value) -> Vec<(String, String)> {
    d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_str().unwrap().to_owned(), f["severity"].as_str().unwrap().to_owned()))
        .collect()
}

fn finding<'a>(d: &'a Value, id: &str) -> &'a Value {
    d["findings"].as_array().unwrap().iter().find(|f| f["id"] == id).unwrap_or_else(|| panic!("no {id} in {d}"))
}

/// The evidence details of a finding, one string.
fn details(f: &Value) -> String {
    f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_readable_evidence_names_the_cause_and_the_fix() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    for (caller, cause) in [(sa("nobody"), "iam.no-grant"), (sa("viewer"), "iam.role-lacks-invoke")] {
        let (code, d) = diagnose(&emu, home.path(), &caller);
        assert_eq!(code, 1, "{caller}: {d}");
        assert_eq!(d["verdict"], "UNKNOWN", "{caller}: {:?}", ids(&d));
        // A project-level operator cannot read the organization's perimeters either.
        assert_eq!(
            ids(&d),
            [
                (cause.to_owned(), "cause".to_owned()),
                ("iam.unreadable".into(), "risk".into()),
                ("network.perimeter-unreadable".into(), "risk".into())
            ]
        );
        assert_eq!(d["fix"]["action"], "grant", "{caller}");
        assert_eq!(d["fix"]["member"], caller.as_str());
        assert_eq!(d["fix"]["role"], "roles/run.invoker");
        let unread = finding(&d, "iam.unreadable");
        assert!(unread["explanation"].as_str().unwrap().contains("run `runiam verify` after the grant"), "{unread}");
        // Each read names the permission that would allow it.
        for e in unread["evidence"].as_array().unwrap() {
            let permission = e["data"]["permission"].as_str().unwrap();
            assert!(e["detail"].as_str().unwrap().ends_with(&format!("(permission {permission})")), "{e}");
        }
        let ev = details(unread);
        for read in [
            "the IAM policy of folders/810000000001: could not read (permission resourcemanager.folders.getIamPolicy)",
            "the IAM policy of organizations/800000000001: could not read (permission resourcemanager.organizations.getIamPolicy)",
            "could not read (permission iam.denypolicies.list)",
            "the org policy iam.allowedPolicyMemberDomains of projects/pv-proj: could not read (permission orgpolicy.policy.get)",
        ] {
            assert!(ev.contains(read), "{caller}: {read:?} not in\n{ev}");
        }
    }
    // The role the viewer holds is named, and where.
    let (_, d) = diagnose(&emu, home.path(), &sa("viewer"));
    assert!(details(finding(&d, "iam.role-lacks-invoke")).contains("roles/viewer on projects/pv-proj"), "{d}");

    // A readable grant: only an unread deny policy could change it, so
    // UNKNOWN, no fix, and the reads named are the deny policies only.
    let (code, d) = diagnose(&emu, home.path(), &sa("granted"));
    assert_eq!((code, d["verdict"].as_str()), (1, Some("UNKNOWN")), "{d}");
    assert_eq!(ids(&d).iter().filter(|(_, s)| s == "cause").count(), 0, "{:?}", ids(&d));
    assert!(d.get("fix").is_none_or(Value::is_null), "{d}");
    let ev = details(finding(&d, "iam.unreadable"));
    assert!(ev.contains("the deny policies at") && ev.contains("iam.denypolicies.list"), "{ev}");
    assert!(!ev.contains("getIamPolicy") && !ev.contains("orgpolicy"), "reads that cannot matter are listed:\n{ev}");
}

#[test]
fn troubleshoot_grant_invoker_verify_ends_in_a_proven_call() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let r = bin("runiam");
    for who in ["nobody", "viewer"] {
        let dir = tempfile::tempdir().unwrap();
        let caller = sa(who);
        let line = format!(
            "{r} troubleshoot {SVC} --caller {caller} -o yaml | {r} grant-invoker --apply --yes | {r} verify -o json",
            r = r.display()
        );
        let (out, text) = pipe(&emu, dir.path(), &line);
        assert_eq!(out.status.code(), Some(0), "{who}: {text}");
        let p = policy(&emu, SVC);
        let invokers = p["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["role"] == "roles/run.invoker")
            .map(|b| b["members"].clone())
            .unwrap();
        assert!(invokers.as_array().unwrap().contains(&Value::from(caller.as_str())), "{who}: {p}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report: Value = serde_json::Deserializer::from_str(&stdout)
            .into_iter::<Value>()
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("{who}: no report\n{text}"));
        assert_eq!(report["passed"], true, "{who}: {report}");
    }
}

/// What the README says of the headline pipe under `pipefail`: troubleshoot
/// exits 1 for the denial it found, the rest 0, and an empty pipe fails.
#[test]
fn under_pipefail_the_statuses_tell_a_fixed_denial_from_a_failed_step() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let r = bin("runiam");
    let dir = tempfile::tempdir().unwrap();
    let run_line = |first: &str| {
        let line = format!(
            "exec bash -c 'set -o pipefail; {first} | {r} grant-invoker --apply --yes | {r} verify -o json >/dev/null 2>&1; echo \"${{PIPESTATUS[@]}}\"'",
            r = r.display()
        );
        let (out, text) = pipe(&emu, dir.path(), &line);
        assert_eq!(out.status.code(), Some(0), "{text}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let diagnose = format!("{} troubleshoot {SVC} --caller {} -o yaml 2>/dev/null", r.display(), sa("nobody"));
    assert_eq!(run_line(&diagnose), "1 0 0");
    // A first step that fails leaves nothing to apply: the readers refuse.
    assert_eq!(run_line("false"), "1 2 2");
}
