"""The start-up peer of `cargo xtask bench startup`: what `runiam export SERVICE`
does (one service and its IAM policy), with Google's official Python client for
Cloud Run (REST transport, anonymous credentials) pointed at runiam-emulator.

Usage: get_service.py http://127.0.0.1:PORT projects/P/locations/R/services/S
"""
import sys

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2

endpoint, name = sys.argv[1], sys.argv[2]
client = run_v2.ServicesClient(
    credentials=AnonymousCredentials(), transport="rest", client_options=ClientOptions(api_endpoint=endpoint)
)
service = client.get_service(name=name)
policy = client.get_iam_policy(request={"resource": name})
print(service.name, len(policy.bindings))
