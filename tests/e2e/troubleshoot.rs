//! `runiam troubleshoot` scenarios: for every finding id it owns, a world
//! and an invocation where it is reported with its bucket, severity and
//! verdict; healthy callers with no cause; group membership resolved by the
//! transitive check, by a walk, and not at all. Ids, verdicts and exit
//! codes are asserted, never prose.

use std::path::Path;

use serde_json::Value;

use crate::common::{Emulator, cmd, root, run};

const WORLD: &str = "tests/e2e/data/troubleshoot-world.yaml";
const SA: &str = "serviceAccount:caller@tsh-proj.iam.gserviceaccount.com";

/// Runs troubleshoot and returns (exit, the Diagnosis).
fn diagnose(emu: &Emulator, home: &Path, service: &str, caller: &str, extra: &[&str]) -> (i32, Value) {
    let mut c = cmd("runiam", home);
    c.env("RUNIAM_EMULATOR_HOST", emu.host())
        .args([
            "troubleshoot",
            service,
            "--project",
            "tsh-proj",
            "--region",
            "europe-west1",
            "--caller",
            caller,
            "-o",
            "json",
        ])
        .args(extra);
    let (out, text) = run(c, "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let d: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{service} {caller}: {e}\n{text}"));
    (out.status.code().unwrap_or(-1), d)
}

/// (id, bucket, severity) of every finding.
fn ids(d: &Value) -> Vec<(String, String, String)> {
    d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().into(),
                f["bucket"].as_str().unwrap().into(),
                f["severity"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// (service, caller, extra flags, verdict, exit, the (id, bucket, severity) expected).
type Scenario<'a> = (&'a str, &'a str, &'a [&'a str], &'a str, i32, (&'a str, &'a str, &'a str));

#[test]
fn every_finding_id_has_a_scenario() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    // (service, caller, extra flags, verdict, exit, (id, bucket, severity))
    let cases: &[Scenario] = &[
        ("nogrant", "user:kim@acme.example", &[], "DENIED", 1, ("iam.no-grant", "iam", "cause")),
        ("viewer-only", "user:carol@acme.example", &[], "DENIED", 1, ("iam.role-lacks-invoke", "iam", "cause")),
        ("expired", "user:dave@acme.example", &[], "DENIED", 1, ("iam.condition-false", "iam", "cause")),
        ("fancy", "user:erin@acme.example", &[], "UNKNOWN", 1, ("iam.condition-unknown", "iam", "risk")),
        ("denied", "user:henry@acme.example", &[], "DENIED", 1, ("iam.denied", "iam", "cause")),
        ("typo", "user:frank@acme.example", &[], "DENIED", 1, ("iam.near-miss", "iam", "cause")),
        (
            "typo",
            "serviceAccount:robot@tsh-proj.iam.gserviceaccount.com",
            &[],
            "DENIED",
            1,
            ("iam.near-miss", "iam", "cause"),
        ),
        ("twin", SA, &[], "DENIED", 1, ("iam.near-miss", "iam", "cause")),
        ("deleted", "user:gina@acme.example", &[], "DENIED", 1, ("iam.deleted-principal", "iam", "cause")),
        (
            "svcgrant",
            "serviceAccount:old@tsh-proj.iam.gserviceaccount.com",
            &[],
            "DENIED",
            1,
            ("iam.caller-disabled", "iam", "cause"),
        ),
        ("partner", "user:lee@partner.example", &[], "UNKNOWN", 1, ("iam.group-unknown", "iam", "risk")),
        ("nogrant", "allUsers", &[], "DENIED", 1, ("org.public-blocked", "iam", "risk")),
        ("nogrant", "user:mallory@gmail.com", &[], "DENIED", 1, ("org.member-blocked", "iam", "risk")),
        ("internal", SA, &[], "DENIED", 1, ("network.ingress", "network", "cause")),
        ("nourl", SA, &[], "DENIED", 1, ("network.default-url-disabled", "network", "cause")),
        ("iap", SA, &[], "ALLOWED", 0, ("network.iap", "network", "risk")),
        ("nocheck", "user:kim@acme.example", &[], "ALLOWED", 0, ("config.invoker-check-disabled", "config", "info")),
        ("open", "user:kim@acme.example", &[], "ALLOWED", 0, ("config.public", "config", "info")),
        ("svcgrant", SA, &[], "ALLOWED", 0, ("iam.granted", "iam", "info")),
        ("broken", SA, &[], "ALLOWED", 0, ("config.not-ready", "config", "cause")),
    ];
    for (service, caller, extra, verdict, exit, finding) in cases {
        let (code, d) = diagnose(&emu, home.path(), service, caller, extra);
        let got = ids(&d);
        assert_eq!(d["verdict"], *verdict, "{service} {caller}: {got:?}");
        assert_eq!(code, *exit, "{service} {caller}");
        let want = (finding.0.to_owned(), finding.1.to_owned(), finding.2.to_owned());
        assert!(got.contains(&want), "{service} {caller}: {want:?} not in {got:?}");
        if finding.0 == "org.public-blocked" {
            assert_eq!(d["fix"]["action"], "disableInvokerCheck", "{service} {caller}");
        }
        if *verdict == "DENIED" && finding.2 == "cause" {
            assert!(d["fix"]["command"].as_str().is_some(), "{service} {caller}: a cause without a fix");
        }
    }
}

#[test]
fn allowed_names_the_binding_and_not_ready_quotes_the_condition() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let (_, d) = diagnose(&emu, home.path(), "svcgrant", SA, &[]);
    let granted = d["findings"].as_array().unwrap().iter().find(|f| f["id"] == "iam.granted").unwrap();
    let ev = &granted["evidence"][0];
    assert_eq!(ev["data"]["role"], "roles/run.invoker");
    assert_eq!(ev["data"]["member"], SA);
    assert!(ev["detail"].as_str().unwrap().starts_with("projects/tsh-proj/locations/europe-west1/services/svcgrant: "));
    // Through a group, the group is named.
    let (_, d) = diagnose(&emu, home.path(), "nogrant", "user:jack@acme.example", &[]);
    assert_eq!(d["verdict"], "ALLOWED", "{d}");
    let granted = d["findings"].as_array().unwrap().iter().find(|f| f["id"] == "iam.granted").unwrap();
    assert_eq!(granted["evidence"][0]["data"]["member"], "group:org-callers@acme.example", "{granted}");

    let (_, d) = diagnose(&emu, home.path(), "broken", SA, &[]);
    let f = d["findings"].as_array().unwrap().iter().find(|f| f["id"] == "config.not-ready").unwrap();
    let text = f.to_string();
    assert!(f["explanation"].as_str().unwrap().contains("HEALTH_CHECK_CONTAINER_ERROR"), "{f}");
    assert!(text.contains("failed the configured startup probe checks"), "{f}");
    assert!(text.contains("no ready revision"), "{f}");
}

#[test]
fn healthy_callers_get_no_cause() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        ("svcgrant", SA, &[]),
        ("internal", SA, &["--from", "internal"]),
        ("nogrant", "user:ivy@acme.example", &[]),
        ("nogrant", "user:jack@acme.example", &[]),
        ("denied", "user:kim@acme.example", &[]),
        ("open", "allUsers", &[]),
    ];
    for (service, caller, extra) in cases {
        let (code, d) = diagnose(&emu, home.path(), service, caller, extra);
        assert_eq!((code, d["verdict"].as_str().unwrap()), (0, "ALLOWED"), "{service} {caller}: {:?}", ids(&d));
        assert!(ids(&d).iter().all(|(_, _, s)| s != "cause"), "{service} {caller}: {:?}", ids(&d));
        assert!(d.get("fix").is_none(), "{service} {caller}");
    }
}

#[test]
fn org_group_membership_by_check_by_walk_and_unknown() {
    // The same org-level nested-group grant, resolved by Cloud Identity's
    // transitive check, then by a walk of memberships when the edition
    // refuses the check (403).
    let text = std::fs::read_to_string(root().join(WORLD)).unwrap();
    let walk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        walk.path(),
        text.replace("cloudIdentity: {transitiveMembership: true}", "cloudIdentity: {transitiveMembership: false}"),
    )
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    for world in [root().join(WORLD), walk.path().to_owned()] {
        let emu = Emulator::start(&world, &[]);
        let (code, d) = diagnose(&emu, home.path(), "nogrant", "user:jack@acme.example", &[]);
        assert_eq!((code, d["verdict"].as_str().unwrap()), (0, "ALLOWED"), "{}: {:?}", world.display(), ids(&d));
        let (code, d) = diagnose(&emu, home.path(), "nogrant", "user:kim@acme.example", &[]);
        assert_eq!((code, d["verdict"].as_str().unwrap()), (1, "DENIED"), "{}: {:?}", world.display(), ids(&d));
    }
}

#[test]
fn export_pipes_into_troubleshoot() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let mut c = cmd("runiam", home.path());
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).args([
        "export",
        "projects/tsh-proj/locations/europe-west1/services/svcgrant",
        "projects/tsh-proj/locations/europe-west1/services/nogrant",
        "projects/tsh-proj/locations/europe-west1/services/open",
        "-o",
        "yaml",
    ]);
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(0), "{text}");
    let mut c = cmd("runiam", home.path());
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).args(["troubleshoot", "--caller", SA, "-o", "json"]);
    let (out, text) = run(c, &String::from_utf8_lossy(&out.stdout));
    assert_eq!(out.status.code(), Some(1), "{text}");
    let verdicts: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let d: Value = serde_json::from_str(l).unwrap();
            (d["service"]["name"].as_str().unwrap().to_owned(), d["verdict"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        verdicts,
        [("nogrant".into(), "DENIED".into()), ("open".into(), "ALLOWED".into()), ("svcgrant".into(), "ALLOWED".into())]
    );
}

#[test]
fn partial_reads_are_unknown_only_where_they_matter() {
    // An operator who can read the project but not its folder or org.
    let text = std::fs::read_to_string(root().join(WORLD)).unwrap();
    let text = text
        .replace(
            "      - role: roles/run.invoker\n        members: [group:org-callers@acme.example]\n",
            "      - role: roles/run.invoker\n        members: [group:org-callers@acme.example]\n      - role: roles/iam.denyReviewer\n        members: [user:limited@acme.example]\n      - role: roles/orgpolicy.policyViewer\n        members: [user:limited@acme.example]\n",
        )
        .replace(
            "    parent: folders/710000000001\n",
            "    parent: folders/710000000001\n    iamPolicy:\n      bindings:\n        - role: roles/viewer\n          members: [user:limited@acme.example]\n",
        )
        + "operator: user:limited@acme.example\n";
    let world = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(world.path(), text).unwrap();
    let emu = Emulator::start(world.path(), &[]);
    let home = tempfile::tempdir().unwrap();

    // Only the folder could grant ivy: the answer is open, and says why.
    let (code, d) = diagnose(&emu, home.path(), "nogrant", "user:ivy@acme.example", &["--remote"]);
    assert_eq!((code, d["verdict"].as_str().unwrap()), (1, "UNKNOWN"), "{:?}", ids(&d));
    let unreadable =
        d["findings"].as_array().unwrap().iter().find(|f| f["id"] == "iam.unreadable").expect("iam.unreadable");
    assert!(unreadable.to_string().contains("resourcemanager.folders.getIamPolicy"), "{unreadable}");
    // Google's Troubleshooter sees every policy and answers CAN_ACCESS.
    assert!(ids(&d).contains(&("iam.remote-disagrees".into(), "iam".into(), "risk".into())), "{:?}", ids(&d));

    // A grant on the service itself settles it: the folder cannot matter.
    let (code, d) = diagnose(&emu, home.path(), "svcgrant", SA, &[]);
    assert_eq!((code, d["verdict"].as_str().unwrap()), (0, "ALLOWED"), "{:?}", ids(&d));
    assert!(ids(&d).iter().all(|(id, _, _)| id != "iam.unreadable"));
}

#[test]
fn services_are_named_by_their_urls_too() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let hash = runiam_emulator::world::hash_url("tsh-proj", "svcgrant", "europe-west1");
    let hash_host = hash.trim_start_matches("https://").to_owned();
    for url in [
        "https://svcgrant-600000000001.europe-west1.run.app".to_owned(),
        "https://svcgrant-600000000001.europe-west1.run.app/some/path".to_owned(),
        "https://canary---svcgrant-600000000001.europe-west1.run.app/x".to_owned(),
        "HTTPS://SVCGRANT-600000000001.EUROPE-WEST1.RUN.APP/".to_owned(),
        "projects/tsh-proj/locations/europe-west1/services/svcgrant".to_owned(),
        format!("{hash}/orders/42?page=2"),
        format!("https://canary---{hash_host}/api"),
        format!("https://{}", hash_host.to_ascii_uppercase()),
    ] {
        let url = url.as_str();
        let mut c = cmd("runiam", home.path());
        c.env("RUNIAM_EMULATOR_HOST", emu.host()).args([
            "troubleshoot",
            url,
            "--caller",
            SA,
            "--project",
            "tsh-proj",
            "-o",
            "json",
        ]);
        let (out, text) = run(c, "");
        assert_eq!(out.status.code(), Some(0), "{url}: {text}");
        let d: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(d["service"]["fullName"], "projects/tsh-proj/locations/europe-west1/services/svcgrant", "{url}");
        if url.contains("canary---") {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("traffic tag canary of projects/tsh-proj/locations/europe-west1/services/svcgrant"),
                "{err}"
            );
        }
    }
}

/// Sends a real request to the emulator's Cloud Run front end as `email`
/// with a valid ID token for the service's URL; returns the status.
fn invoke(emu: &Emulator, service: &str, email: Option<&str>, from: &str) -> u16 {
    let (status, svc) = crate::common::call(emu, "GET", &format!("v2/{service}"), None);
    assert_eq!(status, 200, "{svc}");
    let uri = svc["uri"].as_str().unwrap().to_owned();
    let host = uri.trim_start_matches("https://").to_owned();
    let token = email.map(|e| crate::common::mint(emu, serde_json::json!({"email": e, "audience": uri})));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut req =
            reqwest::Client::new().get(format!("{}/", emu.url)).header("Host", host).header("X-Emulator-Origin", from);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().status().as_u16()
    })
}

/// The IAP service is left out: the front end models a caller without IAP
/// credentials, while the verdict is about a correct call (network.iap
/// carries the risk).
#[test]
fn verdicts_agree_with_what_the_front_end_does() {
    let emu = Emulator::start(&root().join(WORLD), &[]);
    let home = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("nogrant", "user:kim@acme.example", "external"),
        ("viewer-only", "user:carol@acme.example", "external"),
        ("expired", "user:dave@acme.example", "external"),
        ("denied", "user:henry@acme.example", "external"),
        ("denied", "user:kim@acme.example", "external"),
        ("typo", "user:frank@acme.example", "external"),
        ("deleted", "user:gina@acme.example", "external"),
        ("internal", SA, "external"),
        ("internal", SA, "internal"),
        ("nocheck", "user:kim@acme.example", "external"),
        ("open", "user:kim@acme.example", "external"),
        ("open", "allUsers", "external"),
        ("nogrant", "allUsers", "external"),
        ("svcgrant", SA, "external"),
        ("nogrant", "user:ivy@acme.example", "external"),
        ("nogrant", "user:jack@acme.example", "external"),
    ];
    for (service, caller, from) in cases {
        let (_, d) = diagnose(&emu, home.path(), service, caller, &["--from", from]);
        let full = format!("projects/tsh-proj/locations/europe-west1/services/{service}");
        let email = caller.split_once(':').map(|(_, e)| e);
        let status = invoke(&emu, &full, email, from);
        let verdict = d["verdict"].as_str().unwrap();
        assert_eq!(
            verdict == "ALLOWED",
            status == 200,
            "{service} {caller} from {from}: troubleshoot {verdict}, front end {status}"
        );
    }
}
