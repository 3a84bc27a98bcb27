#!/usr/bin/env bash
# Trains every method's demo config (the paper's method, naive joint training, unimodal
# training and the baselines of docs/methods.md) over several seeds and prints the comparison
# table (docs/results.md quotes its output).
#   tools/compare_methods.sh [TRAIN FLAGS...]        e.g. --epochs 15 --threads 1
#   SEEDS=0,1,2 PARALLEL=2 BUILD_DIR=build DEMO_DATA=demo-data RUNS=runs/compare tools/compare_methods.sh
# PARALLEL runs train side by side (give each --threads so they do not oversubscribe the
# cores). A finished method is skipped; an interrupted one resumes from its checkpoints.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
data=${DEMO_DATA:-demo-data}
runs=${RUNS:-runs/compare}
seeds=${SEEDS:-0,1,2}
parallel=${PARALLEL:-1}
mm="$build/tools/mmboost"
configs=(demo_naive demo_naive_sum demo_audio demo_video demo_aug demo_ogm demo_ogm_ge demo_agm demo_mslr demo_gblend demo_mla
         demo_reconboost demo_mmpareto demo_pmr)
[[ -x "$mm" ]] || { echo "compare_methods: build first ($mm not found; tools/demo.sh builds it)" >&2; exit 1; }
[[ -f "$data/demo.json" ]] || { rm -rf "$data"; "$mm" make-demo "$data"; }  # demo.json is written last
mkdir -p "$runs"

train_one() {
  local config=$1; shift
  local out="$runs/$config" log="$runs/$config.log"
  if [[ -f "$out/aggregate.json" ]]; then
    echo "compare_methods: $config is finished"
  elif [[ -d "$out" ]]; then
    echo "compare_methods: resuming $config (log $log)"
    "$mm" train --resume "$out" --data-root "$data" >> "$log" 2>&1
  else
    echo "compare_methods: training $config, seeds $seeds (log $log)"
    "$mm" train --config "$config" --data-root "$data" --seeds "$seeds" --out "$out" "$@" > "$log" 2>&1
  fi
}

pids=()
status=0
for c in "${configs[@]}"; do
  while (( $(jobs -rp | wc -l) >= parallel )); do wait -n || status=1; done
  train_one "$c" "$@" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
(( status == 0 )) || { echo "compare_methods: a run failed; see $runs/*.log" >&2; exit 1; }

dirs=()
for c in "${configs[@]}"; do dirs+=("$runs/$c"); done
"$mm" compare "${dirs[@]}" --format md --out "$runs/table.md"
cat "$runs/table.md"
