#!/usr/bin/env bash
# Runs the CPU benchmarks of mmboost and their PyTorch peers with 1 and 2 threads, appending
# one JSON line per measurement to OUT (default benchmarks-cpu.jsonl).
#   benchmarks/run_cpu.sh BUILD_DIR [OUT]
# BUILD_DIR is a build configured with -DMMBOOST_BUILD_BENCHMARKS=ON (Release). The PyTorch
# peers need the Debian python3-torch (tools/setup.sh --bench), run by /usr/bin/python3.
# mmboost and PyTorch runs alternate so that both see the same machine load.
set -euo pipefail
build=${1:?usage: benchmarks/run_cpu.sh BUILD_DIR [OUT]}
out=${2:-benchmarks-cpu.jsonl}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
have_torch=0
if "$py" -c "import torch" 2>/dev/null; then have_torch=1; fi
for t in 1 2; do
  "$build/benchmarks/bench_gemm" --threads "$t" | tee -a "$out"
  "$build/benchmarks/bench_cnn_step" --threads "$t" | tee -a "$out"
  if ((have_torch)); then "$py" "$here/pytorch/cnn_step.py" --threads "$t" | tee -a "$out"; fi
  "$build/benchmarks/bench_conv2d" --threads "$t" | tee -a "$out"
  if ((have_torch)); then "$py" "$here/pytorch/conv2d.py" --threads "$t" | tee -a "$out"; fi
done
if ((!have_torch)); then echo "run_cpu: no PyTorch for $py (tools/setup.sh --bench); peers skipped" >&2; fi
