#!/usr/bin/env bash
# Configures and builds seqd, seqctl, the tests and the benches into ./build.
# BUILD_DIR and CMAKE_BUILD_TYPE may be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
