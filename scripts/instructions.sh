#!/bin/sh
# Instructions per leader iteration of each benchmark part, from callgrind (load-independent):
#   scripts/instructions.sh [BUILD_DIR] [PART...]
# PART is four-rooms:ALG or tax:ALG (bench/parts.c), with "+metrics" for iterations that compute
# the exact-F metrics (four-rooms:hpgd-batch+metrics). Each part runs 3 warm-up iterations, then
# N counted ones (--toggle-collect=cbrl_parts_measured); prints "part  instructions-per-iteration"
# and, for HPGD parts, the split per iteration of the follower's response (cbrl_follower_respond),
# the simulation (cbrl_sim_batch) and the rest of the batch estimator (cbrl__hpgd_batch less the
# simulation and the vjp, cbrl__hpgd_flush), and per step for the last two (10,000 steps an
# iteration on Four-Rooms and tax). Needs valgrind (Debian: apt-get install valgrind).
# A per-function breakdown of one part:
#   valgrind --tool=callgrind --toggle-collect=cbrl_parts_measured --callgrind-out-file=cg.out \
#     BUILD/bench/cbrl_parts tax:hpgd-batch 5 && callgrind_annotate --inclusive=yes cg.out | head -40
# valgrind emulates no AVX-512, so the target_clones pick their AVX2 versions: the counts are for
# those (an AVX-512 machine runs fewer, wider instructions in the hot loops).
set -e
BUILD=${1:-build}
[ $# -gt 0 ] && shift
PARTS=${*:-"four-rooms:hpgd-batch four-rooms:hpgd-batch+metrics four-rooms:amd tax:hpgd-batch tax:zero-order"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Inclusive instructions of function $1 in the profile $2 (0 when absent).
incl() {
  callgrind_annotate --inclusive=yes --threshold=100 "$2" 2>/dev/null | awk -v f="$1" '
    { for (i = 1; i <= NF; i++) if ($i ~ (":" f "(\047[0-9]+)?$")) { gsub(",", "", $1); print $1; exit } }' |
    head -1
}
for part in $PARTS; do
  name=${part%+metrics}
  metrics=
  [ "$name" != "$part" ] && metrics=--metrics
  case $name in
    *amd) n=2 ;;
    tax:*) n=3 ;;
    *) n=20 ;;
  esac
  valgrind --tool=callgrind --toggle-collect=cbrl_parts_measured --callgrind-out-file="$tmp/cg" \
    "$BUILD/bench/cbrl_parts" "$name" $n $metrics >/dev/null 2>"$tmp/log"
  ir=$(grep '^summary:' "$tmp/cg" | awk '{print $2}')
  echo "$part $((ir / n))"
  case $name in
    *:hpgd-batch)
      f=$(incl cbrl_follower_respond "$tmp/cg"); s=$(incl cbrl_sim_batch "$tmp/cg")
      b=$(incl cbrl__hpgd_batch "$tmp/cg"); v=$(incl cbrl__hpgd_flush "$tmp/cg")
      e=$(( ${b:-0} - ${s:-0} - ${v:-0} ))
      echo "  follower response $(( ${f:-0} / n )), simulation $(( ${s:-0} / n )) ($(( ${s:-0} / n / 10000 )) per step), estimator $(( e / n )) ($(( e / n / 10000 )) per step), vjp $(( ${v:-0} / n ))"
      ;;
  esac
done
