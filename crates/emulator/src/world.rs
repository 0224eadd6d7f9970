//! The world file (docs/emulator.md): the whole estate the emulator serves, read
//! once at start, checked field by field, and completed with the values
//! Google would derive (project numbers, service URLs, unique ids).
//!
//! Every part of the world format is kept, including the parts that later issues serve
//! (deny policies, org policies, groups, log entries, Pub/Sub, Scheduler, Cloud Tasks, Workflows,
//! Eventarc, the operator and the metadata identity), so the file format
//! never changes under them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use runiam_core::CommandError;
use runiam_core::ingress::Ingress;
use runiam_core::model::{Expr, Policy, Principal, check_project_id, check_region, check_service_name};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The estate: organization, folders, projects and what lives in them.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct World {
    #[serde(default)]
    pub organization: Option<Organization>,
    #[serde(default)]
    pub folders: Vec<Folder>,
    #[serde(default)]
    pub projects: Vec<Project>,
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default)]
    pub deny_policies: Vec<DenyPolicy>,
    #[serde(default)]
    pub org_policies: Vec<OrgPolicy>,
    /// The organization's access policies and service perimeters (crate::access_policy).
    #[serde(default)]
    pub access_policies: Vec<crate::access_policy::AccessPolicy>,
    /// The identity API calls run as; when set, a later evaluator enforces
    /// its permissions.
    #[serde(default)]
    pub operator: Option<String>,
    /// Whom the metadata server speaks for.
    #[serde(default)]
    pub metadata_identity: Option<String>,
    #[serde(default)]
    pub cloud_identity: CloudIdentity,
    /// LogEntry JSON, appended to what the emulator itself logs.
    #[serde(default)]
    pub log_entries: Vec<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Organization {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub customer_id: String,
    #[serde(default)]
    pub iam_policy: Policy,
    /// `organizations/N/roles/X`, answered by IAM `roles.get`.
    #[serde(default)]
    pub custom_roles: Vec<CustomRole>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Folder {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// `organizations/N` or `folders/N`.
    #[serde(default)]
    pub parent: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub iam_policy: Policy,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Project {
    pub id: String,
    /// Derived from the id when absent.
    #[serde(default, deserialize_with = "id_string")]
    pub number: String,
    /// `organizations/N` or `folders/N`; none for a project outside any org.
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub iam_policy: Policy,
    #[serde(default)]
    pub custom_roles: Vec<CustomRole>,
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccount>,
    #[serde(default)]
    pub pubsub_subscriptions: Vec<PubsubSubscription>,
    #[serde(default)]
    pub scheduler_jobs: Vec<SchedulerJob>,
    #[serde(default)]
    pub eventarc_triggers: Vec<EventarcTrigger>,
    #[serde(default)]
    pub cloud_tasks_queues: Vec<TasksQueue>,
    #[serde(default)]
    pub workflows: Vec<Workflow>,
    #[serde(default)]
    pub services: Vec<Service>,
    /// Subnetworks, instances, connectors and the Shared VPC host
    /// (crate::vpc; Compute shapes unverified).
    #[serde(default)]
    pub subnetworks: Vec<crate::vpc::Subnetwork>,
    #[serde(default)]
    pub instances: Vec<crate::vpc::Instance>,
    #[serde(default)]
    pub vpc_connectors: Vec<crate::vpc::Connector>,
    /// Cloud Run jobs: callers (their VPC access) and workloads of the
    /// blast radius (the account their tasks run as); crate::vpc.
    #[serde(default)]
    pub run_jobs: Vec<crate::vpc::RunJob>,
    /// Cloud Functions: workloads of the blast radius (the account they
    /// run as; a 2nd gen function's backing Cloud Run service).
    #[serde(default)]
    pub cloud_functions: Vec<CloudFunction>,
    /// The Shared VPC host project this project is attached to.
    #[serde(default)]
    pub shared_vpc_host: Option<String>,
    /// A test knob: caller APIs (by host, `cloudscheduler.googleapis.com`)
    /// that answer every read in this project with an error instead.
    #[serde(default)]
    pub api_errors: BTreeMap<String, ApiFault>,
}

/// How an API of [`Project::api_errors`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ApiFault {
    /// 403 with reason `SERVICE_DISABLED`, as for an API not enabled.
    Disabled,
    /// 404 `NOT_FOUND`.
    NotFound,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomRole {
    /// `projects/P/roles/X` or `organizations/N/roles/X`.
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub included_permissions: Vec<String>,
    /// `ALPHA`, `BETA`, `GA`, ...; GA when absent.
    #[serde(default)]
    pub stage: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccount {
    pub email: String,
    /// Derived from the email when absent.
    #[serde(default, deserialize_with = "id_string")]
    pub unique_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    /// Who may act as, or mint tokens for, this account.
    #[serde(default)]
    pub iam_policy: Policy,
    /// Its user-managed keys (IAM `serviceAccounts.keys.list`).
    #[serde(default)]
    pub keys: Vec<AccountKey>,
}

/// A user-managed key of a service account.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountKey {
    /// The key's id, the last segment of its name.
    pub id: String,
    #[serde(default)]
    pub valid_after_time: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcToken {
    pub service_account_email: String,
    #[serde(default)]
    pub audience: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushConfig {
    pub push_endpoint: String,
    #[serde(default)]
    pub oidc_token: Option<OidcToken>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PubsubSubscription {
    pub name: String,
    pub topic: String,
    #[serde(default)]
    pub push_config: Option<PushConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpTarget {
    pub uri: String,
    #[serde(default)]
    pub http_method: Option<String>,
    #[serde(default)]
    pub oidc_token: Option<OidcToken>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchedulerJob {
    pub name: String,
    pub region: String,
    pub http_target: HttpTarget,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudRunDestination {
    pub service: String,
    pub region: String,
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Destination {
    pub cloud_run: CloudRunDestination,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventarcTrigger {
    pub name: String,
    pub region: String,
    #[serde(default)]
    pub service_account: Option<String>,
    pub destination: Destination,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathOverride {
    pub path: String,
}

/// A queue's `uriOverride`, in the API's shape.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UriOverride {
    /// `HTTP` or `HTTPS`.
    #[serde(default)]
    pub scheme: Option<String>,
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub path_override: Option<PathOverride>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueHttpTarget {
    #[serde(default)]
    pub uri_override: Option<UriOverride>,
    #[serde(default)]
    pub http_method: Option<String>,
    #[serde(default)]
    pub oidc_token: Option<OidcToken>,
}

/// A Cloud Tasks queue; its `httpTarget` applies to every HTTP task.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TasksQueue {
    pub name: String,
    pub region: String,
    #[serde(default)]
    pub http_target: Option<QueueHttpTarget>,
    /// The tasks still queued (dispatched ones are gone from the API).
    #[serde(default)]
    pub tasks: Vec<QueuedTask>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskHttpRequest {
    pub url: String,
    #[serde(default)]
    pub http_method: Option<String>,
    #[serde(default)]
    pub oidc_token: Option<OidcToken>,
}

/// An HTTP task waiting in its queue.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueuedTask {
    pub name: String,
    pub http_request: TaskHttpRequest,
}

/// A deployed workflow.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Workflow {
    pub name: String,
    pub region: String,
    /// An email; the project's default compute account when absent.
    #[serde(default)]
    pub service_account: Option<String>,
    /// The definition, YAML or JSON, as deployed.
    pub source_contents: String,
}

/// A deployed Cloud Function (v2's `Function`, with what runiam reads).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudFunction {
    pub name: String,
    pub region: String,
    pub environment: FunctionEnvironment,
    /// An email; absent, the function runs as its generation's default
    /// account, and `functions.list` names none (as runiam must infer it).
    #[serde(default)]
    pub service_account: Option<String>,
    /// A 2nd gen function's backing Cloud Run service, by name, in the
    /// function's region.
    #[serde(default)]
    pub service: Option<String>,
}

/// A function's generation, spelled as the API spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum FunctionEnvironment {
    #[serde(rename = "GEN_1")]
    Gen1,
    #[serde(rename = "GEN_2")]
    Gen2,
}

/// One traffic target, in the API's shape (`GoogleCloudRunV2TrafficTarget`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficTarget {
    /// `TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST` or `..._REVISION`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub revision: Option<String>,
    #[serde(default)]
    pub percent: i32,
    #[serde(default)]
    pub tag: Option<String>,
}

/// A failed Ready condition (`GoogleCloudRunV2Condition`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailedCondition {
    /// A `revisionReason` (`HEALTH_CHECK_CONTAINER_ERROR`) or a common
    /// `reason` (`CONTAINER_MISSING`).
    pub reason: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    pub name: String,
    pub region: String,
    /// API enum name; `INGRESS_TRAFFIC_ALL` when absent.
    #[serde(default)]
    pub ingress: Option<String>,
    #[serde(default)]
    pub invoker_iam_disabled: bool,
    #[serde(default)]
    pub default_uri_disabled: bool,
    #[serde(default)]
    pub iap_enabled: bool,
    #[serde(default)]
    pub custom_audiences: Vec<String>,
    /// The revision template's `vpcAccess`, as Run v2 writes it.
    #[serde(default)]
    pub vpc_access: Option<runiam_core::api::run::VpcAccess>,
    /// Runtime identity; the project's default compute account when absent.
    #[serde(default)]
    pub service_account: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// All traffic to the latest revision when absent.
    #[serde(default)]
    pub traffic: Vec<TrafficTarget>,
    #[serde(default)]
    pub iam_policy: Policy,
    /// A service whose latest revision failed: its Ready condition is
    /// CONDITION_FAILED with this reason and message, and it has no ready
    /// revision.
    #[serde(default)]
    pub failed: Option<FailedCondition>,
    /// Bumped by each services.patch; it moves the service's etag.
    #[serde(skip)]
    pub generation: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Group {
    pub email: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Members in allow-policy form (`user:`, `serviceAccount:`, `group:`).
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DenyRule {
    #[serde(default)]
    pub denied_principals: Vec<String>,
    #[serde(default)]
    pub denied_permissions: Vec<String>,
    #[serde(default)]
    pub exception_principals: Vec<String>,
    #[serde(default)]
    pub exception_permissions: Vec<String>,
    #[serde(default)]
    pub denial_condition: Option<Expr>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DenyPolicy {
    /// `projects/ID`, `folders/N` or `organizations/N`.
    pub attachment_point: String,
    pub policy_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub rules: Vec<DenyRule>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgPolicy {
    /// `organizations/N`, `folders/N` or `projects/ID`.
    pub parent: String,
    /// `iam.allowedPolicyMemberDomains`, ...
    pub constraint: String,
    #[serde(default)]
    pub allowed_values: Vec<String>,
    #[serde(default)]
    pub denied_values: Vec<String>,
    /// For boolean constraints.
    #[serde(default)]
    pub enforce: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudIdentity {
    /// False: `checkTransitiveMembership` answers 403, as on non-Premium editions.
    #[serde(default = "yes")]
    pub transitive_membership: bool,
    /// False: every Cloud Identity call answers 403, as Google does for a
    /// caller (an application team's operator) who may not see the
    /// directory's groups.
    #[serde(default = "yes")]
    pub readable: bool,
}

impl Default for CloudIdentity {
    fn default() -> Self {
        Self { transitive_membership: true, readable: true }
    }
}

fn yes() -> bool {
    true
}

/// Ids may be written as YAML numbers; Google's JSON has them as strings.
fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) if n.is_u64() => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("expected digits as a string, found {other}"))),
    }
}

const TRAFFIC_TYPES: [&str; 2] = ["TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"];

impl Service {
    /// The ingress setting, all by default (the world file is checked, so
    /// the name is one of the four).
    pub fn ingress(&self) -> Ingress {
        Ingress::from_v2(self.ingress.as_deref()).unwrap_or(Ingress::None)
    }

    /// The image of the only container.
    pub fn image(&self) -> &str {
        self.image.as_deref().unwrap_or("us-docker.pkg.dev/cloudrun/container/hello")
    }
}

impl Project {
    pub fn service(&self, region: &str, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.region == region && s.name == name)
    }

    /// The project's default compute service account, Cloud Run's default
    /// runtime identity.
    pub fn default_compute_account(&self) -> String {
        runiam_core::model::default_compute_account(&self.number)
    }
}

impl World {
    /// A project by id or number.
    pub fn project(&self, id_or_number: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id_or_number || p.number == id_or_number)
    }

    pub fn folder(&self, id: &str) -> Option<&Folder> {
        self.folders.iter().find(|f| f.id == id)
    }

    /// The organization with this numeric id.
    pub fn organization(&self, id: &str) -> Option<&Organization> {
        self.organization.as_ref().filter(|o| o.id == id)
    }

    /// A service account by email, with its project.
    pub fn service_account(&self, email: &str) -> Option<(&Project, &ServiceAccount)> {
        self.projects
            .iter()
            .find_map(|p| p.service_accounts.iter().find(|a| a.email == email || a.unique_id == email).map(|a| (p, a)))
    }

    /// Every region some service of the world runs in.
    pub fn regions(&self) -> BTreeSet<&str> {
        self.projects.iter().flat_map(|p| p.services.iter().map(|s| s.region.as_str())).collect()
    }

    /// Parses and checks a world file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, CommandError> {
        let options = serde_saphyr::options! { strict_booleans: true };
        let value: Value = serde_saphyr::from_str_with_options(text, options)
            .map_err(|e| CommandError::usage(format!("{origin}: not a valid YAML world file: {e}")))?;
        // An empty file is an empty world.
        let value = if value.is_null() { Value::Object(Default::default()) } else { value };
        Self::from_value(value, origin)
    }

    /// Checks a world already parsed (a generated estate of any size: a
    /// file's YAML parser budgets its nodes).
    pub fn from_value(value: Value, origin: &str) -> Result<Self, CommandError> {
        let mut world: World = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            // serde names a missing field in the message, not in the path.
            let (field, message) = match missing_field(&inner) {
                Some(f) if path == "." => (f.to_owned(), format!("missing field `{f}`")),
                Some(f) => (format!("{path}.{f}"), format!("missing field `{f}`")),
                None => (path, inner),
            };
            CommandError::usage(format!("{origin}: {field}: {message}"))
        })?;
        world.complete();
        world.check().map_err(|(field, why)| CommandError::usage(format!("{origin}: {field}: {why}")))?;
        Ok(world)
    }

    /// Fills what Google derives: project numbers and unique ids.
    fn complete(&mut self) {
        for p in &mut self.projects {
            if p.number.is_empty() {
                p.number = derive_project_number(&p.id);
            }
            for a in &mut p.service_accounts {
                if a.unique_id.is_empty() {
                    a.unique_id = derive_unique_id(&a.email);
                }
            }
        }
    }

    /// Checks what serde cannot: names, references, members; the error
    /// names the field (`projects[1].services[0].region`) and why.
    fn check(&self) -> Result<(), (String, String)> {
        let containers = self.check_containers()?;
        let mut ids = BTreeSet::new();
        let mut numbers = BTreeSet::new();
        for (i, p) in self.projects.iter().enumerate() {
            let at = |field: &str| format!("projects[{i}].{field}");
            if !ids.insert(p.id.as_str()) {
                return Err((at("id"), format!("project {} is declared twice", p.id)));
            }
            if !numbers.insert(p.number.as_str()) {
                return Err((at("number"), format!("project number {} is used twice", p.number)));
            }
            check_project(p, &containers).map_err(|(field, why)| (at(&field), why))?;
        }
        for (i, g) in self.groups.iter().enumerate() {
            email(&g.email).map_err(|why| (format!("groups[{i}].email"), why))?;
            for (j, m) in g.members.iter().enumerate() {
                Principal::parse(m).map_err(|e| (format!("groups[{i}].members[{j}]"), e.why))?;
            }
        }
        for (i, d) in self.deny_policies.iter().enumerate() {
            check_attachment(&d.attachment_point, self)
                .map_err(|why| (format!("denyPolicies[{i}].attachmentPoint"), why))?;
        }
        for (i, o) in self.org_policies.iter().enumerate() {
            check_attachment(&o.parent, self).map_err(|why| (format!("orgPolicies[{i}].parent"), why))?;
        }
        for (i, a) in self.access_policies.iter().enumerate() {
            crate::access_policy::check(self.organization.as_ref().map(|o| o.id.as_str()), a)
                .map_err(|(field, why)| (format!("accessPolicies[{i}].{field}"), why))?;
        }
        if let Some(op) = &self.operator {
            Principal::parse(op).map_err(|e| ("operator".to_owned(), e.why))?;
        }
        if let Some(m) = &self.metadata_identity {
            email(m).map_err(|why| ("metadataIdentity".to_owned(), why))?;
        }
        Ok(())
    }

    /// The organization and folders; returns the resource names projects
    /// may name as parents.
    fn check_containers(&self) -> Result<BTreeSet<String>, (String, String)> {
        let mut containers = BTreeSet::new();
        if let Some(o) = &self.organization {
            digits(&o.id).map_err(|why| ("organization.id".to_owned(), why))?;
            check_policy(&o.iam_policy, "organization.iamPolicy")?;
            for (i, r) in o.custom_roles.iter().enumerate() {
                let prefix = format!("organizations/{}/roles/", o.id);
                check_role_name(&r.name, &prefix)
                    .map_err(|why| (format!("organization.customRoles[{i}].name"), why))?;
            }
            containers.insert(format!("organizations/{}", o.id));
        }
        for (i, f) in self.folders.iter().enumerate() {
            digits(&f.id).map_err(|why| (format!("folders[{i}].id"), why))?;
            if !containers.insert(format!("folders/{}", f.id)) {
                return Err((format!("folders[{i}].id"), format!("folder {} is declared twice", f.id)));
            }
        }
        // Parents may name folders declared later, so check them after all are known.
        for (i, f) in self.folders.iter().enumerate() {
            check_parent(&f.parent, &containers).map_err(|why| (format!("folders[{i}].parent"), why))?;
            check_policy(&f.iam_policy, &format!("folders[{i}].iamPolicy"))?;
        }
        Ok(containers)
    }
}

/// One project's own fields and what it holds; errors name the field
/// below the project.
fn check_project(p: &Project, containers: &BTreeSet<String>) -> Result<(), (String, String)> {
    check_project_id(&p.id)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            if p.id.chars().all(|c| c.is_ascii_digit()) {
                Err(format!("project id '{}' must start with a letter; put numbers in `number`", p.id))
            } else {
                Ok(())
            }
        })
        .map_err(|why| ("id".to_owned(), why))?;
    digits(&p.number).map_err(|why| ("number".to_owned(), why))?;
    if let Some(parent) = &p.parent {
        check_parent(parent, containers).map_err(|why| ("parent".to_owned(), why))?;
    }
    check_policy(&p.iam_policy, "iamPolicy")?;
    for (j, r) in p.custom_roles.iter().enumerate() {
        let prefix = format!("projects/{}/roles/", p.id);
        check_role_name(&r.name, &prefix).map_err(|why| (format!("customRoles[{j}].name"), why))?;
    }
    for (j, a) in p.service_accounts.iter().enumerate() {
        email(&a.email).map_err(|why| (format!("serviceAccounts[{j}].email"), why))?;
        digits(&a.unique_id).map_err(|why| (format!("serviceAccounts[{j}].uniqueId"), why))?;
        check_policy(&a.iam_policy, &format!("serviceAccounts[{j}].iamPolicy"))?;
    }
    for (j, job) in p.scheduler_jobs.iter().enumerate() {
        check_region(&job.region).map_err(|why| (format!("schedulerJobs[{j}].region"), why.to_string()))?;
    }
    for (j, t) in p.eventarc_triggers.iter().enumerate() {
        check_region(&t.region).map_err(|why| (format!("eventarcTriggers[{j}].region"), why.to_string()))?;
        check_region(&t.destination.cloud_run.region)
            .map_err(|why| (format!("eventarcTriggers[{j}].destination.cloudRun.region"), why.to_string()))?;
    }
    check_tasks_and_workflows(p)?;
    crate::vpc::check(&p.subnetworks, &p.vpc_connectors, &p.instances)?;
    crate::vpc::check_jobs(&p.run_jobs)?;
    for (j, f) in p.cloud_functions.iter().enumerate() {
        check_region(&f.region).map_err(|why| (format!("cloudFunctions[{j}].region"), why.to_string()))?;
        if f.service.is_some() && f.environment == FunctionEnvironment::Gen1 {
            return Err((
                format!("cloudFunctions[{j}].service"),
                "only a GEN_2 function is served by a Cloud Run service; remove it or set environment GEN_2".into(),
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for (j, s) in p.services.iter().enumerate() {
        if !seen.insert((s.region.as_str(), s.name.as_str())) {
            return Err((
                format!("services[{j}].name"),
                format!("service {} is declared twice in {}", s.name, s.region),
            ));
        }
        check_service(s).map_err(|(field, why)| (format!("services[{j}].{field}"), why))?;
    }
    Ok(())
}

/// One service's fields; errors name the field below the service.
fn check_service(s: &Service) -> Result<(), (String, String)> {
    check_service_name(&s.name).map_err(|why| ("name".to_owned(), why.to_string()))?;
    check_region(&s.region).map_err(|why| ("region".to_owned(), why.to_string()))?;
    if let Some(why) = s.vpc_access.as_ref().and_then(|v| v.egress_problem()) {
        return Err(("vpcAccess.egress".into(), why));
    }
    if let Err(e) = Ingress::from_v2(s.ingress.as_deref()) {
        let names: Vec<&str> = Ingress::ALL.iter().map(|i| i.v2()).collect();
        return Err(("ingress".to_owned(), format!("'{}' is not one of {}", e.0, names.join(", "))));
    }
    for (k, t) in s.traffic.iter().enumerate() {
        if let Some(kind) = &t.kind
            && !TRAFFIC_TYPES.contains(&kind.as_str())
        {
            return Err((format!("traffic[{k}].type"), format!("'{kind}' is not one of {}", TRAFFIC_TYPES.join(", "))));
        }
        if !(0..=100).contains(&t.percent) {
            return Err((format!("traffic[{k}].percent"), "must be between 0 and 100".to_owned()));
        }
    }
    check_policy(&s.iam_policy, "iamPolicy")
}

fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Queues and workflows as their APIs accept them: a known region, a
/// name unique in it, a host to call, a definition that parses.
fn check_tasks_and_workflows(p: &Project) -> Result<(), (String, String)> {
    let name_ok = |n: &str, max: usize| {
        if !n.is_empty() && n.len() <= max && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            Ok(())
        } else {
            Err(format!("'{n}' must be 1 to {max} letters, digits, '-' or '_'"))
        }
    };
    let mut seen = BTreeSet::new();
    for (j, q) in p.cloud_tasks_queues.iter().enumerate() {
        let at = |field: &str| format!("cloudTasksQueues[{j}].{field}");
        check_region(&q.region).map_err(|why| (at("region"), why.to_string()))?;
        name_ok(&q.name, 100).map_err(|why| (at("name"), why))?;
        if !seen.insert((q.region.as_str(), q.name.as_str())) {
            return Err((at("name"), format!("queue {} is declared twice in {}", q.name, q.region)));
        }
        for (k, task) in q.tasks.iter().enumerate() {
            let at = |field: &str| at(&format!("tasks[{k}].{field}"));
            name_ok(&task.name, 500).map_err(|why| (at("name"), why))?;
            let url = &task.http_request.url;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err((at("httpRequest.url"), format!("'{url}' must begin with http:// or https://")));
            }
            if let Some(oidc) = &task.http_request.oidc_token {
                email(&oidc.service_account_email)
                    .map_err(|why| (at("httpRequest.oidcToken.serviceAccountEmail"), why))?;
            }
        }
        let Some(t) = &q.http_target else { continue };
        if let Some(o) = &t.uri_override {
            if o.host.is_empty() {
                return Err((at("httpTarget.uriOverride.host"), "must not be empty (the API refuses it)".into()));
            }
            if o.scheme.as_deref().is_some_and(|s| s != "HTTP" && s != "HTTPS") {
                return Err((at("httpTarget.uriOverride.scheme"), "must be HTTP or HTTPS".into()));
            }
        }
        if let Some(oidc) = &t.oidc_token {
            email(&oidc.service_account_email).map_err(|why| (at("httpTarget.oidcToken.serviceAccountEmail"), why))?;
        }
    }
    let mut seen = BTreeSet::new();
    for (j, w) in p.workflows.iter().enumerate() {
        let at = |field: &str| format!("workflows[{j}].{field}");
        check_region(&w.region).map_err(|why| (at("region"), why.to_string()))?;
        name_ok(&w.name, 64).map_err(|why| (at("name"), why))?;
        if !seen.insert((w.region.as_str(), w.name.as_str())) {
            return Err((at("name"), format!("workflow {} is declared twice in {}", w.name, w.region)));
        }
        if let Some(sa) = &w.service_account {
            email(sa).map_err(|why| (at("serviceAccount"), why))?;
        }
        serde_saphyr::from_str::<Value>(&w.source_contents)
            .map_err(|e| (at("sourceContents"), format!("is not a YAML or JSON workflow definition: {e}")))?;
    }
    Ok(())
}

fn digits(s: &str) -> Result<(), String> {
    if !s.is_empty() && s.len() <= 30 && s.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("'{s}' must be digits only"))
    }
}

fn email(s: &str) -> Result<(), String> {
    match s.split_once('@') {
        Some((l, d)) if !l.is_empty() && d.contains('.') && !s.contains(char::is_whitespace) => Ok(()),
        _ => Err(format!("'{s}' is not an email address")),
    }
}

fn check_parent(parent: &str, known: &BTreeSet<String>) -> Result<(), String> {
    if !(parent.starts_with("organizations/") || parent.starts_with("folders/")) {
        return Err(format!("'{parent}' must be organizations/N or folders/N"));
    }
    if known.contains(parent) { Ok(()) } else { Err(format!("'{parent}' is not declared in the world file")) }
}

fn check_attachment(name: &str, world: &World) -> Result<(), String> {
    let found = match name.split_once('/') {
        Some(("projects", p)) => world.project(p).is_some(),
        Some(("folders", f)) => world.folder(f).is_some(),
        Some(("organizations", o)) => world.organization(o).is_some(),
        _ => return Err(format!("'{name}' must be projects/ID, folders/N or organizations/N")),
    };
    if found { Ok(()) } else { Err(format!("'{name}' is not declared in the world file")) }
}

fn check_role_name(name: &str, prefix: &str) -> Result<(), String> {
    match name.strip_prefix(prefix) {
        Some(id) if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') => Ok(()),
        _ => Err(format!("'{name}' must look like {prefix}ROLE_ID")),
    }
}

/// Members must parse as Google's setIamPolicy would accept them.
fn check_policy(policy: &Policy, at: &str) -> Result<(), (String, String)> {
    for (i, b) in policy.bindings.iter().enumerate() {
        if b.role.is_empty() {
            return Err((format!("{at}.bindings[{i}].role"), "a binding needs a role".to_owned()));
        }
        for (j, m) in b.members.iter().enumerate() {
            Principal::parse(m).map_err(|e| (format!("{at}.bindings[{i}].members[{j}]"), e.why))?;
        }
    }
    Ok(())
}

/// SHA-256, the one digest every derived value comes from.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn first_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(b)
}

/// A 12-digit project number, stable for a project id.
pub fn derive_project_number(id: &str) -> String {
    let n = first_u64(&sha256(format!("project-number:{id}").as_bytes())) % 900_000_000_000;
    (100_000_000_000 + n).to_string()
}

/// A 21-digit service-account unique id, stable for an email.
pub fn derive_unique_id(email: &str) -> String {
    let n = first_u64(&sha256(format!("unique-id:{email}").as_bytes()));
    format!("1{n:020}")
}

/// The `https://NAME-PROJECTNUMBER.REGION.run.app` URL.
pub fn deterministic_url(name: &str, number: &str, region: &str) -> String {
    format!("https://{name}-{number}.{region}.run.app")
}

/// The `https://NAME-HASH-REGIONCODE.a.run.app` URL: HASH is ten base-36
/// characters stable for project and name.
pub fn hash_url(project: &str, name: &str, region: &str) -> String {
    let mut n = first_u64(&sha256(format!("run-url:{project}/{name}").as_bytes()));
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut hash = String::with_capacity(10);
    for _ in 0..10 {
        hash.push(char::from(alphabet[(n % 36) as usize]));
        n /= 36;
    }
    format!("https://{name}-{hash}-{}.a.run.app", region_code(region))
}

/// A traffic tag's URL: `https://TAG---NAME-PROJECTNUMBER.REGION.run.app`.
pub fn tag_url(tag: &str, name: &str, number: &str, region: &str) -> String {
    format!("https://{tag}---{name}-{number}.{region}.run.app")
}

/// Cloud Run's region codes, as they appear in `*.a.run.app` URLs.
pub const REGION_CODES: &[(&str, &str)] = &[
    ("africa-south1", "bq"),
    ("asia-east1", "de"),
    ("asia-east2", "df"),
    ("asia-northeast1", "an"),
    ("asia-northeast2", "dt"),
    ("asia-northeast3", "du"),
    ("asia-south1", "el"),
    ("asia-south2", "em"),
    ("asia-southeast1", "as"),
    ("asia-southeast2", "et"),
    ("australia-southeast1", "ts"),
    ("australia-southeast2", "km"),
    ("europe-central2", "lm"),
    ("europe-north1", "lz"),
    ("europe-southwest1", "no"),
    ("europe-west1", "ew"),
    ("europe-west2", "nw"),
    ("europe-west3", "ey"),
    ("europe-west4", "ez"),
    ("europe-west6", "oa"),
    ("europe-west8", "oc"),
    ("europe-west9", "od"),
    ("europe-west10", "oe"),
    ("europe-west12", "og"),
    ("me-central1", "ww"),
    ("me-central2", "wx"),
    ("me-west1", "zf"),
    ("northamerica-northeast1", "nn"),
    ("northamerica-northeast2", "pd"),
    ("southamerica-east1", "rj"),
    ("southamerica-west1", "tl"),
    ("us-central1", "uc"),
    ("us-east1", "ue"),
    ("us-east4", "uk"),
    ("us-east5", "ul"),
    ("us-south1", "vp"),
    ("us-west1", "uw"),
    ("us-west2", "wl"),
    ("us-west3", "wm"),
    ("us-west4", "wn"),
];

/// The region code of `region`; a region the table does not know gets a
/// stable two-letter code derived from its name.
pub fn region_code(region: &str) -> String {
    if let Some((_, code)) = REGION_CODES.iter().find(|(r, _)| *r == region) {
        return (*code).to_owned();
    }
    let d = sha256(format!("region-code:{region}").as_bytes());
    [d[0], d[1]].iter().map(|b| char::from(b'a' + b % 26)).collect()
}

/// Reads and checks the world file at `path` (exit 2 on any problem).
pub fn load_world(path: &Path) -> Result<World, CommandError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CommandError::usage(format!("cannot read the world file {}: {e}", path.display())))?;
    World::parse(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        World::parse(text, "w.yaml").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_field() {
        let two = "projects:\n  - id: acme-one\n  - id: acme-two\n    services:\n      - name: hello\n";
        assert_eq!(err(two), "w.yaml: projects[1].services[0].region: missing field `region`");
        let bad_region =
            "projects:\n  - id: acme-one\n  - id: acme-two\n    services:\n      - {name: hello, region: Europe}\n";
        assert!(err(bad_region).starts_with("w.yaml: projects[1].services[0].region: region 'Europe'"));
        let typo = "projects:\n  - id: acme-one\n    servics: []\n";
        assert!(err(typo).starts_with("w.yaml: projects[0].servics: unknown field `servics`"), "{}", err(typo));
        let member = "projects:\n  - id: acme-one\n    iamPolicy: {bindings: [{role: roles/viewer, members: [alice@x.example]}]}\n";
        assert!(err(member).starts_with("w.yaml: projects[0].iamPolicy.bindings[0].members[0]: members look like"));
        let ingress = "projects:\n  - id: acme-one\n    services: [{name: a, region: us-east1, ingress: all}]\n";
        assert!(err(ingress).starts_with("w.yaml: projects[0].services[0].ingress: 'all' is not one of"));
        let parent = "projects:\n  - {id: acme-one, parent: folders/9}\n";
        assert_eq!(err(parent), "w.yaml: projects[0].parent: 'folders/9' is not declared in the world file");
        assert!(err("projects: 3\n").starts_with("w.yaml: projects: invalid type"));
        assert!(err("a: [\n").starts_with("w.yaml: not a valid YAML world file"));
        let p = "projects:\n  - id: acme-one\n";
        let queue = |q: &str| err(&format!("{p}    cloudTasksQueues: [{q}]\n"));
        assert!(
            queue("{name: q, region: Europe}").starts_with("w.yaml: projects[0].cloudTasksQueues[0].region: region")
        );
        assert!(
            queue("{name: q/x, region: us-east1}").starts_with("w.yaml: projects[0].cloudTasksQueues[0].name: 'q/x'")
        );
        assert_eq!(
            queue("{name: q, region: us-east1}, {name: q, region: us-east1}"),
            "w.yaml: projects[0].cloudTasksQueues[1].name: queue q is declared twice in us-east1"
        );
        assert_eq!(
            queue("{name: q, region: us-east1, httpTarget: {uriOverride: {host: ''}}}"),
            "w.yaml: projects[0].cloudTasksQueues[0].httpTarget.uriOverride.host: must not be empty (the API refuses it)"
        );
        assert!(
            queue("{name: q, region: us-east1, httpTarget: {oidcToken: {serviceAccountEmail: x}}}")
                .starts_with("w.yaml: projects[0].cloudTasksQueues[0].httpTarget.oidcToken.serviceAccountEmail: 'x'")
        );
        assert!(queue("{name: q, region: us-east1, tasks: [{name: t, httpRequest: {url: a.run.app}}]}").starts_with(
            "w.yaml: projects[0].cloudTasksQueues[0].tasks[0].httpRequest.url: 'a.run.app' must begin with"
        ));
        let flow = |w: &str| err(&format!("{p}    workflows: [{w}]\n"));
        assert!(
            flow("{name: w, region: us-east1, sourceContents: 'main: ['}").starts_with(
                "w.yaml: projects[0].workflows[0].sourceContents: is not a YAML or JSON workflow definition"
            )
        );
        assert!(
            flow("{name: w, region: us-east1, sourceContents: x, serviceAccount: nobody}")
                .starts_with("w.yaml: projects[0].workflows[0].serviceAccount: 'nobody'")
        );
        assert!(
            flow("{name: w, region: us-east1}").ends_with("missing field `sourceContents`"),
            "{}",
            flow("{name: w, region: us-east1}")
        );
    }

    #[test]
    fn derived_values_are_stable() {
        let w = World::parse(
            "projects:\n  - id: acme-one\n    serviceAccounts: [{email: a@acme-one.iam.gserviceaccount.com}]\n",
            "w",
        )
        .unwrap();
        let p = &w.projects[0];
        assert_eq!(p.number, derive_project_number("acme-one"));
        assert_eq!(p.number.len(), 12);
        assert_eq!(p.service_accounts[0].unique_id.len(), 21);
        assert_eq!(World::parse("", "w").unwrap(), World::default());
        let url = hash_url("acme-one", "hello", "us-central1");
        assert!(url.starts_with("https://hello-") && url.ends_with("-uc.a.run.app"), "{url}");
        let hash = &url["https://hello-".len()..url.len() - "-uc.a.run.app".len()];
        assert_eq!(hash.len(), 10);
        assert!(hash.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_eq!(url, hash_url("acme-one", "hello", "us-central1"));
        assert_ne!(url, hash_url("acme-two", "hello", "us-central1"));
        assert_eq!(region_code("europe-west4"), "ez");
        assert_eq!(region_code("mars-north9").len(), 2);
    }

    #[test]
    fn example_world_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme-world.yaml");
        let w = load_world(&path).unwrap();
        assert!(w.organization.is_some() && !w.deny_policies.is_empty() && !w.org_policies.is_empty());
        assert!(w.projects.iter().map(|p| p.services.len()).sum::<usize>() >= 4);
    }
}
