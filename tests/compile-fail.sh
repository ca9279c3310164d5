#!/bin/sh
# Compiles one model declaration that must not compile, and checks that the
# compiler's message says what is wrong (the file's "EXPECT:" line). A file
# without EXPECT is a control that must compile with the same command.
# Usage: compile-fail.sh SOURCE CC [CC-ARGS...]
set -u
src=$1
shift
expect=$(sed -n 's|^/\* EXPECT: \(.*\) \*/$|\1|p' "$src")
out=$("$@" -fsyntax-only "$src" 2>&1)
status=$?
if [ -z "$expect" ]; then
  [ $status -eq 0 ] && exit 0
  printf 'control %s failed to compile:\n%s\n' "$src" "$out"
  exit 1
fi
if [ $status -eq 0 ]; then
  printf '%s compiled, but must not\n' "$src"
  exit 1
fi
case $out in
  *"$expect"*) printf '%s\n' "$out" | grep -m1 -F "$expect"; exit 0 ;;
esac
printf 'the compiler did not say "%s":\n%s\n' "$expect" "$out"
exit 1
