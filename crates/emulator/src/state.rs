//! The emulator's mutable state: the world as loaded, and the allow policy
//! of every resource that has one, with its etag and a write counter.
//!
//! It also holds the log store (LogEntry JSON that `entries.list` serves:
//! the world's `logEntries`, then what the emulator itself logs) and the
//! fault-injection knobs, so one lock covers a write and what it logs.
//!
//! Policy rules are Google's: etags change on every write and a stale one
//! is refused with 409 ABORTED; conditions need version 3 and are refused
//! on public members and basic roles; a read below version 3 shows
//! conditional roles as `ROLE_withcond_HASH`. Etags are derived from the
//! policy's content and the write counter, so runs are reproducible.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use runiam_core::model::{Binding, Expr, Policy, Principal};
use serde_json::{Map, Value};

use crate::errors::ApiError;
use crate::faults::Faults;
use crate::logstore::LogRecord;
use crate::quota::Quotas;
use crate::world::{Service, World, sha256};

/// The etag of a policy nobody has written and that has no bindings.
const EMPTY_ETAG: [u8; 3] = [0x00, 0x20, 0x01];

/// Roles that never take conditions (Google: basic roles).
const BASIC_ROLES: [&str; 3] = ["roles/owner", "roles/editor", "roles/viewer"];

#[derive(Clone, Debug)]
struct Stored {
    /// Bindings and extra fields; `version` and `etag` are not kept here.
    policy: Policy,
    etag: Vec<u8>,
}

/// Shared state, kept behind one mutex by the server.
#[derive(Debug)]
pub struct State {
    pub world: World,
    policies: BTreeMap<String, Stored>,
    writes: u64,
    /// LogEntries, oldest first as written.
    pub logs: Vec<LogRecord>,
    /// Latency, failures, the concurrent writer, commit-then-fail.
    pub faults: Faults,
    /// Bumped by every change that can alter an IAM decision (policy
    /// writes, reset); unlike `writes` it never goes back, so the front
    /// end's decision cache can key on it.
    generation: u64,
    /// The world as loaded, for `reset` (services.patch changes `world`).
    pristine: World,
    /// Long-running operations by name, as services.patch and Network
    /// Management answered them.
    pub operations: BTreeMap<String, Value>,
    /// Network Management's Connectivity Tests by name.
    pub connectivity_tests: BTreeMap<String, Value>,
    /// With a propagation delay: the IAM-relevant state after each change
    /// and when it happened (`None`: the state before the first change), so
    /// the front end can see the state as it was `delay` ago.
    views: VecDeque<(Option<Instant>, Arc<State>)>,
    /// Monitoring alert policies by name, and how many were ever created
    /// (their ids).
    pub alert_policies: BTreeMap<String, Value>,
    pub alert_policy_ids: u64,
    /// Per-minute rate quota windows (Asset Inventory's searches).
    pub quotas: Quotas,
    /// Monitoring's metric descriptors and time series.
    pub metrics: crate::metrics::Metrics,
    /// The permission checks of each API request (`/emulator/v1/checks`).
    pub checks: crate::checks::Checks,
    /// Run services' `versionedResources` as searchAllResources writes
    /// them, by service key (`control::asset`).
    pub(crate) versioned: HashMap<String, Versioned>,
}

/// A Run service's `versionedResources` as searchAllResources writes
/// them, and what they were written from: the service and its project's
/// number (its id is in the key).
#[derive(Debug)]
pub(crate) struct Versioned {
    pub number: String,
    pub service: Service,
    pub json: Vec<u8>,
}

/// The log store keeps this many entries; the oldest half goes when it is
/// full, so a load test cannot exhaust memory.
pub const MAX_LOG_ENTRIES: usize = 200_000;

/// What a setIamPolicy asks for.
#[derive(Clone, Debug, Default)]
pub struct SetPolicy {
    pub policy: Policy,
    /// `updateMask` paths; `bindings,etag` when none are given.
    pub update_mask: Option<String>,
}

impl State {
    /// Every resource's policy as the world declares it.
    pub fn new(world: World) -> Self {
        let policies = initial_policies(&world);
        let logs = seeded_logs(&world);
        let pristine = world.clone();
        Self {
            world,
            policies,
            writes: 0,
            logs,
            faults: Faults::default(),
            generation: 0,
            pristine,
            operations: BTreeMap::new(),
            connectivity_tests: BTreeMap::new(),
            views: VecDeque::new(),
            alert_policies: BTreeMap::new(),
            alert_policy_ids: 0,
            quotas: Quotas::default(),
            metrics: Default::default(),
            checks: Default::default(),
            versioned: HashMap::new(),
        }
    }

    /// Appends one LogEntry to the log store.
    pub fn push_log(&mut self, entry: Value) {
        self.push_record(LogRecord::Entry(entry));
    }

    /// Appends one record to the log store.
    pub fn push_record(&mut self, record: LogRecord) {
        if self.logs.len() >= MAX_LOG_ENTRIES {
            self.logs.drain(..MAX_LOG_ENTRIES / 2);
        }
        self.logs.push(record);
    }

    /// Back to the world as loaded: policies, etags, the write counter and
    /// the log store. Fault settings stay as they are.
    pub fn reset(&mut self) {
        self.before_change();
        self.world = self.pristine.clone();
        self.policies = initial_policies(&self.world);
        self.logs = seeded_logs(&self.world);
        self.operations.clear();
        self.connectivity_tests.clear();
        self.alert_policies.clear();
        self.quotas.clear();
        self.metrics = Default::default();
        self.checks.clear();
        self.writes = 0;
        self.changed();
    }

    /// See the `generation` field.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Call before any change the front end must see (policies, service
    /// settings): with a propagation delay, keeps the state it replaces.
    pub fn before_change(&mut self) {
        if !self.faults.propagation_delay().is_zero() && self.views.is_empty() {
            let view = Arc::new(self.iam_view());
            self.views.push_back((None, view));
        }
    }

    /// Records a change to a service's settings (invoker check, ingress),
    /// which the front end must see as it sees policy writes.
    pub fn service_changed(&mut self) {
        self.changed();
    }

    /// After a change: a new generation, and with a propagation delay the
    /// new state for the front end to see once the delay has passed.
    fn changed(&mut self) {
        self.generation += 1;
        let delay = self.faults.propagation_delay();
        if delay.is_zero() {
            self.views.clear();
            return;
        }
        let now = Instant::now();
        self.views.push_back((Some(now), Arc::new(self.iam_view())));
        // Only the newest view older than the delay is still needed.
        while self.views.len() > 1 && self.views[1].0.is_none_or(|t| now.duration_since(t) >= delay) {
            self.views.pop_front();
        }
    }

    /// The state as the front end sees it with a propagation delay, or None
    /// to see the live state.
    pub fn frontend_view(&self) -> Option<Arc<State>> {
        let delay = self.faults.propagation_delay();
        if delay.is_zero() || self.views.is_empty() {
            return None;
        }
        let now = Instant::now();
        // Once the newest change is older than the delay, every change has
        // reached the front end: it sees the live state, and caches again.
        if self.views.back().is_some_and(|(t, _)| t.is_some_and(|t| now.duration_since(t) >= delay)) {
            return None;
        }
        self.views
            .iter()
            .rev()
            .find(|(t, _)| t.is_none_or(|t| now.duration_since(t) >= delay))
            .map(|(_, v)| Arc::clone(v))
    }

    /// A copy of what IAM decisions read: world and policies, no logs.
    fn iam_view(&self) -> State {
        State {
            world: self.world.clone(),
            policies: self.policies.clone(),
            writes: self.writes,
            logs: Vec::new(),
            faults: Faults::default(),
            generation: self.generation,
            pristine: World::default(),
            operations: BTreeMap::new(),
            connectivity_tests: BTreeMap::new(),
            views: VecDeque::new(),
            alert_policies: BTreeMap::new(),
            alert_policy_ids: 0,
            quotas: Quotas::default(),
            metrics: Default::default(),
            checks: Default::default(),
            versioned: HashMap::new(),
        }
    }

    /// How many policy writes have happened.
    pub fn writes(&self) -> u64 {
        self.writes
    }
}

/// Every resource's policy as the world declares it.
fn initial_policies(world: &World) -> BTreeMap<String, Stored> {
    let mut policies = BTreeMap::new();
    if let Some(o) = &world.organization {
        policies.insert(format!("organizations/{}", o.id), initial(&o.iam_policy));
    }
    for f in &world.folders {
        policies.insert(format!("folders/{}", f.id), initial(&f.iam_policy));
    }
    for p in &world.projects {
        policies.insert(format!("projects/{}", p.id), initial(&p.iam_policy));
        for a in &p.service_accounts {
            policies.insert(format!("projects/{}/serviceAccounts/{}", p.id, a.email), initial(&a.iam_policy));
        }
        for s in &p.services {
            policies.insert(service_key(&p.id, &s.region, &s.name), initial(&s.iam_policy));
        }
    }
    policies
}

impl State {
    /// The policy of `key` (`projects/ID`, `folders/N`, a service's full
    /// name with the project id...), formatted for `requested_version`.
    pub fn get_policy(&self, key: &str, requested_version: i32) -> Result<Policy, ApiError> {
        check_requested_version(requested_version)?;
        let stored = self.policies.get(key).ok_or_else(|| missing(key))?;
        Ok(render(stored, requested_version))
    }

    /// Google's setIamPolicy on `key`: checks, etag guard, write, and the
    /// new policy (at version 3) as the answer.
    pub fn set_policy(&mut self, key: &str, request: SetPolicy) -> Result<Policy, ApiError> {
        let paths = update_paths(request.update_mask.as_deref())?;
        let stored = self.policies.get(key).ok_or_else(|| missing(key))?;
        let incoming = request.policy;
        if let Some(etag) = &incoming.etag {
            // Padding is optional on the way in, and the URL-safe alphabet
            // is as good as the standard one (proto3 JSON reads `bytes` in
            // either; gcloud's apitools sends the URL-safe one); the bytes
            // are what count (G5).
            let standard = etag.trim_end_matches('=').replace('-', "+").replace('_', "/");
            let sent = STANDARD_NO_PAD
                .decode(standard)
                .map_err(|_| ApiError::invalid_field("policy.etag", format!("etag '{etag}' is not base64")))?;
            if sent != stored.etag {
                return Err(ApiError::concurrent_policy_change());
            }
        }
        check_policy(&incoming, &self.world)?;
        let mut next = stored.policy.clone();
        if paths.bindings {
            next.bindings = normalize(&incoming.bindings);
        }
        if paths.audit_configs {
            match incoming.extra.get("auditConfigs") {
                Some(v) => next.extra.insert("auditConfigs".to_owned(), v.clone()),
                None => next.extra.remove("auditConfigs"),
            };
        }
        self.before_change();
        self.writes += 1;
        let etag = etag_for(&next, self.writes);
        let stored = Stored { policy: next, etag };
        let answer = render(&stored, 3);
        self.policies.insert(key.to_owned(), stored);
        self.changed();
        Ok(answer)
    }
}

/// `projects/ID/locations/R/services/S`, the key of a service's policy.
/// The world's own `logEntries`, as the log store starts.
fn seeded_logs(world: &World) -> Vec<LogRecord> {
    world.log_entries.iter().cloned().map(LogRecord::Entry).collect()
}

pub fn service_key(project_id: &str, region: &str, name: &str) -> String {
    // Joined rather than formatted: Asset Inventory's searches name every service of a scope.
    ["projects/", project_id, "/locations/", region, "/services/", name].concat()
}

fn missing(key: &str) -> ApiError {
    ApiError::not_found(format!("Resource '{key}' was not found."))
}

fn initial(policy: &Policy) -> Stored {
    let policy = Policy { version: 0, etag: None, bindings: normalize(&policy.bindings), extra: policy.extra.clone() };
    let etag =
        if policy.bindings.is_empty() && policy.extra.is_empty() { EMPTY_ETAG.to_vec() } else { etag_for(&policy, 0) };
    Stored { policy, etag }
}

/// Eight bytes like Google's (`BwY...`): two fixed, six from a digest of the
/// content and the write counter, so every write moves the etag.
fn etag_for(policy: &Policy, counter: u64) -> Vec<u8> {
    let content = serde_json::to_string(policy).unwrap_or_default();
    let digest = sha256(format!("{counter}\n{content}").as_bytes());
    let mut etag = vec![0x07, 0x06];
    etag.extend_from_slice(&digest[..6]);
    etag
}

fn check_requested_version(v: i32) -> Result<(), ApiError> {
    if matches!(v, 0 | 1 | 3) {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "options.requestedPolicyVersion",
            format!("Invalid requested policy version {v}; use 1 or 3."),
        ))
    }
}

/// `HASH` of `ROLE_withcond_HASH`: hex of a digest of the condition.
pub fn withcond_hash(condition: &Expr) -> String {
    let text = format!(
        "{}\n{}\n{}",
        condition.expression,
        condition.title.as_deref().unwrap_or_default(),
        condition.description.as_deref().unwrap_or_default()
    );
    sha256(text.as_bytes())[..10].iter().map(|b| format!("{b:02x}")).collect()
}

fn render(stored: &Stored, requested_version: i32) -> Policy {
    let etag = Some(STANDARD.encode(&stored.etag));
    let p = &stored.policy;
    if p.bindings.is_empty() && p.extra.is_empty() && stored.etag == EMPTY_ETAG {
        return Policy { etag, ..Policy::default() };
    }
    let conditional = p.has_conditions();
    let (version, bindings) = if conditional && requested_version < 3 {
        let shown = p
            .bindings
            .iter()
            .map(|b| match &b.condition {
                Some(c) => Binding {
                    role: format!("{}_withcond_{}", b.role, withcond_hash(c)),
                    members: b.members.clone(),
                    condition: None,
                    extra: b.extra.clone(),
                },
                None => b.clone(),
            })
            .collect();
        (1, shown)
    } else {
        (if conditional { 3 } else { 1 }, p.bindings.clone())
    };
    Policy { version, etag, bindings, extra: p.extra.clone() }
}

/// Drops empty bindings, removes duplicate members and merges bindings of
/// the same role and condition, as IAM stores them.
fn normalize(bindings: &[Binding]) -> Vec<Binding> {
    let mut out: Vec<Binding> = Vec::new();
    for b in bindings {
        let target = match out.iter_mut().position(|o| o.role == b.role && o.condition == b.condition) {
            Some(i) => i,
            None => {
                out.push(Binding {
                    role: b.role.clone(),
                    members: Vec::new(),
                    condition: b.condition.clone(),
                    extra: b.extra.clone(),
                });
                out.len() - 1
            }
        };
        for m in &b.members {
            if !out[target].members.contains(m) {
                out[target].members.push(m.clone());
            }
        }
    }
    out.retain(|b| !b.members.is_empty());
    out
}

struct Paths {
    bindings: bool,
    audit_configs: bool,
}

fn update_paths(mask: Option<&str>) -> Result<Paths, ApiError> {
    let Some(mask) = mask.filter(|m| !m.trim().is_empty()) else {
        return Ok(Paths { bindings: true, audit_configs: false });
    };
    let mut paths = Paths { bindings: false, audit_configs: false };
    for p in mask.split(',').map(str::trim) {
        match p {
            "bindings" => paths.bindings = true,
            "auditConfigs" | "audit_configs" => paths.audit_configs = true,
            "etag" | "version" => {}
            other => {
                return Err(ApiError::invalid_field("updateMask", format!("Invalid update mask path '{other}'.")));
            }
        }
    }
    Ok(paths)
}

/// What setIamPolicy refuses before writing anything.
fn check_policy(policy: &Policy, world: &World) -> Result<(), ApiError> {
    if !matches!(policy.version, 0 | 1 | 3) {
        return Err(ApiError::invalid_field(
            "policy.version",
            format!("Invalid policy version {}; use 1 or 3.", policy.version),
        ));
    }
    if policy.has_conditions() && policy.version < 3 {
        return Err(ApiError::invalid_field(
            "policy.version",
            "Policies with conditional role bindings must set version 3.",
        ));
    }
    for (i, b) in policy.bindings.iter().enumerate() {
        if !role_exists(&b.role, world) {
            return Err(ApiError::invalid_field(
                &format!("policy.bindings[{i}].role"),
                format!("Role {} is not supported for this resource.", b.role),
            ));
        }
        if let Some(c) = &b.condition {
            if c.expression.trim().is_empty() {
                return Err(ApiError::invalid_field(
                    &format!("policy.bindings[{i}].condition.expression"),
                    "A condition needs an expression.",
                ));
            }
            if BASIC_ROLES.contains(&b.role.as_str()) {
                return Err(ApiError::invalid_field(
                    &format!("policy.bindings[{i}].condition"),
                    format!("Conditions are not supported for the basic role {}.", b.role),
                ));
            }
        }
        for (j, m) in b.members.iter().enumerate() {
            let principal = Principal::parse(m).map_err(|e| {
                ApiError::invalid_field(
                    &format!("policy.bindings[{i}].members[{j}]"),
                    format!("Invalid principal: {m}. {}", e.why),
                )
            })?;
            if b.condition.is_some() && principal.is_public() {
                return Err(ApiError::invalid_field(
                    &format!("policy.bindings[{i}].members[{j}]"),
                    format!("Conditions are not supported for the principal {m}."),
                ));
            }
            // `principalSet://goog/...` names sets only deny policies accept.
            if matches!(&principal, Principal::PrincipalSet(set) if set.starts_with("goog/")) {
                return Err(ApiError::invalid_field(
                    &format!("policy.bindings[{i}].members[{j}]"),
                    format!("Invalid principal: {m}. This principal set is not supported in allow policies."),
                ));
            }
            if let Principal::ServiceAccount(email) = &principal
                && !service_account_exists(email, world)
            {
                return Err(ApiError::invalid_field(
                    &format!("policy.bindings[{i}].members[{j}]"),
                    format!("Service account {email} does not exist."),
                ));
            }
        }
    }
    check_limits(policy)
}

/// IAM's limits on one policy: 1,500 principals, of which 250 groups, each
/// occurrence counted. Google's message for the first; the second's wording
/// is not documented and follows the first's.
fn check_limits(policy: &Policy) -> Result<(), ApiError> {
    let members = policy.bindings.iter().flat_map(|b| &b.members);
    let all = members.clone().count();
    let groups = members.filter(|m| m.starts_with("group:")).count();
    let over = |what: &str, n: usize, max: usize| {
        let n = thousands(n);
        let max = thousands(max);
        ApiError::invalid_field(
            "policy.bindings",
            format!("The number of {what} in the policy ({n}) is larger than the maximum allowed size {max}."),
        )
    };
    if all > 1500 {
        return Err(over("members", all, 1500));
    }
    if groups > 250 {
        return Err(over("Google groups", groups, 250));
    }
    Ok(())
}

/// 1501 → "1,501", as Google writes counts in this message.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether IAM would find this service account. The world is the whole
/// estate for its own projects: a user-managed account of a world project
/// exists when the world lists it. Service agents (Google creates them) and
/// accounts of projects outside the world cannot be known, and are taken as
/// existing, as a real estate's other projects are.
fn service_account_exists(email: &str, world: &World) -> bool {
    if world.service_account(email).is_some() || email.contains(".svc.id.goog[") {
        return true;
    }
    // User-managed accounts live at PROJECT.iam.gserviceaccount.com; the
    // service agents (service-N@gcp-sa-*.iam..., N-compute@developer...,
    // PROJECT@appspot...) are Google's and exist.
    match email.rsplit_once('@').and_then(|(_, d)| d.strip_suffix(".iam.gserviceaccount.com")) {
        Some(project) => world.project(project).is_none(),
        None => true,
    }
}

/// Predefined roles from the table, custom roles from the world.
fn role_exists(role: &str, world: &World) -> bool {
    if role.starts_with("roles/") {
        return runiam_core::roles::predefined(role).is_some();
    }
    let org_roles = world.organization.iter().flat_map(|o| o.custom_roles.iter());
    let project_roles = world.projects.iter().flat_map(|p| p.custom_roles.iter());
    org_roles.chain(project_roles).any(|r| r.name == role)
}

/// Reads a JSON policy from a request body, with the field named on error.
pub fn policy_from_json(value: &Value) -> Result<Policy, ApiError> {
    let object = match value {
        Value::Null => Map::new(),
        Value::Object(o) => o.clone(),
        _ => return Err(ApiError::invalid_field("policy", "policy must be a JSON object")),
    };
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { "policy".to_owned() } else { format!("policy.{field}") };
        let why = e.into_inner().to_string();
        ApiError::invalid_field(&field, format!("Invalid JSON payload received at {field}: {why}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::{CONCURRENT_CHANGES, Code};
    use serde_json::json;

    fn world() -> World {
        World::parse(
            "projects:\n  - id: acme-one\n    services:\n      - name: hello\n        region: us-east1\n        iamPolicy:\n          bindings:\n            - role: roles/run.invoker\n              members: [user:a@acme.example]\n              condition: {title: t, expression: 'request.time < timestamp(\"2030-01-01T00:00:00Z\")'}\n            - role: roles/run.viewer\n              members: [user:b@acme.example]\n",
            "w",
        )
        .unwrap()
    }

    const HELLO: &str = "projects/acme-one/locations/us-east1/services/hello";

    fn policy(v: Value) -> Policy {
        policy_from_json(&v).unwrap()
    }

    #[test]
    fn empty_policy_reads_acab() {
        let s = State::new(world());
        assert_eq!(
            serde_json::to_value(s.get_policy("projects/acme-one", 3).unwrap()).unwrap(),
            json!({"etag": "ACAB"})
        );
        assert_eq!(s.get_policy("projects/nope", 3).unwrap_err().code, Code::NotFound);
        assert_eq!(s.get_policy("projects/acme-one", 2).unwrap_err().code, Code::InvalidArgument);
    }

    #[test]
    fn an_etag_in_the_url_safe_alphabet_guards_as_well() {
        let mut s = State::new(world());
        // Write until the etag holds a character the two alphabets spell differently.
        let mut p = s.get_policy(HELLO, 3).unwrap();
        while !p.etag.as_deref().unwrap().contains(['+', '/']) {
            p = s.set_policy(HELLO, SetPolicy { policy: p, update_mask: None }).unwrap();
        }
        let url_safe = p.etag.as_deref().unwrap().replace('+', "-").replace('/', "_");
        let mut stale = p.clone();
        stale.etag = Some(url_safe.clone());
        assert!(s.set_policy(HELLO, SetPolicy { policy: stale.clone(), update_mask: None }).is_ok(), "{url_safe}");
        // The etag moved with that write: the same one is now stale.
        let e = s.set_policy(HELLO, SetPolicy { policy: stale, update_mask: None }).unwrap_err();
        assert_eq!(e.code, Code::Aborted);
    }

    #[test]
    fn etags_are_deterministic_and_move_on_every_write() {
        let (mut a, b) = (State::new(world()), State::new(world()));
        let before = a.get_policy(HELLO, 3).unwrap();
        assert_eq!(before, b.get_policy(HELLO, 3).unwrap());
        let etag = before.etag.clone().unwrap();
        assert_eq!(STANDARD.decode(&etag).unwrap().len(), 8);
        let same = SetPolicy { policy: before.clone(), update_mask: None };
        let first = a.set_policy(HELLO, same.clone()).unwrap();
        assert_ne!(first.etag, before.etag);
        assert_eq!(first.bindings, before.bindings);
        // Writing the same content again still yields a new etag.
        let again = SetPolicy { policy: first.clone(), update_mask: None };
        let second = a.set_policy(HELLO, again).unwrap();
        assert_ne!(second.etag, first.etag);
        assert_eq!(a.writes(), 2);
        // A second state fed the same writes agrees.
        let mut c = State::new(world());
        c.set_policy(HELLO, same).unwrap();
        assert_eq!(c.get_policy(HELLO, 3).unwrap(), first);
    }

    #[test]
    fn stale_etag_is_aborted_and_no_etag_overwrites() {
        let mut s = State::new(world());
        let read = s.get_policy(HELLO, 3).unwrap();
        s.set_policy(HELLO, SetPolicy { policy: read.clone(), update_mask: None }).unwrap();
        let e = s.set_policy(HELLO, SetPolicy { policy: read.clone(), update_mask: None }).unwrap_err();
        assert_eq!((e.code, e.status(), e.message.as_str()), (Code::Aborted, 409, CONCURRENT_CHANGES));
        assert_eq!(e.body()["error"]["status"], "ABORTED");
        let blind = Policy { etag: None, ..read };
        assert!(s.set_policy(HELLO, SetPolicy { policy: blind, update_mask: None }).is_ok());
    }

    #[test]
    fn conditional_roles_render_withcond_below_version_3() {
        let s = State::new(world());
        let v1 = s.get_policy(HELLO, 1).unwrap();
        assert_eq!(v1.version, 1);
        let role = &v1.bindings[0].role;
        assert!(role.starts_with("roles/run.invoker_withcond_"), "{role}");
        let hash = role.trim_start_matches("roles/run.invoker_withcond_");
        assert_eq!(hash.len(), 20);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(v1.bindings[0].condition.is_none());
        assert_eq!(v1.bindings[1].role, "roles/run.viewer");
        assert_eq!(s.get_policy(HELLO, 0).unwrap().bindings, v1.bindings);
        let v3 = s.get_policy(HELLO, 3).unwrap();
        assert_eq!(v3.version, 3);
        assert!(v3.bindings[0].condition.is_some());
        assert_eq!(v3.etag, v1.etag);
    }

    #[test]
    fn conditions_need_version_3_and_are_refused_on_public_members_and_basic_roles() {
        let mut s = State::new(world());
        let cond = json!({"expression": "request.time < timestamp('2030-01-01T00:00:00Z')", "title": "t"});
        let set = |s: &mut State, p: Value| s.set_policy(HELLO, SetPolicy { policy: policy(p), update_mask: None });
        let v1 = set(
            &mut s,
            json!({"version": 1, "bindings": [{"role": "roles/run.invoker", "members": ["user:a@x.example"], "condition": cond}]}),
        );
        assert!(v1.unwrap_err().message.contains("version 3"));
        for (role, member) in [
            ("roles/run.invoker", "allUsers"),
            ("roles/run.invoker", "allAuthenticatedUsers"),
            ("roles/viewer", "user:a@x.example"),
        ] {
            let e = set(
                &mut s,
                json!({"version": 3, "bindings": [{"role": role, "members": [member], "condition": cond}]}),
            )
            .unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument, "{role} {member}");
            assert!(e.message.contains("Conditions are not supported"), "{}", e.message);
        }
        let e = set(&mut s, json!({"bindings": [{"role": "roles/run.invoker", "members": ["alice@x.example"]}]}))
            .unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(e.message.contains("alice@x.example"));
        let e = set(&mut s, json!({"bindings": [{"role": "roles/no.such", "members": ["allUsers"]}]})).unwrap_err();
        assert!(e.message.contains("roles/no.such"));
        assert_eq!(s.writes(), 0);
        let ok = set(
            &mut s,
            json!({"version": 3, "bindings": [{"role": "roles/run.invoker", "members": ["user:a@x.example", "user:a@x.example"], "condition": cond}, {"role": "roles/run.invoker", "members": []}]}),
        );
        let ok = ok.unwrap();
        assert_eq!(ok.version, 3);
        assert_eq!(ok.bindings.len(), 1);
        assert_eq!(ok.bindings[0].members, ["user:a@x.example"]);
    }

    #[test]
    fn update_mask_keeps_audit_configs_unless_named() {
        let mut s = State::new(world());
        let p = json!({"bindings": [{"role": "roles/run.viewer", "members": ["allUsers"]}], "auditConfigs": [{"service": "allServices"}]});
        let got = s.set_policy(HELLO, SetPolicy { policy: policy(p.clone()), update_mask: None }).unwrap();
        assert!(!got.extra.contains_key("auditConfigs"));
        let got = s
            .set_policy(HELLO, SetPolicy { policy: policy(p), update_mask: Some("bindings,auditConfigs".into()) })
            .unwrap();
        assert!(got.extra.contains_key("auditConfigs"));
        let e = s
            .set_policy(HELLO, SetPolicy { policy: Policy::default(), update_mask: Some("owners".into()) })
            .unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
    }
}
