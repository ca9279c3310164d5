#!/bin/sh
# Installs the Debian 12 packages Carburetor needs, if any is missing.
# Usage: scripts/deps.sh demo|test|asan|valgrind|fuzz
# Sourced by demo.sh and test.sh; safe to run by hand.
set -eu

packages_for () {
  # GObject Introspection and the two bindings the suite drives.
  bindings="gobject-introspection libgirepository1.0-dev gir1.2-glib-2.0 python3-gi gjs gi-docgen"
  common="meson ninja-build pkg-config gcc libc6-dev libglib2.0-dev libjson-glib-dev libsqlite3-dev libpq-dev"
  case "$1" in
    demo) echo "$common" ;;
    test) echo "$common postgresql postgresql-common procps pgbouncer $bindings" ;;
    asan) echo "$common postgresql postgresql-common procps pgbouncer" ;;
    valgrind) echo "$common postgresql postgresql-common procps valgrind" ;;
    fuzz) echo "$common clang libclang-rt-dev" ;;
    *) echo "scripts/deps.sh: unknown set '$1'" >&2; return 2 ;;
  esac
}

missing_packages () {
  for p in $(packages_for "$1"); do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || printf '%s ' "$p"
  done
}

ensure_packages () {
  missing=$(missing_packages "$1")
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "Carburetor needs these Debian packages: $missing" >&2
    echo "Run as root, or install them: sudo apt-get install $missing" >&2
    exit 1
  fi
  echo "Installing: $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# A port for a throw-away cluster that no server uses, neither a
# PostgreSQL socket in /var/run/postgresql nor a TCP listener. As root,
# pg_virtualenv -t creates its cluster on 5432 unless PGPORT says
# otherwise, even while another run's throw-away cluster holds it (each
# run's clusters live in a folder of their own and do not see the others),
# and then fails to start it: runs side by side (two engineers' test runs,
# a test run and the demo) collided. The search starts at a place of its
# own (the process id), so that two runs starting together are unlikely
# to pick the same port.
free_pg_port () {
  port=$((5433 + $$ % 900))
  tries=0
  while [ "$tries" -lt 900 ]; do
    hex=$(printf '%04X' "$port")
    if [ ! -e "/var/run/postgresql/.s.PGSQL.$port" ] && [ ! -e "/var/run/postgresql/.s.PGSQL.$port.lock" ] \
      && ! cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -qi "^ *[0-9]*: [0-9A-F]*:$hex [0-9A-F:]* 0A "; then
      echo "$port"
      return 0
    fi
    port=$((port + 1))
    [ "$port" -le 6332 ] || port=5433
    tries=$((tries + 1))
  done
  echo "scripts/deps.sh: no free port for PostgreSQL between 5433 and 6332" >&2
  return 1
}

if [ "$(basename "$0")" = "deps.sh" ]; then
  ensure_packages "${1:-test}"
fi
