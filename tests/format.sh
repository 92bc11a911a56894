#!/usr/bin/env bash
# The format gate: every C++ file in the tree as clang-format (.clang-format)
# would write it.
#
#   bash tests/format.sh --check   list the files that differ; exit 1 if any
#   bash tests/format.sh --fix     rewrite them in place
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:---check}
command -v clang-format >/dev/null 2>&1 \
  || { echo "format.sh: clang-format not found (Debian package clang-format; tests/setup.sh installs it)" >&2; exit 1; }

# Tracked files and new ones not ignored, so a file not yet added is checked too.
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.cpp' '*.hpp' '*.h' '*.cc')
case "$mode" in
  --fix)
    clang-format -i "${files[@]}"
    echo "format.sh: formatted ${#files[@]} files" ;;
  --check)
    bad=()
    for f in "${files[@]}"; do
      if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
    done
    if ((${#bad[@]} > 0)); then
      echo "format.sh: ${#bad[@]} of ${#files[@]} files are not clang-formatted:" >&2
      printf '  %s\n' "${bad[@]}" >&2
      echo "format.sh: run 'bash tests/format.sh --fix' (clang-format $(clang-format --version | grep -o '[0-9][0-9.]*' | head -1))" >&2
      exit 1
    fi
    echo "format.sh: ${#files[@]} files clang-formatted" ;;
  *) echo "usage: tests/format.sh [--check|--fix]" >&2; exit 2 ;;
esac
