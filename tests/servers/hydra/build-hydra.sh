#!/usr/bin/env bash
# Builds ORY Hydra (the OAuth 2.0 server of tests/servers/hydra) from the Go
# module proxy into the project cache and prints the path of the binary.
#
#   tests/servers/hydra/build-hydra.sh               build (if missing) and print the path
#   tests/servers/hydra/build-hydra.sh --check       exit 0 if built and runnable, else 1 (no build)
#   tests/servers/hydra/build-hydra.sh --print-path  print where the binary is (built or not)
#
# Why not `go install github.com/ory/hydra/v2@v2.3.0`: its go.mod has a
# `replace github.com/ory/hydra-client-go/v2 => ./internal/httpclient`, which
# `go install pkg@version` refuses, and the module zip does not even contain
# internal/httpclient. So the module is copied out of the module cache, that
# replace is dropped (go.mod already requires hydra-client-go v2.2.1 from the
# proxy), and the copy is built. Needs cgo (gcc): `-tags sqlite` brings in
# go-sqlite3, without which DSN=memory is refused at start-up.
#
# Cost (2 cores, cold): ~5 s download (~315 MB module cache), ~100 s compile
# (~475 MB build cache), 59 MB binary before stripping.
#
# Result: ${IMAPPROBE_CACHE:-$HOME/.cache/imap-probe-operator}/hydra/<version>-<hash>/hydra
# where <hash> covers this script and the Go version, so a changed recipe or
# toolchain builds into a fresh directory. Concurrent builds are serialised
# with flock.
#
# Environment:
#   HYDRA_VERSION     release tag (default below)
#   IMAPPROBE_CACHE   cache root (default $HOME/.cache/imap-probe-operator)
#   IMAPPROBE_TOOLS_PREBUILT  set by tests/run.sh: fail rather than build
set -euo pipefail

HYDRA_VERSION="${HYDRA_VERSION:-v2.3.0}"
MODULE=github.com/ory/hydra/v2
SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
CACHE_ROOT="${IMAPPROBE_CACHE:-${HOME:-/tmp}/.cache/imap-probe-operator}"

log() { echo "build-hydra.sh: $*" >&2; }
die() { echo "build-hydra.sh: ERROR: $*" >&2; exit 1; }

[[ "$HYDRA_VERSION" =~ ^v2\.[0-9]+\.[0-9]+$ ]] \
  || die "HYDRA_VERSION must look like v2.3.0 (got '$HYDRA_VERSION')"
command -v go >/dev/null 2>&1 || die "'go' not found in PATH (Go >= 1.22 and gcc are needed to build hydra $HYDRA_VERSION)"

# `go version` is part of the key: a binary from another toolchain still runs,
# but the key must name what it was built with for the cache to be honest.
KEY="$HYDRA_VERSION-$({ sha256sum "$SELF" | cut -d' ' -f1; GOTOOLCHAIN=local go version; } | sha256sum | cut -c1-12)"
DIR="$CACHE_ROOT/hydra/$KEY"
HYDRA="$DIR/hydra"

usable() { [[ -x "$HYDRA" ]] && "$HYDRA" version >/dev/null 2>&1; }

case "${1:-}" in
  --print-path) echo "$HYDRA"; exit 0 ;;
  --check) usable && exit 0; exit 1 ;;
  "") ;;
  *) die "usage: build-hydra.sh [--check|--print-path]" ;;
esac

if usable; then
  echo "$HYDRA"
  exit 0
fi
if [[ -n "${IMAPPROBE_TOOLS_PREBUILT:-}" ]]; then
  die "hydra $HYDRA_VERSION is not built, and a test must not build it inside its timeout: run 'bash tests/tools.sh' first"
fi
command -v gcc >/dev/null 2>&1 || die "'gcc' not found: hydra's sqlite support (DSN=memory) needs cgo"

mkdir -p "$DIR"
exec 9>"$DIR/.build.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if usable; then   # built by a concurrent run while we waited for the lock
  echo "$HYDRA"
  exit 0
fi

t0=$(date +%s)
export GOTOOLCHAIN=local
# -buildvcs=false: the copied source is not a VCS checkout, and a GOFLAGS from
# the caller must not change what ends up in the cache under the same key.
export GOFLAGS="-buildvcs=false"
log "building $MODULE@$HYDRA_VERSION with $(go version | awk '{print $3}') into $DIR (cold: ~2 min on 2 cores) ..."
tmp="$(mktemp -d "$DIR/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
src="$(go mod download -json "$MODULE@$HYDRA_VERSION" \
  | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error", "no Dir")))')" \
  || die "go mod download $MODULE@$HYDRA_VERSION failed"
# The module cache is read-only; the copy is ours to edit.
cp -r "$src" "$tmp/src"
chmod -R u+w "$tmp/src"
(
  cd "$tmp/src"
  go mod edit -dropreplace=github.com/ory/hydra-client-go/v2
  # Adds the go.sum lines for the hydra-client-go version go.mod requires.
  go mod download github.com/ory/hydra-client-go/v2
  # config.Version is what `hydra version` prints (else "master").
  CGO_ENABLED=1 nice -n 10 go build -tags sqlite \
    -ldflags "-s -w -X $MODULE/driver/config.Version=$HYDRA_VERSION" -o "$tmp/hydra" .
) || die "building hydra $HYDRA_VERSION failed (see above)"
mv -f "$tmp/hydra" "$HYDRA"
"$HYDRA" version >/dev/null 2>&1 || die "built $HYDRA does not run"
log "built in $(( $(date +%s) - t0 ))s: $(du -h "$HYDRA" | cut -f1)"
echo "$HYDRA"
