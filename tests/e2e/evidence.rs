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

fn impact_world() -> std::path::PathBuf {
    root().join("tests/e2e/data/impact-world.yaml")
}

const API: &str = "projects/imp-proj/locations/europe-west1/services/api";

#[test]
fn blast_radius_of_an_account_lists_its_workloads_keys_and_minters() {
    let emu = Emulator::start(&impact_world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let runner = "serviceAccount:runner@imp-proj.iam.gserviceaccount.com";
    let (code, out, err) = runiam(&emu, dir.path(), &["grant-invoker", API, "--member", runner, "-o", "json"], "");
    assert_eq!(code, 0, "{err}");
    let who_else: Vec<&str> = err.lines().filter(|l| l.starts_with("who else: ")).collect();
    assert_eq!(
        who_else,
        [
            "who else: Cloud Run service reports (us-central1) runs as it: it can call the service too",
            "who else: function projects/imp-proj/locations/europe-west1/functions/hook (gen1) runs as it: it can call the service too",
            "who else: function projects/imp-proj/locations/europe-west1/functions/billing (gen2, on Cloud Run service billing) runs as it: it can call the service too",
            "who else: Cloud Run job projects/imp-proj/locations/europe-west1/jobs/etl runs as it: it can call the service too",
            "who else: Scheduler job projects/imp-proj/locations/us-central1/jobs/nightly calls with its tokens: it can call the service too",
            "who else: whoever holds user-managed key projects/imp-proj/serviceAccounts/runner@imp-proj.iam.gserviceaccount.com/keys/3f1c0a9e2b7d4c5a can sign as serviceAccount:runner@imp-proj.iam.gserviceaccount.com",
            "who else: user:ci@imp.example (roles/iam.serviceAccountTokenCreator on the account) can mint serviceAccount:runner@imp-proj.iam.gserviceaccount.com's tokens",
            "who else: user:ops@imp.example (roles/owner on the project) can mint serviceAccount:runner@imp-proj.iam.gserviceaccount.com's tokens",
            "who else: group:deployers@imp.example (roles/iam.serviceAccountUser on the project) can mint serviceAccount:runner@imp-proj.iam.gserviceaccount.com's tokens",
        ],
        "{err}"
    );
    let record: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(record["impact"]["workloads"].as_array().unwrap().len(), 5, "{record:#}");
    assert_eq!(record["impact"]["keys"].as_array().unwrap().len(), 1);
    assert_eq!(record["impact"]["tokenMinters"].as_array().unwrap().len(), 3);

    // An account nothing runs as says so.
    let lonely = "serviceAccount:lonely@imp-proj.iam.gserviceaccount.com";
    let (_, _, err) = runiam(&emu, dir.path(), &["grant-invoker", API, "--member", lonely, "-o", "json"], "");
    assert!(err.contains(&format!("who else: no workload found running or pushing as {lonely}")), "{err}");

    // A gen2 function that names no account runs as the default compute account.
    let compute = "serviceAccount:700000000001-compute@developer.gserviceaccount.com";
    let (_, _, err) = runiam(&emu, dir.path(), &["grant-invoker", API, "--member", compute, "-o", "json"], "");
    assert!(
        err.contains("who else: function projects/imp-proj/locations/us-central1/functions/thumbs (gen2, on Cloud Run service thumbs) runs as it"),
        "{err}"
    );
}

#[test]
fn blast_radius_names_an_unreadable_functions_list_with_its_permission() {
    let text = std::fs::read_to_string(impact_world()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world.yaml");
    let faulty = text.replace(
        "    cloudFunctions:\n",
        "    apiErrors: {cloudfunctions.googleapis.com: disabled}\n    cloudFunctions:\n",
    );
    assert_ne!(faulty, text);
    std::fs::write(&world, faulty).unwrap();
    let emu = Emulator::start(&world, &[]);
    let runner = "serviceAccount:runner@imp-proj.iam.gserviceaccount.com";
    let (code, _, err) = runiam(&emu, dir.path(), &["grant-invoker", API, "--member", runner, "-o", "json"], "");
    assert_eq!(code, 0, "{err}");
    let unread: Vec<&str> =
        err.lines().filter(|l| l.starts_with("who else: not read") && l.contains("Cloud Functions")).collect();
    assert_eq!(unread.len(), 1, "{err}");
    assert!(unread[0].starts_with("who else: not read, the lists may be short: Cloud Functions: "), "{err}");
    assert!(unread[0].ends_with("(needs cloudfunctions.functions.list)"), "{err}");
    // The billing service is still named: its function could not be read.
    assert!(err.contains("who else: Cloud Run service billing (europe-west1) runs as it"), "{err}");
    assert!(!err.contains("functions/hook"), "{err}");
}

#[test]
fn blast_radius_of_groups_counts_nested_members_and_broad_ones_are_refused() {
    let emu = Emulator::start(&impact_world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) =
        runiam(&emu, dir.path(), &["grant-invoker", API, "--member", "group:team@imp.example", "-o", "json"], "");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("who else: group:team@imp.example holds 3 direct member(s), 3 account(s) with nested groups"),
        "{err}"
    );
    let record: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (record["impact"]["directMembers"].as_u64(), record["impact"]["transitiveMembers"].as_u64()),
        (Some(3), Some(3))
    );

    for (member, says) in [
        (
            "group:everyone@imp.example",
            "group:everyone@imp.example (60 members) would gain roles/run.invoker (needs --allow-broad)",
        ),
        (
            "domain:imp.example",
            "domain:imp.example, every account of the domain, would gain roles/run.invoker (needs --allow-broad)",
        ),
    ] {
        let (code, out, err) = runiam(&emu, dir.path(), &["grant-invoker", API, "--member", member, "-o", "json"], "");
        assert_eq!(code, 4, "{out}{err}");
        assert!(err.contains(says), "{err}");
        assert!(out.is_empty(), "{out}");
    }
    // With --allow-broad, the large group's size is in the plan.
    let (code, out, err) = runiam(
        &emu,
        dir.path(),
        &["grant-invoker", API, "--member", "group:everyone@imp.example", "--allow-broad", "-o", "json"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let record: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(record["impact"]["transitiveMembers"].as_u64(), Some(60));
}

#[test]
fn a_policy_last_written_by_terraform_is_named_with_the_resource_to_change() {
    let emu = Emulator::start(&impact_world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let bob = "user:bob@imp.example";
    let plan = || runiam(&emu, dir.path(), &["grant-invoker", API, "--member", bob, "-o", "json"], "");
    let (code, _, err) = plan();
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("Terraform"), "{err}");

    // Terraform's Google provider writes the policy, as its user agent says.
    let ua = "Terraform/1.9.5 (+https://www.terraform.io) Terraform-Plugin-SDK/2.33.0 terraform-provider-google/6.8.0";
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/v2/{API}:setIamPolicy", emu.url))
            .header("User-Agent", ua)
            .json(&json!({"policy": {"bindings": [{"role": "roles/run.invoker", "members": ["user:a@imp.example"]}]}}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    let (code, out, err) = plan();
    assert_eq!(code, 0, "{err}");
    let warning = format!(
        "warning: the last SetIamPolicy on {API} came from Terraform ({ua}): a google_cloud_run_v2_service_iam_policy or google_cloud_run_v2_service_iam_binding that owns its roles will revert this grant on its next apply; add {bob} to that resource (or as a google_cloud_run_v2_service_iam_member, with -o terraform) instead"
    );
    assert!(err.lines().any(|l| l == warning), "{err}");
    let record: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(record["impact"]["terraform"].as_str(), warning.strip_prefix("warning: "));
}
