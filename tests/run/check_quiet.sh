#!/bin/sh
# The run library returns codes and prints nothing: no printf, puts, perror, exit, signal or
# sigaction, and no stdout, stderr or isatty, in any file under run/. Writing with fprintf or
# fputs into a FILE the library opened at a path its caller gave (config.yaml, CSV, TensorBoard
# and penalty-map dumps) is allowed, since that FILE is never a terminal stream.
dir=${1:-run}
pattern='(^|[^A-Za-z0-9_])(printf|vprintf|puts|perror|exit|_exit|abort|signal|sigaction|isatty)[[:space:]]*\(|(^|[^A-Za-z0-9_])(stdout|stderr)([^A-Za-z0-9_]|$)'
# Comments may name these words: drop /* ... */ one-line comments and comment lines first.
hits=$(for f in "$dir"/*.c "$dir"/*.h; do
  [ -f "$f" ] || continue
  sed -e 's:/\*.*\*/::g' -e '/^[[:space:]]*\/\?\*/d' "$f" | grep -nE "$pattern" | sed "s|^|$f:|"
done)
if [ -n "$hits" ]; then
  echo "run/ must not print, exit or handle signals:"
  echo "$hits"
  exit 1
fi
echo "run/ prints nothing"
