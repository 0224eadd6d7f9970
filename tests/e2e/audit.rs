//! `runiam troubleshoot --audit` on a generated fleet, `grant-invoker
//! --revoke*` and its rollback, and streams of any length.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::common::{Emulator, grants, pipe, policy, runiam};

const FOLDERS: usize = 5;
const PROJECTS: usize = 40;
const SERVICES_PER_PROJECT: usize = 50;

/// What the fleet plants, by finding id: (service index, binding or setting).
struct Plant {
    id: &'static str,
    count: usize,
}

/// Service-level plants, each on services of its own.
const PLANTS: &[Plant] = &[
    Plant { id: "audit.public", count: 7 },
    Plant { id: "audit.invoker-check-off", count: 9 },
    Plant { id: "internal-check-off", count: 4 },
    Plant { id: "audit.external-member", count: 5 },
    Plant { id: "audit.deleted-principal", count: 6 },
    Plant { id: "audit.expired-condition", count: 8 },
    Plant { id: "audit.expiring", count: 3 },
];

fn project(i: usize) -> String {
    format!("fleet-{i:02}")
}

fn condition(at: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "\n              condition: {{title: t, expression: 'request.time < timestamp(\"{}\")'}}",
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// 1 organization, 5 folders, 40 projects, 2,000 services, and the plants
/// of `PLANTS` on the first services of project after project, plus: two
/// folders grant roles/run.invoker to a group, one project to a service
/// account (3 broad grants), two projects roles/editor (2 basic roles).
fn fleet_world() -> String {
    let now = chrono::Utc::now();
    let mut w =
        String::from("organization: {id: \"900000000001\", domain: fleet.example, customerId: C0fleet}\nfolders:\n");
    for f in 0..FOLDERS {
        let grant = if f < 2 {
            "\n    iamPolicy: {bindings: [{role: roles/run.invoker, members: [group:oncall@fleet.example]}]}"
        } else {
            ""
        };
        writeln!(w, "  - id: \"80000000000{f}\"\n    parent: organizations/900000000001\n    displayName: f{f}{grant}")
            .unwrap();
    }
    // One flat list of plants, dealt out to services in order.
    let mut plants: Vec<&str> = PLANTS.iter().flat_map(|p| std::iter::repeat_n(p.id, p.count)).collect();
    plants.reverse();
    w.push_str("projects:\n");
    for p in 0..PROJECTS {
        let id = project(p);
        writeln!(w, "  - id: {id}\n    number: \"7000000000{p:02}\"\n    parent: folders/80000000000{}", p % FOLDERS)
            .unwrap();
        let bindings = match p {
            0 => "[{role: roles/run.invoker, members: [serviceAccount:batch@fleet-00.iam.gserviceaccount.com]}]",
            1 | 2 => "[{role: roles/editor, members: [user:dev@fleet.example]}]",
            _ => "[{role: roles/viewer, members: [user:dev@fleet.example]}]",
        };
        writeln!(w, "    iamPolicy: {{bindings: {bindings}}}\n    services:").unwrap();
        for s in 0..SERVICES_PER_PROJECT {
            let mut svc = format!("      - name: svc-{s:02}\n        region: europe-west1\n");
            let plant = if s < 2 { plants.pop() } else { None };
            let (settings, member, cond) = match plant {
                Some("audit.public") => ("", "allUsers", String::new()),
                Some("audit.invoker-check-off") => ("        invokerIamDisabled: true\n", "", String::new()),
                Some("internal-check-off") => (
                    "        invokerIamDisabled: true\n        ingress: INGRESS_TRAFFIC_INTERNAL_ONLY\n",
                    "",
                    String::new(),
                ),
                Some("audit.external-member") => ("", "user:eve@partner.example", String::new()),
                Some("audit.deleted-principal") => ("", "deleted:user:gone@fleet.example?uid=123", String::new()),
                Some("audit.expired-condition") => {
                    ("", "user:temp@fleet.example", condition(now - chrono::Duration::days(3)))
                }
                Some("audit.expiring") => ("", "user:temp@fleet.example", condition(now + chrono::Duration::days(3))),
                _ => ("", "", String::new()),
            };
            svc.push_str(settings);
            svc.push_str("        iamPolicy:\n          bindings:\n");
            svc.push_str("            - {role: roles/run.invoker, members: [user:app@fleet.example]}\n");
            if !member.is_empty() {
                writeln!(svc, "            - role: roles/run.invoker\n              members: [\"{member}\"]{cond}")
                    .unwrap();
            }
            w.push_str(&svc);
        }
    }
    assert!(plants.is_empty(), "every plant found a service");
    w
}

/// The counts of finding ids (`audit.invoker-check-off` split by severity)
/// in AuditFinding JSON lines.
fn counts(out: &str) -> BTreeMap<String, usize> {
    let mut c = BTreeMap::new();
    for line in out.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["kind"], "AuditFinding", "{line}");
        let id = v["finding"]["id"].as_str().unwrap();
        let key = match (id, v["finding"]["severity"].as_str()) {
            ("audit.invoker-check-off", Some("info")) => "internal-check-off".to_owned(),
            (id, _) => id.to_owned(),
        };
        *c.entry(key).or_insert(0) += 1;
    }
    c
}

fn planted() -> BTreeMap<String, usize> {
    let mut want: BTreeMap<String, usize> = PLANTS.iter().map(|p| (p.id.to_owned(), p.count)).collect();
    want.insert("audit.broad-grant".into(), 3);
    want.insert("audit.basic-role".into(), 2);
    want
}

#[test]
fn the_audit_reports_exactly_what_the_fleet_plants() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("fleet.yaml");
    std::fs::write(&world, fleet_world()).unwrap();
    let emu = Emulator::start(&world, &[]);

    // From piped export snapshots: 40 projects, 2,000 documents in one YAML stream.
    let r = crate::common::bin("runiam");
    let r = r.display();
    let projects: Vec<String> = (0..PROJECTS).map(project).collect();
    let line = format!(
        "for p in {}; do {r} export --all --project $p -o yaml; echo ---; done | {r} troubleshoot --audit -o json",
        projects.join(" ")
    );
    let (out, text) = pipe(&emu, dir.path(), &line);
    assert_eq!(out.status.code(), Some(1), "{}", &text[text.len().saturating_sub(3000)..]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(counts(&stdout), planted());
    // The folder grants name the 8 projects × 50 services below them.
    assert!(
        stdout.contains("group:oncall@fleet.example holds roles/run.invoker on folders/800000000000: it can invoke all 400 audited services below it"),
        "{stdout}"
    );
    assert!(stdout.contains("runiam grant-invoker projects/fleet-00/locations/europe-west1/services/svc-00 --revoke --member allUsers --apply"));

    // Live, every project below the organization, found through
    // Resource Manager's folders.list and projects.list.
    let args = ["troubleshoot", "--audit", "--under", "organizations/900000000001", "-o", "json"];
    let (code, live, err) = runiam(&emu, dir.path(), &args, "");
    assert_eq!(code, 1, "{err}");
    assert_eq!(counts(&live), planted());
    assert!(live.contains("it can invoke all 400 audited services below it"), "{live}");

    // Text, live for one project: one line per finding, then the summary by project.
    let (code, out, err) =
        runiam(&emu, dir.path(), &["troubleshoot", "--audit", "--all", "--project", "fleet-00", "-o", "text"], "");
    assert_eq!(code, 1, "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("risk [audit.public] allUsers holds roles/run.invoker on projects/fleet-00/")),
        "{out}"
    );
    let summary = out.lines().skip_while(|l| !l.starts_with("PROJECT")).collect::<Vec<_>>();
    assert!(summary[0].starts_with("PROJECT") && summary[0].contains("SERVICES"), "{out}");
    assert!(summary.iter().any(|l| l.starts_with("fleet-00 ") && l.contains(" 50 ")), "{out}");
}

/// The same planted fleet, collected by Asset Inventory instead: its
/// export files (resources and IAM policies, as Google writes them to
/// Cloud Storage, written here from the world by the emulator's own
/// renderer), read by `export --from-asset-export` and audited in one
/// stream: exactly the planted counts, as live.
#[test]
fn the_audit_from_an_asset_inventory_export_reports_exactly_the_plants() {
    use runiam_emulator::control::asset::{ExportContent, export};
    let dir = tempfile::tempdir().unwrap();
    let text = fleet_world();
    let world = dir.path().join("fleet.yaml");
    std::fs::write(&world, &text).unwrap();
    let state = runiam_emulator::State::new(runiam_emulator::World::parse(&text, "fleet.yaml").unwrap());
    let mut written = Vec::new();
    for (name, content) in [("resources.json", ExportContent::Resource), ("iam-policy.json", ExportContent::IamPolicy)]
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(dir.path().join(name)).unwrap());
        written.push(export(&state, "organizations/900000000001", content, &mut file).unwrap());
    }
    // Every service has a policy in this fleet.
    assert_eq!(written, [PROJECTS * SERVICES_PER_PROJECT, PROJECTS * SERVICES_PER_PROJECT]);
    // The emulator serves only what the audit reads besides the export:
    // the projects', folders' and organization's policies and the domain.
    let emu = Emulator::start(&world, &[]);
    let r = crate::common::bin("runiam");
    let r = r.display();
    let line = format!(
        "{r} export --from-asset-export resources.json --from-asset-export iam-policy.json -o json | {r} troubleshoot --audit -o json"
    );
    let (out, text) = pipe(&emu, dir.path(), &line);
    assert_eq!(out.status.code(), Some(1), "{}", &text[text.len().saturating_sub(3000)..]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(counts(&stdout), planted());
    assert!(stdout.contains("it can invoke all 400 audited services below it"), "{stdout}");
    // The policies file first on stdin: the same findings.
    let line = format!(
        "cat iam-policy.json resources.json | {r} export --from-asset-export - | {r} troubleshoot --audit -o json"
    );
    let (out, text) = pipe(&emu, dir.path(), &line);
    assert_eq!(out.status.code(), Some(1), "{}", &text[text.len().saturating_sub(3000)..]);
    assert_eq!(counts(&String::from_utf8_lossy(&out.stdout)), planted());
}

const REVOKE_WORLD: &str = r#"
organization: {id: "910000000001", domain: acme.example}
projects:
  - id: rv-proj
    number: "710000000001"
    parent: organizations/910000000001
    services:
      - name: api
        region: europe-west1
        iamPolicy:
          version: 3
          bindings:
            - role: roles/run.invoker
              members: [user:a@acme.example, user:b@acme.example, "deleted:user:gone@acme.example?uid=9"]
            - role: roles/run.invoker
              members: [user:old@acme.example]
              condition: {title: ended, expression: 'request.time < timestamp("2020-01-01T00:00:00Z")'}
            - role: roles/run.invoker
              members: [user:new@acme.example]
              condition: {title: later, expression: 'request.time < timestamp("2099-01-01T00:00:00Z")'}
            - role: roles/run.viewer
              members: [user:a@acme.example]
"#;

const SVC: &str = "projects/rv-proj/locations/europe-west1/services/api";

fn without_etag(mut p: Value) -> Value {
    p.as_object_mut().unwrap().remove("etag");
    p
}

#[test]
fn revoke_then_rollback_restores_the_policy_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world.yaml");
    std::fs::write(&world, REVOKE_WORLD).unwrap();
    let emu = Emulator::start(&world, &[]);
    let original = policy(&emu, SVC);

    // A dry run writes nothing and prints the plan.
    let revoke = ["grant-invoker", SVC, "--revoke", "--member", "user:a@acme.example", "-o", "yaml"];
    let (code, plan, err) = runiam(&emu, dir.path(), &revoke, "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(policy(&emu, SVC), original);
    let plan_doc: Value = serde_saphyr::from_str(&plan).unwrap();
    assert_eq!((plan_doc["applied"].clone(), plan_doc["intent"]["action"].clone()), (false.into(), "revoke".into()));

    let (code, change, err) = runiam(&emu, dir.path(), &[&revoke[..], &["--apply", "--yes"]].concat(), "");
    assert_eq!(code, 0, "{err}");
    let after = policy(&emu, SVC);
    let lost: Vec<String> = grants(&original).into_iter().filter(|g| !grants(&after).contains(g)).collect();
    assert_eq!(lost, [r#""roles/run.invoker" "user:a@acme.example" null"#]);
    let record: Value = serde_saphyr::from_str(&change).unwrap();
    assert_eq!(record["removed"][0]["members"], serde_json::json!(["user:a@acme.example"]));
    assert!(dir.path().join(record["backupPath"].as_str().unwrap()).exists());

    let (code, _, err) = runiam(&emu, dir.path(), &["rollback", "--apply", "--yes"], &change);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::to_string_pretty(&without_etag(policy(&emu, SVC))).unwrap(),
        serde_json::to_string_pretty(&without_etag(original.clone())).unwrap()
    );

    // --revoke-expired removes the ended time-bound grant and nothing else.
    let (code, _, err) = runiam(&emu, dir.path(), &["grant-invoker", SVC, "--revoke-expired", "--apply", "--yes"], "");
    assert_eq!(code, 0, "{err}");
    let after = policy(&emu, SVC);
    let lost: Vec<String> = grants(&original).into_iter().filter(|g| !grants(&after).contains(g)).collect();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].contains("user:old@acme.example") && lost[0].contains("2020-01-01"), "{lost:?}");
    assert_eq!(grants(&after).len(), grants(&original).len() - 1);

    // --revoke-deleted removes the deleted member only; a second run has nothing to do.
    let deleted = ["grant-invoker", SVC, "--revoke-deleted", "--apply", "--yes"];
    let (code, _, err) = runiam(&emu, dir.path(), &deleted, "");
    assert_eq!(code, 0, "{err}");
    let cleaned = policy(&emu, SVC);
    assert!(!cleaned.to_string().contains("deleted:"), "{cleaned}");
    assert_eq!(grants(&cleaned).len(), grants(&original).len() - 2);
    let (code, _, err) = runiam(&emu, dir.path(), &deleted, "");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no deleted member; nothing to do"), "{err}");
    assert_eq!(policy(&emu, SVC)["etag"], cleaned["etag"]);
}

#[test]
fn a_document_over_a_budget_is_named_with_exit_2() {
    let emu = Emulator::start(&crate::common::root().join("examples/acme-world.yaml"), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (code, snaps, err) = runiam(&emu, dir.path(), &["export", "--all", "--project", "acme-prod", "-o", "yaml"], "");
    assert_eq!(code, 0, "{err}");
    let stream = format!("{snaps}---\nbig: {}\n", "x".repeat(runiam_core::doc::MAX_DOCUMENT_BYTES));
    let docs = snaps.matches("kind: ServiceSnapshot").count();
    for args in [&["troubleshoot", "--audit"][..], &["troubleshoot", "--caller", "user:a@acme.example"][..]] {
        let (code, _, err) = runiam(&emu, dir.path(), args, &stream);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains(&format!("document {}: is larger than 8 MiB, the limit of one document", docs + 1)),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn audit_flags_are_checked_before_anything_is_read() {
    let emu = Emulator::start(&crate::common::root().join("examples/acme-world.yaml"), &[]);
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["troubleshoot", "--audit", "--all", "--expiring-within", "2x"], "--expiring-within '2x' is not a duration"),
        (&["troubleshoot", "--audit", "--under", "projects/acme-prod"], "--under 'projects/acme-prod' is not"),
        (&["troubleshoot", "--audit", "--all", "--domain", "not a domain"], "--domain 'not a domain' is not a domain"),
        (&["troubleshoot", "hello", "--domain", "acme.example"], "--domain, --all and --under apply to --audit only"),
    ];
    for (args, want) in cases {
        let (code, out, err) = runiam(&emu, dir.path(), args, "");
        assert_eq!((code, out.as_str()), (2, ""), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
