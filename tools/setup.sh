#!/usr/bin/env bash
# Installs every Debian package mmboost needs. Idempotent: packages already present are
# left alone, and apt is only asked when something is missing.
#   tools/setup.sh            build + test dependencies, demo-data material
#   tools/setup.sh --bench    also the CPU PyTorch used as the benchmark peer
#   tools/setup.sh --fuzz     also clang and its libFuzzer runtime (tools/fuzz.sh)
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config
  libeigen3-dev nlohmann-json3-dev catch2 libstb-dev
  libsndfile1-dev libfftw3-dev libsamplerate0-dev zlib1g-dev
  espeak-ng dataset-fashion-mnist
)
for arg in "$@"; do
  case "$arg" in
    --bench) pkgs+=(python3-torch python3-numpy) ;;
    --fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
    *) echo "setup: unknown option $arg (known: --bench, --fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#pkgs[@]} packages present"
fi
