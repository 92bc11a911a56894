# shellcheck shell=bash
# Shared helpers of the bash test scripts under tests/ (sourced, not run):
#
#   source "$(dirname "${BASH_SOURCE[0]}")/../lib/testlib.sh"
#   TEST_NAME=my_test            # prefix of the "my_test: N passed, M failed" line
#   at_exit rm -rf "$WD"         # cleanups, run last-registered-first on any exit
#   check "desc" cmd...; expect_eq "desc" want got; expect_fail "desc" regex cmd...
#   finish                       # summary lines, exit 1 if anything failed
#
# Output: "ok   - ..." / "FAIL - ..." per check, "# skip: ..." for checks that
# cannot run here, and last the line "N passed, M failed" that CI parses.
# If the script ends any other way than through finish (set -e, a signal, a
# missing argument), that counts as one failure and the summary is printed
# anyway, before the cleanups; the exit status is then non-zero.

[[ -n "${TESTLIB_LOADED:-}" ]] && return 0
TESTLIB_LOADED=1

PASS=0
FAIL=0
TEST_NAME="$(basename "$0" .sh)"
TESTLIB_CLEANUPS=()
TESTLIB_FINISHED=""
TESTLIB_OUT="$(mktemp "${TMPDIR:-/tmp}/testlib-out.XXXXXX")"

# Always succeed, so that "cond && ok ... || bad ..." is an if-then-else.
ok() { echo "ok   - $*"; PASS=$((PASS + 1)); }
# Counts and goes on: a test reports every failure, not only the first.
bad() { echo "FAIL - $*"; FAIL=$((FAIL + 1)); }
# A check this machine cannot run is said out loud but not counted.
skip() { echo "# skip: $*"; }
# Sets captured output apart from the ok/FAIL lines it explains.
indent() { sed 's/^/       /'; }

# check DESC CMD...: the command's output only clutters the log when it passed.
check() {
  local desc="$1"
  shift
  if "$@" >"$TESTLIB_OUT" 2>&1; then ok "$desc"; else bad "$desc"; indent <"$TESTLIB_OUT"; fi
}

# expect_eq DESC EXPECTED ACTUAL: the value is in the log either way.
expect_eq() {
  if [[ "$2" == "$3" ]]; then ok "$1 ($3)"; else bad "$1: expected '$2', got '$3'"; fi
}

# expect_fail DESC REGEX CMD...: a refusal only counts for the expected reason
# (REGEX: grep -E on the output; empty: any failure will do).
expect_fail() {
  local desc="$1" want="$2"
  shift 2
  if "$@" >"$TESTLIB_OUT" 2>&1; then
    bad "$desc: succeeded, but should have failed"; indent <"$TESTLIB_OUT"
  elif [[ -n "$want" ]] && ! grep -qE -- "$want" "$TESTLIB_OUT"; then
    bad "$desc: failed, but not with '$want'"; indent <"$TESTLIB_OUT"
  else
    ok "$desc"
  fi
}

# at_exit CMD...: servers and temp dirs go away however the script ends.
at_exit() {
  local cmd
  printf -v cmd '%q ' "$@"
  TESTLIB_CLEANUPS+=("$cmd")
}

# The two summary lines; the bare one last, for CI.
testlib_summary() {
  echo "$TEST_NAME: $PASS passed, $FAIL failed"
  echo "$PASS passed, $FAIL failed"
}

# The end of a test: the exit status agrees with the summary.
finish() {
  TESTLIB_FINISHED=1
  testlib_summary
  if ((FAIL > 0)); then exit 1; fi
  exit 0
}

# EXIT trap: an aborted run still reports (as failed) and still cleans up.
testlib_on_exit() {
  local rc=$? i
  if [[ -z "$TESTLIB_FINISHED" ]]; then
    bad "$TEST_NAME aborted before finish (status $rc)"
    testlib_summary
  fi
  for ((i = ${#TESTLIB_CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${TESTLIB_CLEANUPS[i]}" >/dev/null 2>&1 || true
  done
  rm -f "$TESTLIB_OUT"
  if [[ -z "$TESTLIB_FINISHED" && $rc -eq 0 ]]; then exit 1; fi
}
trap testlib_on_exit EXIT
