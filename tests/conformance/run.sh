#!/usr/bin/env bash
# Conformance of runiam-emulator's control plane and tokens with Google's official
# Python clients (REST transport, anonymous credentials).
#
#   tests/conformance/run.sh            # builds the emulator if needed
#
# Creates target/conformance-venv on first use (pip install from PyPI).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
venv="target/conformance-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import google.cloud.run_v2, google.cloud.resourcemanager_v3' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check google-cloud-run google-cloud-resource-manager
fi
# The token checks: google-cloud-iam, google-auth with requests, and pyjwt
# (google-auth needs it to verify against a JWKS).
if ! "$venv/bin/python" -c 'import google.cloud.iam_credentials_v1, google.oauth2.id_token, requests, jwt' 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check google-cloud-iam 'google-auth[requests]' pyjwt
fi
# The diagnosis checks: Logging, IAM v2 deny policies, Org Policy v2, Policy Troubleshooter v3.
if ! "$venv/bin/python" -c 'import google.cloud.logging, google.cloud.iam_v2, google.cloud.orgpolicy_v2, google.cloud.policytroubleshooter_iam_v3' 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check google-cloud-logging google-cloud-iam google-cloud-org-policy google-cloud-policytroubleshooter-iam
fi
# The caller sources read in every location: Cloud Tasks v2 and Workflows v1.
if ! "$venv/bin/python" -c 'import google.cloud.tasks_v2, google.cloud.workflows_v1' 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check google-cloud-tasks google-cloud-workflows
fi
# Monitoring alert policies through the discovery-based client.
if ! "$venv/bin/python" -c 'import googleapiclient.discovery, httplib2' 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check google-api-python-client
fi
# Cloud Asset Inventory's searches and export lines.
if ! "$venv/bin/python" -c 'import google.cloud.asset_v1' 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check google-cloud-asset
fi
cargo build --quiet --bin runiam-emulator --bin runiam

out="$(mktemp)"
target/debug/runiam-emulator --world examples/acme-world.yaml --listen 127.0.0.1:0 >"$out" 2>target/conformance-emulator.log &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 100); do
  [ -s "$out" ] && break
  kill -0 "$pid" 2>/dev/null || { cat target/conformance-emulator.log >&2; exit 1; }
  sleep 0.1
done
url="$(head -n1 "$out")"
[ -n "$url" ] || { echo "the emulator printed no URL" >&2; exit 1; }
"$venv/bin/python" tests/conformance/control_plane.py "$url"
# Asset Inventory searches (org, folder, project scopes) and the export fixtures.
"$venv/bin/python" tests/conformance/asset.py "$url"
# Logging, deny policies, org policy and the troubleshooter; the script resets the world first.
"$venv/bin/python" tests/conformance/diagnosis_apis.py "$url"
# The alert policy runiam verify --create-alert leaves; the script resets the world first.
"$venv/bin/python" tests/conformance/alert_policies.py "$url" target/debug/runiam
# The self-healing loop's autofix points, written and read back; the script resets the world first.
"$venv/bin/python" tests/conformance/time_series.py "$url"

# Tokens (metadata server, IAM Credentials) and the front end that accepts them.
tokens_out="$(mktemp)"
target/debug/runiam-emulator --world tests/data/frontend-world.yaml --listen 127.0.0.1:0 >"$tokens_out" 2>target/conformance-tokens-emulator.log &
tokens_pid=$!
trap 'kill "$pid" "$tokens_pid" 2>/dev/null || true; wait "$pid" "$tokens_pid" 2>/dev/null || true; rm -f "$out" "$tokens_out"' EXIT
for _ in $(seq 1 100); do
  [ -s "$tokens_out" ] && break
  kill -0 "$tokens_pid" 2>/dev/null || { cat target/conformance-tokens-emulator.log >&2; exit 1; }
  sleep 0.1
done
tokens_url="$(head -n1 "$tokens_out")"
[ -n "$tokens_url" ] || { echo "the emulator printed no URL" >&2; exit 1; }
"$venv/bin/python" tests/conformance/tokens.py "$tokens_url"

# Cloud Tasks queues and workflows, as troubleshoot's discovery reads them.
callers_out="$(mktemp)"
target/debug/runiam-emulator --world tests/e2e/data/callers-world.yaml --listen 127.0.0.1:0 >"$callers_out" 2>target/conformance-callers-emulator.log &
callers_pid=$!
trap 'kill "$pid" "$tokens_pid" "$callers_pid" 2>/dev/null || true; wait "$pid" "$tokens_pid" "$callers_pid" 2>/dev/null || true; rm -f "$out" "$tokens_out" "$callers_out"' EXIT
for _ in $(seq 1 100); do
  [ -s "$callers_out" ] && break
  kill -0 "$callers_pid" 2>/dev/null || { cat target/conformance-callers-emulator.log >&2; exit 1; }
  sleep 0.1
done
callers_url="$(head -n1 "$callers_out")"
[ -n "$callers_url" ] || { echo "the emulator printed no URL" >&2; exit 1; }
"$venv/bin/python" tests/conformance/callers.py "$callers_url"
