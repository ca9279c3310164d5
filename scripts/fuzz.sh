#!/bin/sh
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for a
# bounded time over its seed corpus; any crash fails the run.
# Usage: scripts/fuzz.sh [seconds per target, default 20]
# A long run: scripts/fuzz.sh 3600 (see docs/FUZZING.md).
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
ensure_packages fuzz

seconds=${1:-20}
build=${CARB_FUZZ_BUILD_DIR:-build-fuzz}
if [ ! -f "$build/build.ninja" ]; then
  CC=clang meson setup "$build" -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized >/dev/null
fi
meson compile -C "$build" fuzz-sync-point fuzz-manifest fuzz-uri >/dev/null

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
for target in sync-point manifest uri; do
  work=$(mktemp -d)
  cp fuzz/corpus/$target/* "$work/"
  echo "== fuzz-$target for ${seconds}s"
  if ! "$build/fuzz/fuzz-$target" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
      -artifact_prefix="$build/fuzz-$target-" "$work" 2>"$build/fuzz-$target.log"; then
    echo "fuzz-$target FAILED; see $build/fuzz-$target.log and $build/fuzz-$target-*" >&2
    tail -40 "$build/fuzz-$target.log" >&2
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb" "$build/fuzz-$target.log" || true
  rm -rf "$work"
done
exit $status
