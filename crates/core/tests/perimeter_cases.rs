//! Runs every row of `tests/data/perimeter_cases.yaml`, what VPC Service
//! Controls makes of a call to Cloud Run as the documentation says,
//! against `perimeter::judge` and `perimeter::same_perimeter`.

use std::collections::BTreeMap;

use runiam_core::api::access_context::ServicePerimeter;
use runiam_core::perimeter::{Call, Fence, Mode, judge, same_perimeter};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    defaults: serde_json::Map<String, Value>,
    perimeters: BTreeMap<String, ServicePerimeter>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    doc: String,
    perimeters: Vec<String>,
    #[serde(default)]
    call: serde_json::Map<String, Value>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Expect {
    enforced: Want,
    dry_run: Want,
    same_perimeter: bool,
    #[serde(default)]
    status: Option<u16>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct Want {
    fence: String,
    #[serde(default)]
    perimeter: Option<String>,
    #[serde(default)]
    rule: Option<usize>,
    #[serde(default)]
    reason: Option<String>,
}

fn got(f: &Fence) -> Want {
    let (fence, rule, reason) = match f {
        Fence::Open => ("open", None, None),
        Fence::Inside { .. } => ("inside", None, None),
        Fence::Admitted { rule, .. } => ("admitted", Some(*rule), None),
        Fence::Denied { reason, .. } => ("denied", None, Some((*reason).to_owned())),
        Fence::Unsure { .. } => ("unsure", None, None),
    };
    Want { fence: fence.to_owned(), perimeter: f.perimeter().map(str::to_owned), rule, reason }
}

#[test]
fn every_case_holds() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/perimeter_cases.yaml"))
        .expect("the case table is readable");
    let table: Table = serde_saphyr::from_str(&text).expect("the case table parses");
    assert!(table.cases.len() >= 20, "the table should cover at least 20 calls");
    let mut names: Vec<&str> = table.cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), table.cases.len(), "case names repeat");
    let mut failures = Vec::new();
    for case in &table.cases {
        let perimeters: Vec<ServicePerimeter> = case.perimeters.iter().map(|p| table.perimeters[p].clone()).collect();
        let mut call = table.defaults.clone();
        call.extend(case.call.clone());
        let call: Call = serde_json::from_value(Value::Object(call)).expect("a call");
        let enforced = judge(&perimeters, &call, Mode::Enforced);
        let dry_run = judge(&perimeters, &call, Mode::DryRun);
        let mut why = Vec::new();
        if got(&enforced) != case.expect.enforced {
            why.push(format!("enforced: want {:?}, got {enforced:?}", case.expect.enforced));
        }
        if got(&dry_run) != case.expect.dry_run {
            why.push(format!("dry run: want {:?}, got {dry_run:?}", case.expect.dry_run));
        }
        if same_perimeter(&perimeters, &call.caller, &call.target) != case.expect.same_perimeter {
            why.push(format!("samePerimeter: want {}", case.expect.same_perimeter));
        }
        // The front end's status follows the enforced fence alone.
        let status = match enforced {
            Fence::Denied { .. } => Some(403),
            Fence::Unsure { .. } => None,
            _ => Some(200),
        };
        if status != case.expect.status {
            why.push(format!("status: want {:?}, got {status:?}", case.expect.status));
        }
        if !why.is_empty() {
            failures.push(format!("{} ({}): {}", case.name, case.doc, why.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), table.cases.len(), failures.join("\n"));
}
