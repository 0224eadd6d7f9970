//! Typed clients for the Google APIs runiam calls.
//!
//! Method paths, verbs, field names and enum spellings follow the discovery
//! discovery documents (the `*.json` Google publishes per API). Every resource type keeps the
//! fields it does not name in `extra`, so a read-modify-write never drops
//! what Google added.

pub mod access_context;
pub mod asset;
pub mod callers;
pub mod cloudidentity;
pub mod compute;
pub mod functions;
pub mod iam;
pub mod iam_v2;
pub mod iamcredentials;
pub mod logging;
pub mod monitoring;
pub mod network_management;
pub mod orgpolicy;
pub mod resourcemanager;
pub mod run;
pub mod troubleshooter;
pub mod vpcaccess;

use std::sync::Arc;

use crate::config::{Api, Config};
use crate::http::Http;

pub use access_context::AccessContext;
pub use asset::CloudAsset;
pub use callers::Callers;
pub use cloudidentity::CloudIdentity;
pub use compute::Compute;
pub use functions::CloudFunctions;
pub use iam::Iam;
pub use iam_v2::IamV2;
pub use iamcredentials::IamCredentials;
pub use logging::Logging;
pub use monitoring::Monitoring;
pub use network_management::NetworkManagement;
pub use orgpolicy::OrgPolicyApi;
pub use resourcemanager::ResourceManager;
pub use run::{RunV1, RunV2};
pub use troubleshooter::Troubleshooter;
pub use vpcaccess::VpcAccessApi;

/// One handle to every API client of a command, sharing one `Http`.
#[derive(Clone)]
pub struct Clients {
    pub http: Arc<Http>,
    pub run_v2: RunV2,
    pub run_v1: RunV1,
    pub resource_manager: ResourceManager,
    pub iam: Iam,
    pub iam_credentials: IamCredentials,
    pub iam_v2: IamV2,
    pub org_policy: OrgPolicyApi,
    pub cloud_identity: CloudIdentity,
    pub troubleshooter: Troubleshooter,
    pub logging: Logging,
    pub monitoring: Monitoring,
    pub callers: Callers,
    pub functions: CloudFunctions,
    pub compute: Compute,
    pub network_management: NetworkManagement,
    pub cloud_asset: CloudAsset,
    pub access_context: AccessContext,
    pub vpc_access: VpcAccessApi,
}

impl Clients {
    pub fn new(config: &Config, http: Arc<Http>) -> Self {
        Self {
            run_v2: RunV2 { http: http.clone(), base: config.endpoint(Api::Run).clone() },
            run_v1: RunV1 { http: http.clone(), base: config.endpoint(Api::Run).clone() },
            resource_manager: ResourceManager {
                http: http.clone(),
                base: config.endpoint(Api::CloudResourceManager).clone(),
            },
            iam: Iam { http: http.clone(), base: config.endpoint(Api::Iam).clone() },
            iam_credentials: IamCredentials { http: http.clone(), base: config.endpoint(Api::IamCredentials).clone() },
            iam_v2: IamV2 { http: http.clone(), base: config.endpoint(Api::Iam).clone() },
            org_policy: OrgPolicyApi { http: http.clone(), base: config.endpoint(Api::OrgPolicy).clone() },
            cloud_identity: CloudIdentity { http: http.clone(), base: config.endpoint(Api::CloudIdentity).clone() },
            troubleshooter: Troubleshooter {
                http: http.clone(),
                base: config.endpoint(Api::PolicyTroubleshooter).clone(),
            },
            logging: Logging { http: http.clone(), base: config.endpoint(Api::Logging).clone() },
            monitoring: Monitoring { http: http.clone(), base: config.endpoint(Api::Monitoring).clone() },
            compute: Compute { http: http.clone(), base: config.endpoint(Api::Compute).clone() },
            network_management: NetworkManagement {
                http: http.clone(),
                base: config.endpoint(Api::NetworkManagement).clone(),
            },
            callers: Callers {
                http: http.clone(),
                pubsub: config.endpoint(Api::PubSub).clone(),
                scheduler: config.endpoint(Api::CloudScheduler).clone(),
                eventarc: config.endpoint(Api::Eventarc).clone(),
                tasks: config.endpoint(Api::CloudTasks).clone(),
                workflows: config.endpoint(Api::Workflows).clone(),
            },
            functions: CloudFunctions { http: http.clone(), base: config.endpoint(Api::CloudFunctions).clone() },
            cloud_asset: CloudAsset { http: http.clone(), base: config.endpoint(Api::CloudAsset).clone() },
            access_context: AccessContext {
                http: http.clone(),
                base: config.endpoint(Api::AccessContextManager).clone(),
            },
            vpc_access: VpcAccessApi { http: http.clone(), base: config.endpoint(Api::VpcAccess).clone() },
            http,
        }
    }
}

/// Serde helper: `skip_serializing_if` for proto3 defaults.
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// Request body of every getIamPolicy that takes one: always ask for
/// version 3 so conditional bindings come back whole.
pub(crate) fn get_policy_options() -> serde_json::Value {
    serde_json::json!({"options": {"requestedPolicyVersion": 3}})
}

/// Body of setIamPolicy: the version the policy needs, its etag untouched.
pub(crate) fn set_policy_body(policy: &crate::model::Policy) -> serde_json::Value {
    let mut p = policy.clone();
    p.version = p.required_version();
    serde_json::json!({ "policy": p })
}
