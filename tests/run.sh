#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. the contract build (Release) and every ctest test: unit, integration (real dig and
#      busybox nslookup against build/clusterdns), the allocation test, the embedding example,
#      corpus replays;
#   2. the same suite built with AddressSanitizer and UndefinedBehaviorSanitizer;
#   3. each libFuzzer target for a bounded time (FUZZ_SECONDS, default 20);
#   4. the image (tests/image/test_image.py): the Dockerfile built with podman and no registry,
#      run as the kube-system Deployment runs it. It runs in the background during 3: it is
#      mostly debootstrap and apt-get, and the fuzzers leave one core idle.
# Ends with one line "clusterdns tests: N passed, M failed" over all four.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=2
log=$(mktemp)
image_log=$(mktemp)
image_pid=
# A failed phase ends the run: the image test, if started, cleans up and stops with it.
trap '[ -z "$image_pid" ] || { kill "$image_pid" 2>/dev/null; wait "$image_pid" || true; }; rm -f "$log" "$image_log"' EXIT

echo "== release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" | tee -a "$log"

echo "== sanitizer build and tests"
bash tests/run-sanitize.sh | tee -a "$log"

echo "== image test (in the background; its output follows the fuzzing)"
python3 tests/image/test_image.py >"$image_log" 2>&1 &
image_pid=$!

echo "== fuzzing"
bash tests/run-fuzz.sh "${FUZZ_SECONDS:-20}"
fuzzers=$(ls tests/fuzz/fuzz_*.cc | wc -l)

echo "== image test"
image_failed=0
wait "$image_pid" || image_failed=1
image_pid=
cat "$image_log"

# ctest: "100% tests passed, 0 tests failed out of 118"; set -e stopped us on any other failure.
total=$(awk '/tests failed out of/ {n += $NF} END {print n}' "$log")
echo "clusterdns tests: $((total + fuzzers + 1 - image_failed)) passed, $image_failed failed"
exit "$image_failed"
