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
# Ends with one line "clusterdns tests: N passed, M failed, K skipped" over all four. A test skips
# (exit 77) when this machine lacks what it needs; each skip is listed with its reason. With CI=true
# (.ci/run, which installs everything) a skip fails the run: there it can only mean a broken test.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=2
asan_build=${CLUSTERDNS_ASAN_BUILD:-build-asan}
release_log=$(mktemp)
asan_log=$(mktemp)
image_log=$(mktemp)
image_pid=
# A failed phase ends the run: the image test, if started, cleans up and stops with it.
trap '[ -z "$image_pid" ] || { kill "$image_pid" 2>/dev/null; wait "$image_pid" || true; }; rm -f "$release_log" "$asan_log" "$image_log"' EXIT

# ctest ends each test with one line, "12/118 Test  #7: integration.records ...***Skipped  0.2 sec",
# and counts a skip as passed in its summary: the counts come from these lines. A DISABLED test
# ("***Not Run (Disabled)") is a skip too; any other "***" (Failed, Timeout, Exception, Not Run
# for a missing executable) is a failure.
status_lines='/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: /'
skip_status='/\*\*\*(Skipped|Not Run \(Disabled\))/'

# "passed failed skipped" in the ctest output files given.
ctest_counts() {
    awk "$status_lines"' {
            if ('"$skip_status"') skipped++
            else if (/\*\*\*/ || !/ Passed /) failed++
            else passed++
         } END { print passed + 0, failed + 0, skipped + 0 }' "$@"
}

# "  NAME (BUILD): REASON" for each test skipped in ctest output $1 of build directory $2, the
# reason being the test's "SKIP: ..." line (tests/integration/harness.py) from ctest's full log.
skipped_tests() {
    # Names may hold spaces (a unit test is its TEST_CASE's title).
    awk "$status_lines && $skip_status"' {
            sub(/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: /, ""); sub(/ +\.* *\*\*\*[A-Z].*$/, ""); print
         }' "$1" | while IFS= read -r name; do
        reason=$(awk -v name="$name" '/^ *[0-9]+\/[0-9]+ Test: / { sub(/^[^:]*: /, ""); test = $0 }
                     test == name && /^SKIP: / { sub(/^SKIP: /, ""); print; exit }' \
                     "$2/Testing/Temporary/LastTest.log" 2>/dev/null || true)
        echo "  $name ($2): ${reason:-no SKIP line in its output (DISABLED?)}"
    done
}

echo "== release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" | tee "$release_log"

echo "== sanitizer build and tests"
CLUSTERDNS_ASAN_BUILD=$asan_build bash tests/run-sanitize.sh | tee "$asan_log"

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

# set -e stopped us on a failed ctest phase or fuzzer: what is left to count is skips and the image.
read -r passed failed skipped < <(ctest_counts "$release_log" "$asan_log")
status=$((failed + image_failed > 0))
if [ "$skipped" -gt 0 ]; then
    echo "== skipped"
    skipped_tests "$release_log" build
    skipped_tests "$asan_log" "$asan_build"
    if [ "${CI:-}" = true ]; then
        echo "CI=true: everything a test needs is installed here, so a skip is a failure"
        status=1
    fi
fi
echo "clusterdns tests: $((passed + fuzzers + 1 - image_failed)) passed," \
    "$((failed + image_failed)) failed, $skipped skipped"
exit "$status"
