//! Cloud Monitoring v3 `projects.alertPolicies` (create, list, delete):
//! the log-match alert policy that watches a service's request log on
//! Google's side once a fix is verified; and `projects.timeSeries`
//! (create, list): the self-healing loop's `autofix_count` and
//! `autofix_refused` points, and the hourly count it is limited by.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::config::Api;
use crate::http::{ApiError, Http, api_url};

/// `AlertPolicy`, the fields runiam reads; the rest kept in `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertPolicy {
    /// `projects/P/alertPolicies/ID`, assigned by Monitoring.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notification_channels: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    #[serde(default)]
    alert_policies: Vec<AlertPolicy>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// A custom metric point runiam writes: an INT64 GAUGE on the `global`
/// resource (automatically created descriptors must be GAUGE or
/// CUMULATIVE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GaugePoint {
    /// `custom.googleapis.com/...`.
    pub metric_type: String,
    pub labels: BTreeMap<String, String>,
    pub value: i64,
    pub at: DateTime<Utc>,
}

impl GaugePoint {
    /// The `TimeSeries` of `projects.timeSeries.create`.
    fn wire(&self, project: &str) -> Value {
        serde_json::json!({
            "metric": {"type": self.metric_type, "labels": self.labels},
            "resource": {"type": "global", "labels": {"project_id": project}},
            "metricKind": "GAUGE",
            "valueType": "INT64",
            "points": [{
                "interval": {"endTime": self.at.to_rfc3339_opts(SecondsFormat::Micros, true)},
                "value": {"int64Value": self.value.to_string()},
            }],
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SeriesPage {
    #[serde(default)]
    time_series: Vec<Value>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// Cloud Monitoring v3.
#[derive(Clone)]
pub struct Monitoring {
    pub(crate) http: Arc<Http>,
    pub(crate) base: Url,
}

impl Monitoring {
    /// Creates `policy` in `project`; Monitoring names it.
    pub async fn create_alert_policy(&self, project: &str, policy: &AlertPolicy) -> Result<AlertPolicy, ApiError> {
        let url = api_url(&self.base, &["v3", "projects", project, "alertPolicies"]);
        let body = serde_json::to_value(policy).expect("alert policies serialize");
        self.http.json(Api::Monitoring, Method::POST, url, Some(&body)).await
    }

    /// Every alert policy of `project`, all pages.
    pub async fn list_alert_policies(&self, project: &str) -> Result<Vec<AlertPolicy>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = api_url(&self.base, &["v3", "projects", project, "alertPolicies"]);
            url.query_pairs_mut().append_pair("pageSize", "1000");
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let page: ListResponse = self.http.json(Api::Monitoring, Method::GET, url, None).await?;
            out.extend(page.alert_policies);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// The policy `name` (`projects/P/alertPolicies/ID`).
    pub async fn get_alert_policy(&self, name: &str) -> Result<AlertPolicy, ApiError> {
        let url = api_url(&self.base, &["v3", name]);
        self.http.json(Api::Monitoring, Method::GET, url, None).await
    }

    /// Writes `points` in one `timeSeries.create`; each must be of its own
    /// series (Monitoring takes one point per series per request).
    pub async fn create_time_series(&self, project: &str, points: &[GaugePoint]) -> Result<(), ApiError> {
        if points.is_empty() {
            return Ok(());
        }
        let url = api_url(&self.base, &["v3", "projects", project, "timeSeries"]);
        let series: Vec<Value> = points.iter().map(|p| p.wire(project)).collect();
        let body = serde_json::json!({ "timeSeries": series });
        let _: Value = self.http.json(Api::Monitoring, Method::POST, url, Some(&body)).await?;
        Ok(())
    }

    /// The sum of every INT64 point of `metric_type` in `project` with
    /// `labels` (all of them; none: every series) whose end time falls in
    /// `(start, end]`, summed by Monitoring (one alignment
    /// period over the whole interval, ALIGN_SUM then REDUCE_SUM). A metric
    /// never written (Monitoring answers 404 until a first point creates
    /// its descriptor) sums to 0.
    pub async fn sum_points(
        &self,
        project: &str,
        metric_type: &str,
        labels: &BTreeMap<String, String>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<i64, ApiError> {
        let period = (end - start).num_seconds().max(60);
        let start = end - chrono::Duration::seconds(period);
        let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
        let quote = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
        let mut filter = format!("metric.type = {}", quote(metric_type));
        for (k, v) in labels {
            filter.push_str(&format!(" AND metric.labels.{k} = {}", quote(v)));
        }
        let mut total = 0;
        let mut token: Option<String> = None;
        loop {
            let mut url = api_url(&self.base, &["v3", "projects", project, "timeSeries"]);
            url.query_pairs_mut()
                .append_pair("filter", &filter)
                .append_pair("interval.startTime", &stamp(start))
                .append_pair("interval.endTime", &stamp(end))
                .append_pair("aggregation.alignmentPeriod", &format!("{period}s"))
                .append_pair("aggregation.perSeriesAligner", "ALIGN_SUM")
                .append_pair("aggregation.crossSeriesReducer", "REDUCE_SUM")
                .append_pair("view", "FULL");
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let page: SeriesPage = match self.http.json(Api::Monitoring, Method::GET, url, None).await {
                Ok(page) => page,
                Err(e) if e.is_not_found() => return Ok(total),
                Err(e) => return Err(e),
            };
            total += page
                .time_series
                .iter()
                .flat_map(|s| s["points"].as_array().cloned().unwrap_or_default())
                .map(|p| int64(&p["value"]))
                .sum::<i64>();
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(total),
            }
        }
    }

    /// Deletes `name` (`projects/P/alertPolicies/ID`).
    pub async fn delete_alert_policy(&self, name: &str) -> Result<(), ApiError> {
        let url = api_url(&self.base, &["v3", name]);
        let _: Value = self.http.json(Api::Monitoring, Method::DELETE, url, None).await?;
        Ok(())
    }
}

/// A `TypedValue`'s INT64 (a decimal string on the wire); 0 for any other.
fn int64(value: &Value) -> i64 {
    match &value["int64Value"] {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}
