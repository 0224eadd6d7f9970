//! Where project, region, account, auth settings and API endpoints come from.
//!
//! Precedence, as gcloud users expect: command-line flags, then environment
//! (`CLOUDSDK_*`, `GOOGLE_CLOUD_*`), then the active gcloud configuration
//! under `CLOUDSDK_CONFIG` or `~/.config/gcloud`, then an error that says how
//! to set the value. Resolution is a pure function of those three inputs so
//! the precedence table is unit-testable; `Env::from_process` and
//! `GcloudProperties::load` are the only I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use url::Url;

use crate::error::CommandError;

/// The Google APIs runiam talks to, named as gcloud names their endpoint
/// override (`CLOUDSDK_API_ENDPOINT_OVERRIDES_<NAME>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    Run,
    CloudResourceManager,
    Iam,
    IamCredentials,
    Logging,
    OrgPolicy,
    PolicyTroubleshooter,
    CloudAsset,
    CloudIdentity,
    PubSub,
    CloudScheduler,
    Eventarc,
    CloudTasks,
    Workflows,
    CloudFunctions,
    Monitoring,
    Compute,
    NetworkManagement,
    AccessContextManager,
    VpcAccess,
}

impl Api {
    pub const ALL: [Api; 20] = [
        Api::Run,
        Api::CloudResourceManager,
        Api::Iam,
        Api::IamCredentials,
        Api::Logging,
        Api::OrgPolicy,
        Api::PolicyTroubleshooter,
        Api::CloudAsset,
        Api::CloudIdentity,
        Api::PubSub,
        Api::CloudScheduler,
        Api::Eventarc,
        Api::CloudTasks,
        Api::Workflows,
        Api::CloudFunctions,
        Api::Monitoring,
        Api::Compute,
        Api::NetworkManagement,
        Api::AccessContextManager,
        Api::VpcAccess,
    ];

    /// The host label: `run` in `run.googleapis.com`.
    pub fn host_label(self) -> &'static str {
        match self {
            Api::Run => "run",
            Api::CloudResourceManager => "cloudresourcemanager",
            Api::Iam => "iam",
            Api::IamCredentials => "iamcredentials",
            Api::Logging => "logging",
            Api::OrgPolicy => "orgpolicy",
            Api::PolicyTroubleshooter => "policytroubleshooter",
            Api::CloudAsset => "cloudasset",
            Api::CloudIdentity => "cloudidentity",
            Api::PubSub => "pubsub",
            Api::CloudScheduler => "cloudscheduler",
            Api::Eventarc => "eventarc",
            Api::CloudTasks => "cloudtasks",
            Api::Workflows => "workflows",
            Api::CloudFunctions => "cloudfunctions",
            Api::Monitoring => "monitoring",
            Api::Compute => "compute",
            Api::NetworkManagement => "networkmanagement",
            Api::AccessContextManager => "accesscontextmanager",
            Api::VpcAccess => "vpcaccess",
        }
    }

    /// The service name to enable (`run.googleapis.com`).
    pub fn service_name(self) -> String {
        format!("{}.googleapis.com", self.host_label())
    }

    /// The gcloud property / environment suffix (`RUN`, `CLOUDRESOURCEMANAGER`).
    pub fn override_key(self) -> String {
        self.host_label().to_ascii_uppercase()
    }

    fn default_base(self) -> Url {
        Url::parse(&format!("https://{}/", self.service_name())).expect("static URL")
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.service_name())
    }
}

/// A snapshot of the environment variables runiam reads.
#[derive(Clone, Debug, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// The process environment, with the settings an embedding program
    /// (the demo) gave through `set_process_override` on top.
    pub fn from_process() -> Self {
        let mut vars: BTreeMap<String, String> = std::env::vars().collect();
        if let Some(extra) = PROCESS_OVERRIDES.get() {
            vars.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Self(vars)
    }

    /// Settings every command run in this process reads as if they were in
    /// its environment, without changing the environment (which is not
    /// safe once threads run). Set once; a later call is ignored.
    pub fn set_process_override(vars: Vec<(String, String)>) {
        let _ = PROCESS_OVERRIDES.set(vars);
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    /// A set, non-empty variable.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// The properties of the active gcloud configuration (an INI file).
#[derive(Clone, Debug, Default)]
pub struct GcloudProperties {
    /// The file they came from, for messages.
    pub path: Option<PathBuf>,
    sections: BTreeMap<String, BTreeMap<String, String>>,
}

impl GcloudProperties {
    /// Reads `CLOUDSDK_CONFIG` (or `~/.config/gcloud`), its `active_config`
    /// (or `CLOUDSDK_ACTIVE_CONFIG_NAME`), and `configurations/config_NAME`.
    /// A missing directory or file is no configuration, not an error.
    pub fn load(env: &Env) -> Self {
        let Some(dir) = gcloud_config_dir(env) else { return Self::default() };
        let name = env
            .get("CLOUDSDK_ACTIVE_CONFIG_NAME")
            .map(str::to_owned)
            .or_else(|| std::fs::read_to_string(dir.join("active_config")).ok().map(|s| s.trim().to_owned()))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        let path = dir.join("configurations").join(format!("config_{name}"));
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, Some(path)),
            Err(_) => Self::default(),
        }
    }

    /// Parses gcloud's INI dialect: `[section]`, `key = value`, `#`/`;` comments.
    pub fn parse(text: &str, path: Option<PathBuf>) -> Self {
        let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut current = String::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = name.trim().to_owned();
            } else if let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) {
                sections.entry(current.clone()).or_default().insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
        Self { path, sections }
    }

    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections.get(section)?.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// gcloud's configuration directory: `CLOUDSDK_CONFIG`, else `~/.config/gcloud`.
pub fn gcloud_config_dir(env: &Env) -> Option<PathBuf> {
    if let Some(dir) = env.get("CLOUDSDK_CONFIG") {
        return Some(PathBuf::from(dir));
    }
    env.get("HOME").map(|h| Path::new(h).join(".config").join("gcloud"))
}

/// The settings a user may pass as flags (the common flags of every command).
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub project: Option<String>,
    pub region: Option<String>,
    pub account: Option<String>,
    pub impersonate_service_account: Option<String>,
    pub access_token_file: Option<PathBuf>,
    pub billing_project: Option<String>,
}

/// Where a resolved value came from, shown by `--verbose` and in errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    Gcloud(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(f2) => write!(f, "flag {f2}"),
            Source::Env(v) => write!(f, "environment variable {v}"),
            Source::Gcloud(p) => write!(f, "gcloud configuration {}", p.display()),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved<T> {
    pub value: T,
    pub source: Source,
}

/// Everything resolved; commands ask for what they need.
#[derive(Clone, Debug)]
pub struct Config {
    pub project: Option<Resolved<String>>,
    pub region: Option<Resolved<String>>,
    pub account: Option<Resolved<String>>,
    pub impersonate_service_account: Option<Resolved<String>>,
    pub access_token_file: Option<Resolved<PathBuf>>,
    /// `CLOUDSDK_AUTH_ACCESS_TOKEN`: a token handed over by the environment.
    pub access_token_env: bool,
    pub quota_project: QuotaProject,
    /// gcloud's `core/custom_ca_certs_file`: the CA bundle a TLS-inspecting proxy needs.
    pub custom_ca_certs_file: Option<Resolved<PathBuf>>,
    /// The active gcloud configuration file, when there is one (for `--verbose`).
    pub gcloud_config: Option<PathBuf>,
    /// gcloud's configuration directory (`CLOUDSDK_CONFIG`, else `~/.config/gcloud`).
    pub gcloud_dir: Option<PathBuf>,
    /// Set when `RUNIAM_EMULATOR_HOST` points everything at the emulator.
    pub emulator: Option<Url>,
    endpoints: BTreeMap<Api, Url>,
}

/// The project `x-goog-user-project` names, by gcloud's rules
/// (googlecloudsdk/core/credentials/creds.py `GetQuotaProject`) and the
/// client libraries' (README.md, "Quota project").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuotaProject {
    /// `--billing-project`, `GOOGLE_CLOUD_QUOTA_PROJECT`, or a project named
    /// by `billing/quota_project`: sent with every credential.
    pub explicit: Option<Resolved<String>>,
    /// `billing/quota_project`'s default `CURRENT_PROJECT`: the project,
    /// sent with user credentials only; None under `LEGACY`.
    pub user: Option<Resolved<String>>,
}

impl QuotaProject {
    fn resolve(flags: &Flags, env: &Env, props: &GcloudProperties, project: Option<&Resolved<String>>) -> Self {
        let setting = resolve_one(
            Rung {
                flag: Some(("--billing-project", flags.billing_project.clone())),
                env: &["GOOGLE_CLOUD_QUOTA_PROJECT", "CLOUDSDK_BILLING_QUOTA_PROJECT"],
                gcloud: Some(("billing", "quota_project")),
            },
            env,
            props,
        );
        match setting {
            Some(r) if r.value == "LEGACY" => Self::default(),
            Some(r) if r.value == "CURRENT_PROJECT" || r.value == "CURRENT_PROJECT_WITH_FALLBACK" => {
                Self { explicit: None, user: project.cloned() }
            }
            Some(r) => Self { explicit: Some(r), user: None },
            None => Self { explicit: None, user: project.cloned() },
        }
    }

    /// The project to send for a credential: `file` is the quota project
    /// its ADC file names, `user` whether it is a person's own credential.
    pub fn for_credential(&self, file: Option<&str>, user: bool) -> Option<String> {
        if let Some(e) = &self.explicit {
            return Some(e.value.clone());
        }
        if let Some(f) = file {
            return Some(f.to_owned());
        }
        self.user.as_ref().filter(|_| user).map(|r| r.value.clone())
    }
}

/// One rung of the precedence ladder for a setting.
struct Rung {
    flag: Option<(&'static str, Option<String>)>,
    env: &'static [&'static str],
    gcloud: Option<(&'static str, &'static str)>,
}

fn resolve_one(rung: Rung, env: &Env, props: &GcloudProperties) -> Option<Resolved<String>> {
    if let Some((name, Some(v))) = rung.flag
        && !v.is_empty()
    {
        return Some(Resolved { value: v, source: Source::Flag(name) });
    }
    for var in rung.env {
        if let Some(v) = env.get(var) {
            return Some(Resolved { value: v.to_owned(), source: Source::Env(var) });
        }
    }
    let (section, key) = rung.gcloud?;
    let v = props.get(section, key)?;
    Some(Resolved { value: v.to_owned(), source: Source::Gcloud(props.path.clone().unwrap_or_default()) })
}

/// Every API's base URL: the emulator's when it is set, else gcloud's
/// endpoint override (environment first, then properties), else Google's.
fn endpoints(env: &Env, props: &GcloudProperties, emulator: Option<&Url>) -> Result<BTreeMap<Api, Url>, CommandError> {
    let mut endpoints = BTreeMap::new();
    for api in Api::ALL {
        let var = format!("CLOUDSDK_API_ENDPOINT_OVERRIDES_{}", api.override_key());
        let url = if let Some(e) = emulator {
            e.clone()
        } else if let Some(v) = env.get(&var) {
            parse_endpoint(&var, v)?
        } else if let Some(v) = props.get("api_endpoint_overrides", api.host_label()) {
            parse_endpoint(&format!("api_endpoint_overrides/{}", api.host_label()), v)?
        } else {
            api.default_base()
        };
        endpoints.insert(api, url);
    }
    Ok(endpoints)
}

/// What `Env::set_process_override` set.
static PROCESS_OVERRIDES: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();

/// Parses `RUNIAM_EMULATOR_HOST`: `host:port` or `http://host:port`.
pub fn parse_emulator_host(value: &str) -> Result<Url, CommandError> {
    let with_scheme = if value.contains("://") { value.to_owned() } else { format!("http://{value}") };
    let url = Url::parse(&with_scheme).map_err(|e| {
        CommandError::usage(format!(
            "RUNIAM_EMULATOR_HOST='{value}' is not host:port or a URL ({e}); set it to what runiam-emulator printed, e.g. 127.0.0.1:8785"
        ))
    })?;
    if url.host_str().is_none() || url.port_or_known_default().is_none() {
        return Err(CommandError::usage(format!(
            "RUNIAM_EMULATOR_HOST='{value}' has no host and port; set it to what runiam-emulator printed, e.g. 127.0.0.1:8785"
        )));
    }
    let mut base = url;
    base.set_path("/");
    base.set_query(None);
    Ok(base)
}

fn parse_endpoint(source: &str, value: &str) -> Result<Url, CommandError> {
    let mut url = Url::parse(value).map_err(|e| {
        CommandError::usage(format!(
            "{source}='{value}' is not a URL ({e}); write it as gcloud does, e.g. https://run.googleapis.com/"
        ))
    })?;
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    Ok(url)
}

impl Config {
    /// Resolves every setting from flags, environment and gcloud properties.
    pub fn resolve(flags: &Flags, env: &Env, props: &GcloudProperties) -> Result<Self, CommandError> {
        let project = resolve_one(
            Rung {
                flag: Some(("--project", flags.project.clone())),
                env: &["CLOUDSDK_CORE_PROJECT", "GOOGLE_CLOUD_PROJECT"],
                gcloud: Some(("core", "project")),
            },
            env,
            props,
        );
        let region = resolve_one(
            Rung {
                flag: Some(("--region", flags.region.clone())),
                env: &["CLOUDSDK_RUN_REGION"],
                gcloud: Some(("run", "region")),
            },
            env,
            props,
        );
        let account = resolve_one(
            Rung {
                flag: Some(("--account", flags.account.clone())),
                env: &["CLOUDSDK_CORE_ACCOUNT"],
                gcloud: Some(("core", "account")),
            },
            env,
            props,
        );
        let impersonate_service_account = resolve_one(
            Rung {
                flag: Some(("--impersonate-service-account", flags.impersonate_service_account.clone())),
                env: &["CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT"],
                gcloud: Some(("auth", "impersonate_service_account")),
            },
            env,
            props,
        );
        if let Some(r) = &impersonate_service_account
            && r.value.split(',').any(|a| !a.trim().contains('@'))
        {
            return Err(CommandError::usage(format!(
                "{} '{}' is not a service account email or a comma-separated chain of them",
                r.source, r.value
            ))
            .hinted("name the account to impersonate, e.g. deployer@PROJECT.iam.gserviceaccount.com; delegates first, the target last"));
        }
        let access_token_file = resolve_one(
            Rung {
                flag: Some(("--access-token-file", flags.access_token_file.as_ref().map(|p| p.display().to_string()))),
                env: &["CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"],
                gcloud: Some(("auth", "access_token_file")),
            },
            env,
            props,
        )
        .map(|r| Resolved { value: PathBuf::from(r.value), source: r.source });
        let quota_project = QuotaProject::resolve(flags, env, props, project.as_ref());
        let custom_ca_certs_file = resolve_one(
            Rung {
                flag: None,
                env: &["CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE"],
                gcloud: Some(("core", "custom_ca_certs_file")),
            },
            env,
            props,
        )
        .or_else(|| {
            Some(Resolved { value: env.get("SSL_CERT_FILE")?.to_owned(), source: Source::Env("SSL_CERT_FILE") })
        })
        .map(|r| Resolved { value: PathBuf::from(r.value), source: r.source });

        let emulator = env.get("RUNIAM_EMULATOR_HOST").map(parse_emulator_host).transpose()?;
        let endpoints = endpoints(env, props, emulator.as_ref())?;
        Ok(Self {
            project,
            region,
            account,
            impersonate_service_account,
            access_token_file,
            access_token_env: env.get("CLOUDSDK_AUTH_ACCESS_TOKEN").is_some(),
            quota_project,
            custom_ca_certs_file,
            gcloud_config: props.path.clone(),
            gcloud_dir: gcloud_config_dir(env),
            emulator,
            endpoints,
        })
    }

    /// Resolves from this process's flags, environment and gcloud files.
    pub fn load(flags: &Flags) -> Result<Self, CommandError> {
        let env = Env::from_process();
        let props = GcloudProperties::load(&env);
        Self::resolve(flags, &env, &props)
    }

    /// The base URL of `api` (ends in `/`).
    pub fn endpoint(&self, api: Api) -> &Url {
        &self.endpoints[&api]
    }

    /// The project, or the error that says how to set one.
    pub fn project(&self) -> Result<&str, CommandError> {
        self.project.as_ref().map(|r| r.value.as_str()).ok_or_else(|| {
            CommandError::usage("no project is set").hinted(
                "pass --project PROJECT_ID, set CLOUDSDK_CORE_PROJECT, or run `gcloud config set project PROJECT_ID`",
            )
        })
    }

    /// The region, or the error that says how to set one.
    pub fn region(&self) -> Result<&str, CommandError> {
        self.region.as_ref().map(|r| r.value.as_str()).ok_or_else(|| {
            CommandError::usage("no region is set")
                .hinted("pass --region REGION, set CLOUDSDK_RUN_REGION, or run `gcloud config set run/region REGION`")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcloud_ini_parses() {
        let p = GcloudProperties::parse(
            "[core]\naccount = ops@acme.example\nproject = acme-prod\n# comment\n[run]\nregion=europe-west1\n",
            None,
        );
        assert_eq!(p.get("core", "project"), Some("acme-prod"));
        assert_eq!(p.get("run", "region"), Some("europe-west1"));
        assert_eq!(p.get("core", "missing"), None);
    }

    #[test]
    fn emulator_host_forms() {
        assert_eq!(parse_emulator_host("127.0.0.1:8785").unwrap().as_str(), "http://127.0.0.1:8785/");
        assert_eq!(parse_emulator_host("http://127.0.0.1:8785").unwrap().as_str(), "http://127.0.0.1:8785/");
        assert_eq!(parse_emulator_host("http://localhost:9/x?y").unwrap().as_str(), "http://localhost:9/");
        assert_eq!(parse_emulator_host("http://[::1").unwrap_err().exit, crate::Exit::Usage);
    }

    #[test]
    fn impersonation_chains_are_emails() {
        let env = Env::default();
        let flags = |v: &str| Flags { impersonate_service_account: Some(v.to_owned()), ..Flags::default() };
        let props = GcloudProperties::default();
        assert!(
            Config::resolve(&flags("a@p.iam.gserviceaccount.com, b@p.iam.gserviceaccount.com"), &env, &props).is_ok()
        );
        for bad in [",", "a@p.iam.gserviceaccount.com,", "deployer"] {
            let e = Config::resolve(&flags(bad), &env, &props).unwrap_err();
            assert_eq!(e.exit, crate::Exit::Usage, "{bad}");
            assert!(e.to_string().starts_with("flag --impersonate-service-account '"), "{e}");
        }
    }
}
