"""Google's official Python clients against the caller sources of runiam-emulator
that troubleshoot reads in every location: Cloud Tasks v2 queues (and their
queued tasks) and Workflows v1.

Usage: callers.py http://127.0.0.1:PORT   (the emulator serving tests/e2e/data/callers-world.yaml)

Every client runs over HTTP/JSON with anonymous credentials. Each check prints one
line; the last line is 'N passed, N failed' and the exit code is non-zero when any
check failed.
"""

import sys
import traceback

from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2, workflows_v1
from google.cloud.location import locations_pb2

SERVICE_URL_HOST = "api-830000000016.europe-west1.run.app"


class Clients:
    def __init__(self, url):
        rest = {
            "credentials": AnonymousCredentials(),
            "transport": "rest",
            "client_options": ClientOptions(api_endpoint=url),
        }
        self.tasks = tasks_v2.CloudTasksClient(**rest)
        self.workflows = workflows_v1.WorkflowsClient(**rest)


def check_tasks_locations_list(c):
    response = c.tasks.list_locations(locations_pb2.ListLocationsRequest(name="projects/cwp-tasks"))
    ids = [l.location_id for l in response.locations]
    assert "us-east1" in ids and "europe-west1" in ids, ids


def check_tasks_queues_list_and_get(c):
    queues = list(c.tasks.list_queues(parent="projects/cwp-tasks/locations/europe-west1"))
    names = [q.name for q in queues]
    assert names == [
        "projects/cwp-tasks/locations/europe-west1/queues/hooks",
        "projects/cwp-tasks/locations/europe-west1/queues/other",
        "projects/cwp-tasks/locations/europe-west1/queues/plain",
    ], names
    hooks = queues[0].http_target
    assert hooks.uri_override.host == SERVICE_URL_HOST, hooks
    assert hooks.uri_override.scheme == tasks_v2.UriOverride.Scheme.HTTPS, hooks
    assert hooks.uri_override.path_override.path == "/hook", hooks
    assert hooks.oidc_token.service_account_email == "hook@cwp-tasks.iam.gserviceaccount.com", hooks
    assert queues[0].state == tasks_v2.Queue.State.RUNNING
    jobs = c.tasks.get_queue(name="projects/cwp-tasks/locations/us-east1/queues/jobs")
    assert jobs.http_target.oidc_token.service_account_email == "tasks@cwp-tasks.iam.gserviceaccount.com", jobs
    try:
        c.tasks.get_queue(name="projects/cwp-tasks/locations/us-east1/queues/nope")
        raise AssertionError("a missing queue was found")
    except exceptions.NotFound:
        pass


def check_tasks_list_basic_view(c):
    tasks = list(c.tasks.list_tasks(parent="projects/cwp-tasks/locations/us-west1/queues/mail"))
    assert [t.name.rsplit("/", 1)[1] for t in tasks] == ["1001", "1002", "1003"], tasks
    first = tasks[0]
    assert first.view == tasks_v2.Task.View.BASIC, first.view
    assert first.http_request.url == f"https://{SERVICE_URL_HOST}", first.http_request
    assert first.http_request.http_method == tasks_v2.HttpMethod.POST, first.http_request
    assert first.http_request.oidc_token.service_account_email == "mailer@cwp-tasks.iam.gserviceaccount.com"


def check_workflows_list_and_get(c):
    flows = list(c.workflows.list_workflows(parent="projects/cwp-tasks/locations/asia-east1"))
    assert [w.name for w in flows] == ["projects/cwp-tasks/locations/asia-east1/workflows/pipeline"], flows
    w = flows[0]
    assert w.service_account == "projects/cwp-tasks/serviceAccounts/flow@cwp-tasks.iam.gserviceaccount.com", w
    assert "auth: {type: OIDC}" in w.source_contents, w.source_contents
    assert w.state == workflows_v1.Workflow.State.ACTIVE
    assert c.workflows.get_workflow(name=w.name).source_contents == w.source_contents
    try:
        c.workflows.get_workflow(name="projects/cwp-tasks/locations/asia-east1/workflows/nope")
        raise AssertionError("a missing workflow was found")
    except exceptions.NotFound:
        pass


def check_disabled_apis_and_denied_reads(c):
    for call in (
        lambda: list(c.tasks.list_queues(parent="projects/cwp-off/locations/us-east1")),
        lambda: list(c.workflows.list_workflows(parent="projects/cwp-off/locations/us-east1")),
    ):
        try:
            call()
            raise AssertionError("a disabled API answered")
        except exceptions.Forbidden as e:
            assert e.reason == "SERVICE_DISABLED", (e.reason, e)
    try:
        list(c.workflows.list_workflows(parent="projects/cwp-deny/locations/us-east1"))
        raise AssertionError("a denied list answered")
    except exceptions.Forbidden as e:
        assert e.reason == "IAM_PERMISSION_DENIED", (e.reason, e)
        assert "workflows.workflows.list" in str(e), e


def main():
    if len(sys.argv) != 2 or not sys.argv[1].startswith("http://"):
        print("usage: callers.py http://127.0.0.1:PORT", file=sys.stderr)
        return 2
    c = Clients(sys.argv[1])
    checks = [(n, f) for n, f in globals().items() if n.startswith("check_")]
    passed = failed = 0
    for name, check in checks:
        try:
            check(c)
            passed += 1
            print(f"ok   {name[len('check_'):]}")
        except Exception:  # noqa: BLE001 - every failure is reported, then counted
            failed += 1
            print(f"FAIL {name[len('check_'):]}")
            traceback.print_exc()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
