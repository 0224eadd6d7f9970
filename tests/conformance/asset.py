"""Google's official Cloud Asset Inventory client (google-cloud-asset, REST
transport) against runiam-emulator's searches, and its `Asset` type over the
export fixtures `runiam export --from-asset-export` reads.

Usage: asset.py http://127.0.0.1:PORT   (the emulator serving examples/acme-world.yaml)

Each check prints one line; the last line is 'N passed, N failed' and the
exit code is non-zero when any check failed.
"""

import pathlib
import sys
import traceback

from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import asset_v1

ORG = "organizations/123456789012"
RUN_SERVICE = "run.googleapis.com/Service"
HELLO = "//run.googleapis.com/projects/acme-prod/locations/europe-west1/services/hello"
FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "data" / "asset-export"


def client(url):
    options = ClientOptions(api_endpoint=url)
    return asset_v1.AssetServiceClient(credentials=AnonymousCredentials(), transport="rest", client_options=options)


def check_iam_policies_follow_pages_in_every_scope(c):
    for scope in (ORG, "folders/200000000001", "projects/acme-prod", "projects/100000000001"):
        pager = c.search_all_iam_policies(request={"scope": scope, "asset_types": [RUN_SERVICE], "page_size": 1})
        found = [r.resource for r in pager]
        assert HELLO in found, (scope, found)
        assert len(found) == (4 if scope == ORG else 3), (scope, found)
    first = next(iter(c.search_all_iam_policies(request={"scope": ORG, "asset_types": [RUN_SERVICE]})))
    assert first.project == "projects/100000000001", first.project
    assert list(first.folders) == ["folders/200000000001"], list(first.folders)
    assert first.organization == ORG
    assert first.policy.bindings[0].condition.title == "until-2027"


def check_query_forms(c):
    users = list(c.search_all_iam_policies(request={"scope": ORG, "query": "memberTypes=user"}))
    assert [r.resource for r in users] == ["//run.googleapis.com/projects/acme-staging/locations/us-central1/services/hello"]
    assert [b.role for b in users[0].policy.bindings] == ["roles/run.invoker"]
    invoke = list(c.search_all_iam_policies(request={"scope": ORG, "query": "policy.role.permissions:run.routes.invoke policy:oncall"}))
    assert [r.resource for r in invoke] == ["//cloudresourcemanager.googleapis.com/folders/200000000001"], invoke
    assert list(invoke[0].explanation.matched_permissions["roles/run.invoker"].permissions) == ["run.routes.invoke"]
    named = list(c.search_all_iam_policies(request={"scope": ORG, "query": 'policy:"serviceAccount:push@acme-prod.iam.gserviceaccount.com"'}))
    assert [r.resource.rsplit("/", 1)[1] for r in named] == ["orders"], named


def check_resources_carry_both_run_versions(c):
    pager = c.search_all_resources(
        request={"scope": ORG, "asset_types": [RUN_SERVICE], "read_mask": "name,project,location,versionedResources", "page_size": 2}
    )
    results = list(pager)
    assert len(results) == 6, [r.name for r in results]
    hello = next(r for r in results if r.name == HELLO)
    assert hello.location == "europe-west1"
    versions = {v.version: v.resource for v in hello.versioned_resources}
    assert set(versions) == {"v1", "v2"}, set(versions)
    assert versions["v2"]["ingress"] == "INGRESS_TRAFFIC_ALL", versions["v2"]
    assert versions["v1"]["metadata"]["annotations"]["run.googleapis.com/ingress"] == "all"


def check_a_scope_the_world_lacks_is_denied(c):
    try:
        list(c.search_all_iam_policies(request={"scope": "organizations/1"}))
    except exceptions.Forbidden:
        return
    raise AssertionError("expected 403 Forbidden")


def check_export_fixtures_are_assets(_):
    files = sorted(FIXTURES.glob("*.json"))
    assert files, f"no fixtures in {FIXTURES}"
    seen = 0
    for f in files:
        for line in f.read_text().splitlines():
            if line.strip():
                asset = asset_v1.Asset.from_json(line)
                assert asset.name.startswith("//"), asset.name
                assert asset.resource.data or asset.iam_policy.bindings, line[:80]
                seen += 1
    assert seen >= 4, seen


def main():
    if len(sys.argv) != 2 or not sys.argv[1].startswith("http://"):
        print("usage: asset.py http://127.0.0.1:PORT", file=sys.stderr)
        return 2
    c = client(sys.argv[1])
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
