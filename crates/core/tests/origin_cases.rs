//! Runs every row of `tests/data/origin_cases.yaml`, the (caller path ×
//! ingress) answers written from Cloud Run's documentation, against
//! `ingress::derive` and `Ingress::answer`.

use std::collections::BTreeMap;

use runiam_core::ingress::{Answer, Ingress, Path, PathFacts, derive};
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    origin: String,
    answers: BTreeMap<String, Answer>,
}

fn table() -> Table {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/origin_cases.yaml"))
        .expect("the case table is readable");
    serde_saphyr::from_str(&text).expect("the case table parses")
}

fn check(case: &Case, facts: &PathFacts) -> Result<(), String> {
    let path = derive(facts);
    let origin = match &path {
        Path::Known { origin, .. } => format!("{origin:?}").to_lowercase(),
        Path::Undetermined(_) => "undetermined".to_owned(),
    };
    if origin != case.expect.origin {
        return Err(format!("origin: want {}, got {origin} ({path:?})", case.expect.origin));
    }
    let names: Vec<&str> = Ingress::ALL.iter().map(|i| i.gcloud()).collect();
    let given: Vec<&str> = case.expect.answers.keys().map(String::as_str).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    if given != sorted {
        return Err(format!("answers: want one per setting {names:?}, got {given:?}"));
    }
    for ingress in Ingress::ALL {
        let got = ingress.answer(&path);
        let want = case.expect.answers[ingress.gcloud()];
        if got != want {
            return Err(format!("ingress {ingress}: want {want:?}, got {got:?}"));
        }
    }
    Ok(())
}

#[test]
fn every_case_holds() {
    let table = table();
    assert!(table.cases.len() >= 25, "the table should cover at least 25 paths");
    let mut failures = Vec::new();
    for case in &table.cases {
        let mut facts = table.defaults.clone();
        facts.extend(case.facts.clone());
        let facts: PathFacts = match serde_json::from_value(Value::Object(facts)) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{} ({}): facts do not parse: {e}", case.name, case.doc));
                continue;
            }
        };
        if let Err(why) = check(case, &facts) {
            failures.push(format!("{} ({}): {why}", case.name, case.doc));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), table.cases.len(), failures.join("\n"));
}

#[test]
fn case_names_are_unique() {
    let table = table();
    let mut names: Vec<&str> = table.cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "case names repeat");
}
