//! Fault injection: a fixed added latency, a seeded share of requests
//! answered with an error code instead, a concurrent writer that changes a
//! service's policy between a client's read and its write (`raceRate`), and
//! writes that commit and then answer 503 (`commitThenFail`). One seeded
//! generator draws every choice, so the same seed and the same calls fail
//! the same way.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

use crate::errors::{ApiError, Code};

/// The codes `--fail-codes` accepts, and the status each answers with.
pub const FAULT_CODES: [(u16, Code); 6] = [
    (409, Code::Aborted),
    (429, Code::ResourceExhausted),
    (500, Code::Internal),
    (502, Code::Unavailable),
    (503, Code::Unavailable),
    (504, Code::DeadlineExceeded),
];

/// ID and access tokens live an hour, as Google's do; `idTokenSeconds`
/// can only shorten that.
pub const TOKEN_SECONDS: i64 = 3600;

/// Seconds clients are told to wait; small, because clients honour it.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// The knobs, as flags set them and as `/emulator/v1/faults` reads and
/// writes them (JSON, camelCase; absent fields are left unchanged).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSettings {
    /// How long every control-plane answer takes: it leaves no sooner than this after its request.
    #[serde(default)]
    pub latency_ms: u64,
    /// Share of control-plane requests (0 to 1) answered with one of `fail_codes`.
    #[serde(default)]
    pub fail_rate: f64,
    #[serde(default = "default_codes")]
    pub fail_codes: Vec<u16>,
    /// Chance (0 to 1) that a concurrent writer changes a service's policy
    /// right after a getIamPolicy, so the etag the client holds goes stale.
    #[serde(default)]
    pub race_rate: f64,
    /// Chance (0 to 1) that a setIamPolicy commits and then answers 503.
    #[serde(default)]
    pub commit_then_fail: f64,
    /// How late IAM and invoker-check changes reach the Cloud Run front end
    /// (Google documents up to about 7 minutes).
    #[serde(default)]
    pub propagation_delay_ms: u64,
    /// Lowers every Asset Inventory search quota to this many calls a
    /// minute (never above Google's own limits), so tests can reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_quota_per_minute: Option<u32>,
    /// How long the ID tokens that IAM Credentials' generateIdToken and the
    /// metadata server mint live, in seconds (Google's: an hour); shorter
    /// ones let a test see a long session renew its token.
    #[serde(default = "default_id_token_seconds")]
    pub id_token_seconds: i64,
}

fn default_id_token_seconds() -> i64 {
    TOKEN_SECONDS
}

fn default_codes() -> Vec<u16> {
    vec![503]
}

impl Default for FaultSettings {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            fail_rate: 0.0,
            fail_codes: default_codes(),
            race_rate: 0.0,
            commit_then_fail: 0.0,
            propagation_delay_ms: 0,
            id_token_seconds: default_id_token_seconds(),
            asset_quota_per_minute: None,
        }
    }
}

impl FaultSettings {
    /// Refuses rates outside 0..=1 and codes outside `FAULT_CODES`,
    /// naming the field.
    pub fn check(&self) -> Result<(), ApiError> {
        for (field, rate) in
            [("failRate", self.fail_rate), ("raceRate", self.race_rate), ("commitThenFail", self.commit_then_fail)]
        {
            if !(0.0..=1.0).contains(&rate) {
                return Err(ApiError::invalid_field(field, format!("{field} must be between 0 and 1, not {rate}.")));
            }
        }
        if !(1..=TOKEN_SECONDS).contains(&self.id_token_seconds) {
            return Err(ApiError::invalid_field(
                "idTokenSeconds",
                format!("idTokenSeconds must be between 1 and 3600, not {}.", self.id_token_seconds),
            ));
        }
        if let Some(bad) = self.fail_codes.iter().find(|c| code_for(**c).is_none()) {
            let known = FAULT_CODES.iter().map(|(c, _)| c.to_string()).collect::<Vec<_>>().join(", ");
            return Err(ApiError::invalid_field("failCodes", format!("{bad} is not one of {known}.")));
        }
        Ok(())
    }
}

/// The settings and the seeded generator; lives in the state, under its lock.
#[derive(Debug)]
pub struct Faults {
    settings: FaultSettings,
    rng: StdRng,
}

impl Default for Faults {
    fn default() -> Self {
        Self::new(0, FaultSettings::default())
    }
}

impl Faults {
    /// Out-of-range rates are clamped and unknown codes dropped (the CLI
    /// and the knob endpoint refuse them before this point).
    pub fn new(seed: u64, settings: FaultSettings) -> Self {
        let mut f = Self { settings: FaultSettings::default(), rng: StdRng::seed_from_u64(seed) };
        f.set(settings);
        f
    }

    pub fn set(&mut self, mut settings: FaultSettings) {
        let clamp = |r: f64| if r.is_finite() { r.clamp(0.0, 1.0) } else { 0.0 };
        settings.fail_rate = clamp(settings.fail_rate);
        settings.race_rate = clamp(settings.race_rate);
        settings.commit_then_fail = clamp(settings.commit_then_fail);
        settings.fail_codes.retain(|c| code_for(*c).is_some());
        self.settings = settings;
    }

    pub fn settings(&self) -> &FaultSettings {
        &self.settings
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.settings.latency_ms)
    }

    pub fn propagation_delay(&self) -> Duration {
        Duration::from_millis(self.settings.propagation_delay_ms)
    }

    /// The injected failure for the next request, if it draws one.
    pub fn roll(&mut self) -> Option<ApiError> {
        let codes = &self.settings.fail_codes;
        if codes.is_empty() || !draw(&mut self.rng, self.settings.fail_rate) {
            return None;
        }
        let http = codes[self.rng.random_range(0..codes.len())];
        code_for(http).map(|code| injected(http, code))
    }

    /// Does the concurrent writer strike after this read?
    pub fn race(&mut self) -> bool {
        draw(&mut self.rng, self.settings.race_rate)
    }

    /// Does this committed write answer 503?
    pub fn commit_then_fail(&mut self) -> bool {
        draw(&mut self.rng, self.settings.commit_then_fail)
    }
}

/// A draw only happens for a non-zero rate, so an unused knob never moves
/// the generator and the other knobs' draws stay the same.
fn draw(rng: &mut StdRng, rate: f64) -> bool {
    rate > 0.0 && rng.random::<f64>() < rate
}

/// The `google.rpc.Code` an HTTP fault code is sent with.
pub fn code_for(http: u16) -> Option<Code> {
    FAULT_CODES.iter().find(|(h, _)| *h == http).map(|(_, c)| *c)
}

fn injected(http: u16, code: Code) -> ApiError {
    let mut e = match code {
        Code::ResourceExhausted => ApiError::new(code, "Quota exceeded (injected by runiam-emulator --fail-rate).")
            .with_reason("RATE_LIMIT_EXCEEDED", "googleapis.com", json!({}))
            .with_detail(json!({
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": format!("{RETRY_AFTER_SECONDS}s"),
            })),
        Code::Aborted => ApiError::concurrent_policy_change(),
        _ => ApiError::new(code, "The service is currently unavailable (injected by runiam-emulator --fail-rate)."),
    };
    e.http = Some(http);
    e
}

/// The 503 a committed write answers with under `commitThenFail`.
pub fn commit_then_fail_error() -> ApiError {
    ApiError::new(
        Code::Unavailable,
        "The service is currently unavailable (injected by runiam-emulator after the write committed).",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rate: f64, codes: &[u16]) -> FaultSettings {
        FaultSettings { fail_rate: rate, fail_codes: codes.to_vec(), ..FaultSettings::default() }
    }

    #[test]
    fn same_seed_same_failures() {
        let draw = |seed| {
            let mut f = Faults::new(seed, settings(0.3, &[503, 429]));
            (0..200).map(|_| f.roll().map(|e| e.status())).collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        let failed = a.iter().flatten().count();
        assert!((30..=90).contains(&failed), "{failed}");
        assert!(a.iter().flatten().all(|c| *c == 503 || *c == 429));
        assert!(a.contains(&Some(429)) && a.contains(&Some(503)));
        assert!(Faults::new(1, settings(0.0, &[503])).roll().is_none());
        assert_eq!(
            Faults::new(1, settings(1.0, &[502])).roll().map(|e| e.body()["error"]["status"].clone()),
            Some(json!("UNAVAILABLE"))
        );
    }

    #[test]
    fn settings_are_checked_and_clamped() {
        let bad: FaultSettings = serde_json::from_value(json!({"raceRate": 2})).unwrap();
        assert_eq!(bad.check().unwrap_err().message, "raceRate must be between 0 and 1, not 2.");
        let codes: FaultSettings = serde_json::from_value(json!({"failCodes": [404]})).unwrap();
        assert!(codes.check().is_err());
        for (seconds, ok) in [(0, false), (1, true), (3600, true), (3601, false)] {
            let s: FaultSettings = serde_json::from_value(json!({ "idTokenSeconds": seconds })).unwrap();
            assert_eq!(s.check().is_ok(), ok, "{seconds}");
        }
        assert_eq!(FaultSettings::default().id_token_seconds, 3600);
        assert!(serde_json::from_value::<FaultSettings>(json!({"nope": 1})).is_err());
        let mut f = Faults::new(1, FaultSettings { race_rate: 1.0, commit_then_fail: 1.0, ..FaultSettings::default() });
        assert!(f.race() && f.commit_then_fail() && f.roll().is_none());
        f.set(FaultSettings { race_rate: f64::NAN, ..FaultSettings::default() });
        assert!(!f.race());
    }
}
