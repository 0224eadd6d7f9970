"""Google's discovery-based Python client (google-api-python-client) against the
Cloud Monitoring v3 alertPolicies of runiam-emulator: the alert policy that
`runiam verify --create-alert` leaves is read back as Google's client sees it, a patch
replaces the fields of its update mask, `runiam verify --delete-alert` removes it, and
Monitoring's validation answers 400 INVALID_ARGUMENT naming the field.

Usage: alert_policies.py http://127.0.0.1:PORT path/to/runiam
       (the emulator serving examples/acme-world.yaml)

The client is built from monitoring.v3.json beside this script (Google's discovery
document), pointed at the emulator with client_options, without credentials.

Each check prints one line; the last line is 'N passed, N failed' and the exit code is
non-zero when any check failed.
"""

import json
import os
import subprocess
import sys
import tempfile
import traceback
import urllib.request

import httplib2
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError

HELLO = "projects/acme-prod/locations/europe-west1/services/hello"
CALLER = "serviceAccount:checkout-runtime@acme-prod.iam.gserviceaccount.com"
DISPLAY = "runiam: Cloud Run 401/403 on " + HELLO


def monitoring(url):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "monitoring.v3.json")) as f:
        doc = f.read()
    return build_from_document(doc, http=httplib2.Http(), client_options={"api_endpoint": url + "/"})


def runiam(url, binary, args, stdin=""):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "RUNIAM_EMULATOR_HOST": url}
    # grant-invoker --apply writes its backup under the working directory.
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run(
            [os.path.abspath(binary)] + args, input=stdin, capture_output=True, text=True, env=env, timeout=120, cwd=cwd
        )


def runiams_policy(m):
    policies = m.projects().alertPolicies().list(name="projects/acme-prod").execute().get("alertPolicies", [])
    return [p for p in policies if p["displayName"] == DISPLAY]


def check_create_alert_is_read_back(m, url, binary):
    grant = runiam(url, binary, ["grant-invoker", HELLO, "--member", CALLER, "--apply", "--yes", "-o", "yaml"])
    assert grant.returncode == 0, grant.stderr
    made = runiam(url, binary, ["verify", "--create-alert", "--notify", "7", "-o", "json"], grant.stdout)
    assert made.returncode == 0, made.stdout + made.stderr
    report = json.loads(made.stdout.splitlines()[0])
    alert = [c for c in report["checks"] if c["name"] == "alert"][0]
    name = alert["evidence"][0]["data"]["name"]
    [listed] = runiams_policy(m)
    assert listed["name"] == name, listed
    got = m.projects().alertPolicies().get(name=name).execute()
    assert got["enabled"] is True, got
    assert got["combiner"] == "OR", got
    assert got["notificationChannels"] == ["projects/acme-prod/notificationChannels/7"], got
    assert got["alertStrategy"]["notificationRateLimit"]["period"] == "300s", got
    assert got["userLabels"]["runiam"] == "verify", got
    [condition] = got["conditions"]
    assert condition["name"].startswith(name + "/conditions/"), condition
    log_filter = condition["conditionMatchedLog"]["filter"]
    assert 'resource.labels.service_name="hello"' in log_filter, log_filter
    assert "httpRequest.status=(401 OR 403)" in log_filter, log_filter
    assert got["creationRecord"]["mutateTime"], got
    assert got["documentation"]["mimeType"] == "text/markdown", got


def check_patch_replaces_the_masked_field(m, url, binary):
    [policy] = runiams_policy(m)
    doc = {"content": "Page the payments on-call.", "mimeType": "text/markdown"}
    patched = m.projects().alertPolicies().patch(
        name=policy["name"], updateMask="documentation", body={"documentation": doc, "displayName": "ignored"}
    ).execute()
    assert patched["documentation"] == doc, patched
    assert patched["displayName"] == DISPLAY, patched
    assert patched["creationRecord"] == policy["creationRecord"], patched
    again = m.projects().alertPolicies().get(name=policy["name"]).execute()
    assert again["documentation"] == doc, again


def check_delete_alert_removes_it(m, url, binary):
    [policy] = runiams_policy(m)
    gone = runiam(url, binary, ["verify", "--delete-alert", policy["name"]])
    assert gone.returncode == 0, gone.stderr
    try:
        m.projects().alertPolicies().get(name=policy["name"]).execute()
        raise AssertionError("still there after --delete-alert")
    except HttpError as e:
        assert e.resp.status == 404, e
    assert runiams_policy(m) == []


def check_validation_names_the_field(m, url, binary):
    body = {"displayName": "no limit", "conditions": [{"displayName": "d", "conditionMatchedLog": {"filter": "x"}}]}
    try:
        m.projects().alertPolicies().create(name="projects/acme-prod", body=body).execute()
        raise AssertionError("created without notificationRateLimit")
    except HttpError as e:
        assert e.resp.status == 400, e
        error = json.loads(e.content)["error"]
        assert error["status"] == "INVALID_ARGUMENT", error
        field = error["details"][0]["fieldViolations"][0]["field"]
        assert field == "alert_policy.alert_strategy.notification_rate_limit", error


def main():
    url, binary = sys.argv[1].rstrip("/"), sys.argv[2]
    urllib.request.urlopen(urllib.request.Request(url + "/emulator/v1/reset", data=b"{}", method="POST")).read()
    checks = [
        check_create_alert_is_read_back,
        check_patch_replaces_the_masked_field,
        check_delete_alert_removes_it,
        check_validation_names_the_field,
    ]
    run_checks(checks, monitoring(url), url, binary)


def run_checks(checks, *args):
    """Runs each check with args, one line each, then 'N passed, N failed'; exits 1 on a failure."""
    passed = failed = 0
    for check in checks:
        try:
            check(*args)
            print(f"ok   {check.__name__}")
            passed += 1
        except Exception:
            print(f"FAIL {check.__name__}")
            traceback.print_exc()
            failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
