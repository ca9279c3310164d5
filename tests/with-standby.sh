#!/bin/sh
# Runs a command beside a PostgreSQL primary and a streaming hot standby of
# it, both made here in a temporary folder and removed afterwards.
#
# Usage: tests/with-standby.sh CMD [ARGS…]
#
# The primary: initdb, then the standby: pg_basebackup -R (streaming
# replication, hot_standby on). Both listen only on Unix sockets in the
# temporary folder (no TCP port to collide with). CMD runs with PG* and
# CARB_TEST_PG_URI naming the primary, CARB_TEST_PG_STANDBY_URI naming
# the standby, and CARB_STRESS_READER_URI naming the standby with its
# primary (carb_primary): the stress checker (tests/test-stress.c) then
# writes on the primary and reads on the standby. Exit status: CMD's. Without PostgreSQL's server binaries it
# prints a TAP skip and exits 0, except in CI (CI set).
set -eu

[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS…]" >&2; exit 2; }

bindir=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_basebackup" ]; then
  msg="PostgreSQL's server binaries (initdb, pg_basebackup) not found; set PG_BINDIR"
  [ -z "${CI:-}" ] || { echo "$0: $msg" >&2; exit 1; }
  echo "1..0 # SKIP $msg"
  exit 0
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/carb-standby.XXXXXX")
primary_port=5432
standby_port=5433

# The server refuses to run as root: as root, everything runs as postgres,
# who must own the folder (and run from it: initdb fails in a folder it
# cannot read).
as_server () {
  if [ "$(id -u)" -eq 0 ]; then
    (cd "$dir" && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}
[ "$(id -u)" -ne 0 ] || chown postgres "$dir"
chmod 700 "$dir"

cleanup () {
  for node in standby primary; do
    if [ -f "$dir/$node/postmaster.pid" ]; then
      as_server "$bindir/pg_ctl" -D "$dir/$node" -m immediate -w stop >/dev/null 2>&1 || true
    fi
  done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail () {
  echo "$0: $1" >&2
  for log in "$dir"/*.log; do
    [ -f "$log" ] || continue
    echo "--- $log" >&2
    tail -n 20 "$log" >&2
  done
  exit 1
}

psql_at () {
  port=$1
  shift
  "$bindir/psql" -X -At -h "$dir" -p "$port" -U postgres -d postgres "$@"
}

# --- the primary
as_server "$bindir/initdb" -D "$dir/primary" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 \
  || fail "initdb failed"
cat >>"$dir/primary/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $primary_port
max_connections = 200
max_prepared_transactions = 10
wal_level = replica
max_wal_senders = 4
fsync = off
# the standby's queries hold back the primary's vacuum instead of being
# cancelled by its replay
hot_standby_feedback = on
EOF
as_server "$bindir/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w start >/dev/null \
  || fail "the primary did not start"

# --- the standby: a base backup that follows the primary (-R writes
# primary_conninfo and standby.signal)
as_server "$bindir/pg_basebackup" -h "$dir" -p "$primary_port" -U postgres -D "$dir/standby" -R \
  -X stream --checkpoint=fast >"$dir/basebackup.log" 2>&1 || fail "pg_basebackup failed"
cat >>"$dir/standby/postgresql.conf" <<EOF
port = $standby_port
hot_standby = on
# CARB_STANDBY_APPLY_DELAY (e.g. 20ms): the standby applies each commit
# that long after the primary made it, a lag the readers must wait out
recovery_min_apply_delay = '${CARB_STANDBY_APPLY_DELAY:-0}'
EOF
as_server "$bindir/pg_ctl" -D "$dir/standby" -l "$dir/standby.log" -w start >/dev/null \
  || fail "the standby did not start"

# Ready when the primary sees the standby streaming.
i=0
until [ "$(psql_at $primary_port -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ]; do
  i=$((i + 1))
  [ $i -le 100 ] || fail "the standby is not streaming after 10 s"
  sleep 0.1
done
[ "$(psql_at $standby_port -c 'SELECT pg_is_in_recovery()')" = t ] || fail "the standby is not in recovery"

export PGHOST="$dir" PGPORT="$primary_port" PGUSER=postgres PGDATABASE=postgres
unset PGPASSWORD
export CARB_TEST_PG_URI="postgresql:///postgres?host=$dir&port=$primary_port&user=postgres"
export CARB_TEST_PG_STANDBY_URI="postgresql:///postgres?host=$dir&port=$standby_port&user=postgres"
# The readers' stores: the standby, naming its primary (carb_primary, the
# primary's URI percent-encoded; docs/SYNC.md).
encoded_primary=$(printf '%s' "$CARB_TEST_PG_URI" | sed -e 's/%/%25/g' -e 's/ /%20/g' -e 's/:/%3A/g' \
  -e 's|/|%2F|g' -e 's/?/%3F/g' -e 's/&/%26/g' -e 's/=/%3D/g' -e 's/#/%23/g' -e 's/+/%2B/g')
export CARB_STRESS_READER_URI="$CARB_TEST_PG_STANDBY_URI&carb_primary=$encoded_primary"
echo "# primary on $dir port $primary_port, hot standby streaming from it on port $standby_port"

status=0
"$@" || status=$?
lag=$(psql_at $primary_port -c "SELECT coalesce(replay_lag::text, 'none') FROM pg_stat_replication" || true)
echo "# the standby's replay lag at the end: $lag"
if [ "$status" -ne 0 ]; then
  echo "# the standby's log (last lines):"
  tail -n 20 "$dir/standby.log" | sed 's/^/# /'
fi
exit "$status"
