#!/usr/bin/env bash
# Builds and opens the volunteer app in a desktop window (installing what it needs first).
# The store lives in the platform data directory; set SOTAY_DB=/path/to/file.db to use another.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec cargo run --release --bin sotay "$@"
