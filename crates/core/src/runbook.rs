//! `-o markdown`: what happened, as one page for the team wiki, from any
//! stream of Diagnosis, ChangeRecord and VerifyReport documents (in the
//! order a pipe made them): the symptom with Cloud Run's quoted log
//! entries, the evidence, the cause, the change with its diff and blast
//! radius, the verification, the rollback command, and the alert created.
//! Rendering is pure: the same documents give the same page.

use std::fmt::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::change::policy_diff;
use crate::doc::{ChangeAction, ChangeRecord, CheckResult, Diagnosis, Document, Severity, Verdict, VerifyReport};
use crate::gate::summary;
use crate::model::ServiceRef;

/// The check verify names its `--create-alert` result (crates/verify/src/checks.rs).
const ALERT_CHECK: &str = "alert";

/// The page for `docs`; ServiceSnapshots are left out (they are backups,
/// not events).
pub fn render(docs: &[Document]) -> String {
    let diagnoses: Vec<&Diagnosis> = docs.iter().filter_map(|d| as_diagnosis(d)).collect();
    let records: Vec<&ChangeRecord> = docs.iter().filter_map(|d| as_record(d)).collect();
    let reports: Vec<&VerifyReport> = docs.iter().filter_map(|d| as_report(d)).collect();
    let (changes, rollbacks): (Vec<&ChangeRecord>, Vec<&ChangeRecord>) =
        records.iter().partition(|r| r.intent.action != ChangeAction::Restore);
    let mut services: Vec<String> = Vec::new();
    for d in docs {
        let Some(s) = d.service().map(ServiceRef::full_name) else { continue };
        if !services.contains(&s) {
            services.push(s);
        }
    }
    let mut out = String::new();
    let names: Vec<String> = services.iter().map(|s| code(s)).collect();
    let _ = writeln!(out, "# Cloud Run invoke: {}\n", names.join(", "));
    symptom(&mut out, &diagnoses);
    change(&mut out, &changes);
    verification(&mut out, &reports);
    rollback(&mut out, &changes, &rollbacks);
    alerts(&mut out, &reports);
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Writes the page for `docs` to stdout.
pub fn write_stdout(docs: &[Document]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", render(docs))?;
    out.flush()
}

fn as_diagnosis(d: &Document) -> Option<&Diagnosis> {
    if let Document::Diagnosis(x) = d { Some(x) } else { None }
}

fn as_record(d: &Document) -> Option<&ChangeRecord> {
    if let Document::ChangeRecord(x) = d { Some(x) } else { None }
}

fn as_report(d: &Document) -> Option<&VerifyReport> {
    if let Document::VerifyReport(x) = d { Some(x) } else { None }
}

/// Inline code, with a fence longer than any run of backticks inside.
fn code(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    // Spaces keep a span that starts or ends with a backtick (or is empty) apart from its fence.
    let pad = if s.is_empty() || s.starts_with('`') || s.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// Text for one table cell: one line, pipes escaped.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A fenced block that no line of `body` can close.
fn block(out: &mut String, lang: &str, body: &str) {
    // A line indented by up to three spaces can close a fence too.
    let longest =
        body.lines().map(|l| l.trim_start_matches(' ').chars().take_while(|c| *c == '`').count()).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let _ = writeln!(out, "{fence}{lang}\n{}\n{fence}\n", body.trim_end_matches('\n'));
}

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Allowed => "ALLOWED",
        Verdict::Denied => "DENIED",
        Verdict::Unknown => "UNKNOWN",
    }
}

fn symptom(out: &mut String, diagnoses: &[&Diagnosis]) {
    if diagnoses.is_empty() {
        return;
    }
    out.push_str("## Symptom\n\n");
    for d in diagnoses {
        let caller =
            d.caller.as_ref().map_or_else(|| "A caller without credentials".to_owned(), |c| code(&c.to_string()));
        let _ = writeln!(
            out,
            "{caller} is **{}** invoking {} (diagnosed {}).\n",
            verdict(d.verdict),
            code(&d.service.full_name()),
            time(&d.diagnosed_at)
        );
        log_table(out, &d.log_evidence);
    }
    out.push_str("## Evidence\n\n");
    for d in diagnoses {
        for (severity, title) in [(Severity::Cause, "cause"), (Severity::Risk, "risk"), (Severity::Info, "ruled out")] {
            for f in d.findings.iter().filter(|f| f.severity == severity) {
                let _ = writeln!(out, "- **{title}** {}: {}", code(&f.id), f.explanation);
                for e in &f.evidence {
                    let _ = writeln!(out, "  - {}: {}", e.source, e.detail);
                }
            }
        }
        out.push('\n');
    }
    out.push_str("## Cause\n\n");
    for d in diagnoses {
        match d.findings.iter().find(|f| f.severity == Severity::Cause) {
            Some(f) => {
                let _ = writeln!(out, "{} ({}).\n", f.explanation, code(&f.id));
            }
            None => {
                let _ = writeln!(out, "No cause found for {}.\n", code(&d.service.full_name()));
            }
        }
        if let Some(fix) = &d.fix {
            let _ = writeln!(out, "The fix:\n");
            block(out, "sh", &fix.command);
        }
    }
}

/// The quoted request-log entries of a diagnosis: groups (troubleshoot's
/// `logs::group`, with a sample) or single quoted entries.
fn log_table(out: &mut String, evidence: &[Value]) {
    let text = |v: &Value, k: &str| v.get(k).map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned));
    let mut rows = Vec::new();
    for v in evidence {
        if let Some(why) = text(v, "unread") {
            let _ = writeln!(out, "The request log could not be read: {why}\n");
            continue;
        }
        let (sample, count) = match v.get("sample") {
            Some(s) => (s, v.get("count").and_then(Value::as_u64).unwrap_or(1)),
            None if v.get("status").is_some() || v.get("timestamp").is_some() => (v, 1),
            None => continue,
        };
        let field = |k: &str| cell(&text(sample, k).unwrap_or_default());
        rows.push(format!(
            "| {} | {} | {count} | {} | {} | {} |",
            field("timestamp"),
            field("status"),
            field("userAgent"),
            field("text"),
            field("trace")
        ));
    }
    if rows.is_empty() {
        return;
    }
    out.push_str("Cloud Run's request log:\n\n| time | status | count | user agent | text | trace |\n|---|---|---|---|---|---|\n");
    for r in rows {
        out.push_str(&r);
        out.push('\n');
    }
    out.push('\n');
}

fn what(r: &ChangeRecord) -> String {
    let i = &r.intent;
    let member = i.granted().map(|m| code(&m.to_string())).collect::<Vec<_>>().join(", ");
    let role = code(i.role.as_deref().unwrap_or("roles/run.invoker"));
    match i.action {
        ChangeAction::Grant => format!("grant {role} to {member}"),
        ChangeAction::Revoke => format!("revoke {role} from {member}"),
        ChangeAction::DisableInvokerCheck => "turn the invoker IAM check off".to_owned(),
        ChangeAction::EnableInvokerCheck => "turn the invoker IAM check on".to_owned(),
        ChangeAction::Restore => "restore".to_owned(),
    }
}

/// The diff, blast radius and backup of one record.
fn record_body(out: &mut String, r: &ChangeRecord) {
    if let Some(reason) = &r.intent.reason {
        let _ = writeln!(out, "Reason: {reason}\n");
    }
    let diff = policy_diff(&r.policy_before, &r.policy_after, &r.service.name);
    if diff.trim().is_empty() {
        out.push_str("The IAM policy did not change.\n\n");
    } else {
        block(out, "diff", &diff);
    }
    if r.invoker_iam_disabled_before != r.invoker_iam_disabled_after {
        let on = |d: Option<bool>| if d == Some(true) { "off" } else { "on" };
        let _ = writeln!(
            out,
            "Invoker IAM check: {} → {}.\n",
            on(r.invoker_iam_disabled_before),
            on(r.invoker_iam_disabled_after)
        );
    }
    let radius = summary(&r.policy_before, &r.policy_after, &r.service);
    for line in radius.lines() {
        let _ = writeln!(out, "- {line}");
    }
    if !radius.is_empty() {
        out.push('\n');
    }
    if let Some(e) = &r.evidence {
        out.push_str("What it fixes, replayed on the window's denials:\n\n");
        for line in e.lines(&r.service) {
            let _ = writeln!(out, "- {}", line.trim_start());
        }
        out.push('\n');
    }
    if let Some(b) = &r.backup_path {
        let _ = writeln!(out, "Backup of the policy before: {}\n", code(b));
    }
}

fn change(out: &mut String, changes: &[&ChangeRecord]) {
    if changes.is_empty() {
        return;
    }
    out.push_str("## Change\n\n");
    for r in changes {
        let when = match (r.applied, r.applied_at) {
            (true, Some(t)) => format!("Applied {}", time(&t)),
            (true, None) => "Applied".to_owned(),
            (false, _) => format!("Planned {} (not applied)", time(&r.recorded_at)),
        };
        let _ = writeln!(out, "### {when}: {} on {}\n", what(r), code(&r.service.full_name()));
        record_body(out, r);
    }
}

fn verification(out: &mut String, reports: &[&VerifyReport]) {
    if reports.is_empty() {
        return;
    }
    out.push_str("## Verification\n\n");
    for v in reports {
        let who = v.as_principal.as_ref().map(|p| format!(" as {}", code(&p.to_string()))).unwrap_or_default();
        let verdict = if v.passed { "PASS" } else { "FAIL" };
        let _ = writeln!(
            out,
            "**{verdict}**: {}{who} (verified {}).\n",
            code(&v.service.full_name()),
            time(&v.verified_at)
        );
        out.push_str("| check | result | detail |\n|---|---|---|\n");
        for c in &v.checks {
            let result = match c.result {
                CheckResult::Pass => "pass",
                CheckResult::Fail => "**FAIL**",
                CheckResult::Error => "**error**",
            };
            let _ = writeln!(out, "| {} | {result} | {} |", cell(&c.name), cell(&c.detail));
        }
        out.push('\n');
        // Quoted log entries (logs, watch) under the table, as the symptom's are.
        for c in v.checks.iter().filter(|c| c.name != ALERT_CHECK) {
            let quoted: Vec<Value> =
                c.evidence.iter().filter_map(|e| e.data.clone()).filter(|d| d.get("timestamp").is_some()).collect();
            if !quoted.is_empty() {
                let _ = writeln!(out, "Entries quoted by {}:\n", code(&c.name));
                log_table(out, &quoted);
            }
        }
    }
}

fn rollback(out: &mut String, changes: &[&ChangeRecord], rollbacks: &[&ChangeRecord]) {
    let applied: Vec<&&ChangeRecord> = changes.iter().filter(|r| r.applied).collect();
    if applied.is_empty() && rollbacks.is_empty() {
        return;
    }
    out.push_str("## Rollback\n\n");
    for r in &applied {
        let _ = writeln!(
            out,
            "To undo {} on {}, give rollback this change's ChangeRecord (it refuses, exit 4, when the policy \
             changed since; `--merge` keeps later grants):\n",
            what(r),
            code(&r.service.full_name())
        );
        block(out, "sh", "runiam rollback --apply < change.yaml");
        if let Some(b) = &r.backup_path {
            out.push_str("or restore the backup taken before it:\n\n");
            block(out, "sh", &format!("runiam rollback --apply -f {b}"));
        }
    }
    for r in rollbacks {
        let when = match (r.applied, r.applied_at) {
            (true, Some(t)) => format!("Rolled back {}", time(&t)),
            (true, None) => "Rolled back".to_owned(),
            (false, _) => format!("Rollback planned {} (not applied)", time(&r.recorded_at)),
        };
        let _ = writeln!(out, "### {when}: {}\n", code(&r.service.full_name()));
        record_body(out, r);
    }
}

fn alerts(out: &mut String, reports: &[&VerifyReport]) {
    let made: Vec<&Value> = reports
        .iter()
        .flat_map(|r| r.checks.iter())
        .filter(|c| c.name == ALERT_CHECK && c.result == CheckResult::Pass)
        .flat_map(|c| c.evidence.iter().filter_map(|e| e.data.as_ref()))
        .collect();
    if made.is_empty() {
        return;
    }
    out.push_str("## Alert\n\n");
    for a in made {
        let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or_default();
        let channels: Vec<String> = a
            .get("notificationChannels")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(code)
            .collect();
        let _ = writeln!(out, "Cloud Monitoring alert policy {} ({}) matches:\n", code(s("name")), s("displayName"));
        block(out, "", s("filter"));
        let notifies = if channels.is_empty() {
            "no channel (incidents in the console only)".to_owned()
        } else {
            channels.join(", ")
        };
        let _ = writeln!(out, "It notifies {notifies}. Delete it with:\n");
        block(out, "sh", s("delete"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_and_cells_survive_what_they_quote() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        let mut out = String::new();
        block(&mut out, "", "```\ninside\n");
        assert_eq!(out, "````\n```\ninside\n````\n\n");
    }

    proptest::proptest! {
        #[test]
        fn quoted_text_never_escapes_its_span_cell_or_block(s in "[`|\\\\\n a-z]{0,24}") {
            let span = code(&s);
            let fence: String = span.chars().take_while(|c| *c == '`').collect();
            proptest::prop_assert!(span.ends_with(&fence) && span.len() >= 2 * fence.len());
            proptest::prop_assert!(!span[fence.len()..span.len() - fence.len()].contains(&fence));
            let c = cell(&s);
            proptest::prop_assert!(!c.contains('\n'));
            proptest::prop_assert!(c.match_indices('|').all(|(i, _)| c[..i].ends_with('\\')));
            let mut out = String::new();
            block(&mut out, "", &s);
            let out = out.trim_end();
            let fence = out.lines().next().unwrap_or_default().to_owned();
            let inner: Vec<&str> = out.lines().skip(1).collect();
            let closing = inner.iter().position(|l| l.trim_start_matches(' ').starts_with(&fence));
            proptest::prop_assert_eq!(closing, Some(inner.len() - 1), "{}", out);
        }
    }

    #[test]
    fn an_empty_stream_is_a_title_only() {
        assert_eq!(render(&[]), "# Cloud Run invoke: \n");
    }
}
