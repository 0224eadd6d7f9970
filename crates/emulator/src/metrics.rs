//! Cloud Monitoring's store in the emulator's state: the metric
//! descriptors writes auto-create and the time series
//! (`control::timeseries` serves them, docs/emulator.md).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The metric store: descriptors auto-created by writes, and the series.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// `(project, metric type)` → `(metricKind, valueType)`.
    pub(crate) descriptors: BTreeMap<(String, String), (String, String)>,
    /// Series by `(project, metric type, metric labels, resource)`.
    pub(crate) series: BTreeMap<SeriesKey, Vec<Point>>,
}

pub(crate) type Labels = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SeriesKey {
    pub project: String,
    pub metric: String,
    pub labels: Labels,
    pub resource: String,
    pub resource_labels: Labels,
}

#[derive(Clone, Debug)]
pub(crate) struct Point {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub value: Value,
}
