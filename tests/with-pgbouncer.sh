#!/bin/sh
# Runs a command with the suite's PostgreSQL behind pgbouncer (Debian's
# package), started here in a temporary folder and stopped afterwards.
#
# Usage: tests/with-pgbouncer.sh session|transaction CMD [ARGS…]
#
# The server is the one PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE name (as
# pg_virtualenv exports them; PGHOST may be a socket folder). CMD runs with
# PG* and CARB_TEST_PG_URI pointing at pgbouncer instead (a Unix socket in
# the temporary folder: no port to collide with), and CARB_TEST_PGBOUNCER
# set to the pool mode; CARB_TEST_PG_DIRECT_URI names the server itself.
# Exit status: CMD's. Without pgbouncer or without a server named by
# PGHOST/PGPORT it prints a TAP skip ("1..0 # SKIP …") and exits 0, except
# in CI (CI set), where that is a failure.
set -eu

skip () {
  if [ -n "${CI:-}" ]; then
    echo "$0: $1" >&2
    exit 1
  fi
  echo "1..0 # SKIP $1"
  exit 0
}

mode=${1:-}
case $mode in
  session | transaction) shift ;;
  *) echo "usage: $0 session|transaction CMD [ARGS…]" >&2; exit 2 ;;
esac
[ $# -gt 0 ] || { echo "usage: $0 session|transaction CMD [ARGS…]" >&2; exit 2; }

pgbouncer=$(command -v pgbouncer || true)
[ -n "$pgbouncer" ] || pgbouncer=/usr/sbin/pgbouncer
[ -x "$pgbouncer" ] || skip "pgbouncer is not installed (scripts/deps.sh test installs it)"
[ -n "${PGHOST:-}${PGPORT:-}" ] || skip "no PostgreSQL server named by PGHOST/PGPORT (scripts/test.sh starts one)"

server_host=${PGHOST:-/var/run/postgresql}
server_port=${PGPORT:-5432}
user=${PGUSER:-$(id -un)}
database=${PGDATABASE:-$user}
password=${PGPASSWORD:-}

dir=$(mktemp -d "${TMPDIR:-/tmp}/carb-pgbouncer.XXXXXX")
pid=
cleanup () {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true # immediate shutdown: CMD is done with it
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# pgbouncer refuses to run as root: it then drops to postgres (-u), who
# must own its folder.
run_as=
if [ "$(id -u)" -eq 0 ]; then
  run_as="-u postgres"
  chown postgres "$dir"
fi
chmod 700 "$dir"

# The one user the suite connects as. With a password pgbouncer checks it
# (SCRAM, from the plain text here) and logs in to the server with it;
# without one (a trust server) it asks for none.
printf '"%s" "%s"\n' "$user" "$password" >"$dir/users.txt"
if [ -n "$password" ]; then auth_type=scram-sha-256; else auth_type=trust; fi

port=6432
cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=$server_host port=$server_port

[pgbouncer]
pool_mode = $mode
listen_addr =
listen_port = $port
unix_socket_dir = $dir
auth_type = $auth_type
auth_file = $dir/users.txt
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
; the suite's writers and readers, each on its own connection
max_client_conn = 500
default_pool_size = 150
max_db_connections = 180
; the default 0 would keep a failed test waiting for a server connection
query_wait_timeout = 30
server_login_retry = 1
EOF
[ -z "$run_as" ] || chown postgres "$dir"/*

# shellcheck disable=SC2086
"$pgbouncer" $run_as -q "$dir/pgbouncer.ini" &
pid=$!

# Ready when its socket exists.
i=0
while [ ! -S "$dir/.s.PGSQL.$port" ]; do
  i=$((i + 1))
  if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "$0: pgbouncer did not start; its log:" >&2
    cat "$dir/pgbouncer.log" >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.1
done

export CARB_TEST_PG_DIRECT_URI="postgresql:///$database?host=$server_host&port=$server_port"
export CARB_TEST_PG_URI="postgresql:///$database?host=$dir&port=$port"
export CARB_TEST_PGBOUNCER="$mode"
export PGHOST="$dir" PGPORT="$port" PGUSER="$user" PGDATABASE="$database"
echo "# pgbouncer ($mode pooling) on $dir port $port, in front of $server_host:$server_port"

status=0
"$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "# pgbouncer's log (last lines):"
  tail -n 20 "$dir/pgbouncer.log" | sed 's/^/# /'
fi
exit "$status"
