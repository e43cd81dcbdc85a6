#!/usr/bin/env bash
# The device API fuzzed by schemathesis (PyPI, version 4) against the OpenAPI document the
# server itself serves, with a real device token: every generated request, valid or not,
# must get a documented status with a body matching the document, and never a 5xx.
#
# Starts `sotay-server serve --plain-http` on 127.0.0.1 (a free port) with a fresh data
# folder and the demo commune, enrols a device with a code from `enrol-code`, and runs
# schemathesis with scripts/schemathesis.toml and the gzip serializer of
# scripts/schemathesis_hooks.py. Installs schemathesis into a virtualenv under target/ the
# first time (Debian: python3-venv, which `scripts/setup.sh --test` installs).
#   SOTAY_SERVER_BIN   the server binary (default target/debug/sotay-server)
#   SOTAY_ST_EXAMPLES  examples per operation (default 25)
#   SOTAY_ST_PHASES    the phases to run (default examples,coverage,fuzzing; the
#                      coverage phase alone takes about five minutes at this pace)
# Requests are paced to 3 a second, under the server's 240 a minute per device, so that
# answers are the API's own and not mostly 429s (a run takes about three minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${SOTAY_SERVER_BIN:-$PWD/target/debug/sotay-server}"
venv="$PWD/target/schemathesis-venv"
if [[ ! -x "$venv/bin/schemathesis" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis>=4,<5"
fi
"$venv/bin/schemathesis" --version

data="$(mktemp -d)"
"$bin" serve --plain-http --addr 127.0.0.1:0 --data "$data" --demo >"$data/server.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT

url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's/^sotay-server listening on \(http:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' "$data/server.log" | head -1)"
  [[ -n "$url" ]] && curl -fsS "$url/api/v1/health" >/dev/null 2>&1 && break
  sleep 0.2
done
[[ -n "$url" ]] || { echo "the server did not start:"; cat "$data/server.log"; exit 1; }

code="$("$bin" enrol-code --data "$data" | sed -n 's/^.*enrolment code: \([A-Z0-9-]*\)$/\1/p')"
token="$(curl -fsS -X POST "$url/api/v1/enrol" -H 'content-type: application/json' \
  -d "{\"api_version\":2,\"code\":\"$code\",\"device_name\":\"schemathesis\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')"

export SCHEMATHESIS_HOOKS=schemathesis_hooks
export PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}"
status=0
"$venv/bin/schemathesis" --config-file scripts/schemathesis.toml run "$url/api/v1/openapi.json" \
  --url "$url" \
  --header "Authorization: Bearer $token" \
  --max-examples "${SOTAY_ST_EXAMPLES:-25}" \
  --rate-limit 3/s \
  --phases "${SOTAY_ST_PHASES:-examples,coverage,fuzzing}" \
  --seed 1 \
  --no-color || status=$?
if (( status != 0 )); then
  echo "== server log"
  tail -50 "$data/server.log"
fi
exit "$status"
