#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. the contract build (Release) and every ctest test: unit, integration (real dig and
#      busybox nslookup against build/clusterdns), the allocation test, the embedding example,
#      corpus replays;
#   2. the same suite built with AddressSanitizer and UndefinedBehaviorSanitizer;
#   3. each libFuzzer target for a bounded time (FUZZ_SECONDS, default 20).
# Ends with one line "clusterdns tests: N passed, M failed" over all three.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=2
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" | tee -a "$log"

echo "== sanitizer build and tests"
bash tests/run-sanitize.sh | tee -a "$log"

echo "== fuzzing"
bash tests/run-fuzz.sh "${FUZZ_SECONDS:-20}"
fuzzers=$(ls tests/fuzz/fuzz_*.cc | wc -l)

# ctest: "100% tests passed, 0 tests failed out of 118"; set -e stopped us on any failure.
total=$(awk '/tests failed out of/ {n += $NF} END {print n}' "$log")
echo "clusterdns tests: $((total + fuzzers)) passed, 0 failed"
