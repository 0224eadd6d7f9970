"""Google's official Python clients against runiam-emulator's control plane.

Usage: control_plane.py http://127.0.0.1:PORT   (the emulator serving examples/acme-world.yaml)

Each check prints one line; the last line is 'N passed, N failed' and the
exit code is non-zero when any check failed.
"""

import sys
import traceback

from google.api import launch_stage_pb2
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import resourcemanager_v3, run_v2
from google.iam.v1 import policy_pb2

HELLO = "projects/acme-prod/locations/europe-west1/services/hello"
STAGING_HELLO = "projects/acme-staging/locations/us-central1/services/hello"
CONCURRENT = "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff."


def clients(url):
    # The REST transport prefixes https:// unless the endpoint carries a scheme.
    options = ClientOptions(api_endpoint=url)
    run = run_v2.ServicesClient(credentials=AnonymousCredentials(), transport="rest", client_options=options)
    projects = resourcemanager_v3.ProjectsClient(credentials=AnonymousCredentials(), transport="rest", client_options=options)
    return run, projects


def check_get_service(run, _):
    svc = run.get_service(name=HELLO)
    assert svc.name == HELLO, svc.name
    assert svc.uri == "https://hello-100000000001.europe-west1.run.app", svc.uri
    assert svc.ingress == run_v2.IngressTraffic.INGRESS_TRAFFIC_ALL, svc.ingress
    assert svc.launch_stage == launch_stage_pb2.GA, svc.launch_stage
    assert svc.generation == 1, svc.generation
    assert svc.template.service_account == "100000000001-compute@developer.gserviceaccount.com"
    assert svc.terminal_condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED
    assert len(svc.urls) == 2 and svc.urls[1].endswith("-ew.a.run.app"), list(svc.urls)
    assert not svc.invoker_iam_disabled


def check_list_services_follows_pages(run, _):
    pager = run.list_services(request={"parent": "projects/acme-prod/locations/us-central1", "page_size": 1})
    names = [s.name for s in pager]
    assert names == [
        "projects/acme-prod/locations/us-central1/services/checkout",
        "projects/acme-prod/locations/us-central1/services/status-page",
    ], names
    status_page = run.get_service(name=names[1])
    assert status_page.invoker_iam_disabled


def check_missing_service_is_not_found(run, _):
    try:
        run.get_service(name="projects/acme-prod/locations/europe-west1/services/nope")
    except exceptions.NotFound:
        return
    raise AssertionError("expected NotFound")


def check_service_policy_read_modify_write(run, _):
    policy = run.get_iam_policy(request={"resource": STAGING_HELLO, "options": {"requested_policy_version": 3}})
    assert policy.etag, "an etag"
    before = policy.etag
    policy.bindings.append(policy_pb2.Binding(role="roles/run.invoker", members=["user:erin@acme.example"]))
    written = run.set_iam_policy(request={"resource": STAGING_HELLO, "policy": policy})
    assert written.etag != before, (written.etag, before)
    members = [m for b in written.bindings if b.role == "roles/run.invoker" for m in b.members]
    assert "user:erin@acme.example" in members, members
    again = run.get_iam_policy(request={"resource": STAGING_HELLO, "options": {"requested_policy_version": 3}})
    assert again.etag == written.etag


def assert_aborted(call):
    """A stale etag is 409 ABORTED on the wire.

    api_core's REST path picks the exception class from the HTTP status
    alone (from_http_status), and its table maps 409 to Conflict, the base
    class of Aborted; only the gRPC path raises Aborted itself. So the check
    is Conflict plus the envelope's status and Google's exact message.
    """
    try:
        call()
    except exceptions.Conflict as e:
        error = e.response.json()["error"]
        assert e.code == 409 and error["code"] == 409, error
        assert error["status"] == "ABORTED", error
        assert error["message"] == CONCURRENT, error["message"]
        return
    raise AssertionError("expected 409 ABORTED")


def check_stale_etag_is_aborted(run, _):
    policy = run.get_iam_policy(request={"resource": STAGING_HELLO, "options": {"requested_policy_version": 3}})
    run.set_iam_policy(request={"resource": STAGING_HELLO, "policy": policy})
    assert_aborted(lambda: run.set_iam_policy(request={"resource": STAGING_HELLO, "policy": policy}))


def check_conditional_policy_below_version_3(run, _):
    v1 = run.get_iam_policy(request={"resource": HELLO, "options": {"requested_policy_version": 1}})
    assert v1.version == 1, v1.version
    roles = [b.role for b in v1.bindings]
    assert any(r.startswith("roles/run.invoker_withcond_") for r in roles), roles
    assert all(not b.condition.expression for b in v1.bindings)
    v3 = run.get_iam_policy(request={"resource": HELLO, "options": {"requested_policy_version": 3}})
    assert v3.version == 3 and v3.bindings[0].condition.title == "until-2027", v3


def check_conditions_need_version_3(run, _):
    policy = run.get_iam_policy(request={"resource": HELLO, "options": {"requested_policy_version": 3}})
    policy.version = 1
    try:
        run.set_iam_policy(request={"resource": HELLO, "policy": policy})
    except exceptions.BadRequest:
        return
    raise AssertionError("expected BadRequest")


def check_test_iam_permissions(run, _):
    got = run.test_iam_permissions(request={"resource": HELLO, "permissions": ["run.routes.invoke", "run.services.get"]})
    assert list(got.permissions) == ["run.routes.invoke", "run.services.get"], got


def check_get_project(_, projects):
    for name in ("projects/acme-prod", "projects/100000000001"):
        p = projects.get_project(name=name)
        assert p.name == "projects/100000000001", p.name
        assert p.project_id == "acme-prod" and p.parent == "folders/200000000001", p
        assert p.state == resourcemanager_v3.Project.State.ACTIVE, p.state


def check_project_policy_read_modify_write(_, projects):
    policy = projects.get_iam_policy(request={"resource": "projects/acme-staging", "options": {"requested_policy_version": 3}})
    assert [b.role for b in policy.bindings] == ["roles/editor"], policy
    policy.bindings.append(policy_pb2.Binding(role="roles/run.viewer", members=["group:oncall@acme.example"]))
    written = projects.set_iam_policy(request={"resource": "projects/acme-staging", "policy": policy})
    assert written.etag != policy.etag
    assert_aborted(lambda: projects.set_iam_policy(request={"resource": "projects/acme-staging", "policy": policy}))


def check_missing_project_is_not_found(_, projects):
    try:
        projects.get_project(name="projects/no-such-project")
    except exceptions.NotFound:
        return
    raise AssertionError("expected NotFound")


def main():
    if len(sys.argv) != 2 or not sys.argv[1].startswith("http://"):
        print("usage: control_plane.py http://127.0.0.1:PORT", file=sys.stderr)
        return 2
    run, projects = clients(sys.argv[1])
    checks = [(n, f) for n, f in globals().items() if n.startswith("check_")]
    passed = failed = 0
    for name, check in checks:
        try:
            check(run, projects)
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
