#!/bin/sh
# The SDK, end to end, as a third party meets it:
#  1. `meson install` Carburetor into a temporary prefix and check the
#     layout (soname, headers, plugins and manifests, pkg-config file);
#  2. build examples/csv-plugin out of tree, as its own meson project that
#     finds Carburetor only through pkg-config, and an application with
#     plain `cc $(pkg-config …)`;
#  3. run the application with CARBURETOR_PLUGIN_PATH at the plugin's build
#     folder: it opens csv: stores and checks download_sync;
#  4. install the plugin into the prefix and run again with no path set;
#     the demo, built with cc against the prefix (examples are never
#     installed), runs on the installed SQLite plugin too.
#
# Usage: test-sdk.sh SOURCE_ROOT
#
# Everything is a plain build in a temp folder: whatever setup the suite
# runs under (asan, valgrind), the SDK is built and used as a user would,
# and the suite's own build tree is never touched.
set -eu
src=$(cd "$1" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/carb-sdk-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

# Nothing of the suite's environment may leak in: its plugin path, its
# library path (the build tree's, possibly sanitized, library), its
# sanitizer settings.
unset CARBURETOR_PLUGIN_PATH CARB_TEST_BUILD_PLUGIN_PATH LD_LIBRARY_PATH LD_PRELOAD \
      ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS MALLOC_PERTURB_ || true

fail () { echo "test-sdk: $*" >&2; exit 1; }
step () { echo "== $*"; }

step "install Carburetor into $prefix"
meson setup "$tmp/build" "$src" --prefix "$prefix" >"$tmp/setup.log" 2>&1 \
  || { cat "$tmp/setup.log"; fail "meson setup failed"; }
meson compile -C "$tmp/build" >"$tmp/build.log" 2>&1 || { tail -50 "$tmp/build.log"; fail "build failed"; }
meson install -C "$tmp/build" --quiet >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "install failed"; }

pc=$(find "$prefix" -name carburetor-1.pc)
[ -n "$pc" ] || fail "no carburetor-1.pc installed"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
export PKG_CONFIG_PATH="$pcdir"

step "layout under $libdir"
[ -f "$libdir/libcarburetor-1.so.1" ] || fail "no libcarburetor-1.so.1 (soname link)"
[ -L "$libdir/libcarburetor-1.so" ] || fail "no libcarburetor-1.so development link"
if command -v objdump >/dev/null; then
  objdump -p "$libdir/libcarburetor-1.so" | grep -q 'SONAME *libcarburetor-1\.so\.1$' || fail "wrong soname"
fi
for h in carburetor.h sys/backend.h async.h plugin.h store.h model.h version.h; do
  [ -f "$prefix/include/carburetor-1/carburetor/$h" ] || fail "header $h not installed"
done
plugindir=$(pkg-config --variable=plugindir carburetor-1)
manifestdir=$(pkg-config --variable=pluginmanifestdir carburetor-1)
[ "$plugindir" = "$libdir/carburetor-1" ] || fail "plugindir is $plugindir"
[ "$manifestdir" = "$libdir/carburetor-1/plugins.d" ] || fail "pluginmanifestdir is $manifestdir"
[ -f "$plugindir/carburetor-sqlite.so" ] || fail "SQLite plugin not in $plugindir"
[ -f "$manifestdir/sqlite.plugin" ] || fail "SQLite manifest not in $manifestdir"
module=$(sed -n 's/^Module=//p' "$manifestdir/sqlite.plugin")
case $module in /*) ;; *) module=$manifestdir/$module ;; esac
[ -f "$module" ] || fail "the installed manifest's Module $module does not exist"
grep -q "\"$manifestdir\"" "$tmp/build/libcarburetor/config.h" || fail "CARB_PLUGINDIR is not $manifestdir"

step "build examples/csv-plugin out of tree, against the prefix"
cp -R "$src/examples/csv-plugin" "$tmp/csv-src" # away from the Carburetor tree
meson setup "$tmp/csv-build" "$tmp/csv-src" --prefix "$prefix" >"$tmp/csv-setup.log" 2>&1 \
  || { cat "$tmp/csv-setup.log"; fail "csv-plugin: meson setup failed"; }
meson compile -C "$tmp/csv-build" >"$tmp/csv-build.log" 2>&1 || { cat "$tmp/csv-build.log"; fail "csv-plugin: build failed"; }
# shellcheck disable=SC2046
cc -std=gnu11 -Wall -Werror -o "$tmp/csv-check-cc" "$tmp/csv-src/csv-check.c" $(pkg-config --cflags --libs carburetor-1) \
  || fail "an application does not build with cc \$(pkg-config --cflags --libs carburetor-1)"

export LD_LIBRARY_PATH="$libdir"

step "csv: stores through the plugin's build folder (CARBURETOR_PLUGIN_PATH)"
CARBURETOR_PLUGIN_PATH="$tmp/csv-build" "$tmp/csv-build/csv-check" || fail "csv-check (meson build) failed"
CARBURETOR_PLUGIN_PATH="$tmp/csv-build" "$tmp/csv-check-cc" >/dev/null || fail "csv-check (cc build) failed"

step "the plugin installed into the prefix, found with no path set"
meson install -C "$tmp/csv-build" --quiet >"$tmp/csv-install.log" 2>&1 || { cat "$tmp/csv-install.log"; fail "csv-plugin: install failed"; }
[ -f "$manifestdir/csv.plugin" ] && [ -f "$plugindir/carburetor-csv.so" ] || fail "csv plugin not installed beside SQLite's"
"$tmp/csv-check-cc" >/dev/null || fail "csv-check failed on the installed plugin"

[ ! -e "$prefix/bin/carburetor-demo" ] || fail "the demo (which drops tables) was installed"

step "the demo, built against the prefix, on the installed SQLite plugin"
# shellcheck disable=SC2046
cc -std=gnu11 -Wall -Werror -o "$tmp/demo" "$src/examples/demo.c" $(pkg-config --cflags --libs carburetor-1) \
  || fail "the demo does not build with cc \$(pkg-config --cflags --libs carburetor-1)"
"$tmp/demo" >"$tmp/demo.log" 2>&1 || { cat "$tmp/demo.log"; fail "the demo failed on the installed plugin"; }
echo "test-sdk: all good"
