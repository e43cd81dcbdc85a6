#!/usr/bin/env bash
# Starts the real desktop app under Xvfb on a fresh store, checks it stays up and draws a
# window with the volunteer chooser, and saves a screenshot to target/desktop.png.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
display=":$((90 + RANDOM % 9))"
Xvfb "$display" -screen 0 480x900x24 >/dev/null 2>&1 &
xvfb=$!
cleanup() { kill "$app" 2>/dev/null || true; kill "$xvfb" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
sleep 1
DISPLAY="$display" SOTAY_DB="$work/sotay.db" target/debug/sotay >"$work/app.log" 2>&1 &
app=$!
# The window is up once the store file exists and a window is mapped.
for _ in $(seq 1 60); do
  if [[ -f "$work/sotay.db" ]] && DISPLAY="$display" xwininfo -root -tree 2>/dev/null | grep -q "Sổ tay\|S\\\\303\\\\225 tay"; then break; fi
  sleep 0.5
done
sleep 3
if ! kill -0 "$app" 2>/dev/null; then
  echo "desktop app exited early:"; cat "$work/app.log"; exit 1
fi
DISPLAY="$display" import -window root target/desktop.png
colours=$(convert target/desktop.png -format %k info:)
echo "desktop window drawn with $colours colours (target/desktop.png)"
if (( colours < 20 )); then
  echo "the window looks blank"; cat "$work/app.log"; exit 1
fi
# A real click on the first volunteer ("Y Lan", top of the list) reaches the app, which
# writes the choice to its store.
DISPLAY="$display" xdotool mousemove 200 188 click 1
for _ in $(seq 1 20); do
  chosen=$(python3 -c "import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute(\"select value from settings where key='current_volunteer'\").fetchone(); print(r[0] if r else '')" "$work/sotay.db")
  [[ "$chosen" == "v-lan" ]] && break
  sleep 0.5
done
[[ "$chosen" == "v-lan" ]] || { echo "clicking a volunteer in the desktop window did not choose them"; exit 1; }
sleep 1
DISPLAY="$display" import -window root target/desktop-home.png
echo "desktop window: a click chose volunteer $chosen (target/desktop-home.png)"
