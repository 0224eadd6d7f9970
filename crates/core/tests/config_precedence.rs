//! The precedence table of configuration: flags > environment > the active
//! gcloud configuration > an error that says how to set the value.

use std::path::Path;

use runiam_core::config::{Api, Config, Env, Flags, GcloudProperties, Source};

/// Writes a gcloud configuration directory the way `gcloud config` does.
fn gcloud_dir(dir: &Path, active: &str, configs: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join("configurations")).unwrap();
    std::fs::write(dir.join("active_config"), active).unwrap();
    for (name, body) in configs {
        std::fs::write(dir.join("configurations").join(format!("config_{name}")), body).unwrap();
    }
}

/// One row: flags, environment, the project expected and where it came from.
type Case<'a> = (&'a Flags, Vec<(&'a str, &'a str)>, &'a str, Source);

fn resolve(flags: &Flags, env: &[(&str, &str)]) -> Config {
    let env = Env::from_pairs(env.iter().copied());
    let props = GcloudProperties::load(&env);
    Config::resolve(flags, &env, &props).unwrap()
}

#[test]
fn precedence_table() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("gcloud");
    gcloud_dir(
        &cfg,
        "work",
        &[
            ("default", "[core]\nproject = from-default-config\n"),
            (
                "work",
                "[core]\nproject = from-gcloud\naccount = ops@acme.example\n[run]\nregion = us-central1\n[auth]\nimpersonate_service_account = deployer@acme-prod.iam.gserviceaccount.com\n[billing]\nquota_project = billing-proj\n[api_endpoint_overrides]\nrun = http://localhost:9999/\n",
            ),
        ],
    );
    let cfg_s = cfg.to_str().unwrap();
    let flags = Flags { project: Some("from-flag".into()), region: Some("europe-west1".into()), ..Flags::default() };
    let none = Flags::default();

    // (flags, env, expected project, expected source)
    let cases: Vec<Case> = vec![
        (
            &flags,
            vec![("CLOUDSDK_CONFIG", cfg_s), ("CLOUDSDK_CORE_PROJECT", "from-env")],
            "from-flag",
            Source::Flag("--project"),
        ),
        (
            &none,
            vec![
                ("CLOUDSDK_CONFIG", cfg_s),
                ("CLOUDSDK_CORE_PROJECT", "from-cloudsdk"),
                ("GOOGLE_CLOUD_PROJECT", "from-google"),
            ],
            "from-cloudsdk",
            Source::Env("CLOUDSDK_CORE_PROJECT"),
        ),
        (
            &none,
            vec![("CLOUDSDK_CONFIG", cfg_s), ("GOOGLE_CLOUD_PROJECT", "from-google")],
            "from-google",
            Source::Env("GOOGLE_CLOUD_PROJECT"),
        ),
        (
            &none,
            vec![("CLOUDSDK_CONFIG", cfg_s)],
            "from-gcloud",
            Source::Gcloud(cfg.join("configurations/config_work")),
        ),
        (
            &none,
            vec![("CLOUDSDK_CONFIG", cfg_s), ("CLOUDSDK_ACTIVE_CONFIG_NAME", "default")],
            "from-default-config",
            Source::Gcloud(cfg.join("configurations/config_default")),
        ),
    ];
    for (i, (flags, env, project, source)) in cases.into_iter().enumerate() {
        let c = resolve(flags, &env);
        let p = c.project.unwrap_or_else(|| panic!("case {i}: no project"));
        assert_eq!((p.value.as_str(), p.source), (project, source), "case {i}");
    }

    let c = resolve(&Flags::default(), &[("CLOUDSDK_CONFIG", cfg_s)]);
    assert_eq!(c.region().unwrap(), "us-central1");
    assert_eq!(c.account.as_ref().unwrap().value, "ops@acme.example");
    assert_eq!(c.impersonate_service_account.as_ref().unwrap().value, "deployer@acme-prod.iam.gserviceaccount.com");
    assert_eq!(c.quota_project.explicit.as_ref().unwrap().value, "billing-proj");
    assert_eq!(c.endpoint(Api::Run).as_str(), "http://localhost:9999/");
    assert_eq!(c.endpoint(Api::Logging).as_str(), "https://logging.googleapis.com/");

    let c = resolve(&Flags::default(), &[("CLOUDSDK_CONFIG", cfg_s), ("CLOUDSDK_RUN_REGION", "asia-east1")]);
    assert_eq!(c.region().unwrap(), "asia-east1");
    let c = resolve(&flags, &[("CLOUDSDK_CONFIG", cfg_s), ("CLOUDSDK_RUN_REGION", "asia-east1")]);
    assert_eq!(c.region().unwrap(), "europe-west1");
    let c = resolve(
        &Flags::default(),
        &[
            ("CLOUDSDK_CONFIG", cfg_s),
            ("CLOUDSDK_CORE_ACCOUNT", "env@acme.example"),
            ("GOOGLE_CLOUD_QUOTA_PROJECT", "env-billing"),
        ],
    );
    assert_eq!(c.account.unwrap().value, "env@acme.example");
    assert_eq!(c.quota_project.explicit.unwrap().value, "env-billing");
    let c = resolve(
        &Flags::default(),
        &[
            ("CLOUDSDK_CONFIG", cfg_s),
            ("CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT", "env-sa@p.iam.gserviceaccount.com"),
        ],
    );
    assert_eq!(c.impersonate_service_account.unwrap().source, Source::Env("CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT"));
}

#[test]
fn home_config_is_the_fallback_directory() {
    let tmp = tempfile::tempdir().unwrap();
    gcloud_dir(&tmp.path().join(".config/gcloud"), "default", &[("default", "[core]\nproject = from-home\n")]);
    let c = resolve(&Flags::default(), &[("HOME", tmp.path().to_str().unwrap())]);
    assert_eq!(c.project().unwrap(), "from-home");
}

#[test]
fn missing_values_say_how_to_set_them() {
    let tmp = tempfile::tempdir().unwrap();
    let c = resolve(&Flags::default(), &[("HOME", tmp.path().to_str().unwrap())]);
    let e = c.project().unwrap_err();
    assert_eq!(e.exit, runiam_core::Exit::Usage);
    assert_eq!(
        e.render("runiam-export"),
        "runiam-export: error: no project is set\n\nhint: pass --project PROJECT_ID, set CLOUDSDK_CORE_PROJECT, or run `gcloud config set project PROJECT_ID`\n"
    );
    assert_eq!(
        c.region().unwrap_err().render("runiam-export"),
        "runiam-export: error: no region is set\n\nhint: pass --region REGION, set CLOUDSDK_RUN_REGION, or run `gcloud config set run/region REGION`\n"
    );
}

#[test]
fn endpoint_overrides_and_the_emulator() {
    let env = [("HOME", "/nonexistent"), ("CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN", "http://127.0.0.1:7000")];
    let c = resolve(&Flags::default(), &env);
    assert_eq!(c.endpoint(Api::Run).as_str(), "http://127.0.0.1:7000/");
    assert_eq!(c.endpoint(Api::CloudResourceManager).as_str(), "https://cloudresourcemanager.googleapis.com/");
    assert!(c.emulator.is_none());

    // Both forms of RUNIAM_EMULATOR_HOST point every API at the emulator,
    // and the emulator wins over endpoint overrides.
    for value in ["127.0.0.1:8785", "http://127.0.0.1:8785"] {
        let c = resolve(&Flags::default(), &[env[0], env[1], ("RUNIAM_EMULATOR_HOST", value)]);
        assert_eq!(c.emulator.as_ref().unwrap().as_str(), "http://127.0.0.1:8785/");
        for api in Api::ALL {
            assert_eq!(c.endpoint(api).as_str(), "http://127.0.0.1:8785/", "{api}");
        }
    }

    let env = Env::from_pairs([("RUNIAM_EMULATOR_HOST", "http://")]);
    let e = Config::resolve(&Flags::default(), &env, &GcloudProperties::default()).unwrap_err();
    assert_eq!(e.exit, runiam_core::Exit::Usage);
    assert!(e.to_string().contains("RUNIAM_EMULATOR_HOST='http://'"), "{e}");

    let env = Env::from_pairs([("CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM", "not a url")]);
    let e = Config::resolve(&Flags::default(), &env, &GcloudProperties::default()).unwrap_err();
    assert!(e.to_string().starts_with("CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM='not a url' is not a URL"), "{e}");
}

/// gcloud's default `billing/quota_project` (CURRENT_PROJECT = the project)
/// goes with user credentials only; a named project (`--billing-project`,
/// GOOGLE_CLOUD_QUOTA_PROJECT, the property) with every credential; an ADC
/// file's quota_project_id beats the default but not a named project.
#[test]
fn quota_project_follows_gcloud() {
    let c = resolve(&Flags::default(), &[("CLOUDSDK_CORE_PROJECT", "acme-prod")]);
    assert_eq!(c.quota_project.for_credential(None, true).as_deref(), Some("acme-prod"));
    assert_eq!(c.quota_project.for_credential(None, false), None);
    assert_eq!(c.quota_project.for_credential(Some("adc-quota"), false).as_deref(), Some("adc-quota"));
    let c = resolve(
        &Flags::default(),
        &[("CLOUDSDK_CORE_PROJECT", "acme-prod"), ("CLOUDSDK_BILLING_QUOTA_PROJECT", "CURRENT_PROJECT")],
    );
    assert_eq!(c.quota_project.for_credential(None, true).as_deref(), Some("acme-prod"));
    let c = resolve(
        &Flags::default(),
        &[("CLOUDSDK_CORE_PROJECT", "acme-prod"), ("CLOUDSDK_BILLING_QUOTA_PROJECT", "LEGACY")],
    );
    assert_eq!(c.quota_project.for_credential(None, true), None);
    let flags = Flags { billing_project: Some("flag-bill".into()), ..Flags::default() };
    let c = resolve(&flags, &[("CLOUDSDK_CORE_PROJECT", "acme-prod"), ("GOOGLE_CLOUD_QUOTA_PROJECT", "env-bill")]);
    assert_eq!(c.quota_project.for_credential(Some("adc-quota"), false).as_deref(), Some("flag-bill"));
    let c = resolve(&Flags::default(), &[("GOOGLE_CLOUD_QUOTA_PROJECT", "env-bill")]);
    assert_eq!(c.quota_project.for_credential(Some("adc-quota"), false).as_deref(), Some("env-bill"));
    let c = resolve(&Flags::default(), &[("CLOUDSDK_BILLING_QUOTA_PROJECT", "named-bill")]);
    assert_eq!(c.quota_project.for_credential(None, false).as_deref(), Some("named-bill"));
}
