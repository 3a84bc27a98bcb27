#!/usr/bin/env bash
# Fetches the Debian packages mmboost builds against (beyond the CUDA toolkit) and unpacks them
# into a folder, for a machine that has a compiler, CMake and CUDA but neither these packages
# nor network access (the GPU machine of tools/device_check.sh).
#
#   tools/fetch_device_deps.sh             -> .deps/root (git-ignored), .deps/debs (the .debs),
#                                             .deps/demo (a small demo set, when build/tools/mmboost
#                                             exists: the GPU image cannot run make-demo)
#   MMBOOST_DEPS_ROOT=/some/dir tools/fetch_device_deps.sh
#
# Run it on a Debian/Ubuntu machine with apt (this one): `apt-get download` needs no root, and
# `dpkg -x` only unpacks, nothing is installed. device_check.sh then points CMake, pkg-config
# and the loader at the folder (MMBOOST_DEPS_ROOT, default .deps/root).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${MMBOOST_DEPS_ROOT:-$repo/.deps/root}
debs=$repo/.deps/debs

# Headers and link-time libraries, plus every shared library those link against that a bare
# CUDA image may lack (libsndfile's codecs), and pkg-config itself (pkgconf).
pkgs=(
  libeigen3-dev nlohmann-json3-dev catch2
  libstb-dev libstb0
  libsndfile1-dev libsndfile1
  libflac-dev libflac12 libogg-dev libogg0 libvorbis-dev libvorbis0a libvorbisenc2 libvorbisfile3
  libopus-dev libopus0 libmpg123-dev libmpg123-0 libmp3lame0
  libfftw3-dev libfftw3-single3 libfftw3-double3 libfftw3-long3 libfftw3-quad3
  libsamplerate0-dev libsamplerate0
  zlib1g-dev zlib1g
  pkgconf pkgconf-bin libpkgconf3
)

mkdir -p "$debs" "$dest"
echo "fetch_device_deps: downloading ${#pkgs[@]} packages into $debs"
if ! (cd "$debs" && apt-get download "${pkgs[@]}"); then
  echo "fetch_device_deps: apt-get download failed; if the package lists are missing, run" >&2
  echo "  apt-get update   (as root) and try again" >&2
  exit 1
fi

for f in "$debs"/*.deb; do
  dpkg -x "$f" "$dest"
done
# Absolute links (zlib1g-dev's libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13) would point at
# the GPU machine's own files, which may be another version or absent: point them inside.
while IFS= read -r link; do
  target=$(readlink "$link")
  if [[ $target == /* ]] && [[ -e "$dest$target" || -L "$dest$target" ]]; then
    ln -sfn "$(realpath -s --relative-to="$(dirname "$link")" "$dest$target")" "$link"
  fi
done < <(find "$dest" -type l)
# The working tree travels to the device with a 64 MiB cap: drop what the build never reads
# (documentation, static archives, FFTW's other precisions, Eigen's unsupported modules).
# Catch2's static main library stays: its CMake package checks that the file exists.
rm -rf "$dest/usr/share/doc" "$dest/usr/share/man" "$dest/usr/share/lintian" \
  "$dest/usr/share/info" "$dest/usr/share/bug" "$dest/usr/include/eigen3/unsupported"
find "$dest/usr/lib/x86_64-linux-gnu" -name '*.a' -delete
find "$dest/usr/lib/x86_64-linux-gnu" \( -name 'libfftw3.so*' -o -name 'libfftw3l*' \
  -o -name 'libfftw3q*' -o -name 'libfftw3_*' -o -name 'libfftw3f_*' \) -delete

echo "fetch_device_deps: unpacked into $dest ($(du -sh "$dest" | cut -f1))"

# A small demo set for device_check.sh's CLI training step (make-demo needs espeak-ng and
# Fashion-MNIST, which the GPU image lacks).
mm=${MMBOOST_BIN:-$repo/build/tools/mmboost}
demo=$repo/.deps/demo
if [[ -f "$demo/demo.json" ]]; then
  echo "fetch_device_deps: demo data already in $demo"
elif [[ -x "$mm" ]]; then
  rm -rf "$demo"
  "$mm" make-demo "$demo" --clips-per-class 40
  echo "fetch_device_deps: demo data in $demo ($(du -sh "$demo" | cut -f1))"
else
  echo "fetch_device_deps: no $mm (build first, or set MMBOOST_BIN): demo data not written;" \
    "device_check.sh then skips its CLI training step" >&2
fi
echo "fetch_device_deps: on the GPU machine, run tools/device_check.sh with .deps/root and"
echo "  .deps/demo carried (MMBOOST_DEPS_ROOT defaults to .deps/root)"
