#!/bin/sh
# Carburetor's debug log: silent unless G_MESSAGES_DEBUG asks, and then the
# documented domains (README, "Debugging"): the plugin chosen, statements
# and sync points.
# Usage: debug-log.sh PATH-TO-carburetor-demo
set -eu
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fail() { echo "debug-log: $*"; cat "$out"; exit 1; }

env -u G_MESSAGES_DEBUG "$1" >"$out" 2>&1 || fail "the demo failed"
if grep -q -- '-DEBUG' "$out"; then fail "debug output without G_MESSAGES_DEBUG"; fi

G_MESSAGES_DEBUG=all "$1" >"$out" 2>&1 || fail "the demo failed with G_MESSAGES_DEBUG=all"
grep -q 'Carburetor-DEBUG: .*Loaded the sqlite plugin from ' "$out" || fail "no plugin-chosen message"
grep -q 'Carburetor-sqlite-DEBUG: .*CREATE TRIGGER' "$out" || fail "no statement logged in Carburetor-sqlite"
grep -q 'Carburetor-DEBUG: .*Sync of demo_todos on sqlite:.* rows, from (first sync) to ' "$out" \
  || fail "no sync point logged"
echo "ok: silent by default; plugin, statements and sync points under G_MESSAGES_DEBUG=all"
