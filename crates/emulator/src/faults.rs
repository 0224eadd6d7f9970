//! Fault injection for the control plane: a fixed added latency, and a
//! seeded share of requests answered with an error code instead, so a
//! client's retries can be tested and the same seed fails the same calls.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

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

/// Seconds clients are told to wait; small, because clients honour it.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// Latency and seeded failures.
#[derive(Debug)]
pub struct Faults {
    latency: Duration,
    rate: f64,
    codes: Vec<u16>,
    rng: Mutex<StdRng>,
}

impl Faults {
    /// `rate` is clamped to 0..=1; codes outside `FAULT_CODES` are ignored
    /// (the CLI refuses them before this point).
    pub fn new(seed: u64, latency: Duration, rate: f64, codes: &[u16]) -> Self {
        let codes = codes.iter().copied().filter(|c| code_for(*c).is_some()).collect();
        Self {
            latency,
            rate: if rate.is_finite() { rate.clamp(0.0, 1.0) } else { 0.0 },
            codes,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// The injected failure for the next request, if it draws one.
    pub fn roll(&self) -> Option<ApiError> {
        if self.rate <= 0.0 || self.codes.is_empty() {
            return None;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if rng.random::<f64>() >= self.rate {
            return None;
        }
        let http = self.codes[rng.random_range(0..self.codes.len())];
        drop(rng);
        code_for(http).map(|code| injected(http, code))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_failures() {
        let draw = |seed| {
            let f = Faults::new(seed, Duration::ZERO, 0.3, &[503, 429]);
            (0..200).map(|_| f.roll().map(|e| e.status())).collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        let failed = a.iter().flatten().count();
        assert!((30..=90).contains(&failed), "{failed}");
        assert!(a.iter().flatten().all(|c| *c == 503 || *c == 429));
        assert!(a.contains(&Some(429)) && a.contains(&Some(503)));
        assert!(Faults::new(1, Duration::ZERO, 0.0, &[503]).roll().is_none());
        assert_eq!(
            Faults::new(1, Duration::ZERO, 1.0, &[502]).roll().map(|e| e.body()["error"]["status"].clone()),
            Some(json!("UNAVAILABLE"))
        );
    }
}
