#!/bin/sh
# Builds Carburetor and runs the demo on a fresh SQLite file.
# Usage: scripts/demo.sh [--store URI]
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
ensure_packages demo

build=${CARB_BUILD_DIR:-build}
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
meson compile -C "$build" carburetor-demo >/dev/null
CARBURETOR_PLUGIN_PATH="$PWD/$build/plugins.d" "$build/examples/carburetor-demo" "$@"
