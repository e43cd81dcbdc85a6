#!/usr/bin/env bash
# Installs what Sổ tay needs on Debian 12, as root: the desktop renderer's libraries, and
# with --test also Xvfb, chromium, fonts, the browser tests' npm packages and Python's venv.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libwebkit2gtk-4.1-dev build-essential libxdo-dev libssl-dev libayatana-appindicator3-dev
          librsvg2-dev pkg-config)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(xvfb xauth xdotool chromium imagemagick x11-utils fonts-noto-core fonts-noto-color-emoji curl systemd)
  # schemathesis (scripts/schemathesis.sh) goes in a virtualenv, which Debian's python3
  # makes only with python3-venv.
  packages+=(python3-venv)
  # The server's contract tests and the deadline-day bench run against a real PostgreSQL
  # (scripts/postgres.sh starts a throwaway one from Debian's packages).
  packages+=(postgresql)
  # Node.js and npm usually come with the machine; Debian's only when they are missing
  # (Debian's npm conflicts with a Node.js installed from elsewhere).
  command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "Installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ "${1:-}" == "--test" ]]; then
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
