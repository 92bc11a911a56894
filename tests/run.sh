#!/usr/bin/env bash
# The project's second command: install what is missing, build every cached
# tool, build everything, and run every test (unit tests, integration tests
# against the real servers they start themselves, the fuzzer, and the unit
# and Dovecot/fault tests again under AddressSanitizer + UBSan). Exits
# non-zero when anything fails. Each stage prints its time, and a summary
# of all stage times is printed at the end (also on failure).
#
# Environment: BUILD_DIR (build), ASAN_BUILD_DIR (build-asan),
# FUZZ_BUILD_DIR (build-fuzz), JOBS (nproc), SKIP_SANITIZERS=1 to leave out
# the sanitizer stage on a developer machine (CI always runs it).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build}
asan_build=${ASAN_BUILD_DIR:-build-asan}
fuzz_build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${JOBS:-$(nproc)}

run_start=$(date +%s)
stage_lines=()
current_stage=""
stage_t0=0
stage() { # stage NAME: ends the previous stage (printing its time), starts NAME
  local now
  now=$(date +%s)
  if [[ -n "$current_stage" ]]; then
    stage_lines+=("$(printf '%-28s %5ss' "$current_stage" $((now - stage_t0)))")
    echo "== $current_stage: $((now - stage_t0))s"
  fi
  current_stage=$1
  stage_t0=$now
  [[ -n "$1" ]] && echo "== $1 ..."
  return 0
}
summary() {
  local rc=$?
  if [[ -n "$current_stage" ]]; then
    stage_lines+=("$(printf '%-28s %5ss%s' "$current_stage" $(($(date +%s) - stage_t0)) \
      "$([[ $rc -ne 0 ]] && echo '  (failed here)')")")
  fi
  echo "== stage times"
  printf '   %s\n' "${stage_lines[@]}"
  printf '   %-28s %5ss\n' "total" $(($(date +%s) - run_start))
  [[ -n "${corpus:-}" ]] && rm -rf "$corpus"
  return $rc
}
trap summary EXIT

stage "setup (Debian packages)"
bash tests/setup.sh

# Every tool a test needs is built here, never inside a test's timeout.
stage "tools (Go-built, cached)"
bash tests/tools.sh
# A test that finds a tool missing now fails at once, naming tests/tools.sh.
export IMAPPROBE_TOOLS_PREBUILT=1

stage "format gate (clang-format)"
bash tests/format.sh --check

stage "build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs"

stage "unit tests"
ctest --test-dir "$build" -L unit --output-on-failure -j "$jobs" --timeout 120

# The IMAP response parser's fuzzer: a short, bounded run on every test run
# so that it keeps building and a shallow crash cannot land.
stage "fuzzer (build + 30s run)"
cmake -S . -B "$fuzz_build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
  -DIMAPPROBE_BUILD_FUZZERS=ON -DIMAPPROBE_BUILD_TESTS=OFF >/dev/null
cmake --build "$fuzz_build" -j "$jobs" --target response_fuzzer
corpus=$(mktemp -d)
"$fuzz_build/tests/fuzz/response_fuzzer" -max_total_time=30 -rss_limit_mb=512 "$corpus" \
  2>&1 | tail -n 3

stage "integration, e2e, bench smoke"
ctest --test-dir "$build" -LE unit --output-on-failure -j "$jobs" --timeout 1200

if [[ -z "${SKIP_SANITIZERS:-}" || -n "${CI:-}" ]]; then
  # AddressSanitizer + UBSan: the unit tests and the engine against real
  # Dovecot and the fault servers (the code that parses what servers send).
  stage "sanitizer build (ASan+UBSan)"
  cmake -S . -B "$asan_build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DIMAPPROBE_SANITIZE=ON >/dev/null
  cmake --build "$asan_build" -j "$jobs" --target imapprobe_sanitized_tests

  stage "sanitizer tests"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
    LSAN_OPTIONS=suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$asan_build" -L 'unit|dovecot|faults|postfix|hydra' -LE 'e2e|bench|kube|docker' \
    --output-on-failure -j "$jobs" --timeout 600
fi
stage ""
