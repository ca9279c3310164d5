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
  # The plain run builds the introspection data and runs the Python and
  # gjs tests; the sanitizer and valgrind builds leave them out (meson.build).
  plain) ensure_packages test; build=${CARB_BUILD_DIR:-build}; setup_args="-Dintrospection=enabled -Ddocs=enabled"; test_args= ;;
  asan) ensure_packages asan; build=${CARB_BUILD_DIR:-build-asan}
        setup_args="-Db_sanitize=address,undefined -Db_lundef=false -Dintrospection=disabled"; test_args="--setup asan" ;;
  valgrind) ensure_packages valgrind; build=${CARB_BUILD_DIR:-build-valgrind}
            setup_args=-Dintrospection=disabled; test_args="--setup valgrind --no-suite scripts --no-suite bench" ;;
esac

if [ ! -f "$build/build.ninja" ]; then
  # shellcheck disable=SC2086
  meson setup "$build" $setup_args
else
  # A build folder set up by demo.sh (or by hand) gets this run's options,
  # so the tests that need them are built, never silently missing.
  # shellcheck disable=SC2086
  meson configure "$build" $setup_args
fi
meson compile -C "$build"

# shellcheck disable=SC2086
run_tests="meson test -C $build --print-errorlogs --num-processes 2 $test_args"
if [ -n "${PGHOST:-}${PGPORT:-}${CARB_TEST_PG_URI:-}" ]; then
  # shellcheck disable=SC2086
  exec $run_tests "$@"
fi
# pg_virtualenv runs its command with PGHOST/PGPORT/PGUSER/PGPASSWORD/
# PGDATABASE set for a new cluster; -t puts that cluster in a temporary
# folder (as root too), so runs side by side never share or drop each
# other's cluster, and PGPORT gives it a port nobody uses
# (free_pg_port, scripts/deps.sh); -o sets its server options.
port=$(free_pg_port)
# shellcheck disable=SC2086
PGPORT=$port exec pg_virtualenv -t -o max_connections=200 -o max_prepared_transactions=10 $run_tests "$@"
