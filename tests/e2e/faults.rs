//! grant-invoker and rollback under the emulator's faults and refusals:
//! concurrent writers, lost answers, retries, domain restricted sharing,
//! missing permissions; the invoker-check route; and the whole pipe from
//! troubleshoot to rollback. The emulator's audit log is the witness of
//! what was written.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::common::{Emulator, bin, call, faults, pipe, policy, root, runiam};

const CHG: &str = "projects/chg-proj/locations/europe-west1/services/api";

/// Every SetIamPolicy audit entry of a project, oldest first.
fn audit(emu: &Emulator, project: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let mut body = json!({
            "resourceNames": [format!("projects/{project}")],
            "filter": "protoPayload.methodName:\"SetIamPolicy\"",
            "pageSize": 1000,
        });
        if !token.is_empty() {
            body["pageToken"] = json!(token);
        }
        let (mut status, mut page) = call(emu, "POST", "v2/entries:list", Some(body.clone()));
        for _ in 0..20 {
            if status != 429 && status != 503 {
                break;
            }
            (status, page) = call(emu, "POST", "v2/entries:list", Some(body.clone()));
        }
        assert_eq!(status, 200, "{page}");
        out.extend(page["entries"].as_array().cloned().unwrap_or_default());
        match page["nextPageToken"].as_str() {
            Some(t) if !t.is_empty() => token = t.to_owned(),
            _ => return out,
        }
    }
}

/// (action, member) of every binding delta in the audit entries.
fn deltas(entries: &[Value]) -> Vec<(String, String)> {
    entries
        .iter()
        .flat_map(|e| {
            e.pointer("/protoPayload/serviceData/policyDelta/bindingDeltas")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .map(|d| {
            (d["action"].as_str().unwrap_or_default().to_owned(), d["member"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

/// How many times each member appears in a policy.
fn member_counts(p: &Value) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for b in p["bindings"].as_array().cloned().unwrap_or_default() {
        for m in b["members"].as_array().cloned().unwrap_or_default() {
            *out.entry(m.as_str().unwrap().to_owned()).or_default() += 1;
        }
    }
    out
}

#[test]
fn concurrent_writers_lose_no_writes() {
    let emu = Emulator::start(&root().join("tests/e2e/data/change-world.yaml"), &["--seed", "5", "--race-rate", "0.3"]);
    let dir = tempfile::tempdir().unwrap();
    let redone = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (emu, dir, redone) = (&emu, dir.path(), &redone);
            s.spawn(move || {
                for i in (t..200).step_by(4) {
                    let member = format!("user:m{i}@example.com");
                    let (code, _, err) =
                        runiam(emu, dir, &["grant-invoker", CHG, "--member", &member, "--apply", "--yes"], "");
                    assert_eq!(code, 0, "{member}: {err}");
                    if let Some(n) = err
                        .split("redone ")
                        .nth(1)
                        .and_then(|r| r.split(' ').next())
                        .and_then(|n| n.parse::<usize>().ok())
                    {
                        redone.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    // The racer strikes after reads, ours included: stop it before looking.
    faults(&emu, json!({"raceRate": 0}));
    let live = member_counts(&policy(&emu, CHG));
    for i in 0..200 {
        assert_eq!(live.get(&format!("user:m{i}@example.com")), Some(&1), "user:m{i} lost or duplicated");
    }
    let racers: Vec<String> = deltas(&audit(&emu, "chg-proj"))
        .into_iter()
        .filter(|(a, m)| a == "ADD" && m.starts_with("user:racer-"))
        .map(|(_, m)| m)
        .collect();
    assert!(racers.len() > 20, "the race rate should have struck often: {}", racers.len());
    for r in &racers {
        assert_eq!(live.get(r), Some(&1), "{r}'s write was lost");
    }
    let redone = redone.into_inner();
    assert!(redone > 0, "no read-modify-write was ever redone");
    eprintln!("200 grants, {} concurrent writes by racers, {redone} read-modify-write cycles redone", racers.len());
}

#[test]
fn failures_and_lost_answers_end_correct() {
    let emu = Emulator::start(
        &root().join("tests/e2e/data/change-world.yaml"),
        &["--seed", "9", "--fail-rate", "0.2", "--fail-codes", "429,503", "--commit-then-fail", "0.3"],
    );
    let dir = tempfile::tempdir().unwrap();
    let original = policy(&emu, CHG);
    let mut records = Vec::new();
    for i in 0..20 {
        let member = format!("user:f{i}@example.com");
        let (code, rec, err) = runiam(
            &emu,
            dir.path(),
            &["grant-invoker", CHG, "--member", &member, "--apply", "--yes", "-o", "json"],
            "",
        );
        assert_eq!(code, 0, "{member}: {err}");
        records.push(rec);
    }
    let live = member_counts(&policy(&emu, CHG));
    for i in 0..20 {
        assert_eq!(live.get(&format!("user:f{i}@example.com")), Some(&1), "f{i}");
    }
    // Each grant was written once, whatever the lost answers: one ADD each.
    let adds: Vec<String> =
        deltas(&audit(&emu, "chg-proj")).into_iter().filter(|(a, _)| a == "ADD").map(|(_, m)| m).collect();
    for i in 0..20 {
        assert_eq!(adds.iter().filter(|m| **m == format!("user:f{i}@example.com")).count(), 1, "f{i}");
    }
    // Roll them all back, newest first, through the same faults.
    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--apply", "--yes"], &records.concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(member_counts(&policy(&emu, CHG)), member_counts(&original));
}

#[test]
fn refusals_write_nothing() {
    let world = root().join("tests/e2e/data/troubleshoot-world.yaml");
    let emu = Emulator::start(&world, &[]);
    let dir = tempfile::tempdir().unwrap();
    let svc = "projects/tsh-proj/locations/europe-west1/services/nogrant";
    let (code, _, err) =
        runiam(&emu, dir.path(), &["grant-invoker", svc, "--member", "user:mallory@gmail.com", "--apply", "--yes"], "");
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("domain restricted sharing"), "{err}");
    // The hint is never broader than the change: no invoker-check route for
    // one outsider, but whom the policy admits.
    assert!(!err.contains("--disable-invoker-check"), "{err}");
    assert!(err.contains("admits the Cloud Identity customers C0acme01"), "{err}");
    let (code, _, err) = runiam(
        &emu,
        dir.path(),
        &["grant-invoker", svc, "--member", "allUsers", "--allow-public", "--apply", "--yes"],
        "",
    );
    assert_eq!(code, 4, "{err}");
    assert!(audit(&emu, "tsh-proj").is_empty(), "a refused grant was written");

    // An operator who may read but not write the policy.
    let text = std::fs::read_to_string(&world).unwrap().replace(
        "    parent: folders/710000000001\n",
        "    parent: folders/710000000001\n    iamPolicy:\n      bindings:\n        - role: roles/viewer\n          members: [user:reader@acme.example]\n",
    ) + "operator: user:reader@acme.example\n";
    let limited = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(limited.path(), text).unwrap();
    let emu = Emulator::start(limited.path(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) =
        runiam(&emu, dir.path(), &["grant-invoker", svc, "--member", "user:kim@acme.example", "--apply", "--yes"], "");
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("lack run.services.setIamPolicy") && err.contains("hint: the predefined role"), "{err}");
    assert!(!dir.path().join("runiam-backups").exists(), "no backup without a write");
}

#[test]
fn the_invoker_check_route_and_its_rollback() {
    let emu = Emulator::start(&root().join("tests/e2e/data/troubleshoot-world.yaml"), &[]);
    let dir = tempfile::tempdir().unwrap();
    let svc = "projects/tsh-proj/locations/europe-west1/services/nogrant";
    let service = |emu: &Emulator| call(emu, "GET", &format!("v2/{svc}"), None).1;
    let before = service(&emu);
    let (code, change, err) = runiam(
        &emu,
        dir.path(),
        &["grant-invoker", svc, "--disable-invoker-check", "--allow-public", "--apply", "--yes", "-o", "yaml"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let after = service(&emu);
    assert_eq!(after["invokerIamDisabled"], true);
    assert_ne!(after["etag"], before["etag"]);
    let record: Value = serde_saphyr::from_str(&change).unwrap();
    assert_eq!(
        (record["intent"]["action"].as_str(), record["invokerIamDisabledAfter"].as_bool()),
        (Some("disableInvokerCheck"), Some(true))
    );
    assert_eq!(record["serviceEtagAfter"], after["etag"]);
    // A caller nobody granted now gets through.
    let (code, _, _) = runiam(&emu, dir.path(), &["troubleshoot", svc, "--caller", "user:kim@acme.example"], "");
    assert_eq!(code, 0);
    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--apply", "--yes"], &change);
    assert_eq!(code, 0, "{err}");
    assert!(service(&emu).get("invokerIamDisabled").is_none(), "the check is back on");
}

#[test]
fn a_saved_invoker_check_plan_turns_the_check_off_or_refuses_when_the_service_moved() {
    let emu = Emulator::start(&root().join("tests/e2e/data/troubleshoot-world.yaml"), &[]);
    let dir = tempfile::tempdir().unwrap();
    let svc = "projects/tsh-proj/locations/europe-west1/services/nogrant";
    let service = |emu: &Emulator| call(emu, "GET", &format!("v2/{svc}"), None).1;
    let (code, plan, err) = runiam(
        &emu,
        dir.path(),
        &["grant-invoker", svc, "--disable-invoker-check", "--allow-public", "-o", "yaml"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(service(&emu).get("invokerIamDisabled").is_none(), "a plan changes nothing");

    let (code, applied, err) =
        runiam(&emu, dir.path(), &["grant-invoker", "--allow-public", "--apply", "--yes", "-o", "yaml"], &plan);
    assert_eq!(code, 0, "{err}");
    let after = service(&emu);
    assert_eq!(after["invokerIamDisabled"], true);
    let record: Value = serde_saphyr::from_str(&applied).unwrap();
    assert_eq!((record["applied"].as_bool(), record["invokerIamDisabledAfter"].as_bool()), (Some(true), Some(true)));
    assert_eq!(record["serviceEtagAfter"], after["etag"]);

    // The same plan again: the service's etag moved, so it is refused and nothing is written.
    let (code, _, err) = runiam(&emu, dir.path(), &["grant-invoker", "--allow-public", "--apply", "--yes"], &plan);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("changed since the plan was made"), "{err}");
    assert_eq!(service(&emu)["etag"], after["etag"]);
}

#[test]
fn troubleshoot_grant_rollback_pipe_restores_the_policy() {
    let emu = Emulator::start(&root().join("tests/e2e/data/troubleshoot-world.yaml"), &[]);
    let dir = tempfile::tempdir().unwrap();
    let svc = "projects/tsh-proj/locations/europe-west1/services/nogrant";
    let original = policy(&emu, svc);
    let runiam_bin = bin("runiam");
    let line = format!(
        "{r} troubleshoot {svc} --caller user:kim@acme.example -o yaml | {r} grant-invoker --apply --yes | tee change.yaml | {r} rollback --apply --yes -o yaml",
        r = runiam_bin.display()
    );
    let (out, text) = pipe(&emu, dir.path(), &line);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let change = std::fs::read_to_string(dir.path().join("change.yaml")).unwrap();
    assert!(change.contains("member: user:kim@acme.example"), "{change}");
    assert_eq!(member_counts(&policy(&emu, svc)), member_counts(&original));
    let adds = deltas(&audit(&emu, "tsh-proj"));
    assert_eq!(
        adds,
        [
            ("ADD".to_owned(), "user:kim@acme.example".to_owned()),
            ("REMOVE".to_owned(), "user:kim@acme.example".to_owned())
        ]
    );
}
