#!/usr/bin/env bash
# Builds operator/Dockerfile and runs the image, with Debian's buildah and
# podman, on a Debian base made here with debootstrap (no registry can be
# reached, so `FROM debian:bookworm` is replaced through the Dockerfile's base
# image build arguments):
#   1. the base made by tests/image/base.sh (tests/tools.sh runs it before any
#      test: debootstrap minbase bookworm, trimmed like debian:bookworm-slim),
#      imported as localhost/imapprobe-base:bookworm;
#   2. buildah build of operator/Dockerfile (builder and runtime stages on that base);
#   3. podman run of the image as the non-root user 65532, with a read-only root
#      filesystem and no capabilities: `imapprobe version`, then `imapprobe check`
#      against a private Dovecot (tests/servers/dovecot) on 127.0.0.1, as a user would;
#   4. the image size, printed (docs/helm.md records it).
# When the machine cannot do this (no base could be made, buildah cannot run a
# RUN step, podman cannot start a container), it says so in one line starting with
# "image_test: CANNOT" and exits 0: the test is about our Dockerfile, not the
# machine. Anything that fails once a trivial image builds and runs is a failure.
# Prints "image: N passed, M failed", then "N passed, M failed" last
# (tests/lib/testlib.sh); exits 1 if M > 0. Bounded: every step has a timeout.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testlib.sh"
TEST_NAME=image

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BASE=localhost/imapprobe-base:bookworm
IMAGE=localhost/imap-probe-operator:test
export BUILDAH_ISOLATION=chroot

cannot() { echo "image_test: CANNOT build or run images on this machine: $*"; echo "0 passed, 0 failed"; exit 0; }

# --- the tools (tests/setup.sh installs them) -------------------------------------
for p in buildah podman runc; do
  command -v "$p" >/dev/null 2>&1 || cannot "$p is not installed (tests/setup.sh installs it)"
done
# vfs: no overlay mounts needed inside a nested sandbox. runc, not crun: crun
# refuses a cgroup v1 host with a cgroup2 mount beside it ("hybrid mode").
# Explicit, low ulimits: rootful podman asks for nofile and nproc far above
# what a sandboxed root may set (EPERM from setrlimit).
export STORAGE_DRIVER=vfs
PODMAN=(podman --storage-driver vfs --cgroup-manager cgroupfs --events-backend none --runtime runc)
LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
BUILDAH=(buildah --storage-driver vfs)

WD="$(mktemp -d "${TMPDIR:-/tmp}/image-test.XXXXXX")"
at_exit rm -rf "$WD"

# --- 1. the base (made by tests/tools.sh: tests/image/base.sh) ---------------------
if ! tarball="$(bash "$ROOT/tests/image/base.sh" --check 2>"$WD/base.log")"; then
  cannot "no Debian base image ($(tail -1 "$WD/base.log"))"
fi
# Imported afresh each time: the tag must name this tarball's contents.
"${PODMAN[@]}" import "$tarball" "$BASE" >"$WD/import.log" 2>&1 || { cat "$WD/import.log"; cannot "podman import failed"; }

# --- can this machine build and run a trivial image at all? -----------------------
printf 'FROM %s\nRUN true\n' "$BASE" >"$WD/Containerfile.probe"
if ! timeout 300 "${BUILDAH[@]}" build --network host -f "$WD/Containerfile.probe" -t localhost/imapprobe-probe:test "$WD" \
     >"$WD/probe-build.log" 2>&1; then
  tail -5 "$WD/probe-build.log"
  cannot "buildah cannot run a RUN step here"
fi
if ! timeout 120 "${PODMAN[@]}" run --rm --network host "${LIMITS[@]}" localhost/imapprobe-probe:test true \
     >"$WD/probe-run.log" 2>&1; then
  tail -5 "$WD/probe-run.log"
  cannot "podman cannot run a container here"
fi

# --- 2. our image -----------------------------------------------------------------
if timeout 2400 "${BUILDAH[@]}" build --network host --layers=false \
     --build-arg BUILD_IMAGE="$BASE" --build-arg RUNTIME_IMAGE="$BASE" \
     -f "$ROOT/operator/Dockerfile" -t "$IMAGE" "$ROOT" >"$WD/build.log" 2>&1; then
  ok "buildah builds operator/Dockerfile on a debootstrap bookworm base"
else
  bad "buildah build of operator/Dockerfile"; tail -30 "$WD/build.log" | indent
  finish
fi
size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE")
base_size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$BASE")
echo "image_test: image size $((size / 1024 / 1024)) MiB, of which the base $((base_size / 1024 / 1024)) MiB and what operator/Dockerfile adds $(((size - base_size) / 1024 / 1024)) MiB"
expect_eq "the image runs as 65532:65532" "65532:65532" \
  "$("${PODMAN[@]}" image inspect --format '{{.Config.User}}' "$IMAGE")"

# --- 3. run it as a user would ------------------------------------------------------
RUN=("${PODMAN[@]}" run --rm --network host "${LIMITS[@]}" --read-only --cap-drop=ALL
  --security-opt no-new-privileges --user 65532:65532)
if out=$(timeout 60 "${RUN[@]}" "$IMAGE" version 2>&1); then
  ok "imapprobe version in the container: $out"
else
  bad "imapprobe version in the container"; echo "$out" | indent
fi

# Its own mktemp directory: as root, the harness needs a workdir whose parents
# the mail users can search.
DV="$(mktemp -d "${TMPDIR:-/tmp}/image-test-dovecot.XXXXXX")"
chmod 0755 "$DV"
at_exit rm -rf "$DV"
at_exit bash "$ROOT/tests/servers/dovecot/dovecot-harness.sh" stop "$DV"
bash "$ROOT/tests/servers/dovecot/dovecot-harness.sh" start "$DV" >"$WD/dovecot.log" 2>&1 \
  || { bad "start the test Dovecot"; indent <"$WD/dovecot.log"; finish; }
# shellcheck disable=SC1091
set -a; . "$DV/env"; set +a
chmod 0644 "$CA_FILE"
if out=$(PROBE_PASSWORD="$PROBE_PASSWORD" timeout 60 "${RUN[@]}" -e PROBE_PASSWORD \
       -v "$CA_FILE:/etc/imapprobe/ca.crt:ro" "$IMAGE" \
       check -H 127.0.0.1 -p "$IMAPS_PORT" --ca-file /etc/imapprobe/ca.crt -u "$PROBE_USER" \
       --password-env PROBE_PASSWORD 2>&1); then
  ok "imapprobe check in the container against Dovecot: ${out%%|*}"
else
  bad "imapprobe check in the container against Dovecot"; echo "$out" | indent
fi
if out=$(PROBE_PASSWORD="$PROBE_PASSWORD" timeout 60 "${RUN[@]}" -e PROBE_PASSWORD "$IMAGE" \
       check -H 127.0.0.1 -p "$IMAPS_PORT" -u "$PROBE_USER" --password-env PROBE_PASSWORD 2>&1); then
  bad "a check without the test CA must fail (TLS verification is on)"; echo "$out" | indent
elif grep -qi 'certificate' <<<"$out"; then
  ok "without the test CA the check fails on the certificate: verification is on in the image"
else
  bad "without the test CA the check failed, but not on the certificate"; echo "$out" | indent
fi
finish
