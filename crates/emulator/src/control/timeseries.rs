//! Cloud Monitoring v3 `projects.timeSeries`: `create` and `list`
//! (docs/emulator.md). A write auto-creates the metric's descriptor as
//! Monitoring does for `custom.googleapis.com/` types: its kind from the
//! series (GAUGE or CUMULATIVE only), its value type from the point
//! (BOOL, INT64, DOUBLE). Each refusal is Monitoring's 400 naming the
//! field; a request is written whole or not at all. `list` evaluates
//! conjunctions of `=` on `metric.type`, `resource.type` and their labels,
//! the interval, and the aligners and reducers `ALIGN_NONE|SUM|COUNT` and
//! `REDUCE_NONE|SUM|COUNT` with `groupByFields`. The operator needs
//! `monitoring.timeSeries.create` or `.list` on the project.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::monitoring::{bad, project};
use super::{Answer, Call, page};
use crate::authz::require;
use crate::errors::{ApiError, Code};
use crate::metrics::{Labels, Point, SeriesKey};
use crate::state::State;

/// Series per `create` request.
const MAX_SERIES: usize = 200;
/// Monitoring refuses points of one series closer together than this.
const SAMPLING_SECS: i64 = 5;
/// How far back and ahead of now a point may be written.
const PAST_HOURS: i64 = 25;
const FUTURE_MINUTES: i64 = 5;
const MAX_LABELS: usize = 30;

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    if call.verb.is_some() {
        return None;
    }
    match segs {
        ["v3", "projects", p, "timeSeries"] if call.is("POST") => Some(create(state, call, p)),
        ["v3", "projects", p, "timeSeries"] if call.is("GET") => Some(list(state, call, p)),
        _ => None,
    }
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn labels(v: Option<&Value>, field: &str) -> Result<Labels, ApiError> {
    let Some(map) = v.and_then(Value::as_object) else { return Ok(Labels::new()) };
    if map.len() > MAX_LABELS {
        return Err(bad(field, &map.len().to_string(), "at most 30 labels."));
    }
    let mut out = Labels::new();
    for (k, v) in map {
        let key_ok = k.len() <= 100
            && k.starts_with(|c: char| c.is_ascii_lowercase())
            && k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            return Err(bad(
                &format!("{field}[{k}]"),
                k,
                "label keys are lowercase letters, digits and underscores, starting with a letter, at most 100 characters.",
            ));
        }
        let v = v.as_str().ok_or_else(|| bad(&format!("{field}[{k}]"), &v.to_string(), "label values are strings."))?;
        if v.len() > 1024 {
            return Err(bad(&format!("{field}[{k}]"), v, "label values are at most 1024 bytes."));
        }
        out.insert(k.clone(), v.to_owned());
    }
    Ok(out)
}

fn timestamp(raw: &str, field: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad(field, raw, "not an RFC 3339 timestamp, such as \"2026-01-02T15:04:05Z\"."))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A point's value type and its normalized value (`int64Value` as a string).
fn typed(value: &Value, field: &str) -> Result<(&'static str, Value), ApiError> {
    let set: Vec<(&String, &Value)> = value.as_object().into_iter().flatten().filter(|(_, v)| !v.is_null()).collect();
    let [(kind, v)] = set.as_slice() else {
        return Err(bad(field, &value.to_string(), "a TypedValue holds exactly one value."));
    };
    let int = || match v {
        Value::String(s) => s.parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    match kind.as_str() {
        "int64Value" => int().map(|n| ("INT64", json!({"int64Value": n.to_string()}))),
        "doubleValue" => v.as_f64().map(|n| ("DOUBLE", json!({"doubleValue": n}))),
        "boolValue" => v.as_bool().map(|b| ("BOOL", json!({"boolValue": b}))),
        "stringValue" | "distributionValue" => {
            return Err(bad(
                &format!("{field}.{kind}"),
                &v.to_string(),
                "automatically created metric descriptors take BOOL, INT64, DOUBLE or DISTRIBUTION points; the emulator writes BOOL, INT64 and DOUBLE.",
            ));
        }
        _ => None,
    }
    .ok_or_else(|| bad(&format!("{field}.{kind}"), &v.to_string(), "not a value of that type."))
}

/// One validated series of a create request.
struct Write {
    key: SeriesKey,
    kind: String,
    value_type: &'static str,
    point: Point,
}

fn check_series(project: &str, i: usize, ts: &Value, now: DateTime<Utc>) -> Result<Write, ApiError> {
    let f = |rest: &str| format!("timeSeries[{i}].{rest}");
    let metric = text(ts, "/metric/type");
    if !metric.starts_with("custom.googleapis.com/") || metric.len() <= "custom.googleapis.com/".len() {
        return Err(bad(&f("metric.type"), metric, "the emulator writes custom metrics, custom.googleapis.com/NAME."));
    }
    let resource = text(ts, "/resource/type");
    if resource != "global" {
        return Err(bad(&f("resource.type"), resource, "the emulator writes to the global monitored resource."));
    }
    let mut resource_labels = labels(ts.pointer("/resource/labels"), &f("resource.labels"))?;
    resource_labels.entry("project_id".into()).or_insert_with(|| project.to_owned());
    let kind = match text(ts, "/metricKind") {
        "" | "METRIC_KIND_UNSPECIFIED" => "GAUGE",
        k => k,
    };
    let points = ts.get("points").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let [point] = points else {
        return Err(bad(
            &f("points"),
            &points.len().to_string(),
            "Only one point can be written per TimeSeries per request.",
        ));
    };
    let (value_type, value) = typed(point.get("value").unwrap_or(&Value::Null), &f("points[0].value"))?;
    let declared = text(ts, "/valueType");
    if !declared.is_empty() && declared != "VALUE_TYPE_UNSPECIFIED" && declared != value_type {
        return Err(bad(&f("valueType"), declared, &format!("the point is of type {value_type}.")));
    }
    let end_raw = text(point, "/interval/endTime");
    if end_raw.is_empty() {
        return Err(bad(&f("points[0].interval.end_time"), "", "The end time must be specified."));
    }
    let end = timestamp(end_raw, &f("points[0].interval.end_time"))?;
    let start = match text(point, "/interval/startTime") {
        "" => None,
        raw => Some(timestamp(raw, &f("points[0].interval.start_time"))?),
    };
    let start = match (kind, start) {
        ("GAUGE", None) => end,
        ("GAUGE", Some(s)) if s == end => end,
        ("GAUGE", Some(s)) => {
            return Err(bad(
                &f("points[0].interval.start_time"),
                &stamp(s),
                "The start time must be equal to the end time for the gauge metric.",
            ));
        }
        ("CUMULATIVE", Some(s)) if s < end => s,
        ("CUMULATIVE", s) => {
            return Err(bad(
                &f("points[0].interval.start_time"),
                &s.map(stamp).unwrap_or_default(),
                "The start time must be before the end time for the cumulative metric.",
            ));
        }
        _ => {
            return Err(bad(
                &f("metric_kind"),
                kind,
                "The metric kind of an automatically created metric descriptor must be GAUGE or CUMULATIVE.",
            ));
        }
    };
    if end < now - Duration::hours(PAST_HOURS) {
        return Err(bad(&f("points[0].interval.end_time"), end_raw, "The point is older than 25 hours."));
    }
    if end > now + Duration::minutes(FUTURE_MINUTES) {
        return Err(bad(&f("points[0].interval.end_time"), end_raw, "The point is more than 5 minutes in the future."));
    }
    let key = SeriesKey {
        project: project.to_owned(),
        metric: metric.to_owned(),
        labels: labels(ts.pointer("/metric/labels"), &f("metric.labels"))?,
        resource: resource.to_owned(),
        resource_labels,
    };
    Ok(Write { key, kind: kind.to_owned(), value_type, point: Point { start, end, value } })
}

fn create(state: &mut State, call: &Call, p: &str) -> Answer {
    let project = project(state, p)?;
    require(state, &format!("projects/{project}"), "monitoring.timeSeries.create", &format!("projects/{p}"))?;
    let all = call.field(&["timeSeries", "time_series"]).and_then(Value::as_array).cloned().unwrap_or_default();
    if all.is_empty() || all.len() > MAX_SERIES {
        return Err(bad("timeSeries", &all.len().to_string(), "a request writes from 1 to 200 time series."));
    }
    let now = Utc::now();
    let store = &state.metrics;
    let mut writes: Vec<Write> = Vec::new();
    for (i, ts) in all.iter().enumerate() {
        let w = check_series(&project, i, ts, now)?;
        if writes.iter().any(|o| o.key == w.key) {
            return Err(bad(
                &format!("timeSeries[{i}]"),
                &w.key.metric,
                "Duplicate TimeSeries encountered. Only one point can be written per TimeSeries per request.",
            ));
        }
        let known = store.descriptors.get(&(project.clone(), w.key.metric.clone()));
        let pending = writes.iter().find(|o| o.key.metric == w.key.metric).map(|o| (o.kind.as_str(), o.value_type));
        if let Some((kind, value_type)) = known.map(|(k, v)| (k.as_str(), v.as_str())).or(pending) {
            if kind != w.kind {
                return Err(bad(
                    &format!("timeSeries[{i}].metric_kind"),
                    &w.kind,
                    &format!("must match the metric kind of {} ({kind}).", w.key.metric),
                ));
            }
            if value_type != w.value_type {
                return Err(ApiError::invalid_field(
                    &format!("timeSeries[{i}].value_type"),
                    format!("Value type for metric {} must be {value_type}, but is {}.", w.key.metric, w.value_type),
                ));
            }
        }
        if let Some(last) = store.series.get(&w.key).and_then(|s| s.last()) {
            if w.point.end <= last.end {
                return Err(ApiError::invalid_field(
                    &format!("timeSeries[{i}].points[0].interval.end_time"),
                    "Points must be written in order. One or more of the points specified had an older start time than the most recent point.",
                ));
            }
            if w.point.end - last.end < Duration::seconds(SAMPLING_SECS) {
                return Err(ApiError::invalid_field(
                    &format!("timeSeries[{i}].points[0].interval.end_time"),
                    "One or more points were written more frequently than the maximum sampling period configured for the metric.",
                ));
            }
        }
        writes.push(w);
    }
    for w in writes {
        state
            .metrics
            .descriptors
            .entry((project.clone(), w.key.metric.clone()))
            .or_insert((w.kind, w.value_type.into()));
        state.metrics.series.entry(w.key).or_default().push(w.point);
    }
    Ok(json!({}))
}

/// What a `list` filter asks for: `metric.type` and `=` restrictions.
#[derive(Debug, Default)]
struct Filter {
    metric: String,
    terms: Vec<(String, String)>,
}

/// `metric.type = "X" AND metric.labels.K = "V" AND resource.type = "global"`.
fn parse_filter(raw: &str) -> Result<Filter, ApiError> {
    let unsupported = || {
        bad(
            "filter",
            raw,
            "the emulator evaluates conjunctions (AND) of FIELD = \"VALUE\" on metric.type, resource.type, metric.label(s).KEY and resource.label(s).KEY.",
        )
    };
    let mut out = Filter::default();
    for term in raw.split(" AND ").map(str::trim).filter(|t| !t.is_empty()) {
        let (field, value) = term.split_once('=').ok_or_else(unsupported)?;
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).ok_or_else(unsupported)?;
        if value.replace("\\\\", "").replace("\\\"", "").contains('"') {
            return Err(unsupported());
        }
        let value = value.replace("\\\"", "\"").replace("\\\\", "\\");
        let field = field.trim();
        let field = field.replace(".labels.", ".label.");
        match field.as_str() {
            "metric.type" if out.metric.is_empty() => out.metric = value,
            "resource.type" => out.terms.push((field, value)),
            f if (f.starts_with("metric.label.") || f.starts_with("resource.label.")) && !f.ends_with('.') => {
                out.terms.push((field, value))
            }
            _ => return Err(unsupported()),
        }
    }
    if out.metric.is_empty() {
        return Err(bad("filter", raw, "A filter must specify a single metric type (metric.type = \"...\")."));
    }
    Ok(out)
}

/// The value of a filter or group-by field of a series.
fn field_of<'a>(key: &'a SeriesKey, field: &str) -> Option<&'a str> {
    if field == "resource.type" {
        return Some(&key.resource);
    }
    if let Some(l) = field.strip_prefix("metric.label.").or_else(|| field.strip_prefix("metric.labels.")) {
        return key.labels.get(l).map(String::as_str);
    }
    let l = field.strip_prefix("resource.label.").or_else(|| field.strip_prefix("resource.labels."))?;
    key.resource_labels.get(l).map(String::as_str)
}

fn int_of(value: &Value) -> i64 {
    match value.get("int64Value") {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

const ALIGNERS: [&str; 3] = ["ALIGN_NONE", "ALIGN_SUM", "ALIGN_COUNT"];
const REDUCERS: [&str; 3] = ["REDUCE_NONE", "REDUCE_SUM", "REDUCE_COUNT"];

/// A series as `list` answers it.
struct Out {
    key: SeriesKey,
    kind: String,
    value_type: String,
    points: Vec<Point>,
}

fn list(state: &State, call: &Call, p: &str) -> Answer {
    let project = project(state, p)?;
    require(state, &format!("projects/{project}"), "monitoring.timeSeries.list", &format!("projects/{p}"))?;
    let filter = parse_filter(call.param(&["filter"]).unwrap_or_default())?;
    let end_raw = call.param(&["interval.endTime", "interval.end_time"]).unwrap_or_default();
    if end_raw.is_empty() {
        return Err(bad("interval.end_time", "", "The end time must be specified."));
    }
    let end = timestamp(end_raw, "interval.end_time")?;
    let start = match call.param(&["interval.startTime", "interval.start_time"]).unwrap_or_default() {
        "" => end,
        raw => timestamp(raw, "interval.start_time")?,
    };
    if start > end {
        return Err(bad("interval.start_time", &stamp(start), "The start time must not be later than the end time."));
    }
    for unsupported in ["orderBy", "order_by", "secondaryAggregation.perSeriesAligner"] {
        if call.param(&[unsupported]).is_some_and(|v| !v.is_empty()) {
            return Err(bad(unsupported, call.param(&[unsupported]).unwrap_or_default(), "must be left blank."));
        }
    }
    let headers = match call.param(&["view"]).unwrap_or("FULL") {
        "FULL" | "" => false,
        "HEADERS" => true,
        v => return Err(bad("view", v, "must be FULL or HEADERS.")),
    };
    let (aligner, reducer, period) = aggregation(call)?;
    let Some((kind, value_type)) = state.metrics.descriptors.get(&(project.clone(), filter.metric.clone())) else {
        return Err(ApiError::new(
            Code::NotFound,
            format!("Cannot find metric(s) that match type = \"{}\".", filter.metric),
        ));
    };
    let within = |t: DateTime<Utc>| if start == end { t == end } else { start < t && t <= end };
    let mut series: Vec<Out> = state
        .metrics
        .series
        .iter()
        .filter(|(k, _)| k.project == project && k.metric == filter.metric)
        .filter(|(k, _)| filter.terms.iter().all(|(f, v)| field_of(k, f) == Some(v.as_str())))
        .map(|(k, points)| Out {
            key: k.clone(),
            kind: kind.clone(),
            value_type: value_type.clone(),
            // Newest first, as Monitoring answers.
            points: points.iter().rev().filter(|p| within(p.end)).cloned().collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if let Some(period) = period {
        series = series.into_iter().map(|s| align(s, aligner, end, period)).collect();
    }
    if reducer != "REDUCE_NONE" {
        let by: Vec<String> = call
            .param(&["aggregation.groupByFields", "aggregation.group_by_fields"])
            .map(|v| v.split(',').map(|f| f.trim().to_owned()).filter(|f| !f.is_empty()).collect())
            .unwrap_or_default();
        series = reduce(series, reducer, &by);
    }
    let rendered: Vec<Value> = series.iter().map(|s| render(s, headers)).collect();
    let size = call.count_param(&["pageSize", "page_size"])?.unwrap_or(100_000).min(100_000);
    let (items, next) = page(&rendered, size, call.param(&["pageToken", "page_token"]))?;
    let mut out = json!({ "timeSeries": items });
    if let Some(t) = next {
        out["nextPageToken"] = json!(t);
    }
    Ok(out)
}

/// `aggregation.*`: the aligner, the reducer, and the alignment period
/// (none with ALIGN_NONE).
fn aggregation<'a>(call: &'a Call) -> Result<(&'a str, &'a str, Option<Duration>), ApiError> {
    let aligner =
        call.param(&["aggregation.perSeriesAligner", "aggregation.per_series_aligner"]).unwrap_or("ALIGN_NONE");
    let reducer =
        call.param(&["aggregation.crossSeriesReducer", "aggregation.cross_series_reducer"]).unwrap_or("REDUCE_NONE");
    if !ALIGNERS.contains(&aligner) {
        return Err(bad(
            "aggregation.per_series_aligner",
            aligner,
            "the emulator aligns with ALIGN_NONE, ALIGN_SUM and ALIGN_COUNT.",
        ));
    }
    if !REDUCERS.contains(&reducer) {
        return Err(bad(
            "aggregation.cross_series_reducer",
            reducer,
            "the emulator reduces with REDUCE_NONE, REDUCE_SUM and REDUCE_COUNT.",
        ));
    }
    let period = match aligner {
        "ALIGN_NONE" => None,
        _ => {
            let raw = call.param(&["aggregation.alignmentPeriod", "aggregation.alignment_period"]).unwrap_or_default();
            let secs = raw.strip_suffix('s').and_then(|n| n.parse::<f64>().ok());
            match secs {
                // At most 104 weeks, Monitoring's longest.
                Some(s) if (60.0..=62_899_200.0).contains(&s) => Some(Duration::milliseconds((s * 1000.0) as i64)),
                _ => {
                    return Err(bad(
                        "aggregation.alignment_period",
                        raw,
                        "The alignment period must be from 60 seconds (\"60s\") to 104 weeks.",
                    ));
                }
            }
        }
    };
    if reducer != "REDUCE_NONE" && period.is_none() {
        return Err(bad(
            "aggregation.per_series_aligner",
            aligner,
            "a cross-series reducer needs a per-series aligner other than ALIGN_NONE.",
        ));
    }
    Ok((aligner, reducer, period))
}

/// Buckets `(end - (k+1)·period, end - k·period]`, each holding points
/// summed or counted into one (the points are already those after `start`).
fn align(s: Out, aligner: &str, end: DateTime<Utc>, period: Duration) -> Out {
    let mut buckets: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let width = period.num_milliseconds().max(1);
    for p in &s.points {
        let slot = buckets.entry((end - p.end).num_milliseconds() / width).or_default();
        slot.0 += 1;
        slot.1 += int_of(&p.value);
    }
    let points = buckets
        .into_iter()
        .map(|(k, (count, sum))| {
            let bucket_end = end - Duration::milliseconds(k * width);
            let n = if aligner == "ALIGN_COUNT" { count } else { sum };
            Point { start: bucket_end - period, end: bucket_end, value: json!({"int64Value": n.to_string()}) }
        })
        .collect();
    Out { kind: "GAUGE".into(), value_type: "INT64".into(), points, ..s }
}

/// Aligned points by end time: their start and the reduced value.
type Buckets = BTreeMap<DateTime<Utc>, (DateTime<Utc>, i64)>;

/// Series with equal group-by fields combined, point by aligned end time.
fn reduce(series: Vec<Out>, reducer: &str, by: &[String]) -> Vec<Out> {
    let mut groups: BTreeMap<Vec<Option<String>>, (SeriesKey, Buckets)> = BTreeMap::new();
    for s in series {
        let group: Vec<Option<String>> = by.iter().map(|f| field_of(&s.key, f).map(str::to_owned)).collect();
        let key = SeriesKey {
            project: s.key.project.clone(),
            metric: s.key.metric.clone(),
            labels: kept(&s.key.labels, by, "metric.label."),
            resource: s.key.resource.clone(),
            resource_labels: kept(&s.key.resource_labels, by, "resource.label."),
        };
        let entry = groups.entry(group).or_insert_with(|| (key, BTreeMap::new()));
        for p in s.points {
            let slot = entry.1.entry(p.end).or_insert((p.start, 0));
            slot.1 += if reducer == "REDUCE_COUNT" { 1 } else { int_of(&p.value) };
        }
    }
    groups
        .into_values()
        .map(|(key, points)| Out {
            key,
            kind: "GAUGE".into(),
            value_type: "INT64".into(),
            points: points
                .into_iter()
                .rev()
                .map(|(end, (start, n))| Point { start, end, value: json!({"int64Value": n.to_string()}) })
                .collect(),
        })
        .collect()
}

/// The labels a reduction keeps: those named by `groupByFields`.
fn kept(labels: &Labels, by: &[String], prefix: &str) -> Labels {
    labels
        .iter()
        .filter(|(k, _)| by.iter().any(|f| f.replace(".labels.", ".label.").strip_prefix(prefix) == Some(k.as_str())))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn render(s: &Out, headers: bool) -> Value {
    let mut out = Map::new();
    out.insert("metric".into(), json!({"type": s.key.metric, "labels": s.key.labels}));
    out.insert("resource".into(), json!({"type": s.key.resource, "labels": s.key.resource_labels}));
    out.insert("metricKind".into(), json!(s.kind));
    out.insert("valueType".into(), json!(s.value_type));
    if !headers {
        let points: Vec<Value> = s
            .points
            .iter()
            .map(|p| json!({"interval": {"startTime": stamp(p.start), "endTime": stamp(p.end)}, "value": p.value}))
            .collect();
        out.insert("points".into(), json!(points));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{ApiRequest, Reply, dispatch};

    /// The acme world with no operator: these tests are about Monitoring's
    /// answers, not about who may call it (its ops@ may only read).
    fn state() -> std::sync::Mutex<State> {
        let text = include_str!("../../../../examples/acme-world.yaml");
        let mut world = crate::World::parse(text, "acme-world.yaml").unwrap();
        world.operator = None;
        std::sync::Mutex::new(State::new(world))
    }

    fn send(state: &std::sync::Mutex<State>, method: &str, query: &str, body: Value) -> Reply {
        let request = ApiRequest {
            method: method.into(),
            path: "/v3/projects/acme-prod/timeSeries".into(),
            query: query.into(),
            body: if body.is_null() { Vec::new() } else { body.to_string().into_bytes() },
            ..Default::default()
        };
        dispatch(state, &request)
    }

    fn point(labels: Value, value: Value, at: DateTime<Utc>) -> Value {
        json!({
            "metric": {"type": "custom.googleapis.com/runiam/autofix_count", "labels": labels},
            "resource": {"type": "global", "labels": {"project_id": "acme-prod"}},
            "metricKind": "GAUGE",
            "valueType": "INT64",
            "points": [{"interval": {"endTime": stamp(at)}, "value": value}],
        })
    }

    fn field(r: &Reply) -> String {
        r.body["error"]["details"][0]["fieldViolations"][0]["field"].as_str().unwrap_or_default().to_owned()
    }

    fn query(start: DateTime<Utc>, end: DateTime<Utc>, rest: &str) -> String {
        let filter = "metric.type = \"custom.googleapis.com/runiam/autofix_count\"";
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("filter", filter)
            .append_pair("interval.startTime", &stamp(start))
            .append_pair("interval.endTime", &stamp(end));
        format!("{}{rest}", q.finish())
    }

    #[test]
    fn an_operator_without_the_monitoring_permissions_is_refused_and_each_check_recorded() {
        let s = state();
        s.lock().unwrap().world.operator = Some("user:nobody@acme.example".into());
        let now = Utc::now();
        let labels = json!({"service": "hello", "member": "serviceAccount:a@x", "finding": "no-invoker"});
        let write = send(&s, "POST", "", json!({"timeSeries": [point(labels, json!({"int64Value": "1"}), now)]}));
        let read = send(&s, "GET", &query(now - Duration::hours(1), now, ""), Value::Null);
        for (reply, permission) in [(&write, "monitoring.timeSeries.create"), (&read, "monitoring.timeSeries.list")] {
            assert_eq!(reply.status, 403, "{:#}", reply.body);
            assert_eq!(reply.body["error"]["details"][0]["metadata"]["permission"], permission, "{:#}", reply.body);
        }
        let knob = ApiRequest { method: "GET".into(), path: "/emulator/v1/checks".into(), ..Default::default() };
        let record = dispatch(&s, &knob).body;
        let requests = record["requests"].as_array().unwrap();
        assert_eq!(requests.len(), 2, "the knob itself is not recorded: {record:#}");
        let seen: Vec<(&Value, &Value, &Value)> = requests
            .iter()
            .map(|r| (&r["status"], &r["checks"][0]["permission"], &r["checks"][0]["granted"]))
            .collect();
        assert_eq!(
            seen,
            [
                (&json!(403), &json!("monitoring.timeSeries.create"), &json!(false)),
                (&json!(403), &json!("monitoring.timeSeries.list"), &json!(false)),
            ]
        );
        assert_eq!(requests[0]["checks"][0]["resource"], "projects/acme-prod");
    }

    #[test]
    fn points_written_are_listed_newest_first_and_summed_by_the_aligner_and_reducer() {
        let s = state();
        let now = Utc::now();
        let before = now - Duration::seconds(30);
        let a = json!({"service": "hello", "member": "serviceAccount:a@x", "finding": "no-invoker"});
        let b = json!({"service": "api", "member": "serviceAccount:b@x", "finding": "no-invoker"});
        let first = send(&s, "POST", "", json!({"timeSeries": [point(a.clone(), json!({"int64Value": "1"}), before)]}));
        assert_eq!(first.status, 200, "{:#}", first.body);
        let second = send(
            &s,
            "POST",
            "",
            json!({"timeSeries": [point(a.clone(), json!({"int64Value": "2"}), now), point(b, json!({"int64Value": 1}), now)]}),
        );
        assert_eq!(second.status, 200, "{:#}", second.body);
        let raw = send(&s, "GET", &query(now - Duration::hours(1), now, ""), Value::Null);
        assert_eq!(raw.status, 200, "{:#}", raw.body);
        let series = raw.body["timeSeries"].as_array().unwrap();
        assert_eq!(series.len(), 2);
        let hello = series.iter().find(|t| t["metric"]["labels"]["service"] == "hello").unwrap();
        let values: Vec<&Value> =
            hello["points"].as_array().unwrap().iter().map(|p| &p["value"]["int64Value"]).collect();
        assert_eq!(values, [&json!("2"), &json!("1")]);
        let api_only = query(now - Duration::hours(1), now, "")
            .replace("autofix_count%22", "autofix_count%22+AND+metric.labels.service+%3D+%22api%22");
        let api = send(&s, "GET", &api_only, Value::Null);
        assert_eq!(api.body["timeSeries"].as_array().unwrap().len(), 1, "{:#}", api.body);
        assert_eq!(api.body["timeSeries"][0]["metric"]["labels"]["member"], "serviceAccount:b@x");
        let last_hour =
            |aggregation: &str| send(&s, "GET", &query(now - Duration::hours(1), now, aggregation), Value::Null);
        let summed = last_hour(
            "&aggregation.alignmentPeriod=3600s&aggregation.perSeriesAligner=ALIGN_SUM&aggregation.crossSeriesReducer=REDUCE_SUM",
        );
        assert_eq!(summed.status, 200, "{:#}", summed.body);
        assert_eq!(summed.body["timeSeries"].as_array().unwrap().len(), 1);
        assert_eq!(summed.body["timeSeries"][0]["points"][0]["value"]["int64Value"], "4");
        let grouped = last_hour(
            "&aggregation.alignmentPeriod=3600s&aggregation.perSeriesAligner=ALIGN_COUNT&aggregation.crossSeriesReducer=REDUCE_SUM&aggregation.groupByFields=metric.label.service",
        );
        let counts: BTreeMap<String, String> = grouped.body["timeSeries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["metric"]["labels"]["service"].as_str().unwrap().to_owned(),
                    t["points"][0]["value"]["int64Value"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(counts, BTreeMap::from([("api".into(), "1".into()), ("hello".into(), "2".into())]));
        let old = send(&s, "GET", &query(now - Duration::hours(2), now - Duration::minutes(90), ""), Value::Null);
        assert_eq!(old.body["timeSeries"], json!([]));
    }

    #[test]
    fn bad_points_and_descriptors_are_refused_naming_the_field_and_write_nothing() {
        let s = state();
        let now = Utc::now();
        let labels = json!({"service": "hello"});
        let refused = |ts: Value| {
            let r = send(&s, "POST", "", json!({"timeSeries": [ts]}));
            assert_eq!(r.status, 400, "{:#}", r.body);
            field(&r)
        };
        let mut delta = point(labels.clone(), json!({"int64Value": "1"}), now);
        delta["metricKind"] = json!("DELTA");
        delta["points"][0]["interval"]["startTime"] = json!(stamp(now - Duration::seconds(60)));
        assert_eq!(refused(delta), "timeSeries[0].metric_kind");
        let mut two = point(labels.clone(), json!({"int64Value": "1"}), now);
        two["points"] = json!([two["points"][0], two["points"][0]]);
        assert_eq!(refused(two), "timeSeries[0].points");
        let mut spread = point(labels.clone(), json!({"int64Value": "1"}), now);
        spread["points"][0]["interval"]["startTime"] = json!(stamp(now - Duration::seconds(1)));
        assert_eq!(refused(spread), "timeSeries[0].points[0].interval.start_time");
        assert_eq!(
            refused(point(labels.clone(), json!({"stringValue": "x"}), now)),
            "timeSeries[0].points[0].value.stringValue"
        );
        assert_eq!(
            refused(point(labels.clone(), json!({"int64Value": "one"}), now)),
            "timeSeries[0].points[0].value.int64Value"
        );
        assert_eq!(
            refused(point(json!({"Bad": "x"}), json!({"int64Value": "1"}), now)),
            "timeSeries[0].metric.labels[Bad]"
        );
        let mut double = point(labels.clone(), json!({"doubleValue": 1.5}), now);
        double["valueType"] = json!("INT64");
        assert_eq!(refused(double), "timeSeries[0].valueType");
        let mut twice = json!({"timeSeries": [point(labels.clone(), json!({"int64Value": "1"}), now), point(labels.clone(), json!({"int64Value": "1"}), now)]});
        assert_eq!(field(&send(&s, "POST", "", twice.take())), "timeSeries[1]");
        let never = send(&s, "GET", &query(now - Duration::hours(1), now, ""), Value::Null);
        assert_eq!(never.status, 404, "nothing was written, so no descriptor: {:#}", never.body);

        let ok = send(&s, "POST", "", json!({"timeSeries": [point(labels.clone(), json!({"int64Value": "1"}), now)]}));
        assert_eq!(ok.status, 200);
        let mut other_type = point(json!({"service": "api"}), json!({"doubleValue": 2.0}), now);
        other_type["valueType"] = json!("DOUBLE");
        assert_eq!(refused(other_type), "timeSeries[0].value_type");
        assert_eq!(
            refused(point(labels.clone(), json!({"int64Value": "1"}), now + Duration::seconds(2))),
            "timeSeries[0].points[0].interval.end_time"
        );
        assert_eq!(
            refused(point(labels, json!({"int64Value": "1"}), now - Duration::seconds(10))),
            "timeSeries[0].points[0].interval.end_time"
        );
        let unaligned = send(
            &s,
            "GET",
            &query(now - Duration::hours(1), now, "&aggregation.perSeriesAligner=ALIGN_SUM"),
            Value::Null,
        );
        assert_eq!(field(&unaligned), "aggregation.alignment_period");
        let no_end =
            send(&s, "GET", "filter=metric.type%3D%22custom.googleapis.com%2Fruniam%2Fautofix_count%22", Value::Null);
        assert_eq!(field(&no_end), "interval.end_time");
    }

    proptest::proptest! {
        #[test]
        fn no_filter_or_body_panics(text in "\\PC{0,120}", n in proptest::num::i64::ANY, key in "[a-zA-Z_]{0,8}") {
            let _ = parse_filter(&text);
            let s = state();
            let now = Utc::now();
            let mut ts = point(json!({key.clone(): text.clone()}), json!({"int64Value": n.to_string()}), now);
            ts["metricKind"] = json!(text.clone());
            let _ = send(&s, "POST", "", json!({"timeSeries": [ts]}));
            let q = format!("filter={}&interval.endTime={}&aggregation.perSeriesAligner=ALIGN_SUM&aggregation.alignmentPeriod={}", text, text, key);
            let _ = send(&s, "GET", &q, Value::Null);
        }
    }

    #[test]
    fn filters_outside_the_evaluated_grammar_are_refused() {
        assert!(parse_filter("metric.type = \"custom.googleapis.com/a\" AND metric.labels.service = \"x\"").is_ok());
        for raw in [
            "",
            "resource.type = \"global\"",
            "metric.type = custom",
            "metric.type = \"a\" OR metric.type = \"b\"",
            "metric.label. = \"x\" AND metric.type = \"a\"",
        ] {
            assert!(parse_filter(raw).is_err(), "{raw}");
        }
    }
}
