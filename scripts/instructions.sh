#!/bin/sh
# Instructions per leader iteration of each benchmark part, from callgrind (load-independent):
#   scripts/instructions.sh [BUILD_DIR] [PART...]
# Each part runs 3 warm-up iterations, then N counted ones (--toggle-collect=cbrl_parts_measured);
# prints "part  instructions-per-iteration". Needs valgrind (Debian: apt-get install valgrind).
# A per-function breakdown of one part:
#   valgrind --tool=callgrind --toggle-collect=cbrl_parts_measured --callgrind-out-file=cg.out \
#     BUILD/bench/cbrl_parts tax:hpgd-batch 5 && callgrind_annotate --inclusive=yes cg.out | head -40
# valgrind emulates no AVX-512, so the target_clones pick their AVX2 versions: the counts are for
# those (an AVX-512 machine runs fewer, wider instructions in the hot loops).
set -e
BUILD=${1:-build}
[ $# -gt 0 ] && shift
PARTS=${*:-"four-rooms:hpgd-batch four-rooms:amd tax:hpgd-batch tax:zero-order"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for part in $PARTS; do
  case $part in
    *amd) n=2 ;;
    tax:*) n=3 ;;
    *) n=20 ;;
  esac
  valgrind --tool=callgrind --toggle-collect=cbrl_parts_measured --callgrind-out-file="$tmp/cg" \
    "$BUILD/bench/cbrl_parts" "$part" $n >/dev/null 2>"$tmp/log"
  ir=$(grep '^summary:' "$tmp/cg" | awk '{print $2}')
  echo "$part $((ir / n))"
done
