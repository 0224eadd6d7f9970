//! The contents of every generated file, keyed by path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap_complete::Shell;
use runiam_core::doc::{API_VERSION, Kind};
use serde_json::{Value, json};

const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
OK: every caller ALLOWED, every check passed.
.TP
\fB1\fR
A problem was found or health could not be confirmed (a verdict DENIED or UNKNOWN, a failed check).
.TP
\fB2\fR
Bad usage or bad input; nothing was written.
.TP
\fB3\fR
An API, network or auth error left no document to write.
.TP
\fB4\fR
Refused for safety: the write would go beyond what was asked (an edited plan, a public or broad grant without its flag, a role beyond invoking), drift since the record or snapshot, an org policy forbids it, a grant that cannot help (a deny policy, a missing or disabled account), or a plan's etag moved. Nothing was written.
.TP
\fB130\fR, \fB143\fR
Stopped by SIGINT or SIGTERM during \-\-apply: the write under way finished and what was written is recorded on stdout.
"#;

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
"#;

/// One man page per binary, with EXIT STATUS and ENVIRONMENT sections.
pub fn man(root: &Path) -> BTreeMap<PathBuf, String> {
    runiam::binaries()
        .into_iter()
        .map(|cmd| {
            let name = cmd.get_name().to_owned();
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut buf).expect("rendering to memory");
            let mut page = String::from_utf8(buf).expect("roff is UTF-8");
            page.push_str(EXIT_STATUS);
            page.push_str(ENVIRONMENT);
            (root.join("man").join(format!("{name}.1")), page)
        })
        .collect()
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
    for (dir, files) in [("man", man(root)), ("completions", completions(root)), ("schemas", schemas(root))] {
        for (p, want) in &files {
            match std::fs::read_to_string(p) {
                Ok(have) if &have == want => {}
                Ok(_) => out.push(format!("{} differs", p.display())),
                Err(_) => out.push(format!("{} is missing", p.display())),
            }
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
