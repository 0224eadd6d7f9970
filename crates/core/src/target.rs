//! Turning what a user typed into a `ServiceRef` (README.md, Commands): `NAME` with
//! `--project`/`--region`, `projects/P/locations/R/services/S`, or one of
//! the service's URLs.
//!
//! `NAME` without any region is looked up across regions with one Run v1
//! all-regions listing; more than one match is an error listing them.

use std::collections::BTreeSet;

use url::Url;

use crate::api::Clients;
use crate::config::Config;
use crate::error::{CommandError, Exit};
use crate::http::ApiError;
use crate::model::{ServiceRef, check_service_name};

/// What a SERVICE argument names, before any API call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceArg {
    /// `projects/P/locations/R/services/S`.
    Full(ServiceRef),
    /// A bare name, with the region when one is configured.
    Name { name: String, region: Option<String> },
    /// `https://NAME-NUMBER.REGION.run.app`, or the tag URL
    /// `https://TAG---NAME-NUMBER.REGION.run.app` (any path, any case).
    DeterministicUrl { name: String, project_number: String, region: String, tag: Option<String> },
    /// `https://REGION-PROJECT.cloudfunctions.net/NAME` (Cloud Run functions).
    FunctionUrl { name: String, project: String, region: String },
    /// Any other URL: the hash form `https://NAME-HASH-CODE.a.run.app`, or
    /// a custom audience.
    OtherUrl(Url),
}

/// Parses a SERVICE argument; malformed input is exit 2 naming the fix.
pub fn parse_service_arg(arg: &str, region: Option<&str>) -> Result<ServiceArg, CommandError> {
    if arg.starts_with("projects/") {
        return ServiceRef::parse_full_name(arg)
            .map(ServiceArg::Full)
            .map_err(|e| CommandError::usage(format!("SERVICE {e}")));
    }
    let scheme = arg.get(..8).unwrap_or(arg).to_ascii_lowercase();
    if scheme.starts_with("https://") || scheme.starts_with("http://") {
        let url = Url::parse(arg).map_err(|e| CommandError::usage(format!("SERVICE '{arg}' is not a URL: {e}")))?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        if let Some(prefix) = host.strip_suffix(".run.app")
            && let Some((label, region)) = prefix.split_once('.')
            && region != "a"
        {
            let (tag, label) = split_tag(label);
            if let Some((name, number)) = label.rsplit_once('-')
                && !number.is_empty()
                && number.chars().all(|c| c.is_ascii_digit())
            {
                return Ok(ServiceArg::DeterministicUrl {
                    name: name.to_owned(),
                    project_number: number.to_owned(),
                    region: region.to_owned(),
                    tag,
                });
            }
        }
        if let Some(prefix) = host.strip_suffix(".cloudfunctions.net")
            && let Some(name) = url.path_segments().and_then(|mut s| s.next()).filter(|n| !n.is_empty())
        {
            // REGION-PROJECT: regions have exactly one hyphen plus a digit suffix.
            let parts: Vec<&str> = prefix.splitn(3, '-').collect();
            if let [a, b, project] = parts.as_slice() {
                return Ok(ServiceArg::FunctionUrl {
                    name: name.to_owned(),
                    project: (*project).to_owned(),
                    region: format!("{a}-{b}"),
                });
            }
        }
        return Ok(ServiceArg::OtherUrl(url));
    }
    check_service_name(arg).map_err(|why| {
        CommandError::usage(format!("SERVICE '{arg}' is not a service name: {why}")).hinted(
            "name a service as NAME (with --region), projects/PROJECT/locations/REGION/services/NAME, or by its URL",
        )
    })?;
    Ok(ServiceArg::Name { name: arg.to_owned(), region: region.map(str::to_owned) })
}

/// `TAG---REST` → (`Some(TAG)`, `REST`); anything else is untagged.
fn split_tag(label: &str) -> (Option<String>, &str) {
    match label.split_once("---") {
        Some((tag, rest)) if !tag.is_empty() && !rest.is_empty() => (Some(tag.to_owned()), rest),
        _ => (None, label),
    }
}

/// Whether a pasted URL is served by a service with `service_urls` (its
/// [`crate::api::run::Service::all_urls`]): same scheme and host, case
/// aside, whatever the path; a tag URL `TAG---HOST` of one of them counts.
/// `Some(tag)` when it does (`None` inside for the untagged URL).
pub fn served_at(url: &Url, service_urls: &[String]) -> Option<Option<String>> {
    let host = url.host_str()?.to_ascii_lowercase();
    let (tag, bare) = split_tag(host.split('.').next().unwrap_or_default());
    let rest = &host[host.find('.').unwrap_or(host.len())..];
    for s in service_urls {
        let Ok(su) = Url::parse(s) else { continue };
        let Some(shost) = su.host_str().map(str::to_ascii_lowercase) else { continue };
        if su.scheme() != url.scheme() || su.port() != url.port() {
            continue;
        }
        if shost == host {
            // The service's own tag URLs (traffic statuses) name their tag.
            return Some(split_tag(host.split('.').next().unwrap_or_default()).0);
        }
        if tag.is_some() && shost == format!("{bare}{rest}") {
            return Some(tag);
        }
    }
    None
}

/// Maps a NOT_FOUND or INVALID_ARGUMENT answer about something the user
/// named to exit 2; anything else stays an API error.
pub fn user_named(e: ApiError, what: impl Into<String>) -> CommandError {
    let bad_input = e.status().is_some_and(|s| s.http == 404 || s.status == "INVALID_ARGUMENT");
    let mut err = CommandError::from(e).context(what.into());
    if bad_input {
        err.exit = Exit::Usage;
    }
    err
}

/// Resolves a SERVICE argument to a service that exists.
pub async fn resolve_service(arg: &str, config: &Config, clients: &Clients) -> Result<ServiceRef, CommandError> {
    let region = config.region.as_ref().map(|r| r.value.as_str());
    match parse_service_arg(arg, region)? {
        ServiceArg::Full(s) => Ok(s),
        ServiceArg::Name { name, region: Some(region) } => Ok(ServiceRef::new(config.project()?, &region, &name)),
        ServiceArg::Name { name, region: None } => {
            let project = config.project()?;
            let listing = clients
                .run_v1
                .list_services_all_regions(project)
                .await
                .map_err(|e| user_named(e, format!("cannot list the services of project {project}")))?;
            let regions: BTreeSet<&str> =
                listing.services.iter().filter(|s| s.metadata.name == name).filter_map(|s| s.region()).collect();
            match regions.len() {
                1 => Ok(ServiceRef::new(project, regions.first().expect("one region"), &name)),
                0 => Err(CommandError::usage(format!("no service named {name} in any region of project {project}"))
                    .hinted("check the name with `gcloud run services list`, or pass --project")),
                _ => Err(CommandError::usage(format!(
                    "service {name} exists in several regions of project {project}: {}",
                    regions.iter().copied().collect::<Vec<_>>().join(", ")
                ))
                .hinted("pick one with --region REGION")),
            }
        }
        ServiceArg::DeterministicUrl { name, project_number, region, tag } => {
            let project = clients
                .resource_manager
                .get_project(&project_number)
                .await
                .map_err(|e| user_named(e, format!("cannot find project number {project_number} of {arg}")))?;
            let mut s = ServiceRef::new(&project.project_id, &region, &name);
            s.project_number = Some(project_number);
            say_tag(arg, tag.as_deref(), &s);
            Ok(s)
        }
        ServiceArg::FunctionUrl { name, project, region } => Ok(ServiceRef::new(&project, &region, &name)),
        ServiceArg::OtherUrl(url) => {
            let project = config.project()?;
            let listing = clients
                .run_v1
                .list_services_all_regions(project)
                .await
                .map_err(|e| user_named(e, format!("cannot list the services of project {project}")))?;
            let wanted = url.as_str().trim_end_matches('/');
            for region in listing.services.iter().filter_map(|s| s.region()).collect::<BTreeSet<_>>() {
                let services = clients.run_v2.list_services(project, region).await?;
                for s in services {
                    let tag = match served_at(&url, &s.all_urls()) {
                        Some(tag) => tag,
                        None if s.custom_audiences.iter().any(|u| u.trim_end_matches('/') == wanted) => None,
                        None => continue,
                    };
                    let found = ServiceRef::parse_full_name(&s.name).map_err(|e| CommandError::api(e.to_string()))?;
                    say_tag(url.as_str(), tag.as_deref(), &found);
                    return Ok(found);
                }
            }
            Err(CommandError::usage(format!("no service of project {project} answers at {url}"))
                .hinted("pass the service's name, or the project that owns the URL with --project"))
        }
    }
}

/// A tag URL reaches one revision of the service: say which tag, on
/// stderr, where it cannot mix with the documents on stdout.
fn say_tag(arg: &str, tag: Option<&str>, service: &ServiceRef) {
    if let Some(tag) = tag {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "note: {arg} is the URL of traffic tag {tag} of {}", service.full_name());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_forms() {
        assert_eq!(
            parse_service_arg("hello", Some("europe-west1")).unwrap(),
            ServiceArg::Name { name: "hello".into(), region: Some("europe-west1".into()) }
        );
        assert_eq!(
            parse_service_arg("https://hello-100000000001.europe-west1.run.app/path", None).unwrap(),
            ServiceArg::DeterministicUrl {
                name: "hello".into(),
                project_number: "100000000001".into(),
                region: "europe-west1".into(),
                tag: None,
            }
        );
        assert_eq!(
            parse_service_arg("https://blue---my-svc-100000000001.us-central1.run.app", None).unwrap(),
            ServiceArg::DeterministicUrl {
                name: "my-svc".into(),
                project_number: "100000000001".into(),
                region: "us-central1".into(),
                tag: Some("blue".into()),
            }
        );
        assert_eq!(
            parse_service_arg("HTTPS://Hello-100000000001.Europe-West1.RUN.APP/", None).unwrap(),
            ServiceArg::DeterministicUrl {
                name: "hello".into(),
                project_number: "100000000001".into(),
                region: "europe-west1".into(),
                tag: None,
            }
        );
        assert!(matches!(
            parse_service_arg("https://hello-abcdefghij-ew.a.run.app", None).unwrap(),
            ServiceArg::OtherUrl(_)
        ));
        let e = parse_service_arg("Hello_World", None).unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.to_string().starts_with("SERVICE 'Hello_World' is not a service name"), "{e}");
        assert_eq!(parse_service_arg("projects/p/services/x", None).unwrap_err().exit, Exit::Usage);
    }

    proptest::proptest! {
        #[test]
        fn pasted_urls_never_panic(host in "[A-Za-z0-9.-]{0,40}", path in "[/a-z?=]{0,10}") {
            let arg = format!("https://{host}{path}");
            let _ = parse_service_arg(&arg, None);
            if let Ok(url) = Url::parse(&arg) {
                let _ = served_at(&url, &["https://a---b.c".to_owned(), "x".to_owned(), format!("https://{host}")]);
            }
        }
    }

    #[test]
    fn urls_as_users_paste_them() {
        let urls = vec![
            "https://checkout-abc123xyz-ew.a.run.app".to_owned(),
            "https://checkout-100000000001.europe-west1.run.app".to_owned(),
            "https://blue---checkout-abc123xyz-ew.a.run.app".to_owned(),
        ];
        let at = |u: &str| served_at(&Url::parse(u).unwrap(), &urls);
        assert_eq!(at("https://checkout-abc123xyz-ew.a.run.app/orders/42?x=1"), Some(None));
        assert_eq!(at("https://CHECKOUT-ABC123XYZ-EW.A.RUN.APP"), Some(None));
        assert_eq!(at("https://canary---checkout-abc123xyz-ew.a.run.app/api"), Some(Some("canary".into())));
        assert_eq!(at("https://blue---checkout-abc123xyz-ew.a.run.app"), Some(Some("blue".into())));
        assert_eq!(at("https://checkout-100000000001.europe-west1.run.app/"), Some(None));
        assert_eq!(at("https://checkout-abc123xyz-ew.a.run.app.evil.example"), None);
        assert_eq!(at("http://checkout-abc123xyz-ew.a.run.app"), None);
        assert_eq!(at("https://other-abc123xyz-ew.a.run.app"), None);
    }
}
