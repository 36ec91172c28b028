#!/bin/sh
# Reproduces the paper's Table 1 protocol (the paper's Four-Rooms table); docs/results/four_rooms.md reports it.
# Every step uses --resume, so rerunning after an interruption completes what is missing.
#
#   OUT=/path/to/runs THREADS=2 sh scripts/reproduce_four_rooms.sh [hpgd|select|final|amd|table]
#
# hpgd    HPGD (batch estimator, consistent simulator): the full protocol, every beta,
#         learning rate and seed.
# select  the cheaper protocol for the other lines, at beta 1, 3, 5: stage 1 runs every
#         learning rate (and c) on seeds 0-2 ...
# final   ... stage 2 runs seeds 3-9 at the stage-1 choice of each (lambda, beta).
# amd     AMD, both stages (the slowest line: about 0.2 s per iteration on this machine).
# table   pools everything into $OUT/table.md (settings with all 10 seeds only).
set -eu
CBRL=${CBRL:-./build/cbrl}
OUT=${OUT:-runs}
T=${THREADS:-2}
LAMBDAS=${LAMBDAS:-"0.001 0.003 0.005"}
BETAS="1 3 5"
step=${1:-all}

run() { "$CBRL" run "$@" --threads "$T" --resume --quiet; }

# name:algorithm:simulator, the lines of the cheaper protocol (LINES may name a subset).
LINES=${LINES:-"hpgd-paper-code:hpgd-batch:paper-code exact:exact:consistent zero-order:zero-order:consistent hpgd-unbiased:hpgd:consistent"}

stage1() { # name alg sim lambda
  run configs/paper/four_rooms_lambda_$4.yaml --out "$OUT/select_$1_$4" --set algorithm=$2 --set simulator=$3 \
    --set "beta=[1,3,5]" --set "seeds=[0,1,2]"
}

stage2() { # name alg sim lambda
  for b in $BETAS; do
    best=$(sqlite3 "$OUT/select_$1_$4/results.sqlite" "SELECT learning_rate || ' ' || ifnull(zero_order_c, 0.1)
      FROM runs WHERE status = 'done' AND beta = $b GROUP BY learning_rate, zero_order_c
      ORDER BY avg(window_F) DESC LIMIT 1")
    set -- "$1" "$2" "$3" "$4" $best
    run configs/paper/four_rooms_lambda_$4.yaml --out "$OUT/final_$1_$4_beta$b" --set algorithm=$2 --set simulator=$3 \
      --set beta=$b --set learning_rate=$5 --set zero_order_c=$6 --set "seeds=[0,1,2,3,4,5,6,7,8,9]"
  done
}

if [ "$step" = hpgd ] || [ "$step" = all ]; then
  for l in $LAMBDAS; do
    run configs/paper/four_rooms_lambda_$l.yaml --out "$OUT/hpgd_consistent_$l" --set algorithm=hpgd-batch \
      --set simulator=consistent
  done
fi
if [ "$step" = select ] || [ "$step" = all ]; then
  for line in $LINES; do
    IFS=: read name alg sim <<EOT
$line
EOT
    for l in $LAMBDAS; do stage1 "$name" "$alg" "$sim" "$l"; done
  done
fi
if [ "$step" = final ] || [ "$step" = all ]; then
  for line in $LINES; do
    IFS=: read name alg sim <<EOT
$line
EOT
    for l in $LAMBDAS; do stage2 "$name" "$alg" "$sim" "$l"; done
  done
fi
if [ "$step" = amd ]; then
  for l in $LAMBDAS; do
    run configs/paper/four_rooms_lambda_$l.yaml --out "$OUT/select_amd_$l" --set algorithm=amd \
      --set "beta=[1,3,5]" --set "seeds=[0]"
    stage2 amd amd consistent "$l"
  done
fi
if [ "$step" = table ] || [ "$step" = all ]; then
  dirs=$(ls -d "$OUT"/hpgd_consistent_* "$OUT"/final_* 2>/dev/null)
  "$CBRL" table --min-seeds 10 $dirs > "$OUT/table_stdout.md"
  mv "$(echo $dirs | cut -d' ' -f1)/table.md" "$OUT/table.md"
fi
