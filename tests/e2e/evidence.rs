//! Plans judged by evidence: `verify --no-new-access` against a snapshot,
//! for a plan on stdin and for the live service.

use serde_json::{Value, json};

use crate::common::{Emulator, policy, put_policy, root, runiam};

const SVC: &str = "projects/ver-proj/locations/europe-west1/services/api";

fn sa(name: &str) -> String {
    format!("serviceAccount:{name}@ver-proj.iam.gserviceaccount.com")
}

fn verify_world() -> std::path::PathBuf {
    root().join("tests/e2e/data/verify-world.yaml")
}

/// The no-new-access check of a `-o json` report, and the report's exit code.
fn no_new_access(code: i32, out: &str) -> (i32, Value) {
    let r: Value = serde_json::from_str(out.lines().next().unwrap_or("null")).unwrap();
    let c = r["checks"].as_array().unwrap().iter().find(|c| c["name"] == "no-new-access").cloned();
    (code, c.unwrap_or_else(|| panic!("{r:#}")))
}

/// The (principal, permission) pairs a failed check names.
fn gained(check: &Value) -> Vec<(String, String)> {
    check["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "IAM evaluation")
        .map(|e| (e["data"]["principal"].as_str().unwrap().into(), e["data"]["permission"].as_str().unwrap().into()))
        .collect()
}

#[test]
fn no_new_access_passes_the_intended_grant_and_names_every_extra_permission() {
    let emu = Emulator::start(&verify_world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (code, snapshot, err) = runiam(&emu, dir.path(), &["export", SVC, "-o", "yaml"], "");
    assert_eq!(code, 0, "{err}");
    let reference = dir.path().join("reference.yaml");
    std::fs::write(&reference, snapshot).unwrap();
    let reference = reference.to_str().unwrap();
    let newbie = sa("newbie");
    let (code, plan, err) = runiam(&emu, dir.path(), &["grant-invoker", SVC, "--member", &newbie, "-o", "json"], "");
    assert_eq!(code, 0, "{err}");

    let verify = |stdin: &str| {
        let (code, out, err) = runiam(&emu, dir.path(), &["verify", "--no-new-access", reference, "-o", "json"], stdin);
        assert!(code == 0 || code == 1, "{out}{err}");
        no_new_access(code, &out)
    };
    let (code, check) = verify(&plan);
    assert_eq!((code, &check["result"]), (0, &json!("pass")), "{check:#}");

    // A hand-edited plan: the member also gets roles/run.developer.
    let mut edited: Value = serde_json::from_str(&plan).unwrap();
    edited["policyAfter"]["bindings"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "roles/run.developer", "members": [newbie]}));
    let (code, check) = verify(&edited.to_string());
    assert_eq!((code, &check["result"]), (1, &json!("fail")), "{check:#}");
    let extra = gained(&check);
    assert!(extra.contains(&(newbie.clone(), "run.services.update".into())), "{extra:?}");
    assert!(extra.contains(&(newbie.clone(), "run.services.delete".into())), "{extra:?}");
    // What the intended role carries is no gain; nor what developer lacks.
    assert!(extra.iter().all(|(p, perm)| p == &newbie && perm != "run.routes.invoke"), "{extra:?}");
    assert!(!extra.iter().any(|(_, perm)| perm == "run.services.setIamPolicy"), "{extra:?}");
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!(
            "the planned state opens {} principal × permission beyond {newbie} × roles/run.invoker: ",
            extra.len()
        )),
        "{detail}"
    );

    // A hand-edited plan: a second member in the invoker binding.
    let mut edited: Value = serde_json::from_str(&plan).unwrap();
    let stranger = sa("stranger");
    for b in edited["policyAfter"]["bindings"].as_array_mut().unwrap() {
        if b["role"] == "roles/run.invoker" {
            b["members"].as_array_mut().unwrap().push(json!(stranger));
        }
    }
    let (code, check) = verify(&edited.to_string());
    assert_eq!(code, 1, "{check:#}");
    assert_eq!(gained(&check), [(stranger.clone(), "run.routes.invoke".to_owned())]);
}

#[test]
fn no_new_access_judges_the_live_service_with_ancestors_and_the_public() {
    let emu = Emulator::start(&verify_world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (_, snapshot, _) = runiam(&emu, dir.path(), &["export", SVC, "-o", "yaml"], "");
    let reference = dir.path().join("reference.yaml");
    std::fs::write(&reference, snapshot).unwrap();
    let reference = reference.to_str().unwrap();
    let newbie = sa("newbie");
    let live = |extra: &[&str]| {
        let mut args = vec!["verify", SVC, "--no-new-access", reference, "--member", &newbie, "-o", "json"];
        args.extend(extra);
        let (code, out, err) = runiam(&emu, dir.path(), &args, "");
        assert!(code == 0 || code == 1, "{out}{err}");
        no_new_access(code, &out)
    };
    assert_eq!(live(&[]).0, 0);

    // The project owner already holds everything: granting it on the
    // service opens nothing; allUsers opens invoking to everyone.
    let mut p = policy(&emu, SVC);
    let bindings = p["bindings"].as_array_mut().unwrap();
    bindings.push(json!({"role": "roles/run.admin", "members": ["user:ops@ver.example"]}));
    bindings.push(json!({"role": "roles/run.servicesInvoker", "members": ["allUsers", newbie]}));
    put_policy(&emu, SVC, p);
    let (code, check) = live(&[]);
    assert_eq!(code, 1, "{check:#}");
    let extra = gained(&check);
    assert!(extra.contains(&("allUsers".into(), "run.routes.invoke".into())), "{extra:?}");
    assert!(!extra.iter().any(|(p, _)| p == "user:ops@ver.example" || p == &newbie), "{extra:?}");
    assert!(check["detail"].as_str().unwrap().starts_with("the live state opens "), "{check:#}");

    // A snapshot of another service is bad input.
    let (code, _, err) = runiam(
        &emu,
        dir.path(),
        &["verify", "projects/ver-proj/locations/europe-west1/services/other", "--no-new-access", reference],
        "",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is a state of projects/ver-proj/locations/europe-west1/services/api"), "{err}");
}
