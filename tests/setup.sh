#!/usr/bin/env bash
# Installs what this project needs to build and test, and nothing twice:
# Debian packages that are missing are installed in one apt-get call.
# Idempotent; safe to run on every CI run. Needs root (or sudo) only when
# something is missing.
set -euo pipefail

packages=(
  # build
  g++ cmake ninja-build pkg-config
  # libraries the product is built on
  libcpprest-dev libssl-dev libboost-system-dev libyaml-cpp-dev libspdlog-dev
  libcli11-dev nlohmann-json3-dev
  # tests
  libgtest-dev openssl curl procps iproute2
  # the real IMAP server the integration tests start (a private instance)
  dovecot-core dovecot-imapd
  # the mail flow for the delivery check (tests/servers/postfix): a private
  # Postfix submits to Dovecot by LMTP, Sieve files +junk mail into Junk
  postfix dovecot-lmtpd dovecot-sieve
  # promtool checks the /metrics output
  prometheus
  # fuzzing and formatting
  clang libclang-rt-14-dev clang-format
  # tests/bench/run.sh: the tools it compares with and its packet capture,
  # and prometheus-cpp for the /metrics comparison (part d)
  prometheus-blackbox-exporter monitoring-plugins-standard tshark time python3
  prometheus-cpp-dev
  # tests/image: build the container image and run it (no registry here, so
  # the base is made with debootstrap); runc, since crun refuses cgroup v1
  # hosts with a cgroup2 mount beside it
  buildah podman runc debootstrap uidmap
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  # Keep Debian's maintainer scripts from starting a system-wide Dovecot or Postfix:
  # the tests run their own private instance on loopback only.
  policy_created=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    policy_created=yes
  fi
  trap '[[ -n "$policy_created" ]] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  # Postfix asks what kind of mail system to configure; "No configuration"
  # leaves no system MTA (nothing on port 25). The harness runs its own
  # instance and copes with the missing /etc/postfix/main.cf.
  if [[ " ${missing[*]} " == *" postfix "* ]]; then
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# A system-wide Dovecot or Postfix (if some earlier install started one) would
# hold ports and is not ours to use; the tests never need it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
  echo "setup: note: a system Dovecot is running; the tests use their own instance"
fi
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet postfix 2>/dev/null; then
  echo "setup: note: a system Postfix is running; the tests use their own instance"
fi

if ! command -v go >/dev/null 2>&1; then
  echo "setup: warning: Go is not installed; the Kubernetes integration tests build kube-apiserver with it" >&2
fi
