//! Per-minute rate quotas, as Google enforces them on Cloud Asset
//! Inventory's searches: a count per metric and consumer in synchronized
//! one-minute windows, and 429 RESOURCE_EXHAUSTED with Google's
//! `RATE_LIMIT_EXCEEDED` ErrorInfo once a window is spent. The emulator
//! serves one consumer, so "per project" is one counter per metric; "per
//! organization" counts every call whose scope lies in that organization.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::errors::{ApiError, Code};

const WINDOW: Duration = Duration::from_secs(60);

/// One quota limit: its metric and limit names as Google's ErrorInfo
/// metadata spells them, and its documented per-minute value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub metric: &'static str,
    pub name: &'static str,
    pub per_minute: u32,
}

/// Cloud Asset Inventory's documented defaults (docs/emulator.md).
pub const SEARCH_IAM_PER_PROJECT: Limit = Limit {
    metric: "cloudasset.googleapis.com/search_all_iam_policies_requests",
    name: "SearchAllIamPoliciesRequestsPerMinutePerProject",
    per_minute: 400,
};
pub const SEARCH_IAM_PER_ORG: Limit = Limit {
    metric: "cloudasset.googleapis.com/search_all_iam_policies_requests_per_org",
    name: "SearchAllIamPoliciesRequestsPerMinutePerOrganization",
    per_minute: 3000,
};
pub const SEARCH_RESOURCES_PER_PROJECT: Limit = Limit {
    metric: "cloudasset.googleapis.com/search_all_resources_requests",
    name: "SearchAllResourcesRequestsPerMinutePerProject",
    per_minute: 400,
};
pub const SEARCH_RESOURCES_PER_ORG: Limit = Limit {
    metric: "cloudasset.googleapis.com/search_all_resources_requests_per_org",
    name: "SearchAllResourcesRequestsPerMinutePerOrganization",
    per_minute: 1500,
};

/// The windows under way, by (metric, consumer).
#[derive(Debug, Default)]
pub struct Quotas {
    windows: HashMap<(&'static str, String), (Instant, u32)>,
}

impl Quotas {
    /// Counts one call against `limit` for `consumer`; `cap` lowers the
    /// limit (the `assetQuotaPerMinute` knob). The call is refused, and not
    /// counted, once the window is spent.
    pub fn take(&mut self, limit: Limit, consumer: &str, cap: Option<u32>) -> Result<(), ApiError> {
        let allowed = cap.map_or(limit.per_minute, |c| c.min(limit.per_minute));
        let now = Instant::now();
        let entry = self.windows.entry((limit.metric, consumer.to_owned())).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= allowed {
            let left = WINDOW.saturating_sub(now.duration_since(entry.0));
            return Err(exhausted(limit, consumer, allowed, left));
        }
        entry.1 += 1;
        Ok(())
    }

    /// Forgets every window (the reset knob).
    pub fn clear(&mut self) {
        self.windows.clear();
    }
}

/// Google's answer to a spent rate quota.
fn exhausted(limit: Limit, consumer: &str, allowed: u32, left: Duration) -> ApiError {
    ApiError::new(
        Code::ResourceExhausted,
        format!(
            "Quota exceeded for quota metric '{}' and limit '{}' of service 'cloudasset.googleapis.com' for consumer '{consumer}'.",
            limit.metric, limit.name
        ),
    )
    .with_reason(
        "RATE_LIMIT_EXCEEDED",
        "googleapis.com",
        json!({
            "service": "cloudasset.googleapis.com",
            "consumer": consumer,
            "quota_metric": limit.metric,
            "quota_limit": limit.name,
            "quota_limit_value": allowed.to_string(),
        }),
    )
    .with_detail(json!({
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": format!("{}s", left.as_secs().max(1)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_window_answers_429_with_googles_body() {
        let mut q = Quotas::default();
        for _ in 0..3 {
            q.take(SEARCH_IAM_PER_PROJECT, "projects/1", Some(3)).unwrap();
        }
        let e = q.take(SEARCH_IAM_PER_PROJECT, "projects/1", Some(3)).unwrap_err();
        assert_eq!(e.status(), 429);
        let body = e.body();
        assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(body["error"]["details"][0]["reason"], "RATE_LIMIT_EXCEEDED");
        assert_eq!(body["error"]["details"][0]["metadata"]["quota_limit_value"], "3");
        // Other metrics and consumers have their own windows.
        q.take(SEARCH_RESOURCES_PER_PROJECT, "projects/1", Some(3)).unwrap();
        q.take(SEARCH_IAM_PER_PROJECT, "projects/2", Some(3)).unwrap();
        // A knob never raises Google's limit.
        let mut q = Quotas::default();
        for _ in 0..400 {
            q.take(SEARCH_IAM_PER_PROJECT, "c", Some(10_000)).unwrap();
        }
        assert!(q.take(SEARCH_IAM_PER_PROJECT, "c", Some(10_000)).is_err());
        q.clear();
        assert!(q.take(SEARCH_IAM_PER_PROJECT, "c", None).is_ok());
    }
}
