#!/usr/bin/env bash
# README's main job: installs what is needed, builds, writes the built-in demo data, trains
# naive joint training and the paper's method (AUG) on it on the CPU, then prints the
# comparison table and where the plots are.
#   tools/demo.sh                     everything, in build/ and runs/demo/
#   BUILD_DIR=dir DEMO_DATA=dir RUNS=dir tools/demo.sh -DOPTION=VALUE ...
# Each finished step is kept: running it again skips the data and the finished runs, and a
# run that was interrupted (Ctrl-C, a crash) continues from its last checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build=${BUILD_DIR:-build}
data=${DEMO_DATA:-demo-data}
runs=${RUNS:-runs/demo}
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$build" -G Ninja "$@"
cmake --build "$build" -j "$jobs" --target mmboost
mm="$build/tools/mmboost"

if [[ -f "$data/demo.json" ]]; then  # written last by make-demo
  echo "demo: using the demo data in $data"
else
  rm -rf "$data"
  "$mm" make-demo "$data"
fi

# One run per config: trained from scratch, resumed when interrupted, skipped when finished.
train() {
  local config=$1 out="$runs/$1"
  if [[ -f "$out/report.json" ]]; then
    echo "demo: $out is finished"
  elif [[ -f "$out/checkpoints/last.safetensors" ]]; then
    "$mm" train --resume "$out" --data-root "$data"
  else
    rm -rf "$out"
    "$mm" train --config "$config" --data-root "$data" --out "$out"
  fi
}
train demo_naive
train demo_aug

echo
"$mm" compare "$runs/demo_naive" "$runs/demo_aug"
echo
echo "demo: plots (SVG, open in a browser):"
for r in demo_naive demo_aug; do echo "  $runs/$r/plots/"; done
echo "demo: per-epoch metrics in $runs/<run>/metrics.jsonl, the summary in $runs/<run>/report.md"
