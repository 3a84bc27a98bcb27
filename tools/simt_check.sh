#!/usr/bin/env bash
# The project's own CUDA kernels, run on the host: builds the [cuda] test programs and
# test_simt with -DMMBOOST_CUDA=SIMT (tests/simt/simt.h: every CUDA thread of a launch runs the
# kernel body, barriers and warp collectives with CUDA's semantics; cuBLAS/cuBLASLt stand-ins
# that keep cuBLAS's contract; conv2d on the CPU backend) and runs them twice: threads of each
# block in lane order, then in reverse lane order (a result that depends on the order is a race,
# a missing barrier).
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
cmake -S . -B "$build" -G Ninja -DMMBOOST_CUDA=SIMT -DMMBOOST_BUILD_BENCHMARKS=OFF "$@"
cmake --build "$build" -j "$jobs" --target "${tests[@]}"
for order in lane reverse; do
  for t in "${tests[@]}"; do
    s=$(date +%s)
    echo "== $t (threads in $order order)"
    (cd "$build/tests" && MMBOOST_SIMT_ORDER=$order "./$t" --order decl)
    echo "== $t: $(($(date +%s) - s)) s"
  done
done
