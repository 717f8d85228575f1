#!/usr/bin/env bash
# Builds everything with AddressSanitizer and UBSan (CLUSTERDNS_SANITIZE, g++ by default) in
# build-asan/ and runs the whole ctest suite there: unit tests, fuzz seed replays, and the
# integration tests, which start the sanitized server ($<TARGET_FILE:clusterdns>).
#
# Usage: tests/run-sanitize.sh [extra ctest arguments, e.g. -L unit]
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${CLUSTERDNS_ASAN_BUILD:-$src/build-asan}
jobs=${JOBS:-2}

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCLUSTERDNS_SANITIZE=ON \
    -DCLUSTERDNS_TESTS=ON >/dev/null
cmake --build "$build" -j"$jobs"

# abort_on_error: a finding kills the process with SIGABRT, so a server under an integration test
# dies visibly instead of exiting with a code a harness might read as a normal shutdown.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest --output-on-failure -j"$jobs" "$@"
