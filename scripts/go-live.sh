#!/usr/bin/env bash
# The README's "Go live" walk, on an empty data folder: the commune from the list of units
# with its first account, its hamlets and volunteers from CSV files, the server started, a
# device enrolled from the enrolment link and one record synced, then the coverage page
# checked as the office sees it; then a backup, a restore into a new folder, and the same
# page from the restored server. The commands are the README's; only the install differs
# (the binary CI built instead of /usr/local/bin, a folder of its own instead of
# /var/lib/sotay, no systemd) and the device (examples/device_sync, the app's own enrolment
# and sync code, where a volunteer holds a phone).
# Usage: bash scripts/go-live.sh   (after cargo build --features liveview,server --bins --examples;
#        SOTAY_SERVER_BIN names the server binary, by default target/debug/sotay-server)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
work="$(mktemp -d)"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# 1. Install: the server-only binary on the PATH.
mkdir -p "$work/bin"
install -m 0755 "${SOTAY_SERVER_BIN:-target/debug/sotay-server}" "$work/bin/sotay-server"
export PATH="$work/bin:$PATH"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export SOTAY_SERVER_DATA="$work/sotay"
export SOTAY_SERVER_ADDR="127.0.0.1:$port"
export SOTAY_PUBLIC_URL="https://127.0.0.1:$port"
# A person types these (without echo); a script gives them in the environment.
export SOTAY_ADMIN_PASSWORD="Kon Braih go live 2026"
export SOTAY_BACKUP_PASSPHRASE="mot cau dai ma chi xa biet"
cd "$work"

# 2. The commune and its first office account.
sotay-server commune add 23497 --admin canbo | tee commune.txt
grep -q "Xã Kon Braih, tỉnh Quảng Ngãi (23497)" commune.txt

# 3. Its hamlets and volunteers.
cat > thon.csv <<'CSV'
ma_thon,ten_thon,dan_so_truong_thanh,da_co_chu_ky
h-plei,Làng Plei Rơng,297,41
h-dakpokong,Thôn Đăk Pờ Kơng,412,96
CSV
cat > tinh-nguyen-vien.csv <<'CSV'
ma,ho_ten,thon,to_truong
v-lan,Y Lan,h-plei,x
v-hung,A Hưng,h-dakpokong,
CSV
sotay-server hamlet import thon.csv
sotay-server volunteer import tinh-nguyen-vien.csv

# 4. Serve (systemctl enable --now sotay-server on the real machine).
sotay-server serve > serve.log 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do grep -q "listening" serve.log && break; sleep 0.1; done
grep -q "certificate SHA-256" serve.log || { cat serve.log; echo "the server did not start"; exit 1; }

# 5. An enrolment code for Y Lan's phone: the link (also printed as a QR code).
sotay-server enrol-code --volunteer v-lan | tee code.txt
link="$(grep -o 'sotay://enrol?[^ ]*' code.txt)"

# 6. The phone enrols from the link and syncs its first record.
"$repo/target/debug/examples/device_sync" phone "$link" h-plei v-lan | tee device.txt
grep -qx "sent=1 rejected=0" device.txt

# 7. The coverage page, as the office logs in to it.
coverage_of() {
  local url="$1" jar="$2"
  curl -sk -c "$jar" -b "$jar" "$url/office/login" > login.html
  token="$(grep -o 'name="login_csrf" value="[^"]*"' login.html | sed 's/.*value="//; s/"$//')"
  curl -sk -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}\n' \
    --data-urlencode "username=canbo" --data-urlencode "password=$SOTAY_ADMIN_PASSWORD" \
    --data-urlencode "login_csrf=$token" "$url/office/login" | grep -qx 303
  curl -sk -b "$jar" "$url/office"
}
coverage_of "$SOTAY_PUBLIC_URL" cookies.txt > coverage.html
# Làng Plei Rơng: 297 adults, 41 before, 1 helped, 42 signed.
python3 - coverage.html <<'PY'
import re, sys
page = open(sys.argv[1], encoding="utf-8").read()
row = re.search(r'<tr data-hamlet="h-plei">(.*?)</tr>', page, re.S)
assert row, "no Plei Rơng row on the coverage page"
cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(1), re.S)]
assert cells[:5] == ["Làng Plei Rơng", "297", "41", "1", "42"], cells
assert "Xã Kon Braih" in page and "(demo)" not in page and "mẫu" not in page
print("coverage page: Làng Plei Rơng", cells[1:6])
PY

# 8. A backup while serving, restored into a new folder and served from there.
sotay-server backup "sotay-$(date +%F).age"
sotay-server restore "sotay-$(date +%F).age" --data "$work/restored"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
SOTAY_SERVER_DATA="$work/restored" sotay-server serve > serve2.log 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do grep -q "listening" serve2.log && break; sleep 0.1; done
coverage_of "$SOTAY_PUBLIC_URL" cookies2.txt > restored.html
grep -q 'data-hamlet="h-plei"' restored.html
python3 -c 'import sys,re; a,b=(re.search(r"<tr data-hamlet=\"h-plei\">.*?</tr>", open(f,encoding="utf-8").read(), re.S).group(0) for f in sys.argv[1:]); assert a==b, (a,b)' coverage.html restored.html
echo "go live: commune added, hamlets imported, device enrolled and synced, coverage shown, backed up and restored"
