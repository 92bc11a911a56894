#!/usr/bin/env bash
# The project's second command: install what is missing, build everything,
# and run every test (unit tests, and integration tests against the real
# servers they start themselves). Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup.sh

build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j "$jobs"

# The IMAP response parser's fuzzer: a short, bounded run on every test run
# so that it keeps building and a shallow crash cannot land.
if command -v clang++ >/dev/null 2>&1; then
  fuzz_build=${FUZZ_BUILD_DIR:-build-fuzz}
  cmake -S . -B "$fuzz_build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
    -DIMAPPROBE_BUILD_FUZZERS=ON -DIMAPPROBE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$fuzz_build" -j "$jobs" --target response_fuzzer
fi

if [[ -x "${fuzz_build:-}/tests/fuzz/response_fuzzer" ]]; then
  corpus=$(mktemp -d)
  trap 'rm -rf "$corpus"' EXIT
  "$fuzz_build/tests/fuzz/response_fuzzer" -max_total_time=30 -rss_limit_mb=512 "$corpus" \
    2>&1 | tail -n 3
fi

ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 600
