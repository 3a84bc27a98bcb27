#!/usr/bin/env bash
# The GPU check, in one script: configure with the CUDA backend, build, run the [cuda] tests
# (each also under compute-sanitizer memcheck), run the kernel benchmarks and their
# PyTorch peer, the end-to-end training step of the CREMA-D ResNet18 AUG configuration against
# PyTorch (benchmarks/bench_train_step.cpp, benchmarks/pytorch/train_step_aug.py), train the
# demo data with the CLI on the GPU (2 epochs, resume to a 3rd, evaluate), profile the
# boosting-loss kernel and one training step of each side with Nsight Compute, and write
# everything under $OUT. Designed to finish within 8 minutes on a 16-core machine with one
# H100/H200; every stage has a time limit and the script goes on (recording the failure) when
# one fails.
#
#   OUT=/path/to/results tools/device_check.sh
#
# Environment:
#   OUT                   where results go (default ./device-out); at most 8 files are written:
#                         summary.json, env.txt, device_check.log, tests.log, sanitizer.log,
#                         bench.jsonl (kernel and train-step lines), demo.log (the CLI's output,
#                         the run's metrics.jsonl and eval_test.json), demo_report.json
#   MMBOOST_DEPS_ROOT     a folder of unpacked Debian packages (tools/fetch_device_deps.sh),
#                         used when the machine lacks Eigen, nlohmann-json, Catch2, stb,
#                         libsndfile, FFTW, libsamplerate or pkg-config (default .deps/root)
#   MMBOOST_BUILD_DIR     build folder (default /tmp/mmboost-device-build)
#   MMBOOST_DEVICE_CUDNN  which cuDNN to build against first: pytorch (default: the one PyTorch
#                         loads, from its nvidia-cudnn wheel, so that both sides run the same
#                         library) or system (the toolkit's or the machine's); the other is the
#                         fallback should configure or build fail
#   MMBOOST_DEVICE_BUDGET total seconds for the script (default 470)
#   MMBOOST_BENCH_REPS    timed repetitions per benchmark measurement (default 10 here)
#   MMBOOST_TRAIN_STEPS   timed steps per train-step measurement (default 20, after 3 warm-up)
#   MMBOOST_DEMO_DATA     demo data to train on (a `mmboost make-demo` folder; default .deps/demo,
#                         which tools/fetch_device_deps.sh writes for carrying along); without it
#                         make-demo runs under the build folder where espeak-ng and Fashion-MNIST
#                         exist (not on a bare GPU image), else the CLI trainer step is skipped
#   MMBOOST_DEVICE_FULL=1 also build everything and run the whole ctest suite if time is left
#   MMBOOST_TRAIN_BATCH   batch of the train-step measurements (default 64, CREMA-D's)
#   MMBOOST_DEVICE_CUDA   the CMake MMBOOST_CUDA value (default ON). EMULATE rehearses the whole
#                         script on a machine without a GPU (the "cuda" device runs the CPU
#                         backend); with MMBOOST_TRAIN_BATCH=4 MMBOOST_TRAIN_STEPS=2 it fits the
#                         budget on 2 cores
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$repo/device-out}
build=${MMBOOST_BUILD_DIR:-/tmp/mmboost-device-build}
budget=${MMBOOST_DEVICE_BUDGET:-470}
export MMBOOST_BENCH_REPS=${MMBOOST_BENCH_REPS:-10}
mkdir -p "$out" "$build"
t0=$(date +%s)
log=$out/device_check.log
: >"$log"
steps_json=""

say() { echo "== [$(($(date +%s) - t0))s] $*" | tee -a "$log"; }
left() { echo $((budget - ($(date +%s) - t0))); }

# run_step NAME LIMIT_S LOGFILE CMD...: runs CMD with a time limit, appends its output to
# LOGFILE, records rc and seconds in summary.json.
run_step() {
  local name=$1 limit=$2 file=$3
  shift 3
  local remaining
  remaining=$(left)
  if ((remaining < 10)); then
    say "$name: skipped, time budget spent"
    steps_json+="{\"step\":\"$name\",\"rc\":null,\"skipped\":true},"
    return 1
  fi
  ((limit > remaining)) && limit=$remaining
  say "$name (limit ${limit}s): $*"
  local s=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >>"$file" 2>&1
  local rc=$?
  local secs=$(($(date +%s) - s))
  say "$name: rc=$rc in ${secs}s"
  steps_json+="{\"step\":\"$name\",\"rc\":$rc,\"seconds\":$secs},"
  return $rc
}

# ---- environment ---------------------------------------------------------------------------
{
  echo "date: $(date -u +%FT%TZ)"
  echo "repo: $repo ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo 'no git'))"
  nvidia-smi -L 2>&1 || echo "nvidia-smi: not found"
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv 2>&1
  command -v nvcc >/dev/null && nvcc --version | tail -2
  cmake --version | head -1
  echo "cores: $(nproc)"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1
  command -v compute-sanitizer || echo "compute-sanitizer: not found"
} >"$out/env.txt" 2>&1
cat "$out/env.txt" >>"$log"

if [[ -z "${CUDACXX:-}" && ! -x "$(command -v nvcc)" && -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
[[ -z "$arch" ]] && arch=90

# PyTorch runs with the library path it was started with: it brings its own cuDNN, and the
# system cuDNN that the build below puts on LD_LIBRARY_PATH is an older one that PyTorch
# refuses ("cuDNN version incompatibility: PyTorch was compiled against (9, 19, 0) but found
# runtime version (9, 14, 0)", seen on an H100 image). Folders holding a cuDNN are left out of
# it too, in case the image's own path names one.
py_ld=""
IFS=: read -ra ld_dirs <<<"${LD_LIBRARY_PATH:-}"
for d in "${ld_dirs[@]}"; do
  [[ -n "$d" ]] && ! compgen -G "$d/libcudnn.so*" >/dev/null && py_ld+=${py_ld:+:}$d
done
py=(env "LD_LIBRARY_PATH=$py_ld" python3)

# ---- dependencies from an unpacked Debian folder -------------------------------------------
cmake_extra=()
deps=${MMBOOST_DEPS_ROOT:-$repo/.deps/root}
if [[ -d "$deps/usr" ]]; then
  deps=$(cd "$deps" && pwd)
  say "using unpacked packages from $deps"
  # .pc files name /usr; rewrite them to the folder (one pass, so the new prefix is not
  # rewritten again).
  pcdir=$build/pkgconfig
  mkdir -p "$pcdir"
  for pc in "$deps"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc "$deps"/usr/share/pkgconfig/*.pc; do
    [[ -f "$pc" ]] && sed "s|/usr|$deps/usr|g" "$pc" >"$pcdir/$(basename "$pc")"
  done
  export PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  export CMAKE_PREFIX_PATH=$deps/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}
  if ! command -v pkg-config >/dev/null && [[ -x "$deps/usr/bin/pkgconf" ]]; then
    cmake_extra+=("-DPKG_CONFIG_EXECUTABLE=$deps/usr/bin/pkgconf")
  fi
fi

# ---- cuDNN: the one PyTorch loads, else the machine's ---------------------------------------
# Both sides of each comparison should run the same cuDNN. On 2026-11-27 ours was the image's
# 9.14 and PyTorch's the 9.19 of its nvidia-cudnn wheel, a difference the convolution timings
# could not be told apart from. So the build takes the wheel's cuDNN (header and library) when
# it has both, else the machine's (the toolkit's or a system one); MMBOOST_DEVICE_CUDNN=system
# prefers the machine's. Should configure or build fail with the first, the other is tried in a
# fresh build folder. Each program then reports the cuDNN it loaded (bench.jsonl: "cudnn").
cudnn_version_of() {  # cudnn_version_of INCLUDE_DIR -> "9.19.0", from cudnn_version.h
  awk '$1 == "#define" && $2 ~ /^CUDNN_(MAJOR|MINOR|PATCHLEVEL)$/ { v[$2] = $3 }
       END { if (v["CUDNN_MAJOR"] != "") printf "%s.%s.%s", v["CUDNN_MAJOR"], v["CUDNN_MINOR"], v["CUDNN_PATCHLEVEL"] }' \
    "$1/cudnn_version.h" 2>/dev/null
}
find_cudnn() {  # find_cudnn "INCLUDE_DIRS" "LIBRARY_DIRS" -> "INCLUDE_DIR LIBRARY" of the first found
  local inc="" lib="" d f
  for d in $1; do
    if [[ -f "$d/cudnn.h" ]]; then inc=$d; break; fi
  done
  for d in $2; do
    for f in "$d/libcudnn.so" "$d/libcudnn.so.9"; do
      if [[ -e "$f" ]]; then lib=$f; break 2; fi
    done
  done
  if [[ -n "$inc" && -n "$lib" ]]; then echo "$inc $lib"; fi
}
py_cudnn=$("${py[@]}" -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)
cudnn_pytorch=""
[[ -n "$py_cudnn" ]] && cudnn_pytorch=$(find_cudnn "$py_cudnn/include" "$py_cudnn/lib")
cudnn_system=$(find_cudnn "/usr/local/cuda/include /usr/include /usr/include/x86_64-linux-gnu /usr/local/include" \
  "/usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu /usr/local/lib")
order=(pytorch system)
[[ "${MMBOOST_DEVICE_CUDNN:-pytorch}" == system ]] && order=(system pytorch)
cudnn_tries=()
for c in "${order[@]}"; do
  v=cudnn_$c
  if [[ -n "${!v}" ]]; then
    cudnn_tries+=("$c")
    say "cuDNN ($c): ${!v} (version $(cudnn_version_of "${!v% *}"))"
  fi
done
((${#cudnn_tries[@]})) || say "cuDNN not found (neither PyTorch's wheel nor the machine has cudnn.h and libcudnn); configure will fail"

# ---- configure and build -------------------------------------------------------------------
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
targets=(test_cuda_ops test_cuda_kernels test_cuda_trainer bench_train_step mmboost)
# The kernel benchmarks exist only where the kernels are compiled (not on the emulated device).
[[ "${MMBOOST_DEVICE_CUDA:-ON}" != EMULATE ]] &&
  targets+=(bench_fused_hidden bench_boost_loss bench_ogm_score_sum)
build_with() {  # build_with SUFFIX [CUDNN_INCLUDE_DIR CUDNN_LIBRARY]: configure + build steps
  local suffix=$1
  shift
  local cudnn_args=()
  (($#)) && cudnn_args=("-DCUDNN_INCLUDE_DIR=$1" "-DCUDNN_LIBRARY=$2")
  run_step "configure$suffix" 90 "$log" cmake -S "$repo" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DMMBOOST_CUDA="${MMBOOST_DEVICE_CUDA:-ON}" -DMMBOOST_CUDA_ARCHS="$arch" -DMMBOOST_BUILD_BENCHMARKS=ON \
    "${cmake_extra[@]}" "${cudnn_args[@]}" &&
    run_step "build$suffix" 300 "$log" cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]}"
}
cudnn_used=""
if ((${#cudnn_tries[@]} == 0)); then
  build_with ""
else
  first=1
  for c in "${cudnn_tries[@]}"; do
    v=cudnn_$c
    suffix=""
    if ((!first)); then
      say "building against cuDNN ($c) instead, in a fresh folder"
      build=$build-cudnn-$c
      suffix=_cudnn_$c
    fi
    first=0
    if build_with "$suffix" ${!v}; then
      cudnn_used=$c
      break
    fi
  done
  if [[ -n "$cudnn_used" ]]; then
    v=cudnn_$cudnn_used
    lib=${!v#* }
    export LD_LIBRARY_PATH=$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    say "built against cuDNN ($cudnn_used): $lib"
  fi
fi

# ---- tests ---------------------------------------------------------------------------------
tests_log=$out/tests.log
: >"$tests_log"
for t in test_cuda_ops test_cuda_kernels test_cuda_trainer; do
  exe=$build/tests/$t
  if [[ -x "$exe" ]]; then
    run_step "$t" 120 "$tests_log" "$exe" --order decl --durations yes
  else
    say "$t: not built"
    steps_json+="{\"step\":\"$t\",\"rc\":null,\"missing\":true},"
  fi
done

# ---- benchmarks ----------------------------------------------------------------------------
bench=$out/bench.jsonl
: >"$bench"
for b in bench_boost_loss bench_ogm_score_sum bench_fused_hidden; do
  exe=$build/benchmarks/cuda/$b
  if [[ -x "$exe" ]]; then
    run_step "$b" 90 "$bench" "$exe"
  else
    say "$b: not built"
  fi
done
if "${py[@]}" -c 'import torch' 2>/dev/null; then
  export PYTHONUNBUFFERED=1
  run_step pytorch_kernels 120 "$bench" "${py[@]}" "$repo/benchmarks/cuda/pytorch_kernels.py"
else
  say "PyTorch not importable: its peer benchmark skipped"
fi

# ---- end-to-end training step: CREMA-D ResNet18 AUG, ours vs PyTorch -------------------------
# One step = both ResNet18 encoders, classifiers, shared head, boosting loss, backward, SGD
# (batch 64, audio 257x188, one 224x224 frame); classifiers 1,1 (plain CE) and 1,4 (the full
# boosting loss on video). TF32 off on both sides unless named. JSON lines into bench.jsonl,
# stderr into the log.
run_json() {  # run_json NAME LIMIT CMD...
  local name=$1 limit=$2
  shift 2
  run_step "$name" "$limit" "$bench" bash -c 'exec "$@" 2>>"$0"' "$log" "$@"
}
ts=$build/benchmarks/bench_train_step
ts_py=$repo/benchmarks/pytorch/train_step_aug.py
ts_args=(--device cuda --batch "${MMBOOST_TRAIN_BATCH:-64}" --steps "${MMBOOST_TRAIN_STEPS:-20}"
  --warmup 3)
have_torch=0
"${py[@]}" -c 'import torch' 2>/dev/null && have_torch=1
export PYTHONUNBUFFERED=1
# With 1,4 also 10 steps split into forward+loss / backward / optimizer ("phases_ms"), so that a
# gap between the two sides can be placed without a profiler.
for c in 1,1 1,4; do
  ph=()
  [[ $c == 1,4 ]] && ph=(--phases 10)
  if [[ -x "$ts" ]]; then
    run_json "train_step_mmboost_$c" 90 "$ts" "${ts_args[@]}" --classifiers "$c" "${ph[@]}"
  else
    say "bench_train_step: not built"
  fi
  if ((have_torch)); then
    run_json "train_step_pytorch_$c" 90 "${py[@]}" "$ts_py" "${ts_args[@]}" --classifiers "$c" "${ph[@]}"
  fi
done

# ---- compute-sanitizer memcheck of the [cuda] tests -----------------------------------------
# After the main measurements (memcheck slows the kernels by one to two orders of magnitude; on
# gVisor machines it refuses the device) and before the variants and profiles below, which
# have run before (2026-11-27) while the op and trainer tests have not yet run under memcheck.
san_log=$out/sanitizer.log
: >"$san_log"
san=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer \
  /usr/local/cuda/compute-sanitizer/compute-sanitizer 2>/dev/null | head -1)
memcheck() {  # memcheck TEST_PROGRAM LIMIT_S
  local exe=$build/tests/$1
  if [[ -z "$san" || ! -x "$exe" ]]; then
    echo "compute-sanitizer or $1 missing: its memcheck skipped" >>"$san_log"
    return
  fi
  # Without the caching allocator every tensor is its own cudaMalloc, so memcheck sees the
  # true bounds of each buffer.
  run_step "memcheck_${1#test_cuda_}" "$2" "$san_log" env MMBOOST_CUDA_NO_CACHE=1 "$san" \
    --tool memcheck --error-exitcode 99 "$exe" --order decl
}
# The kernel test took 2 s under memcheck on the H100 (1 s without); the op and trainer tests
# take 1-2 s without it and get more room, their thousands of small launches and (with the
# cache off) allocations being what memcheck slows most.
memcheck test_cuda_kernels 120
memcheck test_cuda_ops 150
memcheck test_cuda_trainer 180

# ---- the CLI trainer on the GPU: demo data, 2 epochs, resume to 3, evaluate ----------------
# Shows training, validation, checkpoint save (every epoch) and load (resume: the full state;
# eval: the best weights) on CUDA. Batch 16 and an assignment check after every epoch (tau
# 0.001), so that the few epochs take enough steps to learn and the model grows classifiers
# (the fused path with n >= 2, the ACA network, a resume that rebuilds the grown structure).
demo_log=$out/demo.log
: >"$demo_log"
mm=$build/tools/mmboost
if [[ -x "$mm" ]]; then
  # The demo data: MMBOOST_DEMO_DATA, else .deps/demo (tools/fetch_device_deps.sh writes it
  # there, to be carried along), else make-demo here when espeak-ng and Fashion-MNIST exist.
  demo=${MMBOOST_DEMO_DATA:-$repo/.deps/demo}
  if [[ ! -f "$demo/demo.json" ]]; then  # demo.json is written last by make-demo
    demo=$build/demo-data
    if [[ ! -f "$demo/demo.json" ]] && command -v espeak-ng >/dev/null &&
      [[ -d /usr/share/datasets/fashion-mnist ]]; then
      rm -rf "$demo"
      run_step make_demo 90 "$demo_log" "$mm" make-demo "$demo" --clips-per-class 40
    fi
  fi
  run=$build/demo-run
  rm -rf "$run"
  if [[ -f "$demo/annotations/train.csv" ]]; then
    run_step demo_train 90 "$demo_log" "$mm" train --config "$repo/tools/configs/demo_aug.json" \
      --data-root "$demo" --out "$run" --device cuda --epochs 2 --set train.batch_size=16 \
      --set method.assign_every=1 --set method.tau=0.001 &&
      run_step demo_resume 60 "$demo_log" "$mm" train --resume "$run" --device cuda --epochs 3
    [[ -f "$run/checkpoints/best.safetensors" ]] &&
      run_step demo_eval 60 "$demo_log" "$mm" eval --run "$run" --split test --device cuda
    for f in metrics.jsonl eval_test.json; do
      [[ -f "$run/$f" ]] && { echo "---- $f"; cat "$run/$f"; } >>"$demo_log"
    done
    [[ -f "$run/report.json" ]] && cp "$run/report.json" "$out/demo_report.json"
  else
    say "no demo data in '$demo': the CLI trainer step skipped"
  fi
else
  say "mmboost: not built; the CLI trainer step skipped"
fi

# ---- train step: equivalence on the GPU, and the TF32 / cudnn.benchmark variants -----------
# The same initial weights and batch on both sides (bench_train_step --dump, train_step_aug.py
# --load): the PyTorch line's "check" holds the largest loss difference over 3 steps.
if [[ -x "$ts" ]] && ((have_torch)); then
  rm -rf "$build/train_step_check"
  run_json train_step_check_mmboost 60 "$ts" --device cuda --batch 16 --steps 3 --warmup 0 \
    --classifiers 1,4 --dump "$build/train_step_check" &&
    run_json train_step_check_pytorch 60 "${py[@]}" "$ts_py" --device cuda --steps 3 --warmup 0 \
      --load "$build/train_step_check"
fi
[[ -x "$ts" ]] &&
  run_json train_step_mmboost_1,1_tf32 90 env MMBOOST_TF32=1 "$ts" "${ts_args[@]}" --classifiers 1,1
# cuDNN's own choice of convolution algorithms, non-deterministic ones included, as PyTorch's
# default: how much of the gap to PyTorch the determinism rule costs.
[[ -x "$ts" ]] &&
  run_json train_step_mmboost_1,1_nondeterministic 90 env MMBOOST_CUDNN_DETERMINISTIC=0 "$ts" \
    "${ts_args[@]}" --classifiers 1,1
# The batch taken from host memory at every step, as the trainer does: with waiting copies from
# pageable memory, and from page-locked memory queued one batch ahead (engine/upload.h).
for up in pageable pinned; do
  [[ -x "$ts" ]] &&
    run_json "train_step_mmboost_1,1_upload_$up" 90 "$ts" "${ts_args[@]}" --classifiers 1,1 --upload "$up"
done
# Algorithms ranked by cuDNN's timing on this GPU (PyTorch's cudnn.benchmark), the fastest
# deterministic one: what autotuning gains while keeping bit-identical reruns.
[[ -x "$ts" ]] &&
  run_json train_step_mmboost_1,1_benchmark 90 env MMBOOST_CUDNN_BENCHMARK=1 "$ts" \
    "${ts_args[@]}" --classifiers 1,1
if ((have_torch)); then
  run_json train_step_pytorch_1,1_tf32 90 "${py[@]}" "$ts_py" "${ts_args[@]}" --classifiers 1,1 --tf32
  run_json train_step_pytorch_1,1_cudnn_benchmark 90 "${py[@]}" "$ts_py" "${ts_args[@]}" \
    --classifiers 1,1 --cudnn-benchmark
  # PyTorch under mmboost's default rule (deterministic convolution algorithms only), beside
  # train_step_mmboost_1,1; with cudnn.benchmark too, beside train_step_mmboost_1,1_benchmark.
  run_json train_step_pytorch_1,1_deterministic 90 "${py[@]}" "$ts_py" "${ts_args[@]}" \
    --classifiers 1,1 --cudnn-deterministic
  run_json train_step_pytorch_1,1_deterministic_benchmark 90 "${py[@]}" "$ts_py" "${ts_args[@]}" \
    --classifiers 1,1 --cudnn-deterministic --cudnn-benchmark
fi

# ---- Nsight Compute: the boosting-loss kernel at the largest size ------------------------------
# Its memory throughput as the hardware counts it, at the benchmark's clocks, beside the GB/s
# that bench_boost_loss works out from the bytes it must move. The launch to profile is the
# fused kernel's (version 3's) first timed call at B = 65536, K = 309, the last of 15 sizes:
# each version of a size runs the kernel once to validate, 3 times to warm up and
# MMBOOST_BENCH_REPS times timed, and the 14 sizes before it have 38 such versions (fused and
# fused_online at each, fused_warp_rows at the 10 with K <= 64). Into device_check.log.
ncu_bin=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
if [[ -n "$ncu_bin" && -x "$build/benchmarks/cuda/bench_boost_loss" ]]; then
  per_size=$((1 + 3 + MMBOOST_BENCH_REPS))
  run_step ncu_boost_loss 90 "$log" "$ncu_bin" --clock-control none --kernel-name \
    regex:boost_loss_kernel --launch-skip $((38 * per_size + 4)) --launch-count 1 \
    --section SpeedOfLight --section LaunchStats --section MemoryWorkloadAnalysis \
    "$build/benchmarks/cuda/bench_boost_loss"
else
  say "ncu or bench_boost_loss missing: the kernel profile skipped"
fi

# ---- Nsight Compute: one training step, ours and PyTorch's, kernel by kernel ------------------
# Every kernel of one 1,4 step at batch 64 (no warm-up: the first step launches what any step
# does) timed alone by ncu, summarised by tools/ncu_step_summary.py into a "train_step_profile"
# line per side in bench.jsonl: where the two steps' GPU time differs, by kernel class.
if [[ -n "$ncu_bin" ]]; then
  profile_step() {  # profile_step IMPL CMD...
    local impl=$1
    shift
    local csv=$build/ncu_step_$impl.csv
    rm -f "$csv"
    run_step "ncu_step_$impl" 75 "$log" "$ncu_bin" --clock-control none --csv \
      --metrics gpu__time_duration.sum --log-file "$csv" "$@" --device cuda --batch 64 \
      --steps 1 --warmup 0 --classifiers 1,4 &&
      "${py[@]}" "$repo/tools/ncu_step_summary.py" --impl "$impl" "$csv" >>"$bench" 2>>"$log"
  }
  [[ -x "$ts" ]] && profile_step mmboost "$ts"
  ((have_torch)) && profile_step pytorch "${py[@]}" "$ts_py"
fi

# ---- optional: everything else -------------------------------------------------------------
if [[ "${MMBOOST_DEVICE_FULL:-0}" == 1 ]] && (($(left) > 120)); then
  run_step build_all $(($(left) - 60)) "$log" cmake --build "$build" --parallel "$(nproc)"
  run_step ctest_all $(left) "$tests_log" ctest --test-dir "$build" --output-on-failure
fi

# ---- summary -------------------------------------------------------------------------------
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
cat >"$out/summary.json" <<EOF
{"script":"tools/device_check.sh","gpu":"${gpu:-unknown}","arch":"$arch","seconds":$(($(date +%s) - t0)),
 "steps":[${steps_json%,}]}
EOF
say "done; results in $out"
cat "$out/summary.json" | tee -a "$log"
