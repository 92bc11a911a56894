#!/usr/bin/env bash
# Builds (or checks) every cached tool the tests use, before any test runs,
# so that no test pays for a build inside its own timeout. A cached tool is
# checked, not rebuilt. One progress line per tool, with its time.
#
#   bash tests/tools.sh            build what is missing, check the rest
#   bash tests/tools.sh --check    only check: exit 1 naming what is missing
#
# Tools (cache: ${IMAPPROBE_CACHE:-$HOME/.cache/imap-probe-operator}):
#   kube-apiserver + kubectl   tests/kube/cluster.sh build  (Go modules)
#   helm                       tests/helm/build-helm.sh     (Go modules)
#   kstatus + argocdhealth     tests/gitops/build.sh        (Go modules: cli-utils, gopher-lua)
#   hydra (OAuth 2.0 server)   tests/servers/hydra/build-hydra.sh  (Go modules + cgo/gcc for sqlite)
#   image base                 tests/image/base.sh          (debootstrap; best effort: the image
#                                                            test says so when there is none)
# and, from Debian (installed by tests/setup.sh): dovecot, promtool, clang.
set -euo pipefail
cd "$(dirname "$0")/.."

check_only=""
if [[ "${1:-}" == "--check" ]]; then check_only=yes; fi

failed=0
# tool NAME CHECK-COMMAND BUILD-COMMAND: one progress line with its time.
tool() {
  local name=$1 check=$2 build=$3 t0 log
  t0=$(date +%s)
  if eval "$check" >/dev/null 2>&1; then
    echo "tools: $name: cached, checked ($(($(date +%s) - t0))s)"
    return 0
  fi
  if [[ -n "$check_only" || -z "$build" ]]; then
    echo "tools: $name: MISSING" >&2
    failed=1
    return 0
  fi
  echo "tools: $name: building ..."
  log=$(mktemp)
  if eval "$build" >"$log" 2>&1; then
    echo "tools: $name: built ($(($(date +%s) - t0))s)"
  else
    echo "tools: $name: BUILD FAILED after $(($(date +%s) - t0))s; last lines:" >&2
    tail -n 40 "$log" >&2
    failed=1
  fi
  rm -f "$log"
}

# Each cache is keyed on what it was built from (cluster.sh: a hash of its
# Go sources; build-helm.sh: the helm version; build-hydra.sh: the hydra version
# and a hash of the script), so a check is cheap and a changed source is rebuilt.
tool "kube-apiserver + kubectl" 'bash tests/kube/cluster.sh check' 'bash tests/kube/cluster.sh build'
tool "helm" 'bash tests/helm/build-helm.sh --check' 'bash tests/helm/build-helm.sh'
tool "kstatus + argocdhealth" 'bash tests/gitops/build.sh --check' 'bash tests/gitops/build.sh'
tool "hydra" 'bash tests/servers/hydra/build-hydra.sh --check' 'bash tests/servers/hydra/build-hydra.sh'
tool "image base (debootstrap)" 'bash tests/image/base.sh --check' 'bash tests/image/base.sh --best-effort'
tool "dovecot" 'command -v dovecot' ''
tool "promtool" 'command -v promtool' ''
tool "clang (fuzzer)" 'command -v clang++' ''

if ((failed)); then
  echo "tools: some tools are missing or failed to build (see above)" >&2
  exit 1
fi
