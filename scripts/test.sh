#!/usr/bin/env bash
# Quick start, command 2: installs what is missing, builds, and runs every test with ctest,
# twice: a RelWithDebInfo build in ./build and an AddressSanitizer + UndefinedBehaviorSanitizer
# Debug build in ./build-sanitize. Between them a Release build (-O3) in ./build-release
# builds seqd, seqctl and the unit tests and runs the unit tests only (ctest -L unit): it proves
# the optimizer's warnings and the code at -O3 without a third run of the integration tests.
# Every build here has warnings as errors (-DSEQD_WERROR=ON); a plain build does not.
# It also checks that the C++ sources are clang-formatted.
# SEQD_SKIP_SANITIZE=1 skips the sanitizer build and SEQD_SKIP_RELEASE=1 the Release one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

echo "== clang-format check"
git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror

echo "== build and test (RelWithDebInfo)"
scripts/build.sh -DSEQD_WERROR=ON
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure -j"$(nproc)")

if [[ "${SEQD_SKIP_RELEASE:-0}" != 1 ]]; then
  echo "== build and unit-test (Release)"
  cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DSEQD_WERROR=ON \
    $(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache) >/dev/null
  CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1 \
    cmake --build build-release -j"$(nproc)" --target seqd seqctl unit_tests
  (cd build-release && ctest --output-on-failure -L unit -j"$(nproc)")
fi

if [[ "${SEQD_SKIP_SANITIZE:-0}" != 1 ]]; then
  echo "== build and test (ASan + UBSan)"
  BUILD_DIR=build-sanitize CMAKE_BUILD_TYPE=Debug scripts/build.sh -DSEQD_SANITIZE=ON \
    -DSEQD_WERROR=ON
  # The randomized tests run fewer of their fixed seeds here (all of them above): the
  # sanitizers look for memory errors, which a few seeds exercise; the schedule property test
  # runs one seed's two months of virtual time, the lifecycle model test 5 of its 20 seeds, the
  # simulation 100 of its 1,000.
  # SEQD_SANITIZED=1 widens the memory and latency bounds that ASan's own cost would break.
  (cd build-sanitize &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      SEQD_SCHEDULE_SEED=20261209 SEQD_MODEL_SEEDS=5 SEQD_SANITIZED=1 \
      ctest --output-on-failure -j"$(nproc)")
fi
