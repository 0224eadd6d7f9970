"""Google's official Python clients against the diagnosis APIs of runiam-emulator:
Logging, IAM v2 deny policies, Org Policy v2 and Policy Troubleshooter v3.

Usage: diagnosis_apis.py http://127.0.0.1:PORT   (the emulator serving examples/acme-world.yaml)

Every client runs over HTTP/JSON with anonymous credentials. google-cloud-logging's
GAPIC `logging_v2` client ships only gRPC transports, so Logging goes through the
package's own HTTP client (`logging.Client(_use_grpc=False)`), which calls the same
`POST v2/entries:list`.

Each check prints one line; the last line is 'N passed, N failed' and the exit code is
non-zero when any check failed.
"""

import sys
import traceback
import urllib.request

from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import iam_v2, orgpolicy_v2, policytroubleshooter_iam_v3, run_v2
from google.cloud import logging as cloud_logging
from google.iam.v1 import policy_pb2

HELLO = "projects/acme-prod/locations/europe-west1/services/hello"
PROD_ATTACHMENT = "policies/cloudresourcemanager.googleapis.com%2Fprojects%2Facme-prod/denypolicies"
DENY_NAME = "policies/cloudresourcemanager.googleapis.com%2Fprojects%2F100000000001/denypolicies/no-contractors"


class Clients:
    def __init__(self, url):
        options = ClientOptions(api_endpoint=url)
        anonymous = AnonymousCredentials()
        rest = {"credentials": anonymous, "transport": "rest", "client_options": options}
        self.logging = cloud_logging.Client(
            project="acme-prod", credentials=anonymous, _use_grpc=False, client_options={"api_endpoint": url}
        )
        self.deny = iam_v2.PoliciesClient(**rest)
        self.orgpolicy = orgpolicy_v2.OrgPolicyClient(**rest)
        self.troubleshooter = policytroubleshooter_iam_v3.PolicyTroubleshooterClient(**rest)
        self.run = run_v2.ServicesClient(**rest)


def check_logging_reads_the_seeded_request_log(c):
    entries = list(
        c.logging.list_entries(
            resource_names=["projects/acme-prod"],
            # Without a timestamp in the filter the client adds "the last 24 hours".
            filter_='resource.type="cloud_run_revision" AND httpRequest.status=403 AND severity>=WARNING '
            'AND timestamp>="2025-01-01T00:00:00Z"',
        )
    )
    assert [e.insert_id for e in entries] == ["65f2a1000001"], [e.insert_id for e in entries]
    assert entries[0].http_request["status"] == 403, entries[0].http_request
    assert "not authenticated" in entries[0].payload, entries[0].payload


def check_logging_audit_entry_after_set_iam_policy(c):
    policy = c.run.get_iam_policy(request={"resource": HELLO, "options": {"requested_policy_version": 3}})
    policy.bindings.append(policy_pb2.Binding(role="roles/run.invoker", members=["user:frank@acme.example"]))
    c.run.set_iam_policy(request={"resource": HELLO, "policy": policy})
    entries = list(
        c.logging.list_entries(
            resource_names=["projects/acme-prod"],
            filter_='logName:"cloudaudit.googleapis.com%2Factivity" '
            'protoPayload.methodName="google.cloud.run.v2.Services.SetIamPolicy"',
            order_by=cloud_logging.DESCENDING,
        )
    )
    assert entries, "an audit entry"
    payload = entries[0].payload
    deltas = payload["serviceData"]["policyDelta"]["bindingDeltas"]
    assert {"action": "ADD", "role": "roles/run.invoker", "member": "user:frank@acme.example"} in deltas, deltas
    assert payload["authenticationInfo"]["principalEmail"] == "ops@acme.example", payload


def check_logging_bad_filter_is_invalid_argument(c):
    try:
        list(c.logging.list_entries(resource_names=["projects/acme-prod"], filter_="severity>=ERROR )"))
    except exceptions.BadRequest as e:
        assert "line 1, column 17" in e.message, e.message
        return
    raise AssertionError("expected BadRequest")


def check_deny_policies_list_and_get(c):
    listed = list(c.deny.list_policies(parent=PROD_ATTACHMENT))
    assert [p.name for p in listed] == [DENY_NAME], [p.name for p in listed]
    assert not listed[0].rules, "list omits rules"
    policy = c.deny.get_policy(name=PROD_ATTACHMENT + "/no-contractors")
    rule = policy.rules[0].deny_rule
    assert list(rule.denied_principals) == ["principalSet://goog/group/contractors@acme.example"], rule
    assert list(rule.denied_permissions) == ["run.googleapis.com/routes.invoke"], rule
    assert policy.kind == "DenyPolicy" and policy.display_name == "Contractors never invoke production"


def check_org_policy_effective_and_not_set(c):
    name = "projects/acme-prod/policies/iam.allowedPolicyMemberDomains"
    effective = c.orgpolicy.get_effective_policy(name=name)
    assert effective.name == "projects/100000000001/policies/iam.allowedPolicyMemberDomains", effective.name
    assert list(effective.spec.rules[0].values.allowed_values) == ["C0acme01"], effective.spec
    try:
        c.orgpolicy.get_policy(name=name)
    except exceptions.NotFound:
        return
    raise AssertionError("expected NotFound where the policy is only inherited")


def troubleshoot(c, principal, permission, receive_time=None):
    tuple_ = {
        "principal": principal,
        "full_resource_name": "//run.googleapis.com/" + HELLO,
        "permission": permission,
    }
    if receive_time:
        tuple_["condition_context"] = {"request": {"receive_time": receive_time}}
    return c.troubleshooter.troubleshoot_iam_policy(request={"access_tuple": tuple_})


def check_troubleshooter_condition_and_deny(c):
    states = policytroubleshooter_iam_v3.TroubleshootIamPolicyResponse.OverallAccessState
    ok = troubleshoot(c, "sched@acme-prod.iam.gserviceaccount.com", "run.routes.invoke", "2026-06-01T00:00:00Z")
    assert ok.overall_access_state == states.CAN_ACCESS, ok.overall_access_state
    late = troubleshoot(c, "sched@acme-prod.iam.gserviceaccount.com", "run.routes.invoke", "2028-01-01T00:00:00Z")
    assert late.overall_access_state == states.CANNOT_ACCESS, late.overall_access_state
    dave = troubleshoot(c, "dave@contractor.example", "run.googleapis.com/routes.invoke")
    assert dave.overall_access_state == states.CANNOT_ACCESS, dave.overall_access_state
    assert dave.access_tuple.permission_fqdn == "run.googleapis.com/routes.invoke"
    # dave holds no grant; the deny rule still names him.
    rule = dave.deny_policy_explanation.explained_resources[0].explained_policies[0].rule_explanations[0]
    assert rule.combined_denied_principal.membership == policytroubleshooter_iam_v3.MembershipMatchingState.MEMBERSHIP_MATCHED
    carol = troubleshoot(c, "carol@acme.example", "run.routes.invoke")
    assert carol.overall_access_state == states.CAN_ACCESS, carol.overall_access_state
    folder = [p for p in carol.allow_policy_explanation.explained_policies if "folders/" in p.full_resource_name][0]
    membership = folder.binding_explanations[0].memberships["group:oncall@acme.example"].membership
    assert membership == policytroubleshooter_iam_v3.MembershipMatchingState.MEMBERSHIP_MATCHED, membership


def main():
    if len(sys.argv) != 2 or not sys.argv[1].startswith("http://"):
        print("usage: diagnosis_apis.py http://127.0.0.1:PORT", file=sys.stderr)
        return 2
    # Other scripts may have written policies first: start from the world file.
    urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/emulator/v1/reset", data=b"{}", method="POST"))
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
