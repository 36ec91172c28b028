#!/usr/bin/env bash
# The leader's clip modes against each other (docs/results/clipping.md): Four-Rooms at
# lambda 0.003 with beta 1 and 3, and tax design at lambda 0.2, for each of per-context (the
# paper's), average (the default) and growing. Resumable: rerun to complete.
#   scripts/clip_compare.sh [OUT_DIR] [THREADS]
set -euo pipefail
out=${1:-runs/clip}
threads=${2:-1}
cbrl=${CBRL:-build/cbrl}
mkdir -p "$out"
for mode in per-context average growing; do
  cat > "$out/four_rooms_$mode.yaml" <<YAML
env: four-rooms
lambda: 0.003
beta: [1, 3]
algorithm: [exact, hpgd-batch]
simulator: paper-code
learning_rate: 0.5
seeds: 5
iterations: 10000
clip: $mode
YAML
  cat > "$out/tax_$mode.yaml" <<YAML
env: tax-design
tax_bins: 100
lambda: 0.2
algorithm: [exact, zero-order]
zero_order_c: 50
learning_rate: 0.01
seeds: 2
iterations: 500
metrics_every: 5
final_window: 50
clip: $mode
YAML
  for cfg in four_rooms tax; do
    dir="$out/${cfg}_$mode"
    if [ -d "$dir" ]; then resume=--resume; else resume=; fi
    "$cbrl" run "$out/${cfg}_$mode.yaml" --out "$dir" --threads "$threads" --quiet $resume
  done
done
