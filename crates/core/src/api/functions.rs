//! Cloud Functions v2: the project's functions, read for the blast radius
//! of a grant to the account they run as (docs/documents.md "Who else
//! gains access: the blast radius").
//!
//! The shapes (`functions.list` at `locations/-`: `functions`,
//! `nextPageToken`, `unreachable`; `Function.name`, `environment`,
//! `serviceConfig.serviceAccountEmail`, `serviceConfig.service`) and the
//! default runtime accounts are checked against Google's public REST
//! reference for Cloud Functions v2, unverified against a discovery
//! document (the repository carries none for this API).

use std::sync::Arc;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::config::Api;
use crate::http::{ApiError, Http, api_url};

/// The permission `functions.list` needs, named when the list cannot be read.
pub const LIST_PERMISSION: &str = "cloudfunctions.functions.list";

/// `Function`, with the fields runiam reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Function {
    /// `projects/P/locations/R/functions/F`.
    pub name: String,
    /// `GEN_1`, `GEN_2` or `ENVIRONMENT_UNSPECIFIED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_config: Option<ServiceConfig>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `ServiceConfig`: the runtime account and, for a 2nd gen function, the
/// Cloud Run service that serves it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_email: Option<String>,
    /// `projects/P/locations/R/services/S`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Function {
    pub fn is_gen2(&self) -> bool {
        self.environment.as_deref() == Some("GEN_2")
    }

    /// The account the function runs as: its `serviceAccountEmail`, else
    /// the generation's default — the App Engine default account
    /// (`PROJECT_ID@appspot.gserviceaccount.com`) for 1st gen, the default
    /// compute account (`NUMBER-compute@developer.gserviceaccount.com`,
    /// `None` when the number is unknown) for 2nd gen.
    pub fn runtime_account(&self, project_number: Option<&str>) -> Option<String> {
        let set = self.service_config.as_ref().and_then(|c| c.service_account_email.as_deref());
        if let Some(email) = set.filter(|e| !e.is_empty()) {
            return Some(email.to_owned());
        }
        if self.is_gen2() {
            return project_number.map(crate::model::default_compute_account);
        }
        let project = self.name.strip_prefix("projects/")?.split('/').next().filter(|p| !p.is_empty())?;
        Some(format!("{project}@appspot.gserviceaccount.com"))
    }

    /// The backing Cloud Run service of a 2nd gen function.
    pub fn run_service(&self) -> Option<&str> {
        let service = self.service_config.as_ref()?.service.as_deref().filter(|s| !s.is_empty())?;
        self.is_gen2().then_some(service)
    }
}

/// One page of `functions.list`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPage {
    #[serde(default)]
    pub functions: Vec<Function>,
    #[serde(default)]
    pub next_page_token: String,
    #[serde(default)]
    pub unreachable: Vec<String>,
}

/// Every function of a project, and the locations that could not be
/// listed (what was not seen, never "no functions there").
#[derive(Debug, Default)]
pub struct Listed {
    pub functions: Vec<Function>,
    pub unreachable: Vec<String>,
}

/// Cloud Functions API v2.
#[derive(Clone)]
pub struct CloudFunctions {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

impl CloudFunctions {
    /// `functions.list` of every location (`locations/-`), all pages.
    pub async fn list_all(&self, project: &str) -> Result<Listed, ApiError> {
        let url = api_url(&self.base, &["v2", "projects", project, "locations", "-", "functions"]);
        let mut out = Listed::default();
        let mut token = String::new();
        loop {
            let mut u = url.clone();
            u.query_pairs_mut().append_pair("pageSize", "1000");
            if !token.is_empty() {
                u.query_pairs_mut().append_pair("pageToken", &token);
            }
            let page: ListPage = self.http.json(Api::CloudFunctions, Method::GET, u, None).await?;
            out.functions.extend(page.functions);
            for l in page.unreachable {
                if !out.unreachable.contains(&l) {
                    out.unreachable.push(l);
                }
            }
            if page.next_page_token.is_empty() {
                return Ok(out);
            }
            token = page.next_page_token;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn function(v: Value) -> Function {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn runtime_accounts_and_backing_services() {
        let gen1 = function(json!({"name": "projects/p/locations/r/functions/old", "environment": "GEN_1"}));
        assert_eq!(gen1.runtime_account(Some("7")).as_deref(), Some("p@appspot.gserviceaccount.com"));
        assert_eq!(gen1.run_service(), None);
        let gen2 = function(json!({
            "name": "projects/p/locations/r/functions/new", "environment": "GEN_2",
            "serviceConfig": {"service": "projects/p/locations/r/services/new", "uri": "https://new"}
        }));
        assert_eq!(gen2.runtime_account(Some("7")).as_deref(), Some("7-compute@developer.gserviceaccount.com"));
        assert_eq!(gen2.runtime_account(None), None);
        assert_eq!(gen2.run_service(), Some("projects/p/locations/r/services/new"));
        let set = function(json!({
            "name": "projects/p/locations/r/functions/f", "environment": "GEN_2",
            "serviceConfig": {"serviceAccountEmail": "runner@p.iam.gserviceaccount.com"}
        }));
        assert_eq!(set.runtime_account(None).as_deref(), Some("runner@p.iam.gserviceaccount.com"));
        let page: ListPage = serde_json::from_value(json!({
            "functions": [{"name": "projects/p/locations/r/functions/f"}],
            "nextPageToken": "t", "unreachable": ["us-east1"]
        }))
        .unwrap();
        assert_eq!(
            (page.functions.len(), page.next_page_token.as_str(), page.unreachable),
            (1, "t", vec!["us-east1".to_owned()])
        );
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            prop_oneof![Just("GEN_1".to_owned()), Just("GEN_2".to_owned()), Just("projects/".to_owned()), ".{0,12}"]
                .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let keys = prop_oneof![
                Just("functions".to_owned()),
                Just("unreachable".to_owned()),
                Just("nextPageToken".to_owned()),
                Just("name".to_owned()),
                Just("environment".to_owned()),
                Just("serviceConfig".to_owned()),
                Just("serviceAccountEmail".to_owned()),
                Just("service".to_owned()),
                ".{0,8}"
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(keys, inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_page_parses_or_fails_without_panic(v in any_json(), number in proptest::option::of("[0-9]{1,4}")) {
            if let Ok(page) = serde_json::from_value::<ListPage>(v) {
                for f in &page.functions {
                    let _ = (f.runtime_account(number.as_deref()), f.run_service());
                }
            }
        }
    }
}
