#!/bin/sh
# `meson install` puts the library, the headers, the plugins, the
# `carburetor` tool, the introspection data and the HTML reference where
# applications, bindings and plugin authors look for them (into a
# temporary DESTDIR; nothing outside it is touched).
# Usage: test-install.sh BUILD_DIR
set -eu
build=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --no-rebuild --quiet --destdir "$dest" >/dev/null
fail=0
for want in \
  'lib/*/libcarburetor-1.so.1*' \
  'include/carburetor-1/carburetor/carburetor.h' \
  'include/carburetor-1/carburetor/carburetor-enums.h' \
  'lib/*/carburetor-1/carburetor-sqlite.so' \
  'lib/*/carburetor-1/plugins.d/postgres.plugin' \
  'lib/*/pkgconfig/carburetor-1.pc' \
  'bin/carburetor' \
  'share/gir-1.0/Carburetor-1.0.gir' \
  'lib/*/girepository-1.0/Carburetor-1.0.typelib' \
  'share/doc/carburetor-1/index.html' \
  'share/doc/carburetor-1/class.Store.html'; do
  # shellcheck disable=SC2086
  if ! ls "$dest"/usr/local/$want >/dev/null 2>&1; then
    echo "not installed: $want"
    fail=1
  fi
done
# Examples drop tables on the store they are given: never installed.
if ls "$dest"/usr/local/bin/carburetor-demo >/dev/null 2>&1; then
  echo "carburetor-demo must not be installed"
  fail=1
fi
exit $fail
