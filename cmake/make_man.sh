#!/bin/sh
# Generates the cbrl(1) man page from the tool's own --help texts, with help2man, and adds
# two sections generated from the docs: CONFIG FIELDS (docs/CONFIG.md's table of fields) and
# PROBLEM FILES (docs/PROBLEM_FILES.md's example and rules).
set -eu
cli=$1
out=$2
docs=${3:-$(dirname "$0")/../docs}
inc=$(mktemp)
trap 'rm -f "$inc"' EXIT
# roff-safe text: backslashes escaped, no line starting with a control character, markdown's
# backticks and links dropped.
clean() { sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\&'/" -e 's/`//g' -e 's/\[\([^]]*\)\]([^)]*)/\1/g'; }
{
  echo "[COMMANDS]"
  for c in hypergrad run table export plot demo; do
    echo ".SS cbrl $c"
    echo ".nf"
    "$cli" "$c" --help | clean
    echo ".fi"
  done
  echo "[CONFIG FIELDS]"
  echo "A config for cbrl run is a YAML mapping of these fields; every field has a default, and a"
  echo "list in a grid field makes a grid axis. --set key=value overrides a field (docs/CONFIG.md)."
  # Each table row "| field | default | meaning |" becomes a tagged paragraph.
  clean < "$docs/CONFIG.md" | sed 's/| — |/| none |/' | awk -F' [|] ' '/^## Fields/ { on = 1; next } /^## / { on = 0 }
    on && /^[|] [a-z]/ && !/^[|] field [|]/ { sub(/^[|] /, "", $1); sub(/ [|]$/, "", $3); print ".TP"; print $1 " (default " $2 ")"; print $3 }'
  echo "[PROBLEM FILES]"
  echo "cbrl hypergrad --problem FILE and env: file configs read a problem in YAML, format"
  echo "cbrl-tabular-1 (docs/PROBLEM_FILES.md):"
  echo ".PP"
  echo ".nf"
  awk '/^```yaml/ { on = 1; next } /^```/ { on = 0 } on' "$docs/PROBLEM_FILES.md" | clean
  echo ".fi"
  echo ".PP"
  echo "The loader's rules, each broken one an error of the form file:line: field: what is wrong"
  echo "(exit status 2):"
  # The bullet list, one paragraph per bullet (continuation lines joined).
  awk '/^Rules the loader enforces/ { on = 1; next } on && /^- / { if (b) print b; b = substr($0, 3); next }
    on && /^  / && b { sub(/^ +/, ""); b = b " " $0; next } on && b && /^$/ && seen++ { print b; b = ""; on = 0 }
    END { if (b) print b }' "$docs/PROBLEM_FILES.md" | clean | sed 's/^/.IP \\(bu 2\n/'
  echo "[SEE ALSO]"
  echo "The README and docs/ of the cbrl source tree, installed in share/doc/cbrl: CONFIG.md,"
  echo "PROBLEM_FILES.md, MODEL.md, ENVIRONMENTS.md, BENCHMARKS.md. Example configs and problems"
  echo "are installed in share/cbrl/configs and share/cbrl/examples."
} > "$inc"
help2man --no-info --name "contextual bilevel reinforcement learning" --include "$inc" "$cli" > "$out"
