#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang, ASan + UBSan, into ./build-fuzz with ccache)
# and runs each one in turn, printing its executions.
#
#   scripts/fuzz.sh             short mode (the test command): all targets together ~60 s
#   scripts/fuzz.sh SECONDS     each target for SECONDS (long mode: scripts/fuzz.sh 3600)
#   FUZZ_TARGETS="csv_reader message" scripts/fuzz.sh 600    only those targets
#
# Each target starts from its seed corpus (tests/fuzz/corpus/<target>/, read only) plus, with
# SECONDS given, what earlier such runs found (build-fuzz/corpus/<target>/, where new inputs
# go; the short mode starts from the seeds alone each time). Each summary
# line gives libFuzzer's seed (`-seed=N` repeats its mutations from the same corpus).
# A crash, a hang (one input over 10 s), a leak or a sanitizer report stops that target, saves
# the input as tests/fuzz/corpus/<target>/crash-<sha1> (likewise timeout-, leak-, oom-), and
# makes the script exit 1 after the other targets ran. Rename the file to crash-<what> once
# understood and commit it with the fix: it is replayed in every test run from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}

launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
build_start=$(date +%s)
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEQD_FUZZ=ON \
  -DSEQD_WERROR=ON "${launcher[@]}" >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target fuzz_targets
echo "fuzz: built in $(($(date +%s) - build_start)) s"

if [[ -n "${FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for source in tests/fuzz/*.cpp; do
    name=$(basename "$source" .cpp)
    [[ "$name" == replay_main ]] || targets+=("$name")
  done
fi
if [[ $# -ge 1 ]]; then
  seconds=$1
else
  seconds=$((60 / ${#targets[@]}))
  ((seconds >= 1)) || seconds=1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=()
summary=()
# The short mode starts from the seed corpus alone, so its time does not grow with what
# earlier runs found (libFuzzer reads its whole corpus before the clock starts to count).
if [[ $# -ge 1 ]]; then
  found_dir=$build_dir/corpus
else
  found_dir=$build_dir/corpus-short
  rm -rf "$found_dir"
fi
for target in "${targets[@]}"; do
  seeds=tests/fuzz/corpus/$target
  found=$found_dir/$target
  log=$build_dir/fuzz-$target.log
  mkdir -p "$found"
  status=0
  "$build_dir/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$seeds/" "$found" "$seeds" \
    >"$log" 2>&1 || status=$?
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  seed=$(sed -n 's/^INFO: Seed: *//p' "$log")
  line=$(printf '%-18s %4s s  %10s executions  %7s exec/s  %-9s  seed %s' "$target" "$seconds" \
    "${executions:-?}" "${per_second:-?}" "${coverage:-}" "${seed:-?}")
  if ((status != 0)); then
    line+="  FAILED (exit $status, log $log)"
    failed+=("$target")
    grep -m 20 -E '^(==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written|.*fuzz check failed)' \
      "$log" || true
  fi
  summary+=("$line")
  echo "fuzz: $line"
done

echo "== fuzz summary (${#targets[@]} targets, $seconds s each)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
  echo "fuzz: crashers in ${failed[*]}: see the logs above; inputs saved under tests/fuzz/corpus/"
  exit 1
fi
