//! Runs every row of `tests/data/eval_cases.yaml`, the evaluator's expected
//! answers written from Google's documentation, against `eval::evaluate`.

use runiam_core::eval::{Evaluation, Facts, Reason, evaluate};
use runiam_core::model::INVOKE_PERMISSION;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    defaults: serde_json::Map<String, Value>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    doc: String,
    facts: serde_json::Map<String, Value>,
    expect: Expect,
}

/// A list left out is not checked; a list given must match in length and,
/// element by element, on the fields each element names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
struct Expect {
    verdict: Value,
    /// Whether a grant on the service is the fix (`Evaluation::grant_fixes`).
    grant_fixes: Option<bool>,
    grants: Option<Vec<ExpectReason>>,
    denials: Option<Vec<ExpectReason>>,
    unknowns: Option<Vec<ExpectReason>>,
    near: Option<Vec<ExpectReason>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectReason {
    kind: Option<Value>,
    resource: Option<String>,
    role: Option<String>,
    member: Option<String>,
    /// Kinds of the uncertainties, in order.
    uncertain: Option<Vec<String>>,
}

fn check_list(what: &str, expected: Option<&Vec<ExpectReason>>, got: &[Reason]) -> Result<(), String> {
    let Some(expected) = expected else { return Ok(()) };
    if expected.len() != got.len() {
        return Err(format!("{what}: expected {} reasons, got {}", expected.len(), got.len()));
    }
    for (i, (e, g)) in expected.iter().zip(got).enumerate() {
        let gv = serde_json::to_value(g).expect("a reason serializes");
        let field = |name: &str| gv.get(name).cloned().unwrap_or(Value::Null);
        let mut mismatch = Vec::new();
        let mut cmp = |name: &str, want: Option<Value>| {
            if let Some(want) = want
                && field(name) != want
            {
                mismatch.push(format!("{name}: want {want}, got {}", field(name)));
            }
        };
        cmp("kind", e.kind.clone());
        cmp("resource", e.resource.clone().map(Value::from));
        cmp("role", e.role.clone().map(Value::from));
        cmp("member", e.member.clone().map(Value::from));
        if let Some(want) = &e.uncertain {
            let got_kinds: Vec<String> =
                g.uncertain.iter().map(|u| uncertainty_kind(&serde_json::to_value(u).expect("serializes"))).collect();
            if &got_kinds != want {
                mismatch.push(format!("uncertain: want {want:?}, got {got_kinds:?}"));
            }
        }
        if !mismatch.is_empty() {
            return Err(format!("{what}[{i}]: {}", mismatch.join("; ")));
        }
    }
    Ok(())
}

fn uncertainty_kind(v: &Value) -> String {
    v.get("kind").and_then(Value::as_str).unwrap_or("?").to_owned()
}

fn check(case: &Case, ev: &Evaluation) -> Result<(), String> {
    let verdict = serde_json::to_value(ev.verdict).expect("a verdict serializes");
    if verdict != case.expect.verdict {
        return Err(format!("verdict: want {}, got {verdict}", case.expect.verdict));
    }
    if let Some(want) = case.expect.grant_fixes
        && want != ev.grant_fixes
    {
        return Err(format!("grantFixes: want {want}, got {}", ev.grant_fixes));
    }
    check_list("grants", case.expect.grants.as_ref(), &ev.grants)?;
    check_list("denials", case.expect.denials.as_ref(), &ev.denials)?;
    check_list("unknowns", case.expect.unknowns.as_ref(), &ev.unknowns)?;
    check_list("near", case.expect.near.as_ref(), &ev.near)
}

#[test]
fn every_case_holds() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/eval_cases.yaml"))
        .expect("the case table is readable");
    let table: Table = serde_saphyr::from_str(&text).expect("the case table parses");
    assert!(table.cases.len() >= 40, "the table should cover at least 40 cases");
    let mut failures = Vec::new();
    for case in &table.cases {
        let mut facts = table.defaults.clone();
        facts.extend(case.facts.clone());
        let facts: Facts = match serde_json::from_value(Value::Object(facts)) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{} ({}): facts do not parse: {e}", case.name, case.doc));
                continue;
            }
        };
        let ev = evaluate(&facts, INVOKE_PERMISSION);
        if let Err(why) = check(case, &ev) {
            failures.push(format!("{} ({}): {why}\n  evaluation: {ev:#?}", case.name, case.doc));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), table.cases.len(), failures.join("\n"));
}

#[test]
fn case_names_are_unique() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/eval_cases.yaml"))
        .expect("the case table is readable");
    let table: Table = serde_saphyr::from_str(&text).expect("the case table parses");
    let mut names: Vec<&str> = table.cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "case names repeat");
}
