#!/usr/bin/env bash
# The project's own CUDA kernels, run on the host: builds the [cuda] test programs and
# test_simt with -DMMBOOST_CUDA=SIMT (tests/simt/simt.h: every CUDA thread of a launch runs the
# kernel body, barriers and warp collectives with CUDA's semantics; cuBLAS/cuBLASLt stand-ins
# that keep cuBLAS's contract; a cuDNN convolution stand-in, tests/simt/dnn.h) and runs them
# twice: threads of each block in lane order, then in reverse lane order (a result that depends
# on the order is a race, a missing barrier), and test_simt once more with TF32 allowed. Then
# it runs the three kernel benchmarks of benchmarks/cuda once at their small sizes, as a
# rehearsal of the GPU run: every version must pass its validation (a benchmark exits 1
# otherwise); the times they print are the host's.
#
#   tools/simt_check.sh                                   Release build in build-simt/
#   BUILD_DIR=dir tools/simt_check.sh -DOPTION=VALUE ...  another folder / extra CMake options,
#                                                         e.g. -DMMBOOST_SANITIZE=ON (then also
#                                                         MMBOOST_CUDA_NO_CACHE=1, so that every
#                                                         tensor is its own exact-size block and
#                                                         AddressSanitizer bounds each kernel access)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build=${BUILD_DIR:-build-simt}
jobs=${JOBS:-$(nproc)}
tests=(test_simt test_cuda_ops test_cuda_kernels test_cuda_trainer)
benches=(bench_ogm_score_sum bench_boost_loss bench_fused_hidden)
cmake -S . -B "$build" -G Ninja -DMMBOOST_CUDA=SIMT -DMMBOOST_BUILD_BENCHMARKS=ON "$@"
cmake --build "$build" -j "$jobs" --target "${tests[@]}" "${benches[@]}"
for order in lane reverse; do
  for t in "${tests[@]}"; do
    s=$(date +%s)
    echo "== $t (threads in $order order)"
    (cd "$build/tests" && MMBOOST_SIMT_ORDER=$order "./$t" --order decl)
    echo "== $t: $(($(date +%s) - s)) s"
  done
done
# The backend's choices of cuDNN algorithm and math type with TF32 tensor cores allowed
# (MMBOOST_TF32=1, read once per process), which the runs above leave untried.
echo "== test_simt (MMBOOST_TF32=1)"
(cd "$build/tests" && MMBOOST_TF32=1 ./test_simt --order decl)
for b in "${benches[@]}"; do
  s=$(date +%s)
  echo "== $b (small sizes; every version validated)"
  if ! "$build/benchmarks/cuda/$b" >"$build/$b.jsonl"; then
    echo "== $b failed; its measurements that did not validate:"
    grep -v '"valid":true' "$build/$b.jsonl" || true
    exit 1
  fi
  echo "== $b: $(grep -c '"valid":true' "$build/$b.jsonl") measurements valid, $(($(date +%s) - s)) s"
done
