#!/usr/bin/env bash
# Builds helm from the Go module proxy into the project cache and prints the
# path of the binary.  See docs/helm.md ("Building helm").
#
#   tests/helm/build-helm.sh            build (if missing) and print the path
#   tests/helm/build-helm.sh --check    print the path if built, else exit 1 (no build)
#   HELM_VERSION=v3.22.0 tests/helm/build-helm.sh   another release (v3 or v4)
#
# Debian bookworm has no helm package (apt-cache policy helm: nothing), and no
# release binaries can be downloaded here, so helm is built with
# `go install helm.sh/helm/vN/cmd/helm@VERSION` (needs Go >= the go directive
# of that release's go.mod: go 1.26.0 for v4.3.1 and v3.22.0).
#
# Result: ${IMAPPROBE_CACHE:-$HOME/.cache/imap-probe-operator}/helm/<version>/bin/helm
# Idempotent: nothing is built when that file exists and runs.  Concurrent
# builds are serialised with flock.
#
# Environment:
#   HELM_VERSION      release tag (default below)
#   IMAPPROBE_CACHE   cache root (default $HOME/.cache/imap-probe-operator)
#   IMAPPROBE_TOOLS_PREBUILT  set by tests/run.sh: fail rather than build
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v4.3.1}"
CACHE_ROOT="${IMAPPROBE_CACHE:-${HOME:-/tmp}/.cache/imap-probe-operator}"
DIR="$CACHE_ROOT/helm/$HELM_VERSION"
BIN="$DIR/bin"
HELM="$BIN/helm"

log() { echo "build-helm.sh: $*" >&2; }
die() { echo "build-helm.sh: ERROR: $*" >&2; exit 1; }

[[ "$HELM_VERSION" =~ ^v([34])\.[0-9]+\.[0-9]+$ ]] \
  || die "HELM_VERSION must look like v4.3.1 or v3.22.0 (got '$HELM_VERSION')"
MAJOR="${BASH_REMATCH[1]}"
MODULE="helm.sh/helm/v$MAJOR"

usable() { [[ -x "$HELM" ]] && "$HELM" version --short >/dev/null 2>&1; }

if usable; then
  echo "$HELM"
  exit 0
fi
if [[ "${1:-}" == "--check" || -n "${IMAPPROBE_TOOLS_PREBUILT:-}" ]]; then
  die "helm $HELM_VERSION is not built (run: tests/helm/build-helm.sh)"
fi

command -v go >/dev/null 2>&1 || die "'go' not found in PATH (Go >= 1.26 is needed to build helm $HELM_VERSION)"

mkdir -p "$BIN"
exec 9>"$DIR/.build.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if usable; then   # built by a concurrent run while we waited for the lock
  echo "$HELM"
  exit 0
fi

t0=$(date +%s)
log "building $MODULE/cmd/helm@$HELM_VERSION with $(go version | awk '{print $3}') into $BIN ..."
tmp="$(mktemp -d "$DIR/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# Same version stamping as helm's Makefile for a tagged release (version,
# empty metadata, clean tree); the Kubernetes version used by `helm template`
# for .Capabilities comes from the k8s.io/client-go version in the build info.
ld="-s -w -X $MODULE/internal/version.version=$HELM_VERSION -X $MODULE/internal/version.metadata= -X $MODULE/internal/version.gitTreeState=clean"
if [[ "$MAJOR" == 3 ]]; then
  # helm v3 takes the default Kubernetes version (template capabilities, lint
  # deprecations) from ldflags, derived in its Makefile from k8s.io/client-go.
  gomod="$(GOTOOLCHAIN=local go mod download -json "$MODULE@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
  cg="$(awk '$1=="k8s.io/client-go"{print $2; exit}' "$gomod")"   # e.g. v0.37.0
  [[ "$cg" =~ ^v0\.([0-9]+)\. ]] || die "cannot read the k8s.io/client-go version from $gomod"
  for pkg in pkg/lint/rules pkg/chartutil; do
    ld+=" -X $MODULE/$pkg.k8sVersionMajor=1 -X $MODULE/$pkg.k8sVersionMinor=${BASH_REMATCH[1]}"
  done
fi
# GOFLAGS=-mod=mod is not needed: `go install pkg@version` ignores any go.work
# and uses the module's own go.mod/go.sum (checked against the checksum DB).
if ! GOBIN="$tmp" GOTOOLCHAIN=local CGO_ENABLED=0 \
     nice -n 10 go install -trimpath -ldflags "$ld" "$MODULE/cmd/helm@$HELM_VERSION"; then
  die "go install $MODULE/cmd/helm@$HELM_VERSION failed (see above)"
fi
mv -f "$tmp/helm" "$HELM"
"$HELM" version --short >/dev/null || die "built $HELM does not run"
log "built in $(( $(date +%s) - t0 ))s: $("$HELM" version --short), $(du -h "$HELM" | cut -f1)"
echo "$HELM"
