#!/bin/sh
# Two devices edit one to-do list offline and sync both ways through one
# PostgreSQL server (examples/twoway.c, docs/TWOWAY.md). Each step is its
# own process, as on two real devices.
# Usage: scripts/twoway-demo.sh            (starts a throw-away PostgreSQL)
#        scripts/twoway-demo.sh --inside   (uses the server PG* names)
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh

if [ "${1:-}" != --inside ]; then
  ensure_packages test
  build=${CARB_BUILD_DIR:-build}
  [ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
  meson compile -C "$build" carburetor-twoway >/dev/null
  port=$(free_pg_port)
  PGPORT=$port exec pg_virtualenv -t "$0" --inside
fi

build=${CARB_BUILD_DIR:-build}
case $build in /*) ;; *) build="$PWD/$build" ;; esac
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
server=postgresql:///
phone="$dir/phone.db"
laptop="$dir/laptop.db"
tw() {
  replica=$1; shift
  CARBURETOR_PLUGIN_PATH="$build/plugins.d" "$build/examples/carburetor-twoway" "$server" "$replica" "$@"
}
say() { printf '\n== %s\n' "$*"; }

say "the phone creates the server table and adds a to-do, then syncs"
tw "$phone" init
id=$(tw "$phone" add "Buy milk" | sed -n 's/^added //p')
echo "added $id"
tw "$phone" sync
say "the laptop syncs and sees it"
tw "$laptop" sync
tw "$laptop" list

say "offline: the phone renames it, the laptop ticks it and adds another"
tw "$phone" rename "$id" "Buy oat milk"
tw "$laptop" "done" "$id"
tw "$laptop" add "Call the plumber" >/dev/null
tw "$phone" list
tw "$laptop" list

say "both sync (twice, so each sees the other's upload)"
tw "$phone" sync
tw "$laptop" sync
tw "$phone" sync

say "the phone"
tw "$phone" list > "$dir/phone.txt"; cat "$dir/phone.txt"
say "the laptop"
tw "$laptop" list > "$dir/laptop.txt"; cat "$dir/laptop.txt"
if cmp -s "$dir/phone.txt" "$dir/laptop.txt" && grep -q '\[x\] Buy oat milk' "$dir/phone.txt"; then
  say "converged: both edits of the same row kept (per-column last writer wins)"
else
  echo "NOT CONVERGED" >&2
  exit 1
fi
