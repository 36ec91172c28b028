#!/bin/sh
# The HPGD cells of Table 1 at lambda 0.003 and 0.001 with the critic estimator (issue 15 part 5;
# docs/results/four_rooms.md, "HPGD with the critic estimator"): each (lambda, beta) at the learning
# rate the batch estimator's cell uses, 10 seeds, 10,000 iterations, on both simulators.
# Resumable: every run uses --resume.
#
#   OUT=/path/to/runs THREADS=2 sh scripts/four_rooms_critic.sh
set -eu
CBRL=${CBRL:-./build/cbrl}
OUT=${OUT:-runs}
T=${THREADS:-2}
# lambda beta lr(consistent) lr(paper-code): the learning rates of the batch estimator's cells.
while read -r l b lr_c lr_p; do
  for sim in consistent paper-code; do
    lr=$lr_c; [ "$sim" = paper-code ] && lr=$lr_p
    "$CBRL" run configs/paper/four_rooms_lambda_$l.yaml --out "$OUT/critic_${sim}_${l}_beta$b" --threads "$T" \
      --resume --quiet --set algorithm=hpgd-critic --set simulator=$sim --set beta=$b --set learning_rate=$lr \
      --set "seeds=[0,1,2,3,4,5,6,7,8,9]"
  done
done <<CELLS
0.001 1 0.05 0.5
0.001 3 0.5 0.5
0.001 5 0.5 0.5
0.003 1 0.05 0.5
0.003 3 0.05 0.5
0.003 5 0.5 0.5
CELLS
