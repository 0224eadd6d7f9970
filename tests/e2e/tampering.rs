//! The write gate against a careless or hostile operator: hand-edited
//! plans and records, public and broad grants, snapshot restores over
//! drift, empty pipes, grants that cannot help, bad flag values, and a
//! Ctrl-C in the middle of an apply. Every refusal is checked for its exit
//! code and message, and for having written nothing: the service's policy,
//! its invoker check and the audit log are as before.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{Emulator, call, cmd, policy, root, runiam};

const CHG: &str = "projects/chg-proj/locations/europe-west1/services/api";
const TSH: &str = "projects/tsh-proj/locations/europe-west1/services/nogrant";

fn change_world() -> std::path::PathBuf {
    root().join("tests/e2e/data/change-world.yaml")
}

fn troubleshoot_world() -> std::path::PathBuf {
    root().join("tests/e2e/data/troubleshoot-world.yaml")
}

/// What a write would change: the policy's etag, the service's etag and
/// invoker check, and the number of SetIamPolicy entries in the audit log.
fn witness(emu: &Emulator, service: &str) -> (Value, Value, Value, usize) {
    let (_, s) = call(emu, "GET", &format!("v2/{service}"), None);
    let project = service.split('/').nth(1).unwrap();
    let body = json!({
        "resourceNames": [format!("projects/{project}")],
        "filter": "protoPayload.methodName:\"SetIamPolicy\"",
        "pageSize": 1000,
    });
    let (status, page) = call(emu, "POST", "v2/entries:list", Some(body));
    assert_eq!(status, 200, "{page}");
    let audits = page["entries"].as_array().map_or(0, Vec::len);
    (
        policy(emu, service)["etag"].clone(),
        s["etag"].clone(),
        s.get("invokerIamDisabled").cloned().unwrap_or(Value::Bool(false)),
        audits,
    )
}

/// Runs `args` and asserts the refusal: exit code, message, nothing written.
fn refused(emu: &Emulator, dir: &Path, service: &str, args: &[&str], stdin: &str, code: i32, message: &str) -> String {
    let before = witness(emu, service);
    let (got, stdout, err) = runiam(emu, dir, args, stdin);
    assert_eq!(got, code, "{args:?}:\n{err}");
    assert!(err.contains(message), "{args:?}: expected {message:?} in:\n{err}");
    assert_eq!(stdout, "", "{args:?}");
    assert_eq!(witness(emu, service), before, "{args:?} wrote");
    err
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap()
}

fn to_yaml(v: &Value) -> String {
    serde_saphyr::to_string(v).unwrap()
}

#[test]
fn edited_plans_are_refused() {
    let emu = Emulator::start(&change_world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (code, plan, err) =
        runiam(&emu, dir.path(), &["grant-invoker", CHG, "--member", "user:carol@example.com", "-o", "yaml"], "");
    assert_eq!(code, 0, "{err}");
    let plan = yaml(&plan);
    let apply = ["grant-invoker", "--apply", "--yes", "-f", "-"];

    // An extra member holding roles/run.admin in policyAfter.
    let mut extra = plan.clone();
    extra["policyAfter"]["bindings"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "roles/run.admin", "members": ["user:mallory@example.com"]}));
    let err = refused(&emu, dir.path(), CHG, &apply, &to_yaml(&extra), 4, "was edited");
    assert!(err.contains("+  - user:mallory@example.com"), "the edit is shown:\n{err}");

    // A role the --role flag refuses.
    let mut admin = plan.clone();
    admin["intent"]["role"] = json!("roles/run.admin");
    refused(&emu, dir.path(), CHG, &apply, &to_yaml(&admin), 2, "roles/run.admin grants more than invoking");

    // A public member without --allow-public, policyAfter edited to match.
    let mut public = plan.clone();
    public["intent"]["member"] = json!("allUsers");
    public["policyAfter"]["bindings"][1]["members"] = json!(["allUsers"]);
    refused(&emu, dir.path(), CHG, &apply, &to_yaml(&public), 4, "refusing without --allow-public");

    // A deny-only principal set smuggled into the intent.
    let mut set = plan.clone();
    set["intent"]["member"] = json!("principalSet://goog/public:all");
    refused(&emu, dir.path(), CHG, &apply, &to_yaml(&set), 2, "allUsers (with --allow-public)");

    // The untouched plan applies, and prints its diff and blast radius on apply.
    let (code, _, err) = runiam(&emu, dir.path(), &apply, &to_yaml(&plan));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("+  - user:carol@example.com"), "{err}");
    assert!(err.contains("blast radius: user:carol@example.com gains roles/run.invoker"), "{err}");
}

#[test]
fn public_and_broad_need_their_flags() {
    let emu = Emulator::start(&change_world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    refused(
        &emu,
        dir.path(),
        CHG,
        &["grant-invoker", CHG, "--disable-invoker-check", "--apply", "--yes"],
        "",
        4,
        "the invoker IAM check would be turned off: anyone could invoke (needs --allow-public)",
    );
    refused(
        &emu,
        dir.path(),
        CHG,
        &["grant-invoker", CHG, "--member", "domain:example.com", "--apply", "--yes"],
        "",
        4,
        "domain:example.com, every account of the domain, would gain roles/run.invoker (needs --allow-broad)",
    );
    let (code, _, err) = runiam(
        &emu,
        dir.path(),
        &["grant-invoker", CHG, "--member", "domain:example.com", "--allow-broad", "--apply", "--yes"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("blast radius: every account of the domain example.com gains"), "{err}");
}

#[test]
fn snapshot_restores_put_the_invoker_check_back_and_refuse_drift() {
    let emu = Emulator::start(&change_world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (code, snapshot, err) = runiam(&emu, dir.path(), &["export", CHG, "-o", "yaml"], "");
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = runiam(
        &emu,
        dir.path(),
        &["grant-invoker", CHG, "--disable-invoker-check", "--allow-public", "--apply", "--yes"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(witness(&emu, CHG).2, true);

    // The snapshot says the check was on: restoring it turns it back on.
    let (code, out, err) = runiam(&emu, dir.path(), &["rollback", "--apply", "--yes", "-o", "yaml"], &snapshot);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("invoker IAM check off -> on"), "{err}");
    assert_eq!(witness(&emu, CHG).2, false);
    let record = yaml(&out);
    assert_eq!((record["applied"].as_bool(), record["invokerIamDisabledAfter"].as_bool()), (Some(true), Some(false)));

    // A grant made since the snapshot: restoring would remove it.
    let (code, _, err) =
        runiam(&emu, dir.path(), &["grant-invoker", CHG, "--member", "user:since@example.com", "--apply", "--yes"], "");
    assert_eq!(code, 0, "{err}");
    refused(
        &emu,
        dir.path(),
        CHG,
        &["rollback", "--apply", "--yes"],
        &snapshot,
        4,
        "would remove 1 grant(s) made since it was taken:\n  - user:since@example.com roles/run.invoker",
    );
    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--merge", "--apply", "--yes"], &snapshot);
    assert_eq!(code, 0, "{err}");
    assert!(policy(&emu, CHG).to_string().contains("user:since@example.com"), "--merge keeps the later grant");
    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--force", "--apply", "--yes"], &snapshot);
    assert_eq!(code, 0, "{err}");
    assert!(!policy(&emu, CHG).to_string().contains("user:since@example.com"), "--force removes it");
}

#[test]
fn rollback_writes_no_more_than_its_flags_allow() {
    let emu = Emulator::start(&change_world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (code, change, err) =
        runiam(&emu, dir.path(), &["grant-invoker", CHG, "--member", "user:ours@example.com", "--apply", "--yes"], "");
    assert_eq!(code, 0, "{err}");
    let mut record = yaml(&change);
    record["policyBefore"]["bindings"].as_array_mut().unwrap().extend([
        json!({"role": "roles/run.invoker", "members": ["allUsers"]}),
        json!({"role": "roles/run.admin", "members": ["user:mallory@example.com"]}),
    ]);
    let err =
        refused(&emu, dir.path(), CHG, &["rollback", "--apply", "--yes"], &to_yaml(&record), 4, "needs --allow-public");
    assert!(err.contains("user:mallory@example.com would gain roles/run.admin"), "{err}");
    assert!(err.contains("needs --allow-role roles/run.admin"), "{err}");

    // A record that claims the check was off before turns it off only with --allow-public.
    let mut off = yaml(&change);
    off["invokerIamDisabledBefore"] = json!(true);
    off["invokerIamDisabledAfter"] = json!(false);
    refused(
        &emu,
        dir.path(),
        CHG,
        &["rollback", "--merge", "--apply", "--yes"],
        &to_yaml(&off),
        4,
        "needs --allow-public",
    );
}

#[test]
fn empty_input_is_an_error_unless_allowed() {
    let emu = Emulator::start(&change_world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    for args in [&["verify"][..], &["grant-invoker", "--apply", "--yes"][..], &["rollback", "--apply", "--yes"][..]] {
        let (code, out, err) = runiam(&emu, dir.path(), args, "");
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(out, "");
        assert!(err.contains("no documents on stdin: did the previous command fail?"), "{args:?}: {err}");
        let mut allowed = args.to_vec();
        allowed.push("--allow-empty");
        let (code, _, err) = runiam(&emu, dir.path(), &allowed, "");
        assert_eq!(code, 0, "{allowed:?}: {err}");
    }
}

#[test]
fn conditional_grants_are_not_silently_made_permanent() {
    let emu = Emulator::start(&troubleshoot_world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let fancy = "projects/tsh-proj/locations/europe-west1/services/fancy";
    refused(
        &emu,
        dir.path(),
        fancy,
        &["grant-invoker", fancy, "--member", "user:erin@acme.example", "--apply", "--yes"],
        "",
        4,
        "only while `request.path.startsWith(\"/reports\")`; an unconditional grant would make it permanent",
    );
    let (code, _, err) = runiam(
        &emu,
        dir.path(),
        &["grant-invoker", fancy, "--member", "user:erin@acme.example", "--permanent", "--apply", "--yes"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("note: user:erin@acme.example's conditional grant of roles/run.invoker becomes permanent"),
        "{err}"
    );

    // --keep-condition extends dave's expired grant instead of adding a second.
    let expired = "projects/tsh-proj/locations/europe-west1/services/expired";
    let (code, _, err) = runiam(
        &emu,
        dir.path(),
        &[
            "grant-invoker",
            expired,
            "--member",
            "user:dave@acme.example",
            "--until",
            "2030-01-01T00:00:00Z",
            "--keep-condition",
            "--apply",
            "--yes",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let live = policy(&emu, expired);
    let bindings = live["bindings"].as_array().unwrap();
    assert_eq!(bindings.len(), 1, "{live}");
    assert_eq!(bindings[0]["condition"]["expression"], "request.time < timestamp(\"2030-01-01T00:00:00Z\")");
}

#[test]
fn grants_that_cannot_help_are_refused() {
    let emu = Emulator::start(&troubleshoot_world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let grant = |member: &str| ["grant-invoker", TSH, "--member", member, "--apply", "--yes"].map(str::to_owned);
    let cases: &[(&str, &str)] = &[
        ("user:henry@acme.example", "iam.denied: the deny policy"),
        ("serviceAccount:old@tsh-proj.iam.gserviceaccount.com", "iam.caller-disabled"),
        ("serviceAccount:ghost@tsh-proj.iam.gserviceaccount.com", "does not exist (IAM answered 404)"),
    ];
    for (member, message) in cases {
        let args = grant(member);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&emu, dir.path(), TSH, &args, "", 4, message);
    }
    // ivy holds roles/run.invoker on the folder: nothing to write.
    let before = witness(&emu, TSH);
    let (code, _, err) = runiam(&emu, dir.path(), &grant("user:ivy@acme.example").each_ref().map(String::as_str), "");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("already holds roles/run.invoker on folders/710000000001"), "{err}");
    assert_eq!(witness(&emu, TSH), before);
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let emu = Emulator::start(&change_world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--member", "user:bob@acme.example", "--expires", "10000000000d"],
            "--expires '10000000000d' is longer than 3650 days",
        ),
        (
            &["--member", "user:bob@acme.example", "--until", "2020-01-01T00:00:00Z"],
            "--until 2020-01-01T00:00:00Z is in the past",
        ),
        (&["--member", "user:bob@@acme.example"], "one member holds one principal"),
        (&["--member", "user:a@acme.example,user:b@acme.example"], "one member holds one principal"),
        (&["--member", "user:bob@acme.example;rm"], "one member holds one principal"),
        (
            &["--member", "principalSet://goog/public:all"],
            "in an allow policy anyone is allUsers (with --allow-public)",
        ),
        (&["--member", "user:bob@acme.example", "--keep-condition"], "--keep-condition needs --expires or --until"),
    ];
    for (flags, message) in cases {
        let mut args = vec!["grant-invoker", CHG, "--apply", "--yes"];
        args.extend_from_slice(flags);
        refused(&emu, dir.path(), CHG, &args, "", 2, message);
    }
}

#[test]
fn iam_limits_and_member_checks_hold() {
    let emu = Emulator::start(&change_world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<String> = (0..1500).map(|i| format!("user:u{i}@example.com")).collect();
    let (status, _) = call(
        &emu,
        "POST",
        &format!("v2/{CHG}:setIamPolicy"),
        Some(json!({"policy": {"bindings": [{"role": "roles/run.invoker", "members": members}]}})),
    );
    assert_eq!(status, 200);
    refused(
        &emu,
        dir.path(),
        CHG,
        &["grant-invoker", CHG, "--member", "user:one-more@example.com", "--apply", "--yes"],
        "",
        4,
        "the policy would hold 1501 principals; IAM allows at most 1500 in one policy",
    );
    // The emulator refuses it as IAM does, whoever writes.
    let mut over: Vec<String> = (0..1501).map(|i| format!("user:u{i}@example.com")).collect();
    over.sort();
    let (status, body) = call(
        &emu,
        "POST",
        &format!("v2/{CHG}:setIamPolicy"),
        Some(json!({"policy": {"bindings": [{"role": "roles/run.invoker", "members": over}]}})),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["message"],
        "The number of members in the policy (1,501) is larger than the maximum allowed size 1,500."
    );
    // Members IAM refuses: an account of a world project it does not list,
    // and a deny-only principal set; a service agent exists.
    for (member, status, message) in [
        (
            "serviceAccount:ghost@chg-proj.iam.gserviceaccount.com",
            400,
            "Service account ghost@chg-proj.iam.gserviceaccount.com does not exist.",
        ),
        (
            "principalSet://goog/public:all",
            400,
            "Invalid principal: principalSet://goog/public:all. This principal set is not supported in allow policies.",
        ),
        ("serviceAccount:service-500000000001@gcp-sa-pubsub.iam.gserviceaccount.com", 200, ""),
    ] {
        let (got, body) = call(
            &emu,
            "POST",
            &format!("v2/{CHG}:setIamPolicy"),
            Some(json!({"policy": {"bindings": [{"role": "roles/run.invoker", "members": [member]}]}})),
        );
        assert_eq!(got, status, "{member}: {body}");
        if status == 400 {
            assert_eq!(body["error"]["message"], message);
            assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
        }
    }
}

#[test]
fn sigint_during_apply_records_the_write() {
    use std::io::Read;
    let emu = Emulator::start(&change_world(), &["--latency", "400ms"]);
    let dir = tempfile::tempdir().unwrap();
    let original = policy(&emu, CHG);
    let mut c = cmd("runiam", dir.path());
    c.current_dir(dir.path())
        .env("RUNIAM_EMULATOR_HOST", emu.host())
        .args(["grant-invoker", CHG, "--member", "user:late@example.com", "--apply", "--yes", "-o", "yaml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    // The backup is written right before the write is sent: strike then.
    let backups = dir.path().join("runiam-backups");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !backups.join("chg-proj/europe-west1").read_dir().is_ok_and(|mut d| d.next().is_some()) {
        assert!(std::time::Instant::now() < deadline, "no backup was written");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let mut out = String::new();
    let mut err = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(exit.code(), Some(130), "{err}");
    assert!(err.contains("interrupted: the write under way finished; 1 change(s) recorded"), "{err}");
    let record = yaml(&out);
    assert_eq!(record["applied"], true, "{out}");
    assert!(record["backupPath"].as_str().is_some(), "{out}");
    assert!(policy(&emu, CHG).to_string().contains("user:late@example.com"));

    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--apply", "--yes"], &out);
    assert_eq!(code, 0, "{err}");
    assert_eq!(policy(&emu, CHG)["bindings"], original["bindings"]);
}

/// Any mutation of a valid plan, ChangeRecord or snapshot either writes
/// nothing, or writes what the equivalent command line would (a plan), or
/// stays within what a restore may do without flags (records, snapshots).
mod mutations {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::{CHG, change_world, to_yaml, witness};
    use crate::common::{Emulator, grants, policy, reset, runiam};

    const MEMBERS: &[&str] = &[
        "user:carol@example.com",
        "user:dan@example.com",
        "allUsers",
        "domain:example.com",
        "group:devs@example.com",
        "serviceAccount:sa1@chg-proj.iam.gserviceaccount.com",
        "principalSet://goog/public:all",
    ];
    const ROLES: &[&str] =
        &["roles/run.invoker", "roles/run.servicesInvoker", "roles/run.admin", "roles/run.developer", "roles/viewer"];

    #[derive(Clone, Debug)]
    enum Mutation {
        Member(usize),
        Role(usize),
        Condition(bool),
        AfterAdd(usize, usize),
        AfterDrop(usize),
        BeforeAdd(usize, usize),
        Etag,
        InvokerCheckOff,
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (0..MEMBERS.len()).prop_map(Mutation::Member),
            (0..ROLES.len()).prop_map(Mutation::Role),
            any::<bool>().prop_map(Mutation::Condition),
            (0..MEMBERS.len(), 0..ROLES.len()).prop_map(|(m, r)| Mutation::AfterAdd(m, r)),
            (0..3usize).prop_map(Mutation::AfterDrop),
            (0..MEMBERS.len(), 0..ROLES.len()).prop_map(|(m, r)| Mutation::BeforeAdd(m, r)),
            Just(Mutation::Etag),
            Just(Mutation::InvokerCheckOff),
        ]
    }

    /// A condition as runiam writes it for `--until 2020|2030-01-01T00:00:00Z`.
    fn expiry(past: bool) -> Value {
        let year = if past { 2020 } else { 2030 };
        json!({
            "expression": format!("request.time < timestamp(\"{year}-01-01T00:00:00Z\")"),
            "title": format!("runiam-expires-{year}0101T000000Z"),
            "description": format!("Granted by runiam; expires {year}-01-01T00:00:00Z"),
        })
    }

    fn add(policy: &mut Value, m: usize, r: usize) {
        if !policy.is_object() {
            *policy = json!({});
        }
        let bindings = policy.as_object_mut().unwrap().entry("bindings").or_insert_with(|| json!([]));
        if !bindings.is_array() {
            *bindings = json!([]);
        }
        bindings.as_array_mut().unwrap().push(json!({"role": ROLES[r], "members": [MEMBERS[m]]}));
    }

    /// Applies the mutations to a plan (`policy` names the policy field a
    /// record or snapshot restores: policyBefore or iamPolicy).
    fn mutate(doc: &Value, ms: &[Mutation], restored: &str) -> Value {
        let mut d = doc.clone();
        for m in ms {
            match m {
                Mutation::Member(i) => d["intent"]["member"] = json!(MEMBERS[*i]),
                Mutation::Role(i) => d["intent"]["role"] = json!(ROLES[*i]),
                Mutation::Condition(past) => d["intent"]["condition"] = expiry(*past),
                Mutation::AfterAdd(m, r) => add(&mut d["policyAfter"], *m, *r),
                Mutation::AfterDrop(i) => {
                    if let Some(b) = d["policyAfter"]["bindings"].as_array_mut()
                        && *i < b.len()
                    {
                        b.remove(*i);
                    }
                }
                Mutation::BeforeAdd(m, r) => add(&mut d[restored], *m, *r),
                Mutation::Etag => d[restored]["etag"] = json!("BwZZZZZZZZZ="),
                Mutation::InvokerCheckOff => {
                    d["invokerIamDisabledBefore"] = json!(true);
                    d["invokerIamDisabledAfter"] = json!(false);
                    d["invokerIamDisabled"] = json!(true);
                }
            }
        }
        d
    }

    thread_local! {
        static EMU: (Emulator, tempfile::TempDir) =
            (Emulator::start(&change_world(), &[]), tempfile::tempdir().unwrap());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

        #[test]
        fn a_mutated_plan_writes_what_its_command_line_would_or_nothing(
            ms in proptest::collection::vec(mutation(), 1..4)
        ) {
            EMU.with(|(emu, dir)| {
                reset(emu);
                let (code, plan, err) = runiam(emu, dir.path(), &["grant-invoker", CHG, "--member", MEMBERS[0], "-o", "json"], "");
                prop_assert_eq!(code, 0, "{}", err);
                let doc = mutate(&serde_json::from_str(plan.trim()).unwrap(), &ms, "policyBefore");
                let before = witness(emu, CHG);
                let (code, _, err) = runiam(emu, dir.path(), &["grant-invoker", "--apply", "--yes", "-f", "-"], &to_yaml(&doc));
                if code != 0 {
                    prop_assert_eq!(witness(emu, CHG), before, "exit {} wrote: {}", code, err);
                    return Ok(());
                }
                let written = grants(&policy(emu, CHG));
                // The same intent on the command line, from the same start.
                reset(emu);
                let member = doc["intent"]["member"].as_str().unwrap().to_owned();
                let role = doc["intent"]["role"].as_str().unwrap_or("roles/run.invoker").to_owned();
                let mut args = vec!["grant-invoker", CHG, "--member", &member, "--role", &role, "--apply", "--yes"];
                let until = doc["intent"]["condition"]["expression"].as_str().map(|e| e[27..47].to_owned());
                if let Some(u) = &until {
                    args.extend(["--until", u]);
                }
                let (code, _, err) = runiam(emu, dir.path(), &args, "");
                prop_assert_eq!(code, 0, "the plan applied, its command line did not: {}", err);
                prop_assert_eq!(written, grants(&policy(emu, CHG)));
                Ok(())
            })?;
        }

        #[test]
        fn a_mutated_record_or_snapshot_stays_within_what_a_restore_may_do(
            ms in proptest::collection::vec(mutation(), 1..4),
            snapshot in any::<bool>(),
        ) {
            EMU.with(|(emu, dir)| {
                reset(emu);
                let (code, snap, err) = runiam(emu, dir.path(), &["export", CHG, "-o", "json"], "");
                prop_assert_eq!(code, 0, "{}", err);
                let (code, record, err) = runiam(emu, dir.path(), &["grant-invoker", CHG, "--member", MEMBERS[1], "--apply", "--yes", "-o", "json"], "");
                prop_assert_eq!(code, 0, "{}", err);
                let doc = if snapshot {
                    mutate(&serde_json::from_str(snap.trim()).unwrap(), &ms, "iamPolicy")
                } else {
                    mutate(&serde_json::from_str(record.trim()).unwrap(), &ms, "policyBefore")
                };
                let live = policy(emu, CHG);
                let before = witness(emu, CHG);
                let (code, _, err) = runiam(emu, dir.path(), &["rollback", "--apply", "--yes"], &to_yaml(&doc));
                if code != 0 {
                    prop_assert_eq!(witness(emu, CHG), before, "exit {} wrote: {}", code, err);
                    return Ok(());
                }
                let after = policy(emu, CHG);
                let now = witness(emu, CHG);
                prop_assert_eq!(&now.2, &Value::Bool(false), "the invoker check was turned off: {}", err);
                let was = grants(&live);
                for g in grants(&after).into_iter().filter(|g| !was.contains(g)) {
                    let narrow = g.starts_with("\"roles/run.invoker\"") || g.starts_with("\"roles/run.servicesInvoker\"");
                    let open = g.contains("allUsers") || g.contains("domain:") || g.contains("group:") || g.contains("principalSet");
                    prop_assert!(narrow && !open, "a restore without flags added {}", g);
                }
                for g in was.iter().filter(|g| !grants(&after).contains(g)) {
                    prop_assert!(!snapshot, "a snapshot restore without --force removed {}", g);
                }
                Ok(())
            })?;
        }
    }
}
