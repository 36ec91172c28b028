#!/bin/sh
# Generates the cbrl(1) man page from the tool's own --help texts, with help2man.
set -eu
cli=$1
out=$2
inc=$(mktemp)
trap 'rm -f "$inc"' EXIT
{
  echo "[COMMANDS]"
  for c in hypergrad run table export plot demo; do
    echo ".SS cbrl $c"
    echo ".nf"
    "$cli" "$c" --help | sed -e 's/\\/\\e/g' -e 's/^\./\\\&./'
    echo ".fi"
  done
  echo "[SEE ALSO]"
  echo "The README and docs/ of the cbrl source tree: CONFIG.md, PROBLEM_FILES.md, BENCHMARKS.md."
} > "$inc"
help2man --no-info --name "contextual bilevel reinforcement learning" --include "$inc" "$cli" > "$out"
