#!/usr/bin/env bash
# Makes the Debian base image tests/image/image_test.sh builds on, since no
# registry can be reached here: `debootstrap --variant=minbase bookworm`,
# trimmed and configured like debian:bookworm-slim, as a tarball in the
# project cache. Prints its path.
#
#   tests/image/base.sh            make it (if missing or older than 30 days)
#   tests/image/base.sh --check    print the path if made, else exit 1
#   tests/image/base.sh --best-effort   make it, but exit 0 when this machine
#                                  cannot (tests/tools.sh: the image test then
#                                  says why it cannot run)
# Needs root (debootstrap). Environment: IMAGE_TEST_MIRROR (default: this
# machine's Debian mirror), IMAPPROBE_CACHE, IMAPPROBE_TOOLS_PREBUILT.
set -euo pipefail
RELEASE=bookworm
MIRROR=${IMAGE_TEST_MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CACHE="${IMAPPROBE_CACHE:-${HOME:-/tmp}/.cache/imap-probe-operator}/image"
BEST_EFFORT=""; [[ "${1:-}" == --best-effort ]] && BEST_EFFORT=yes
die() {
  echo "image/base.sh: $*" >&2
  if [[ -n $BEST_EFFORT ]]; then echo "image/base.sh: the image test will say it cannot run" >&2; exit 0; fi
  exit 1
}

mkdir -p "$CACHE"
# r3: trimmed and configured like debian:*-slim (below)
tarball="$CACHE/$RELEASE-minbase-r3-$(echo "$MIRROR" | sha256sum | cut -c1-8).tar"
if [[ -s $tarball && -z $(find "$tarball" -mtime +30 2>/dev/null) ]]; then
  echo "$tarball"
  exit 0
fi
[[ "${1:-}" != --check && -z "${IMAPPROBE_TOOLS_PREBUILT:-}" ]] \
  || die "the image base is not made (run: tests/image/base.sh)"
command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed (tests/setup.sh installs it)"
WD="$(mktemp -d "${TMPDIR:-/tmp}/image-base.XXXXXX")"
trap 'rm -rf "$WD"' EXIT
rootfs="$WD/rootfs"
if ! timeout 1200 debootstrap --variant=minbase "$RELEASE" "$rootfs" "$MIRROR" >"$WD/debootstrap.log" 2>&1; then
  tail -5 "$WD/debootstrap.log" >&2
  die "debootstrap $RELEASE from $MIRROR failed"
fi
# What debian:*-slim also leaves out: apt's lists, caches and downloaded
# packages, documentation, man pages and translations.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
  "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
  "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
# ... and configured like it, so that an apt-get install in a Dockerfile
# leaves no package cache or documentation in its layer (the official
# images ship the same two settings).
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
echo "$tarball"
