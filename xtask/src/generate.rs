//! The contents of every generated file, keyed by path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap_complete::Shell;
use runiam_core::doc::{API_VERSION, Kind};
use serde_json::{Value, json};

const ENVIRONMENT: &str = r#".SH ENVIRONMENT
.TP
\fBCLOUDSDK_CORE_PROJECT\fR, \fBGOOGLE_CLOUD_PROJECT\fR
Project, when \-\-project is not given.
.TP
\fBCLOUDSDK_RUN_REGION\fR
Region, when \-\-region is not given.
.TP
\fBCLOUDSDK_CORE_ACCOUNT\fR
Account for gcloud credentials.
.TP
\fBCLOUDSDK_CONFIG\fR
gcloud configuration directory (default ~/.config/gcloud); its active configuration is read last.
.TP
\fBCLOUDSDK_AUTH_ACCESS_TOKEN\fR, \fBCLOUDSDK_AUTH_ACCESS_TOKEN_FILE\fR
An access token, or a file holding one, for API calls.
.TP
\fBCLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT\fR
Make API calls as this service account.
.TP
\fBGOOGLE_APPLICATION_CREDENTIALS\fR
Application Default Credentials file.
.TP
\fBGOOGLE_CLOUD_QUOTA_PROJECT\fR
Project billed for API quota (sent as x\-goog\-user\-project).
.TP
\fBCLOUDSDK_API_ENDPOINT_OVERRIDES_<API>\fR
Base URL of one API, as in gcloud (RUN, CLOUDRESOURCEMANAGER, IAM, IAMCREDENTIALS, LOGGING, ...).
.TP
\fBRUNIAM_EMULATOR_HOST\fR
host:port or URL of runiam\-emulator: every API and every *.run.app URL goes there, without credentials.
.TP
\fBNO_COLOR\fR, \fBCLICOLOR_FORCE\fR
With \fB\-\-color auto\fR (the default): a non\-empty NO_COLOR turns colour off; CLICOLOR_FORCE (not 0) turns it on in a pipe. \fB\-\-color always|never\fR overrides both.
"#;

/// The FILES section of every page.
const FILES: &str = r#".SH FILES
.TP
\fB$CLOUDSDK_CONFIG\fR (default \fB~/.config/gcloud\fR)
gcloud's configurations (active_config, configurations/config_NAME) for project, region, account and quota project, its credential store for \-\-account, and application_default_credentials.json.
.TP
\fBruniam\-backups/\fR
Where \-\-apply writes a ServiceSnapshot of each service before changing it (\-\-backup\-dir), as PROJECT/REGION/SERVICE\-TIME.yaml; rollback \-\-list and \-\-last read it.
"#;

/// The `after_long_help` examples as an EXAMPLES section, literal lines.
fn examples_section(help: &str) -> String {
    let body = help.strip_prefix("Examples:\n").unwrap_or(help);
    let roff = body.lines().map(|l| l.replace('\\', "\\\\").replace('-', "\\-")).collect::<Vec<_>>().join("\n");
    format!(".SH EXAMPLES\n.nf\n{roff}\n.fi\n")
}

/// One man page per binary, with EXAMPLES, EXIT STATUS, ENVIRONMENT and FILES sections.
pub fn man(root: &Path) -> BTreeMap<PathBuf, String> {
    runiam::man_pages()
        .into_iter()
        .map(|cmd| {
            let name = cmd.get_name().to_owned();
            let examples = cmd.get_after_long_help().map(|h| h.to_string());
            let mut buf = Vec::new();
            // The examples get their own section below, not clap_mangen's untitled one.
            clap_mangen::Man::new(cmd.after_long_help(None::<&str>)).render(&mut buf).expect("rendering to memory");
            let mut page = String::from_utf8(buf).expect("roff is UTF-8");
            if let Some(examples) = examples {
                page.push_str(&examples_section(&examples));
            }
            page.push_str(&exit_status(root));
            page.push_str(ENVIRONMENT);
            page.push_str(FILES);
            (root.join("man").join(format!("{name}.1")), page)
        })
        .collect()
}

/// Each exit code with its meaning, read from the doc comments of the
/// `Exit` enum in runiam-core (the one place they are written).
pub fn exit_codes(root: &Path) -> Vec<(String, String)> {
    let source = std::fs::read_to_string(root.join("crates/core/src/error.rs")).unwrap_or_default();
    let body = source.split_once("pub enum Exit {").map_or("", |(_, b)| b.split_once("\n}").map_or(b, |(b, _)| b));
    let mut out = Vec::new();
    let mut doc: Vec<&str> = Vec::new();
    for line in body.lines().map(str::trim) {
        if let Some(d) = line.strip_prefix("///") {
            doc.push(d.trim());
        } else if let Some((_, code)) = line.trim_end_matches(',').split_once(" = ") {
            out.push((code.to_owned(), doc.join(" ")));
            doc.clear();
        }
    }
    out
}

/// The man pages' EXIT STATUS section.
fn exit_status(root: &Path) -> String {
    let mut out = String::from(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in exit_codes(root) {
        let meaning = meaning.replace('\\', "\\\\").replace('-', "\\-").replace('`', "");
        out.push_str(&format!(".TP\n\\fB{code}\\fR\n{meaning}\n"));
    }
    out
}

/// One row of the finding table, read from troubleshoot's constructors.
pub struct FindingRow {
    pub id: String,
    pub bucket: String,
    pub severity: String,
    /// The constructor's explanation, its placeholders as `{name}`.
    pub meaning: String,
}

/// Every finding troubleshoot can give, from the one place each is built
/// (`crates/troubleshoot/src/findings.rs`): a `finding(` call's id, bucket
/// and severity, and the first explanation text in its function.
pub fn findings(root: &Path) -> Vec<FindingRow> {
    let source = std::fs::read_to_string(root.join("crates/troubleshoot/src/findings.rs")).unwrap_or_default();
    let mut out = Vec::new();
    let chunks: Vec<&str> = source.split("\npub fn ").collect();
    for (before, function) in chunks.iter().zip(chunks.iter().skip(1)) {
        let body = function.split("\n}\n").next().unwrap_or_default();
        let literals = string_literals(body);
        let Some(id) = literals.iter().find(|l| is_finding_id(l)) else { continue };
        let word = |prefix: &str| {
            body.split(prefix).nth(1).map(|r| r.chars().take_while(|c| c.is_alphanumeric()).collect::<String>())
        };
        let (Some(bucket), Some(severity)) = (word("Bucket::"), word("Severity::")) else { continue };
        // The constructor's doc comment says when the finding is given; its
        // explanation text stands in when it has none.
        let doc = summary_doc(before);
        let meaning = match doc {
            Some(d) => d,
            None => literals.iter().find(|l| *l != id && l.contains(' ')).cloned().unwrap_or_default(),
        };
        out.push(FindingRow {
            id: id.clone(),
            bucket: bucket.to_lowercase(),
            severity: severity.to_lowercase(),
            meaning,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The first paragraph of the doc comment that ends `before`.
fn summary_doc(before: &str) -> Option<String> {
    let doc: Vec<&str> = before
        .lines()
        .rev()
        .map(str::trim)
        .take_while(|l| l.starts_with("///"))
        .map(|l| l.trim_start_matches('/').trim())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let first: Vec<&str> = doc.into_iter().take_while(|l| !l.is_empty()).collect();
    (!first.is_empty()).then(|| first.join(" "))
}

/// `iam.no-grant`, `token.audience-mismatch`: a lowercase word, a dot, words and hyphens.
fn is_finding_id(s: &str) -> bool {
    s.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.chars().all(|c| c.is_ascii_lowercase())
            && b.chars().all(|c| c.is_ascii_lowercase() || c == '-')
    })
}

/// The string literals of a piece of Rust, unescaped enough for a table.
fn string_literals(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = code.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut lit = String::new();
        let mut escaped = false;
        for c in chars.by_ref() {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => break,
                (_, c) => {
                    lit.push(c);
                    escaped = false;
                }
            }
        }
        out.push(lit);
    }
    out
}

/// The finding table in Markdown, for docs/ and the README.
pub fn finding_table(root: &Path) -> String {
    let mut table = String::from("| id | bucket | severity | when |\n|---|---|---|---|\n");
    for f in findings(root) {
        table.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            f.id,
            f.bucket,
            f.severity,
            f.meaning.replace('|', "\\|")
        ));
    }
    table
}

/// Where the README's generated finding table starts and ends.
const TABLE_START: &str =
    "<!-- finding table: generated by `cargo xtask all` from crates/troubleshoot/src/findings.rs -->\n";
const TABLE_END: &str = "<!-- end of finding table -->\n";

/// The README with its finding table regenerated (the rest as written).
fn readme(root: &Path) -> String {
    let text = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
    match (text.find(TABLE_START), text.find(TABLE_END)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{TABLE_START}{}{}", &text[..a], finding_table(root), &text[b..])
        }
        _ => text,
    }
}

/// The generated pages of `docs/` and the README's finding table.
pub fn docs(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut page = String::from(
        "# Exit codes\n\nGenerated by `cargo xtask all` from the doc comments of `Exit` in\n`crates/core/src/error.rs`; every runiam command exits with one of these.\n\n| code | meaning |\n|---|---|\n",
    );
    for (code, meaning) in exit_codes(root) {
        page.push_str(&format!("| {code} | {meaning} |\n"));
    }
    page.push_str("\nA closed stdout (`runiam ... | head`) is a quiet exit 0.\n");
    let findings = format!(
        "# Findings\n\nGenerated by `cargo xtask all` from the constructors in\n`crates/troubleshoot/src/findings.rs`, the one place each finding is built:\ngrep an id and land there. A finding's bucket is the triage step it belongs\nto (iam, token, network, quota, config, app); its severity says whether it\nexplains the denial (`cause`), may bite later (`risk`) or only informs\n(`info`). Words in braces stand for the caller, the service, the role and\nthe like.\n\n{}",
        finding_table(root)
    );
    let mut out = BTreeMap::from([(root.join("docs/exit-codes.md"), page), (root.join("docs/findings.md"), findings)]);
    out.insert(root.join("README.md"), readme(root));
    out
}

/// bash, zsh, fish, powershell and elvish completions per binary.
pub fn completions(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for mut cmd in runiam::binaries() {
        let name = cmd.get_name().to_owned();
        for (shell, file) in [
            (Shell::Bash, format!("{name}.bash")),
            (Shell::Zsh, format!("_{name}")),
            (Shell::Fish, format!("{name}.fish")),
            (Shell::PowerShell, format!("_{name}.ps1")),
            (Shell::Elvish, format!("{name}.elv")),
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, name.clone(), &mut buf);
            out.insert(root.join("completions").join(file), String::from_utf8(buf).expect("scripts are UTF-8"));
        }
    }
    out
}

/// A JSON Schema per document kind, the envelope fields included.
pub fn schemas(root: &Path) -> BTreeMap<PathBuf, String> {
    Kind::ALL
        .into_iter()
        .map(|kind| {
            let schema = match kind {
                Kind::ServiceSnapshot => schemars::schema_for!(runiam_core::doc::ServiceSnapshot),
                Kind::Diagnosis => schemars::schema_for!(runiam_core::doc::Diagnosis),
                Kind::ChangeRecord => schemars::schema_for!(runiam_core::doc::ChangeRecord),
                Kind::VerifyReport => schemars::schema_for!(runiam_core::doc::VerifyReport),
                Kind::AuditFinding => schemars::schema_for!(runiam_core::doc::AuditFinding),
            };
            let mut v: Value = schema.to_value();
            let obj = v.as_object_mut().expect("a struct's schema is an object");
            obj.insert("$id".into(), json!(format!("https://runiam.dev/schemas/{kind}.schema.json")));
            let props = obj.entry("properties").or_insert_with(|| json!({}));
            let mut with_envelope = serde_json::Map::new();
            with_envelope.insert("apiVersion".into(), json!({"const": API_VERSION}));
            with_envelope.insert("kind".into(), json!({"const": kind.name()}));
            with_envelope.extend(props.as_object().cloned().unwrap_or_default());
            *props = Value::Object(with_envelope);
            let required = obj.entry("required").or_insert_with(|| json!([]));
            if let Some(r) = required.as_array_mut() {
                r.splice(0..0, [json!("apiVersion"), json!("kind")]);
            }
            let text = serde_json::to_string_pretty(&v).expect("schemas serialize") + "\n";
            (root.join("schemas").join(format!("{kind}.schema.json")), text)
        })
        .collect()
}

/// Paths whose committed content differs from what would be generated,
/// and files in the generated folders that nothing generates any more.
pub fn stale(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for (dir, files) in
        [("man", man(root)), ("completions", completions(root)), ("schemas", schemas(root)), ("docs", docs(root))]
    {
        out.extend(differing(&files));
        // docs/ holds hand-written pages beside the generated ones.
        if dir == "docs" {
            continue;
        }
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_file() && !files.contains_key(&p) {
                    out.push(format!("{} is no longer generated", p.display()));
                }
            }
        }
    }
    out
}

/// The generated files whose committed content differs or is missing.
fn differing(files: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (p, want) in files {
        match std::fs::read_to_string(p) {
            Ok(have) if &have == want => {}
            Ok(_) => out.push(format!("{} differs", p.display())),
            Err(_) => out.push(format!("{} is missing", p.display())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_binarys_completions_complete_every_commands_flags() {
        let all = completions(&crate::root());
        for shell in ["runiam.bash", "_runiam", "runiam.fish", "_runiam.ps1", "runiam.elv"] {
            let script = &all[&crate::root().join("completions").join(shell)];
            for flag in ["member", "allow-public", "merge", "requests", "caller", "all", "world"] {
                // fish writes `-l NAME`, the others `--NAME`.
                let listed = script.contains(&format!("--{flag}")) || script.contains(&format!("-l {flag} "));
                assert!(listed, "{shell} does not complete --{flag}");
            }
        }
    }

    #[test]
    fn every_page_a_man_page_refers_to_exists() {
        let root = crate::root();
        let pages = man(&root);
        let names: Vec<String> = pages.keys().map(|p| p.file_stem().unwrap().to_string_lossy().into_owned()).collect();
        for (path, page) in &pages {
            for word in page.split(|c: char| c.is_whitespace()) {
                if let Some(name) = word.strip_suffix("(1)") {
                    let name = name.replace("\\-", "-").replace("\\fB", "").replace("\\fR", "");
                    assert!(names.contains(&name), "{} refers to {name}(1), which is not generated", path.display());
                }
            }
        }
    }

    #[test]
    fn every_page_has_examples_exit_status_environment_and_files() {
        for (path, page) in man(&crate::root()) {
            for section in [".SH EXAMPLES\n.nf\n", ".SH \"EXIT STATUS\"", ".SH ENVIRONMENT", ".SH FILES"] {
                assert!(page.contains(section), "{} has no {section}", path.display());
            }
            assert!(page.contains("runiam"), "{}", path.display());
        }
    }

    #[test]
    fn a_stale_finding_table_or_exit_code_page_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |p: &str, text: &str| {
            std::fs::create_dir_all(root.join(p).parent().unwrap()).unwrap();
            std::fs::write(root.join(p), text).unwrap();
        };
        write(
            "crates/troubleshoot/src/findings.rs",
            "//! F.\n\n/// the caller holds nothing\npub fn iam_no_grant() -> Finding {\n    finding(\n        \"iam.no-grant\",\n        Bucket::Iam,\n        Severity::Cause,\n        format!(\"nothing grants {caller}\"),\n    )\n}\n",
        );
        write("crates/core/src/error.rs", "pub enum Exit {\n    /// Fine.\n    Ok = 0,\n}\n");
        write("README.md", &format!("# R\n\n{TABLE_START}| stale |\n{TABLE_END}\nafter\n"));
        let pages = docs(root);
        assert_eq!(differing(&pages).len(), 3, "README, findings.md and exit-codes.md");
        for (p, text) in &pages {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        assert_eq!(differing(&docs(root)), Vec::<String>::new());
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        assert!(readme.contains("| `iam.no-grant` | iam | cause | the caller holds nothing |\n"), "{readme}");
        assert!(readme.ends_with(&format!("{TABLE_END}\nafter\n")), "{readme}");
        assert!(std::fs::read_to_string(root.join("docs/exit-codes.md")).unwrap().contains("| 0 | Fine. |"));
    }
}
