//! The Google services that call Cloud Run with OIDC tokens, read only
//! (reference gcp-api-wire-shapes §13): Pub/Sub push subscriptions, Cloud
//! Scheduler HTTP jobs, Eventarc triggers.

use std::sync::Arc;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::config::Api;
use crate::http::{ApiError, Http, api_url};

/// `OidcToken` of Pub/Sub push and Scheduler targets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcToken {
    #[serde(default)]
    pub service_account_email: String,
    /// Empty: the endpoint (push) or target URI (Scheduler) is used.
    #[serde(default)]
    pub audience: String,
}

impl OidcToken {
    /// The audience of the tokens sent to `called`: the configured one,
    /// else the endpoint or target URI itself, path included.
    pub fn audience_for<'a>(&'a self, called: &'a str) -> &'a str {
        if self.audience.is_empty() { called } else { &self.audience }
    }
}

/// Whether `url` (a push endpoint, a job target) is one of `service_urls`, any path.
pub fn calls(url: &str, service_urls: &[String]) -> bool {
    let u = url.trim_end_matches('/');
    service_urls.iter().any(|s| u == s || u.strip_prefix(s.as_str()).is_some_and(|rest| rest.starts_with(['/', '?'])))
}

/// How a configured caller reaches a service with a service account's
/// OIDC tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Where it is configured (`Pub/Sub subscription projects/P/subscriptions/S`).
    pub what: String,
    /// The URL it calls.
    pub url: String,
    /// The audience of its tokens.
    pub audience: String,
}

/// Which product makes an [`OidcCall`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    PubSubPush,
    Scheduler,
}

/// A push subscription or Scheduler job that calls a service with a
/// service account's OIDC tokens.
#[derive(Clone, Copy, Debug)]
pub struct OidcCall<'a> {
    pub via: Via,
    /// The subscription's or job's full name.
    pub name: &'a str,
    /// The push endpoint or target URI.
    pub url: &'a str,
    pub oidc: &'a OidcToken,
}

/// The push subscriptions and Scheduler jobs that call one of
/// `service_urls` with some service account's OIDC tokens: what
/// troubleshoot checks each caller's configuration from, and whose
/// audience verify proves a caller with.
pub fn oidc_calls<'a>(
    service_urls: &'a [String],
    subscriptions: &'a [Subscription],
    jobs: &'a [Job],
) -> impl Iterator<Item = OidcCall<'a>> {
    let pushes = subscriptions.iter().filter_map(|s| {
        let push = s.push_config.as_ref()?;
        let oidc = push.oidc_token.as_ref()?;
        Some(OidcCall { via: Via::PubSubPush, name: &s.name, url: &push.push_endpoint, oidc })
    });
    let targets = jobs.iter().filter_map(|j| {
        let t = j.http_target.as_ref()?;
        Some(OidcCall { via: Via::Scheduler, name: &j.name, url: &t.uri, oidc: t.oidc_token.as_ref()? })
    });
    pushes.chain(targets).filter(move |c| !c.oidc.service_account_email.is_empty() && calls(c.url, service_urls))
}

/// The routes of `email` among [`oidc_calls`].
pub fn routes(email: &str, service_urls: &[String], subscriptions: &[Subscription], jobs: &[Job]) -> Vec<Route> {
    oidc_calls(service_urls, subscriptions, jobs)
        .filter(|c| c.oidc.service_account_email == email)
        .map(|c| Route {
            what: match c.via {
                Via::PubSubPush => format!("Pub/Sub subscription {}", c.name),
                Via::Scheduler => format!("Cloud Scheduler job {}", c.name),
            },
            url: c.url.to_owned(),
            audience: c.oidc.audience_for(c.url).to_owned(),
        })
        .collect()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushConfig {
    #[serde(default)]
    pub push_endpoint: String,
    #[serde(default)]
    pub oidc_token: Option<OidcToken>,
}

/// Pub/Sub `Subscription`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub name: String,
    #[serde(default)]
    pub push_config: Option<PushConfig>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpTarget {
    #[serde(default)]
    pub uri: String,
    #[serde(default)]
    pub oidc_token: Option<OidcToken>,
}

/// Cloud Scheduler `Job`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub name: String,
    #[serde(default)]
    pub http_target: Option<HttpTarget>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudRunDestination {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    #[serde(default)]
    pub cloud_run: Option<CloudRunDestination>,
}

/// Eventarc `Trigger`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    pub name: String,
    #[serde(default)]
    pub service_account: Option<String>,
    #[serde(default)]
    pub destination: Option<Destination>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A list read in every location of a project: the items, how many
/// locations were read, and the reads that failed (where, why). A failed
/// read is never an empty list: the caller says what it could not see.
#[derive(Debug, Default)]
pub struct Everywhere<T> {
    pub items: Vec<T>,
    pub locations: usize,
    pub failed: Vec<(String, ApiError)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    #[serde(default)]
    location_id: String,
}

/// Pub/Sub, Cloud Scheduler and Eventarc, for listing callers.
#[derive(Clone)]
pub struct Callers {
    pub(crate) http: Arc<Http>,
    pub(crate) pubsub: Url,
    pub(crate) scheduler: Url,
    pub(crate) eventarc: Url,
}

impl Callers {
    /// Every item of a paged list (`field` holds them, `nextPageToken` pages).
    async fn all<T: serde::de::DeserializeOwned>(&self, api: Api, url: Url, field: &str) -> Result<Vec<T>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut u = url.clone();
            u.query_pairs_mut().append_pair("pageSize", "1000");
            if let Some(t) = &token {
                u.query_pairs_mut().append_pair("pageToken", t);
            }
            let mut page: Map<String, Value> = self.http.json(api, Method::GET, u, None).await?;
            if let Some(items) = page.remove(field) {
                let items: Vec<T> = serde_json::from_value(items).map_err(|e| ApiError::Decode {
                    api,
                    method: "GET".into(),
                    url: url.to_string(),
                    detail: e.to_string(),
                })?;
                out.extend(items);
            }
            match page.get("nextPageToken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(out),
            }
        }
    }

    pub async fn subscriptions(&self, project: &str) -> Result<Vec<Subscription>, ApiError> {
        let url = api_url(&self.pubsub, &["v1", "projects", project, "subscriptions"]);
        self.all(Api::PubSub, url, "subscriptions").await
    }

    pub async fn scheduler_jobs(&self, project: &str, location: &str) -> Result<Vec<Job>, ApiError> {
        let url = api_url(&self.scheduler, &["v1", "projects", project, "locations", location, "jobs"]);
        self.all(Api::CloudScheduler, url, "jobs").await
    }

    pub async fn eventarc_triggers(&self, project: &str, location: &str) -> Result<Vec<Trigger>, ApiError> {
        let url = api_url(&self.eventarc, &["v1", "projects", project, "locations", location, "triggers"]);
        self.all(Api::Eventarc, url, "triggers").await
    }

    /// Every Scheduler job of the project, whatever its location: jobs
    /// target services in any region.
    pub async fn scheduler_jobs_everywhere(&self, project: &str) -> Everywhere<Job> {
        self.everywhere(Api::CloudScheduler, &self.scheduler, project, "jobs").await
    }

    /// Every Eventarc trigger of the project, whatever its location.
    pub async fn eventarc_triggers_everywhere(&self, project: &str) -> Everywhere<Trigger> {
        self.everywhere(Api::Eventarc, &self.eventarc, project, "triggers").await
    }

    /// `locations.list` of the API, then `field` in each location, concurrently.
    async fn everywhere<T: serde::de::DeserializeOwned>(
        &self,
        api: Api,
        base: &Url,
        project: &str,
        field: &str,
    ) -> Everywhere<T> {
        let listed = api_url(base, &["v1", "projects", project, "locations"]);
        let locations: Vec<Location> = match self.all(api, listed, "locations").await {
            Ok(l) => l,
            Err(e) => {
                return Everywhere {
                    items: Vec::new(),
                    locations: 0,
                    failed: vec![(format!("the locations of projects/{project}"), e)],
                };
            }
        };
        let reads = futures::future::join_all(locations.iter().filter(|l| !l.location_id.is_empty()).map(|l| async {
            let url = api_url(base, &["v1", "projects", project, "locations", &l.location_id, field]);
            (l.location_id.clone(), self.all::<T>(api, url, field).await)
        }))
        .await;
        let mut out = Everywhere { items: Vec::new(), locations: 0, failed: Vec::new() };
        for (location, read) in reads {
            match read {
                Ok(items) => {
                    out.locations += 1;
                    out.items.extend(items);
                }
                Err(e) => out.failed.push((format!("projects/{project}/locations/{location}"), e)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_the_accounts_configured_calls_with_their_audiences() {
        let urls = vec!["https://api-1.r.run.app".to_owned()];
        let oidc = |email: &str, audience: &str| {
            Some(OidcToken { service_account_email: email.into(), audience: audience.into() })
        };
        let subscriptions = vec![
            Subscription {
                name: "projects/p/subscriptions/s".into(),
                push_config: Some(PushConfig {
                    push_endpoint: "https://api-1.r.run.app/push".into(),
                    oidc_token: oidc("a@p", ""),
                }),
                extra: Map::new(),
            },
            Subscription {
                name: "projects/p/subscriptions/elsewhere".into(),
                push_config: Some(PushConfig {
                    push_endpoint: "https://api-1.r.run.app.evil/".into(),
                    oidc_token: oidc("a@p", ""),
                }),
                extra: Map::new(),
            },
        ];
        let jobs = vec![Job {
            name: "projects/p/locations/r/jobs/j".into(),
            http_target: Some(HttpTarget { uri: "https://api-1.r.run.app".into(), oidc_token: oidc("b@p", "custom") }),
            extra: Map::new(),
        }];
        assert_eq!(
            routes("a@p", &urls, &subscriptions, &jobs),
            [Route {
                what: "Pub/Sub subscription projects/p/subscriptions/s".into(),
                url: "https://api-1.r.run.app/push".into(),
                audience: "https://api-1.r.run.app/push".into(),
            }]
        );
        assert_eq!(routes("b@p", &urls, &subscriptions, &jobs)[0].audience, "custom");
        assert!(routes("c@p", &urls, &subscriptions, &jobs).is_empty());
    }
}
