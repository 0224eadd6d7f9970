"""Google's discovery-based Python client (google-api-python-client) against the
Cloud Monitoring v3 timeSeries of runiam-emulator: the self-healing loop's
autofix_count points are written and read back as Google's client sees them, summed
by the aligner and reducer the loop counts its hourly limit with, and Monitoring's
validation of points and automatically created descriptors answers 400
INVALID_ARGUMENT naming the field.

Usage: time_series.py http://127.0.0.1:PORT   (the emulator serving examples/acme-world.yaml)

Each check prints one line; the last line is 'N passed, N failed' and the exit code is
non-zero when any check failed.
"""

import datetime
import json
import sys
import urllib.request

from googleapiclient.errors import HttpError

from alert_policies import monitoring, run_checks

METRIC = "custom.googleapis.com/runiam/autofix_count"
PROJECT = "projects/acme-prod"


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def series(service, value, at, kind="GAUGE"):
    return {
        "metric": {"type": METRIC, "labels": {"service": service, "member": "serviceAccount:a@acme-prod.iam.gserviceaccount.com", "finding": "no-invoker"}},
        "resource": {"type": "global", "labels": {"project_id": "acme-prod"}},
        "metricKind": kind,
        "valueType": "INT64",
        "points": [{"interval": {"endTime": stamp(at)}, "value": {"int64Value": str(value)}}],
    }


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def listed(m, start, end, **aggregation):
    return m.projects().timeSeries().list(
        name=PROJECT,
        filter=f'metric.type = "{METRIC}"',
        interval_startTime=stamp(start),
        interval_endTime=stamp(end),
        view="FULL",
        **aggregation,
    ).execute().get("timeSeries", [])


def check_points_are_read_back(m):
    at = now()
    m.projects().timeSeries().create(name=PROJECT, body={"timeSeries": [series("hello", 1, at), series("api", 2, at)]}).execute()
    got = listed(m, at - datetime.timedelta(minutes=5), at + datetime.timedelta(seconds=1))
    by_service = {s["metric"]["labels"]["service"]: s for s in got}
    assert sorted(by_service) == ["api", "hello"], got
    hello = by_service["hello"]
    assert hello["metricKind"] == "GAUGE" and hello["valueType"] == "INT64", hello
    assert hello["resource"] == {"type": "global", "labels": {"project_id": "acme-prod"}}, hello
    [point] = hello["points"]
    assert point["value"] == {"int64Value": "1"}, point
    assert point["interval"]["endTime"] == point["interval"]["startTime"], point


def check_the_hourly_sum(m):
    end = now() + datetime.timedelta(seconds=1)
    got = listed(m, end - datetime.timedelta(hours=1), end, aggregation_alignmentPeriod="3600s",
                 aggregation_perSeriesAligner="ALIGN_SUM", aggregation_crossSeriesReducer="REDUCE_SUM")
    [total] = got
    assert total["points"][0]["value"] == {"int64Value": "3"}, total


def refused_field(m, body):
    try:
        m.projects().timeSeries().create(name=PROJECT, body=body).execute()
    except HttpError as e:
        assert e.resp.status == 400, e
        error = json.loads(e.content)["error"]
        assert error["status"] == "INVALID_ARGUMENT", error
        return error["details"][0]["fieldViolations"][0]["field"]
    raise AssertionError("written")


def check_bad_points_name_the_field(m):
    at = now()
    delta = series("new", 1, at, kind="DELTA")
    delta["metric"]["type"] = "custom.googleapis.com/runiam/delta"
    delta["points"][0]["interval"]["startTime"] = stamp(at - datetime.timedelta(minutes=1))
    assert refused_field(m, {"timeSeries": [delta]}) == "timeSeries[0].metric_kind"
    two = series("hello", 1, at)
    two["points"] *= 2
    assert refused_field(m, {"timeSeries": [two]}) == "timeSeries[0].points"
    double = series("hello", 1, at)
    double["valueType"] = "DOUBLE"
    double["points"][0]["value"] = {"doubleValue": 1.5}
    assert refused_field(m, {"timeSeries": [double]}) == "timeSeries[0].value_type"


def main():
    url = sys.argv[1].rstrip("/")
    urllib.request.urlopen(urllib.request.Request(url + "/emulator/v1/reset", data=b"{}", method="POST")).read()
    run_checks([check_points_are_read_back, check_the_hourly_sum, check_bad_points_name_the_field], monitoring(url))


if __name__ == "__main__":
    main()
