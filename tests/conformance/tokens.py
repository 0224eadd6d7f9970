"""Google's own token clients against runiam-emulator, and their tokens
against its Cloud Run front end.

Usage: tokens.py http://127.0.0.1:PORT   (the emulator serving tests/data/frontend-world.yaml)

google-auth reads GCE_METADATA_HOST when it is imported, so the environment
is set before the import. Each check prints one line; the last line is
'N passed, N failed' and the exit code is non-zero when any check failed.
"""

import os
import sys
import traceback

URL = sys.argv[1]
HOSTPORT = URL.removeprefix("http://")
os.environ["GCE_METADATA_HOST"] = HOSTPORT
os.environ["GCE_METADATA_IP"] = HOSTPORT
os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)

import google.auth.jwt  # noqa: E402
import google.auth.transport.requests  # noqa: E402
import requests  # noqa: E402
from google.api_core import exceptions  # noqa: E402
from google.api_core.client_options import ClientOptions  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402
from google.cloud import iam_credentials_v1  # noqa: E402
from google.oauth2 import id_token  # noqa: E402

HOST = "hello-100000000009.europe-west1.run.app"
AUDIENCE = "https://" + HOST
SCHED = "sched@front-proj.iam.gserviceaccount.com"


def front(token, path="/"):
    return requests.get(URL + path, headers={"Host": HOST, "Authorization": "Bearer " + token}, timeout=10)


def iam():
    return iam_credentials_v1.IAMCredentialsClient(
        transport="rest", client_options=ClientOptions(api_endpoint=URL), credentials=AnonymousCredentials()
    )


def check_fetch_id_token_from_metadata():
    token = id_token.fetch_id_token(google.auth.transport.requests.Request(), AUDIENCE)
    r = front(token, "/report")
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json() == {"service": "hello", "caller": SCHED, "path": "/report"}, r.json()


def check_metadata_credentials_refresh():
    from google.auth import compute_engine

    creds = compute_engine.IDTokenCredentials(
        google.auth.transport.requests.Request(), AUDIENCE, use_metadata_identity_endpoint=True
    )
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.service_account_email == SCHED, creds.service_account_email
    assert creds.expiry is not None
    assert front(creds.token).status_code == 200


def check_generate_id_token():
    resp = iam().generate_id_token(
        name="projects/-/serviceAccounts/" + SCHED, audience=AUDIENCE + "/", include_email=True
    )
    claims = google.auth.jwt.decode(resp.token, verify=False)
    assert claims["email"] == SCHED and claims["iss"] == "https://accounts.google.com", claims
    r = front(resp.token)
    assert r.status_code == 200, (r.status_code, r.text)


def check_generate_id_token_is_verifiable_with_jwks():
    resp = iam().generate_id_token(name="projects/-/serviceAccounts/" + SCHED, audience=AUDIENCE, include_email=True)
    certs = requests.get(URL + "/oauth2/v3/certs", timeout=10).json()
    claims = id_token.verify_token(
        resp.token, google.auth.transport.requests.Request(), audience=AUDIENCE, certs_url=URL + "/oauth2/v3/certs"
    )
    assert claims["email"] == SCHED, claims
    assert certs["keys"][0]["kid"] == google.auth.jwt.decode_header(resp.token)["kid"]


def check_generate_access_token_is_not_an_id_token():
    resp = iam().generate_access_token(
        name="projects/-/serviceAccounts/" + SCHED, scope=["https://www.googleapis.com/auth/cloud-platform"]
    )
    assert resp.access_token.startswith("ya29."), resp.access_token
    assert resp.expire_time is not None
    assert front(resp.access_token).status_code == 401


def check_operator_without_token_creator_is_denied():
    try:
        iam().generate_id_token(name="projects/-/serviceAccounts/outsider@other-proj.iam.gserviceaccount.com", audience=AUDIENCE)
    except exceptions.Forbidden as e:
        assert "iam.serviceAccounts.getOpenIdToken" in e.message, e.message
        return
    raise AssertionError("expected Forbidden")


def check_unknown_account_is_not_found():
    try:
        iam().generate_id_token(name="projects/-/serviceAccounts/ghost@front-proj.iam.gserviceaccount.com", audience=AUDIENCE)
    except exceptions.NotFound:
        return
    raise AssertionError("expected NotFound")


def main():
    checks = [(n, f) for n, f in sorted(globals().items()) if n.startswith("check_")]
    failed = 0
    for name, fn in checks:
        try:
            fn()
            print(f"ok    {name}")
        except Exception:
            failed += 1
            print(f"FAIL  {name}")
            traceback.print_exc()
    print(f"{len(checks) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
