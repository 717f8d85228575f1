#!/usr/bin/env bash
# Builds the libFuzzer targets with clang 14 (ASan + UBSan) in build-fuzz/ and runs each for
# SECONDS (default 30) on a scratch copy of its seed corpus, so new inputs never dirty the repo.
# Fails if any target crashes, leaks, times out or runs out of memory; the reproducer is left in
# build-fuzz/fuzz-out/ (copy it to tests/fuzz/corpus/NAME/ once fixed: every crasher becomes a seed).
#
# Usage: tests/run-fuzz.sh [SECONDS] [TARGET...]   (default: every tests/fuzz/fuzz_NAME.cc)
set -euo pipefail

seconds=${1:-30}
shift || true
targets=("$@")
src=$(cd "$(dirname "$0")/.." && pwd)
if [ ${#targets[@]} -eq 0 ]; then
    for source in "$src"/tests/fuzz/fuzz_*.cc; do
        name=$(basename "$source" .cc)
        targets+=("${name#fuzz_}")
    done
fi
build=${CLUSTERDNS_FUZZ_BUILD:-$src/build-fuzz}
jobs=${JOBS:-2}

CC=clang-14 CXX=clang++-14 cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCLUSTERDNS_FUZZ=ON -DCLUSTERDNS_TESTS=ON >/dev/null
cmake --build "$build" -j"$jobs" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

out=$build/fuzz-out
failed=()
for name in "${targets[@]}"; do
    work=$out/$name
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    cp -R "$src/tests/fuzz/corpus/$name/." "$work/corpus/"
    echo "== fuzz_$name: ${seconds}s"
    if "$build/tests/fuzz/fuzz_$name" "$work/corpus" -max_total_time="$seconds" \
        -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" >"$work/log" 2>&1; then
        grep -E '^#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec' \
            "$work/log" || true
    else
        echo "fuzz_$name FAILED: log $work/log, reproducer(s):"
        ls "$work/artifacts"
        tail -n 40 "$work/log"
        failed+=("$name")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "crashed: ${failed[*]}"
    exit 1
fi
echo "all fuzz targets ran ${seconds}s without a crash"
