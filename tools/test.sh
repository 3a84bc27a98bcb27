#!/usr/bin/env bash
# README's test command: installs what is needed, builds, and runs every test.
#   tools/test.sh                 Release build in build/ (CUDA compiled when nvcc is present;
#                                 [cuda] tests skip without a GPU)
#   BUILD_DIR=dir tools/test.sh -DOPTION=VALUE ...   another build folder / extra CMake options
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$build" -G Ninja "$@"
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"
