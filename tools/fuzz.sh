#!/usr/bin/env bash
# Runs the libFuzzer targets of the data parsers (data/fuzz/: WAV/audio decoding, CSV lists
# and manifests, JSON configs, images, .npy) for a fixed number of inputs each, built with
# clang, AddressSanitizer and UndefinedBehaviorSanitizer. Any crash, leak or sanitizer report
# fails the script and leaves the input that caused it in $build/fuzz-artifacts/.
#   tools/fuzz.sh                 the counts below, in build-fuzz/
#   FUZZ_RUNS=N BUILD_DIR=dir tools/fuzz.sh     N inputs for every target
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --fuzz
build=${BUILD_DIR:-build-fuzz}
# inputs per target: the slow decoders (libsndfile, stb_image) get fewer
declare -A default_runs=([fuzz_wav]=20000 [fuzz_image]=20000 [fuzz_list]=200000 [fuzz_config]=100000
                         [fuzz_npy]=200000)
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMBOOST_FUZZ=ON -DMMBOOST_CUDA=OFF \
  -DMMBOOST_BUILD_TESTS=OFF -DMMBOOST_BUILD_BENCHMARKS=OFF
targets=()
for src in data/fuzz/fuzz_*.cpp; do targets+=("$(basename "$src" .cpp)"); done
cmake --build "$build" -j "$jobs" --target "${targets[@]}"
mkdir -p "$build/fuzz-artifacts"
export ASAN_OPTIONS=detect_leaks=1
for t in "${targets[@]}"; do
  runs=${FUZZ_RUNS:-${default_runs[$t]:-20000}}
  echo "== $t: $runs inputs"
  corpus="$build/fuzz-corpus/$t"
  mkdir -p "$corpus"
  if ! "$build/data/$t" -runs="$runs" -seed=1 -max_len=4096 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$build/fuzz-artifacts/$t-" "$corpus" > "$build/$t.log" 2>&1; then
    tail -n 40 "$build/$t.log"
    echo "fuzz: $t failed (log $build/$t.log, input saved in $build/fuzz-artifacts/)"
    exit 1
  fi
  tail -n 6 "$build/$t.log"
done
echo "fuzz: all ${#targets[@]} targets ran clean"
