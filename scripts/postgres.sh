#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests and the benches, from Debian's packages:
#   eval "$(bash scripts/postgres.sh start)"   # initdb into a temporary folder, start it on
#                                              # 127.0.0.1 at a free port, print the exports
#   bash scripts/postgres.sh stop              # stop it and delete its folder
# It runs as a non-root user (`postgres` when started by root, else yourself), with C
# collation and UTF-8, listening on 127.0.0.1 only. `start` prints:
#   SOTAY_TEST_POSTGRES  the connection string of its database `sotay` (role `sotay`)
#   SOTAY_TEST_PGDATA    its data folder (the fault tests restart it with pg_ctl)
#   SOTAY_TEST_PGBIN     the folder of pg_ctl and the other programs
set -euo pipefail

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
state=${SOTAY_PG_STATE:-/tmp/sotay-postgres.state}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Stops the cluster the state file names, if any, and forgets it.
stop_cluster() {
  [[ -f "$state" ]] || return 0
  read -r dir _port <"$state"
  as_owner "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir" "$state"
}

case "${1:-}" in
  start)
    # A second start replaces the first cluster rather than leaving it running unnamed.
    stop_cluster
    if [[ -z "$pgbin" || ! -x "$pgbin/initdb" ]]; then
      echo "PostgreSQL is not installed: run 'sudo apt-get install postgresql' (Debian 12), or 'bash scripts/setup.sh --test'." >&2
      exit 1
    fi
    dir=$(mktemp -d /tmp/sotay-pg.XXXXXX)
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    as_owner "$pgbin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Enough connections for the deadline-day bench's pool and the tests' parallel servers.
    as_owner "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400 -c shared_buffers=256MB -c fsync=on" start >/dev/null
    as_owner "$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -q -v ON_ERROR_STOP=1 \
      -c "CREATE ROLE sotay LOGIN" -c "CREATE DATABASE sotay OWNER sotay" >/dev/null
    echo "$dir $port" >"$state"
    echo "export SOTAY_TEST_POSTGRES=postgres://sotay@127.0.0.1:$port/sotay"
    echo "export SOTAY_TEST_PGDATA=$dir/data"
    echo "export SOTAY_TEST_PGBIN=$pgbin"
    ;;
  stop)
    stop_cluster
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
