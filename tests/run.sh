#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. the contract build (Release) and every ctest test: unit, integration (real dig and
#      busybox nslookup against build/clusterdns), the allocation test, the embedding example,
#      corpus replays;
#   2. the same suite built with AddressSanitizer and UndefinedBehaviorSanitizer;
#   3. each libFuzzer target for a bounded time (FUZZ_SECONDS, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=2

echo "== release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== sanitizer build and tests"
bash tests/run-sanitize.sh

echo "== fuzzing"
bash tests/run-fuzz.sh "${FUZZ_SECONDS:-20}"
