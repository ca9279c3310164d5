#!/bin/sh
# Builds Carburetor and runs the whole test suite against real SQLite files
# and a real PostgreSQL server.
#
# Usage: scripts/test.sh [plain|asan|valgrind] [meson test arguments…]
#
# PostgreSQL: if PGHOST, PGPORT or CARB_TEST_PG_URI is set, the suite uses
# that server; otherwise pg_virtualenv (postgresql-common) starts a
# throw-away cluster around the run and removes it afterwards.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh

mode=plain
case "${1:-}" in plain | asan | valgrind) mode=$1; shift ;; esac

case $mode in
  plain) ensure_packages test; build=${CARB_BUILD_DIR:-build}; setup_args= ; test_args= ;;
  asan) ensure_packages asan; build=${CARB_BUILD_DIR:-build-asan}
        setup_args="-Db_sanitize=address,undefined -Db_lundef=false"; test_args="--setup asan" ;;
  valgrind) ensure_packages valgrind; build=${CARB_BUILD_DIR:-build-valgrind}
            setup_args= ; test_args="--setup valgrind --no-suite scripts --no-suite bench" ;;
esac

if [ ! -f "$build/build.ninja" ]; then
  # shellcheck disable=SC2086
  meson setup "$build" $setup_args
fi
meson compile -C "$build"

# shellcheck disable=SC2086
run_tests="meson test -C $build --print-errorlogs --num-processes 2 $test_args"
if [ -n "${PGHOST:-}${PGPORT:-}${CARB_TEST_PG_URI:-}" ]; then
  # shellcheck disable=SC2086
  exec $run_tests "$@"
fi
# As root, pg_virtualenv always names its cluster <version>/regress and
# refuses to start if one exists: clear one that a killed run left behind
# (it marks its clusters with .by_pg_virtualenv) unless a run is going on.
if [ "$(id -u)" -eq 0 ] && ! pgrep -x pg_virtualenv >/dev/null 2>&1; then
  for marker in /etc/postgresql/*/regress/.by_pg_virtualenv; do
    [ -f "$marker" ] || continue
    version=$(basename "$(dirname "$(dirname "$marker")")")
    echo "Dropping the stale throw-away cluster $version/regress"
    # The marker is root's own file: pg_dropcluster (running as postgres)
    # cannot remove it and would leave the directory behind, which is
    # all pg_virtualenv looks at. Remove it first, as pg_virtualenv does.
    rm -f "$marker"
    pg_ctlcluster --mode immediate "$version" regress stop >/dev/null 2>&1 || true
    pg_dropcluster "$version" regress || true
    # A half-created cluster (killed during creation) can defeat
    # pg_dropcluster; it was ours (it had the marker), so clear it by hand.
    rm -rf "/etc/postgresql/$version/regress" "/var/lib/postgresql/$version/regress"
  done
fi

# pg_virtualenv runs its command with PGHOST/PGPORT/PGUSER/PGPASSWORD/
# PGDATABASE set for a new cluster; -o sets its server options.
# shellcheck disable=SC2086
exec pg_virtualenv -o max_connections=200 -o max_prepared_transactions=10 $run_tests "$@"
