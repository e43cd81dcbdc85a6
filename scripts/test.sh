#!/usr/bin/env bash
# The whole test suite: formatting and lints, the deployment files (systemd units, the
# Containerfile), Rust tests (domain, store, SIGKILL durability, dioxus-ssr components,
# architecture), the real desktop window under Xvfb, the README's go-live walk, the
# browser flows (the App over liveview, driven by playwright-core in Debian's chromium at
# 360x740), and the device API fuzzed by schemathesis against the document the server serves.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# Each step says how much disk is left: a CI machine may have little, and a full disk shows
# up only as a linker crash (SIGBUS) otherwise.
# Each also says how long the one before took (and "done" the whole run), so a slow CI run
# shows where its time went.
step_name="" step_start=$SECONDS
step() {
  [[ -z "$step_name" ]] || echo "== $step_name took $((SECONDS - step_start)) s (whole run so far: ${SECONDS} s)"
  step_name=$1 step_start=$SECONDS
  echo "== $1 (free disk: $(df -h --output=avail . | tail -1 | tr -d ' '), target: $(du -sh target 2>/dev/null | cut -f1))"
}

step "set-up"
bash scripts/setup.sh --test

step "format and lints"
# The server builds alone, without the app (no Dioxus, reqwest or SQLCipher in it; the
# architecture tests check its `cargo tree`), as it ships: in a target folder of its own,
# since in the workspace's its dependencies take the app's features (SQLCipher among them).
# It shares almost nothing with the lints' build, so it runs beside them and fills the
# cores they leave idle. Every later step runs this binary.
server_target="$PWD/target/server-alone"
server_log="$(mktemp)"
CARGO_TARGET_DIR="$server_target" cargo build -p sotay-server > "$server_log" 2>&1 &
server_build=$!
cargo fmt --all -- --check
cargo clippy --features liveview,server --all-targets -- -D warnings

step "the server alone"
build_status=0
wait "$server_build" || build_status=$?
tail -n 3 "$server_log"
(( build_status == 0 )) || { cat "$server_log"; echo "the server alone failed to build"; exit 1; }
export SOTAY_SERVER_BIN="$server_target/debug/sotay-server"

step "phone code and deployment files"
# The Android and iOS code, compiled here for both (and shown to fail on a type error).
bash scripts/check-phone.sh --self-test
bash scripts/check-deploy.sh "$SOTAY_SERVER_BIN"

step "Rust tests"
# it::postgres needs PostgreSQL: it runs in the next step, with the server's contract.
cargo test --features liveview,server -- --skip it::postgres::

step "server contract on PostgreSQL"
# The server's tests again, each on a schema of its own in a throwaway PostgreSQL: the two
# stores pass the same tests (tests/it/stores.rs). Tests about SQLite's file itself say so
# and pass here without running. The sotay-server crate's own unit tests need no PostgreSQL
# (they ran above).
# Its own state file, so a PostgreSQL started by hand for the benches is left alone.
export SOTAY_PG_STATE="${TMPDIR:-/tmp}/sotay-postgres.test.$$"
eval "$(bash scripts/postgres.sh start)"
trap 'bash scripts/postgres.sh stop' EXIT
SOTAY_TEST_STORE=postgres cargo test --features liveview,server --test tests -- it::postgres:: \
  it::asof:: it::audit:: it::backup:: it::breakdowns:: it::choices:: it::commands:: it::consent:: \
  it::data_folder:: it::exhaustion:: it::hostile:: it::logs:: it::office:: it::office_headers:: \
  it::openapi:: it::pins:: it::plan:: it::protection:: it::province:: it::records_pages:: \
  it::report_docx:: it::retire:: it::rules:: it::sync:: it::sync_api:: it::sync_faults:: it::tls:: \
  it::units:: it::upgrade:: it::wire::
bash scripts/postgres.sh stop
trap - EXIT

step "desktop window under Xvfb"
cargo build --features liveview,server --bins --examples
bash scripts/desktop-smoke.sh
bash scripts/go-live.sh

step "device API fuzzed by schemathesis"
# The coverage phase (five minutes, paced under the device rate limit) runs with the
# script alone; the suite runs the examples and the fuzzing.
SOTAY_ST_PHASES=examples,fuzzing bash scripts/schemathesis.sh

step "browser flows"
export SOTAY_LIVEVIEW_BIN="$PWD/target/debug/sotay-liveview"
(cd tests/e2e && node --test --test-concurrency=1 .)
step "done"
