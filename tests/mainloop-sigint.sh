#!/bin/sh
# carburetor-mainloop, started without a round limit, must quit cleanly
# (exit 0, "done") on SIGINT.
# Usage: mainloop-sigint.sh PATH-TO-carburetor-mainloop
set -eu
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$1" --interval 50 >"$out" 2>&1 &
pid=$!
# Wait for a few rounds (at most 10 s) so the signal lands mid-run.
i=0
while [ "$(grep -c 'received' "$out" || true)" -lt 3 ] && [ $i -lt 100 ]; do
  sleep 0.1
  i=$((i + 1))
done
kill -INT "$pid"
status=0
wait "$pid" || status=$?
cat "$out"
[ "$status" -eq 0 ] || { echo "exit status $status after SIGINT"; exit 1; }
grep -q '^interrupted: stopping' "$out" || { echo "no interruption message"; exit 1; }
grep -q '^done: ' "$out" || { echo "did not finish cleanly"; exit 1; }
