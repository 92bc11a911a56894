#!/usr/bin/env bash
# Builds the GitOps judges the tests run our objects through, from the Go
# module proxy, into the project cache, and prints their directory:
#   kstatus       sigs.k8s.io/cli-utils' kstatus (Flux health checks, Helm 4 --wait)
#   argocdhealth  an Argo CD Lua health check run by gopher-lua as Argo CD runs it
#
#   tests/gitops/build.sh            build (if missing) and print the bin directory
#   tests/gitops/build.sh --check    print it if built, else exit 1 (no build)
#
# The cache is keyed on a hash of this directory's Go sources, go.mod and
# go.sum: ${IMAPPROBE_CACHE:-$HOME/.cache/imap-probe-operator}/gitops/<hash>/bin
# IMAPPROBE_TOOLS_PREBUILT (set by tests/run.sh): fail rather than build.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${IMAPPROBE_CACHE:-${HOME:-/tmp}/.cache/imap-probe-operator}"
HASH="$(cd "$HERE" && cat go.mod go.sum build.sh kstatus/*.go argocdhealth/*.go internal/objects/*.go | sha256sum | cut -c1-16)"
DIR="$CACHE_ROOT/gitops/$HASH"
BIN="$DIR/bin"

die() { echo "gitops/build.sh: ERROR: $*" >&2; exit 1; }
usable() { [[ -x "$BIN/kstatus" && -x "$BIN/argocdhealth" ]]; }

if usable; then echo "$BIN"; exit 0; fi
if [[ "${1:-}" == "--check" || -n "${IMAPPROBE_TOOLS_PREBUILT:-}" ]]; then
  die "the GitOps judges are not built (run: tests/gitops/build.sh)"
fi
command -v go >/dev/null 2>&1 || die "'go' not found in PATH (Go >= 1.26)"
mkdir -p "$DIR"
exec 9>"$DIR/.build.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if usable; then echo "$BIN"; exit 0; fi
tmp="$(mktemp -d "$DIR/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
(cd "$HERE" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod nice -n 10 \
  go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$tmp/" ./kstatus ./argocdhealth) \
  || die "go build failed (see above)"
mkdir -p "$BIN"
mv "$tmp/kstatus" "$tmp/argocdhealth" "$BIN/"
echo "$BIN"
