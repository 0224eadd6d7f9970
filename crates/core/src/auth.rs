//! Where the access token for API calls comes from.
//!
//! In order: `--access-token-file` / `CLOUDSDK_AUTH_ACCESS_TOKEN_FILE`,
//! `CLOUDSDK_AUTH_ACCESS_TOKEN`, Application Default Credentials through
//! google-cloud-auth (when an ADC file is configured, or no gcloud is
//! installed, so that the metadata server is tried on Google's runtimes),
//! and `gcloud auth print-access-token` for users who only ran
//! `gcloud auth login`. Impersonation is layered on top by the HTTP client
//! (it is an IAM Credentials call). The emulator needs no credentials.
//!
//! Tokens live in `Secret`, whose Debug never shows the value and which has
//! no Display, so a token cannot be formatted into a message by accident.

use std::fmt;
use std::path::{Path, PathBuf};

use google_cloud_auth::credentials::AccessTokenCredentials;

use crate::config::{Config, Env};

/// A credential value. Debug prints `[REDACTED]`; there is no Display.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for an Authorization header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// Why no access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read the access token file {path}")]
    TokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the access token file {0} is empty")]
    EmptyTokenFile(PathBuf),
    #[error("Application Default Credentials failed: {0}")]
    Adc(String),
    #[error("`gcloud auth print-access-token` failed: {0}")]
    Gcloud(String),
    #[error("no credentials found")]
    NoCredentials,
    #[error("cannot impersonate {account}: {reason}")]
    Impersonation { account: String, reason: String },
}

impl AuthError {
    pub fn hint(&self) -> String {
        match self {
            AuthError::Impersonation { account, .. } => format!(
                "the active credentials need roles/iam.serviceAccountTokenCreator on {account}"
            ),
            _ => "run `gcloud auth login` (or `gcloud auth application-default login`), pass --access-token-file FILE, or set CLOUDSDK_AUTH_ACCESS_TOKEN".to_owned(),
        }
    }
}

/// The base credential, before any impersonation.
#[derive(Clone, Debug)]
pub enum TokenSource {
    /// The emulator: no Authorization header at all.
    None,
    /// A token handed over by the user.
    Static(Secret),
    /// A file holding a token, read on each use (gcloud reads it per call too).
    File(PathBuf),
    /// Application Default Credentials.
    Adc(AccessTokenCredentials),
    /// `gcloud auth print-access-token [--account A]`.
    Gcloud { account: Option<String> },
}

impl TokenSource {
    /// Chooses the source from the resolved configuration.
    pub fn from_config(config: &Config, env: &Env) -> Result<Self, AuthError> {
        if config.emulator.is_some() {
            return Ok(Self::None);
        }
        if let Some(file) = &config.access_token_file {
            return Ok(Self::File(file.value.clone()));
        }
        if let Some(token) = env.get("CLOUDSDK_AUTH_ACCESS_TOKEN") {
            return Ok(Self::Static(Secret::new(token.trim())));
        }
        let adc_file = env.get("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from).or_else(|| {
            let home = env.get("HOME")?;
            let p = Path::new(home).join(".config/gcloud/application_default_credentials.json");
            p.exists().then_some(p)
        });
        if adc_file.is_some() || !gcloud_on_path(env) {
            let mut builder = google_cloud_auth::credentials::Builder::default();
            if let Some(q) = &config.quota_project {
                builder = builder.with_quota_project_id(q.value.clone());
            }
            return builder
                .build_access_token_credentials()
                .map(Self::Adc)
                .map_err(|e| AuthError::Adc(crate::redact::redact(&e.to_string())));
        }
        Ok(Self::Gcloud { account: config.account.as_ref().map(|a| a.value.clone()) })
    }

    /// A fresh token, or None for the emulator.
    pub async fn token(&self) -> Result<Option<Secret>, AuthError> {
        match self {
            Self::None => Ok(None),
            Self::Static(s) => Ok(Some(s.clone())),
            Self::File(path) => {
                let text = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|source| AuthError::TokenFile { path: path.clone(), source })?;
                let token = text.trim();
                if token.is_empty() {
                    return Err(AuthError::EmptyTokenFile(path.clone()));
                }
                Ok(Some(Secret::new(token)))
            }
            Self::Adc(creds) => creds
                .access_token()
                .await
                .map(|t| Some(Secret::new(t.token)))
                .map_err(|e| AuthError::Adc(crate::redact::redact(&e.to_string()))),
            Self::Gcloud { account } => {
                let mut cmd = tokio::process::Command::new("gcloud");
                cmd.args(["auth", "print-access-token", "--quiet"]);
                if let Some(a) = account {
                    cmd.arg(format!("--account={a}"));
                }
                let out = cmd.output().await.map_err(|e| AuthError::Gcloud(e.to_string()))?;
                if !out.status.success() {
                    let err = String::from_utf8_lossy(&out.stderr);
                    return Err(AuthError::Gcloud(crate::redact::redact(err.trim())));
                }
                let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if token.is_empty() {
                    return Err(AuthError::NoCredentials);
                }
                Ok(Some(Secret::new(token)))
            }
        }
    }
}

fn gcloud_on_path(env: &Env) -> bool {
    env.get("PATH").map(|p| std::env::split_paths(p).any(|d| d.join("gcloud").is_file())).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Flags, GcloudProperties};

    fn source(env: &[(&str, &str)], flags: Flags) -> TokenSource {
        let env = Env::from_pairs(env.iter().copied());
        let config = Config::resolve(&flags, &env, &GcloudProperties::default()).unwrap();
        TokenSource::from_config(&config, &env).unwrap()
    }

    #[test]
    fn emulator_needs_no_credentials() {
        let s =
            source(&[("RUNIAM_EMULATOR_HOST", "127.0.0.1:1"), ("CLOUDSDK_AUTH_ACCESS_TOKEN", "x")], Flags::default());
        assert!(matches!(s, TokenSource::None));
    }

    #[tokio::test]
    async fn token_file_beats_env_token() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tok");
        std::fs::write(&f, "from-file\n").unwrap();
        let flags = Flags { access_token_file: Some(f), ..Flags::default() };
        let s = source(&[("CLOUDSDK_AUTH_ACCESS_TOKEN", "from-env")], flags);
        assert_eq!(s.token().await.unwrap().unwrap().expose(), "from-file");
        let s = source(&[("CLOUDSDK_AUTH_ACCESS_TOKEN", "from-env")], Flags::default());
        assert_eq!(s.token().await.unwrap().unwrap().expose(), "from-env");
        assert_eq!(format!("{:?}", Secret::new("from-env")), "Secret([REDACTED])");
    }

    #[tokio::test]
    async fn gcloud_user_without_adc_uses_gcloud() {
        let dir = tempfile::tempdir().unwrap();
        let gcloud = dir.path().join("gcloud");
        std::fs::write(&gcloud, "#!/bin/sh\necho \"tok-for-$4\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&gcloud, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().display().to_string();
        let home = dir.path().join("home").display().to_string();
        let s = source(
            &[("PATH", &path), ("HOME", &home), ("CLOUDSDK_CORE_ACCOUNT", "ops@acme.example")],
            Flags::default(),
        );
        let TokenSource::Gcloud { account } = &s else { panic!("expected gcloud, got {s:?}") };
        assert_eq!(account.as_deref(), Some("ops@acme.example"));
        // Run our fake gcloud through the real code path.
        let old = std::env::var_os("PATH");
        // SAFETY: this test is the only one in this binary that touches PATH.
        unsafe { std::env::set_var("PATH", format!("{path}:{}", old.clone().unwrap_or_default().to_string_lossy())) };
        let tok = s.token().await.unwrap().unwrap();
        assert_eq!(tok.expose(), "tok-for---account=ops@acme.example");
    }
}
