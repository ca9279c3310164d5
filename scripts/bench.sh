#!/bin/sh
# Builds Carburetor and runs carburetor-bench: every figure beside its
# baseline (raw libpq, COPY, raw sqlite3) measured in the same run.
# Usage: scripts/bench.sh [carburetor-bench options, e.g. --runs 5 --rows 1000000]
#        scripts/bench.sh --only-concurrency     (the idle-poll table of issue #13)
# PostgreSQL: a server named by PGHOST/PGPORT, else a pg_virtualenv cluster.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
ensure_packages test

build=${CARB_BUILD_DIR:-build}
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
meson compile -C "$build" carburetor-bench >/dev/null
export CARBURETOR_PLUGIN_PATH="$PWD/$build/plugins.d"
if [ -n "${PGHOST:-}${PGPORT:-}" ]; then
  exec "$build/bench/carburetor-bench" "$@"
fi
# max_connections: the concurrency figures run up to 256 pollers beside
# 256 SELECT 1 loops (bench/bench-concurrency.c).
port=$(free_pg_port)
PGPORT=$port exec pg_virtualenv -t -o max_connections=600 "$build/bench/carburetor-bench" "$@"
