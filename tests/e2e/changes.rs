//! `runiam grant-invoker` and `runiam rollback` against the emulator:
//! idempotence, plans, drift, merge, safety refusals, and the round trip
//! from any policy through a grant and its rollback back to itself.

use serde_json::{Value, json};

use crate::common::{Emulator, grants, policy, put_policy, root, runiam};

const SVC: &str = "projects/chg-proj/locations/europe-west1/services/api";

fn world() -> std::path::PathBuf {
    root().join("tests/e2e/data/change-world.yaml")
}

fn members(p: &Value, role: &str) -> Vec<String> {
    p["bindings"]
        .as_array()
        .map(|bs| {
            bs.iter()
                .filter(|b| b["role"] == role && b.get("condition").is_none())
                .flat_map(|b| b["members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn granting_twice_writes_once_and_rollback_restores() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let original = policy(&emu, SVC);
    let grant = [
        "grant-invoker",
        SVC,
        "--member",
        "serviceAccount:sched@chg-proj.iam.gserviceaccount.com",
        "--apply",
        "--yes",
        "--verbose",
        "-o",
        "yaml",
    ];
    let calls = |err: &str, verb: &str| err.lines().filter(|l| l.contains(&format!("/services/api:{verb}"))).count();

    // The plan's read, the backup's read (reused as the write's first
    // cycle), and one write.
    let (code, change, err) = runiam(&emu, dir.path(), &grant, "");
    assert_eq!(code, 0, "{err}");
    assert_eq!((calls(&err, "getIamPolicy"), calls(&err, "setIamPolicy")), (2, 1), "{err}");
    let after_first = policy(&emu, SVC);
    assert_eq!(members(&after_first, "roles/run.invoker"), ["serviceAccount:sched@chg-proj.iam.gserviceaccount.com"]);
    let record: Value = serde_saphyr::from_str(&change).unwrap();
    assert_eq!(record["kind"], "ChangeRecord");
    assert_eq!(record["applied"], true);
    assert_eq!(record["policyBefore"]["etag"], original["etag"]);
    assert_eq!(record["policyAfter"]["etag"], after_first["etag"]);
    let backup = dir.path().join(record["backupPath"].as_str().unwrap());
    assert!(std::fs::read_to_string(&backup).unwrap().contains("kind: ServiceSnapshot"), "{}", backup.display());

    // The second run finds the grant in place and writes nothing: every
    // write changes the etag, and it did not change.
    let (code, _, err) = runiam(&emu, dir.path(), &grant, "");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("already holds roles/run.invoker; nothing to do"), "{err}");
    assert_eq!((calls(&err, "getIamPolicy"), calls(&err, "setIamPolicy")), (1, 0), "{err}");
    assert_eq!(policy(&emu, SVC)["etag"], after_first["etag"]);

    let (code, undo, err) = runiam(&emu, dir.path(), &["rollback", "--apply", "--yes", "-o", "yaml"], &change);
    assert_eq!(code, 0, "{err}");
    assert_eq!(grants(&policy(&emu, SVC)), grants(&original));
    let undo: Value = serde_saphyr::from_str(&undo).unwrap();
    assert_eq!(undo["intent"]["action"], "restore");
    assert_eq!(undo["removed"][0]["members"][0], "serviceAccount:sched@chg-proj.iam.gserviceaccount.com");

    // A rollback can be rolled back.
    let undo_text = serde_json::to_string(&undo).unwrap();
    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--apply", "--yes"], &undo_text);
    assert_eq!(code, 0, "{err}");
    assert_eq!(grants(&policy(&emu, SVC)), grants(&after_first));
}

#[test]
fn plans_apply_exactly_or_refuse_when_the_etag_moved() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (code, plan, err) = runiam(
        &emu,
        dir.path(),
        &["grant-invoker", SVC, "--member", "user:carol@example.com", "--reason", "CHG-42", "-o", "yaml"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("+  - user:carol@example.com"), "the plan shows the diff:\n{err}");
    assert!(err.contains("blast radius: user:carol@example.com gains roles/run.invoker (run.routes.invoke) on projects/chg-proj/locations/europe-west1/services/api only"), "{err}");
    let planned: Value = serde_saphyr::from_str(&plan).unwrap();
    assert_eq!(planned["applied"], false);
    let before = policy(&emu, SVC);
    assert_eq!(before["etag"], planned["policyBefore"]["etag"], "a dry run writes nothing");

    let (code, applied, err) =
        runiam(&emu, dir.path(), &["grant-invoker", "--apply", "--yes", "-f", "-", "-o", "json"], &plan);
    assert_eq!(code, 0, "{err}");
    let applied: Value = serde_json::from_str(applied.trim()).unwrap();
    let live = policy(&emu, SVC);
    assert_eq!(grants(&live), grants(&planned["policyAfter"]));
    assert_eq!(applied["policyAfter"]["etag"], live["etag"]);
    assert_eq!(applied["intent"]["reason"], "CHG-42");

    // The same plan again: the etag moved, so it is refused and nothing is written.
    let (code, _, err) = runiam(&emu, dir.path(), &["grant-invoker", "--apply", "--yes", "-f", "-"], &plan);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("changed since the plan was made"), "{err}");
    assert_eq!(policy(&emu, SVC)["etag"], live["etag"]);
}

#[test]
fn drift_is_refused_and_merge_keeps_the_other_edit() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (code, change, err) =
        runiam(&emu, dir.path(), &["grant-invoker", SVC, "--member", "user:ours@example.com", "--apply", "--yes"], "");
    assert_eq!(code, 0, "{err}");
    // Someone else grants another member meanwhile.
    let mut live = policy(&emu, SVC);
    live["bindings"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "roles/run.invoker", "members": ["user:theirs@example.com"]}));
    let theirs = put_policy(&emu, SVC, live);

    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--apply", "--yes"], &change);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("changed since the record"), "{err}");
    assert_eq!(policy(&emu, SVC)["etag"], theirs["etag"], "nothing written on drift");

    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--merge", "--apply", "--yes"], &change);
    assert_eq!(code, 0, "{err}");
    let after = policy(&emu, SVC);
    assert_eq!(members(&after, "roles/run.invoker"), ["user:theirs@example.com"]);
    assert_eq!(members(&after, "roles/run.viewer"), ["group:devs@example.com"]);
}

#[test]
fn unsafe_or_bad_requests_write_nothing() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let etag = policy(&emu, SVC)["etag"].clone();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["grant-invoker", SVC, "--member", "allUsers", "--apply", "--yes"],
            4,
            "allUsers would let anyone invoke the service; refusing without --allow-public",
        ),
        (
            &["grant-invoker", SVC, "--member", "allUsers", "--allow-public", "--expires", "2h", "--apply", "--yes"],
            2,
            "IAM refuses conditions on allUsers",
        ),
        (
            &["grant-invoker", SVC, "--member", "carol@example.com", "--apply", "--yes"],
            2,
            "--member 'carol@example.com' is not a valid member",
        ),
        (
            &[
                "grant-invoker",
                SVC,
                "--member",
                "user:carol@example.com",
                "--role",
                "roles/run.admin",
                "--apply",
                "--yes",
            ],
            2,
            "--role roles/run.admin grants more than invoking",
        ),
        (
            &["grant-invoker", SVC, "--member", "user:carol@example.com", "--expires", "soon", "--apply", "--yes"],
            2,
            "--expires 'soon' is not a duration",
        ),
        (
            &["grant-invoker", SVC, "--member", "user:carol@example.com", "--apply"],
            2,
            "--apply needs confirmation and there is no terminal to ask on",
        ),
    ];
    for (args, code, message) in cases {
        let (got, stdout, err) = runiam(&emu, dir.path(), args, "");
        assert_eq!(got, *code, "{args:?}: {err}");
        assert_eq!(stdout, "", "{args:?}");
        assert!(err.contains(&format!("error: {message}")), "{args:?}:\n{err}");
        assert_eq!(policy(&emu, SVC)["etag"], etag, "{args:?} wrote");
    }
    assert!(!dir.path().join("runiam-backups").exists(), "no backup without a write");
}

#[test]
fn time_bound_grants_are_conditional_and_exported_as_terraform() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (code, tf, err) = runiam(
        &emu,
        dir.path(),
        &[
            "grant-invoker",
            SVC,
            "--member",
            "user:oncall@example.com",
            "--until",
            "2030-01-01T00:00:00Z",
            "--reason",
            "INC-7",
            "--apply",
            "--yes",
            "-o",
            "terraform",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let live = policy(&emu, SVC);
    assert_eq!(live["version"], 3);
    let b = live["bindings"].as_array().unwrap().iter().find(|b| b.get("condition").is_some()).unwrap();
    assert_eq!(b["condition"]["expression"], "request.time < timestamp(\"2030-01-01T00:00:00Z\")");
    assert_eq!(b["condition"]["description"], "Granted by runiam for INC-7; expires 2030-01-01T00:00:00Z");
    insta::assert_snapshot!(tf, @r#"
    resource "google_cloud_run_v2_service_iam_member" "chg_proj_europe_west1_api_run_invoker_user_oncall_runiam_expires_20300101t000000z" {
      project  = "chg-proj"
      location = "europe-west1"
      name     = "api"
      role     = "roles/run.invoker"
      member   = "user:oncall@example.com"

      condition {
        title       = "runiam-expires-20300101T000000Z"
        description = "Granted by runiam for INC-7; expires 2030-01-01T00:00:00Z"
        expression  = "request.time < timestamp(\"2030-01-01T00:00:00Z\")"
      }
    }
    "#);
}

mod round_trip {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::{SVC, world};
    use crate::common::{Emulator, call, grants, policy, runiam};

    const ROLES: &[&str] =
        &["roles/run.invoker", "roles/run.viewer", "roles/run.developer", "roles/run.servicesInvoker"];

    fn member() -> impl Strategy<Value = String> {
        (0..3usize, 0..6u8).prop_map(|(kind, n)| match kind {
            0 => format!("user:u{n}@example.com"),
            1 => format!("serviceAccount:sa{n}@chg-proj.iam.gserviceaccount.com"),
            _ => format!("group:g{n}@example.com"),
        })
    }

    fn binding() -> impl Strategy<Value = Value> {
        (0..ROLES.len(), proptest::collection::btree_set(member(), 1..4), proptest::option::of(2027..2035u32)).prop_map(
            |(role, members, year)| {
                let mut b = json!({"role": ROLES[role], "members": members.into_iter().collect::<Vec<_>>()});
                if let Some(y) = year {
                    b["condition"] = json!({"title": format!("until-{y}"), "expression": format!("request.time < timestamp(\"{y}-01-01T00:00:00Z\")")});
                }
                b
            },
        )
    }

    /// Policies of up to 6 bindings, some conditional, with audit configs
    /// (a field runiam does not interpret and must carry through).
    fn policy_strategy() -> impl Strategy<Value = Value> {
        (proptest::collection::vec(binding(), 0..6), any::<bool>()).prop_map(|(mut bindings, audit)| {
            // One binding per (role, condition), as IAM normalises them.
            let mut seen = std::collections::BTreeSet::new();
            bindings.retain(|b| seen.insert((b["role"].to_string(), b.get("condition").map(|c| c.to_string()))));
            let mut p = json!({"version": 3, "bindings": bindings});
            if audit {
                p["auditConfigs"] = json!([{"service": "allServices", "auditLogConfigs": [{"logType": "DATA_READ"}]}]);
            }
            p
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

        #[test]
        fn grant_then_rollback_restores_every_field_but_the_etag(p in policy_strategy()) {
            thread_local! {
                static EMU: (Emulator, tempfile::TempDir) = (Emulator::start(&world(), &[]), tempfile::tempdir().unwrap());
            }
            EMU.with(|(emu, dir)| {
                let (status, original) = call(emu, "POST", &format!("v2/{SVC}:setIamPolicy"), Some(json!({"policy": p, "updateMask": "bindings,etag,auditConfigs"})));
                prop_assert_eq!(status, 200, "{}", original);
                let (code, change, err) = runiam(emu, dir.path(), &["grant-invoker", SVC, "--member", "user:granted@example.com", "--apply", "--yes"], "");
                prop_assert_eq!(code, 0, "{}", err);
                let (code, _, err) = runiam(emu, dir.path(), &["rollback", "--apply", "--yes"], &change);
                prop_assert_eq!(code, 0, "{}", err);
                let mut live = policy(emu, SVC);
                let mut want = original.clone();
                for v in [&mut live, &mut want] {
                    v.as_object_mut().unwrap().remove("etag");
                    v.as_object_mut().unwrap().remove("version");
                }
                prop_assert_eq!(grants(&live), grants(&want));
                prop_assert_eq!(live.get("auditConfigs"), want.get("auditConfigs"));
                Ok(())
            })?;
        }
    }
}

#[test]
fn backups_are_listed_and_the_last_one_restored() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let original = policy(&emu, SVC);
    for member in ["user:first@example.com", "user:second@example.com"] {
        let (code, _, err) =
            runiam(&emu, dir.path(), &["grant-invoker", SVC, "--member", member, "--apply", "--yes"], "");
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = runiam(&emu, dir.path(), &["rollback", "--list"], "");
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines.iter().all(|l| l.contains(SVC) && l.contains("runiam-backups/chg-proj/europe-west1/api-")), "{out}");
    assert!(lines[0] > lines[1], "newest first:\n{out}");

    // The newest backup holds first@ but not second@: restoring it removes a
    // grant made since, which is drift until --force says so.
    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--last", "api", "--apply", "--yes"], "");
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("user:second@example.com roles/run.invoker"), "{err}");
    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--last", "api", "--force", "--apply", "--yes"], "");
    assert_eq!(code, 0, "{err}");
    let live = policy(&emu, SVC);
    assert_eq!(members(&live, "roles/run.invoker"), ["user:first@example.com"]);
    assert_ne!(grants(&live), grants(&original));

    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--last", "nothing-here"], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no backup of nothing-here under runiam-backups"), "{err}");
}
