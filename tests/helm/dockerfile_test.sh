#!/usr/bin/env bash
# Checks operator/Dockerfile without a container engine (there is none here):
#   - the builder installs exactly the build dependencies, configures with
#     -DCMAKE_BUILD_TYPE=Release -DIMAPPROBE_BUILD_TESTS=OFF and builds the
#     imapprobe target; the runtime stage is debian:bookworm-slim, runs as
#     65532:65532 with ENTRYPOINT ["/usr/local/bin/imapprobe"] CMD ["operator"];
#   - what the builder COPYs is enough: CMake configures a copy of only those
#     paths (with DOCKERFILE_TEST_BUILD=1 it also builds imapprobe there);
#   - every runtime package exists in Debian (apt-cache show);
#   - when the binary exists (argument 1, else $IMAPPROBE_BINARY, else
#     build/operator/imapprobe) and this machine is Debian bookworm like the
#     image: `ldd` of the binary mapped to packages with `dpkg -S`. Each library
#     the binary links directly (readelf NEEDED) must come from a listed
#     runtime package or from the base image (libc6, libstdc++6, libgcc-s1);
#     each library it loads indirectly from one of those or from their
#     Depends; and each listed library package must provide a NEEDED library
#     (nothing superfluous). Skipped, with a message, without the binary.
# Prints "helm_dockerfile: N passed, M failed", then "N passed, M failed" last
# (tests/lib/testlib.sh); exits 1 if M > 0.
# ok/bad always succeed, so "A && ok || bad" is an if-then-else; helpers run via "$@".
# shellcheck disable=SC2015,SC2317
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testlib.sh"
TEST_NAME=helm_dockerfile

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DOCKERFILE="$ROOT/operator/Dockerfile"
BINARY="${1:-${IMAPPROBE_BINARY:-$ROOT/build/operator/imapprobe}}"
BUILD_DEPS=(g++ cmake ninja-build libcpprest-dev libssl-dev libboost-system-dev libyaml-cpp-dev
            libspdlog-dev libcli11-dev nlohmann-json3-dev)
# In debian:bookworm-slim already (Priority required, or needed by apt).
BASE_PACKAGES=(libc6 libstdc++6 libgcc-s1)

WD="$(mktemp -d "${TMPDIR:-/tmp}/dockerfile-test.XXXXXX")"
at_exit rm -rf "$WD"

# Logical lines: join backslash continuations, drop comments.
sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$DOCKERFILE" | grep -v '^[[:space:]]*#' | tr -s ' \t' ' ' >"$WD/lines"
stage() { # stage N: the logical lines of the Nth FROM (1-based)
  awk -v n="$1" '/^FROM /{i++} i==n' "$WD/lines"
}
apt_packages() { # the packages of the apt-get install in stdin
  grep -o 'apt-get install [^&]*' | head -1 | tr ' ' '\n' \
    | grep -v -e '^apt-get$' -e '^install$' -e '^-' -e '^$' | LC_ALL=C sort
}

froms="$(grep -c '^FROM ' "$WD/lines")"
[[ "$froms" == 2 ]] && ok "two stages (builder + runtime)" || bad "expected 2 FROM lines, found $froms"
release="$(sed -n 's/^ARG DEBIAN_RELEASE=//p' "$WD/lines")"
b_from="$(stage 1 | sed -n 's/^FROM \([^ ]*\).*/\1/p')"
r_from="$(stage 2 | sed -n 's/^FROM \([^ ]*\).*/\1/p')"
# FROM ${BUILD_IMAGE} / ${RUNTIME_IMAGE}: their ARG defaults, with the release in.
arg_default() { sed -n "s/^ARG $1=//p" "$WD/lines"; }
[[ "$b_from" == '${BUILD_IMAGE}' ]] && b_from="$(arg_default BUILD_IMAGE)"
[[ "$r_from" == '${RUNTIME_IMAGE}' ]] && r_from="$(arg_default RUNTIME_IMAGE)"
b_from="${b_from//\$\{DEBIAN_RELEASE\}/$release}"
r_from="${r_from//\$\{DEBIAN_RELEASE\}/$release}"
[[ "$b_from" == debian:bookworm && "$r_from" == debian:bookworm-slim ]] \
  && ok "builder FROM $b_from, runtime FROM $r_from" || bad "base images: builder '$b_from', runtime '$r_from'"

got="$(stage 1 | apt_packages | tr '\n' ' ')"
want="$(printf '%s\n' "${BUILD_DEPS[@]}" | LC_ALL=C sort | tr '\n' ' ')"
[[ "$got" == "$want" ]] && ok "builder installs exactly the build dependencies: $got" \
  || bad "builder packages: '$got', expected '$want'"
stage 1 | grep -q -- '--no-install-recommends' && ok "builder apt-get install --no-install-recommends" \
  || bad "builder apt-get without --no-install-recommends"

if stage 1 | grep -qF 'cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DIMAPPROBE_BUILD_TESTS=OFF' \
   && stage 1 | grep -qF 'cmake --build build --target imapprobe'; then
  ok "builder: cmake -G Ninja Release, tests off, --target imapprobe"
else
  bad "builder cmake commands"
fi

mapfile -t RUNTIME < <(stage 2 | apt_packages)
echo "# runtime packages: ${RUNTIME[*]}"
printf '%s\n' "${RUNTIME[@]}" | grep -qx ca-certificates && ok "runtime installs ca-certificates" \
  || bad "runtime stage lacks ca-certificates"
stage 2 | grep -q 'rm -rf /var/lib/apt/lists' && ok "runtime removes the apt lists" || bad "runtime keeps /var/lib/apt/lists"
[[ "$(stage 2 | grep -c '^RUN ')" == 1 ]] && ok "runtime stage has one RUN (one layer of packages)" \
  || bad "runtime stage RUN count: $(stage 2 | grep -c '^RUN ')"
stage 2 | grep -qx 'COPY --from=build /src/build/operator/imapprobe /usr/local/bin/imapprobe' \
  && ok "runtime copies only the binary from the builder" || bad "COPY --from=build line"
[[ "$(stage 2 | grep '^USER ' | tail -1)" == "USER 65532:65532" ]] && ok "USER 65532:65532" \
  || bad "USER: '$(stage 2 | grep '^USER ' | tail -1)'"
[[ "$(grep '^ENTRYPOINT ' "$WD/lines" | tail -1)" == 'ENTRYPOINT ["/usr/local/bin/imapprobe"]' ]] \
  && ok 'ENTRYPOINT ["/usr/local/bin/imapprobe"]' || bad "ENTRYPOINT: $(grep '^ENTRYPOINT ' "$WD/lines")"
[[ "$(grep '^CMD ' "$WD/lines" | tail -1)" == 'CMD ["operator"]' ]] && ok 'CMD ["operator"]' \
  || bad "CMD: $(grep '^CMD ' "$WD/lines")"

# The COPY set is enough to configure (and optionally build) the project.
mapfile -t COPIES < <(stage 1 | sed -n 's/^COPY \([^ ]*\) .*/\1/p')
missing=""
mkdir -p "$WD/ctx"
for src in "${COPIES[@]}"; do
  if [[ -e "$ROOT/$src" ]]; then cp -r "$ROOT/${src%/}" "$WD/ctx/"; else missing+=" $src"; fi
done
if [[ -n "$missing" ]]; then
  bad "COPY sources missing in the repository:$missing"
elif ! command -v cmake >/dev/null 2>&1 || ! command -v ninja >/dev/null 2>&1; then
  skip "cmake/ninja not installed: the COPY set was not configured"
elif (cd "$WD/ctx" && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DIMAPPROBE_BUILD_TESTS=OFF) >"$WD/out" 2>&1; then
  ok "CMake configures from only the copied paths (${COPIES[*]}) with tests off"
  # Every package CMake found (config dirs, libraries, headers) is installed
  # by the builder's apt-get line, directly or through Depends.
  if command -v dpkg >/dev/null 2>&1 && apt-cache show libc6 >/dev/null 2>&1; then
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances "${BUILD_DEPS[@]}" 2>/dev/null \
      | awk '/^[^ <]/ {print $1}' | sed 's/:.*//' | LC_ALL=C sort -u >"$WD/build-closure"
    outside=""
    n=0
    while read -r path; do
      [[ -e "$path" ]] || continue
      # A directory such as /usr/include belongs to many packages ("a, b:amd64, c: /path"):
      # it is covered when any of them is in the builder's closure.
      owners="$(dpkg -S "$path" 2>/dev/null | grep -F ": $path" | head -1 | sed 's/: [^:]*$//' \
        | tr ',' '\n' | sed 's/^ *//; s/:.*//')" || owners=""
      [[ -n "$owners" ]] || continue
      n=$((n + 1))
      grep -qxF -f <(printf '%s\n' "$owners") "$WD/build-closure" \
        || outside+=" $(head -1 <<<"$owners")($path)"
    done < <(grep -E '^[A-Za-z0-9_-]+_(DIR|INCLUDE_DIR|LIBRARY|LIBRARY_RELEASE|SSL_LIBRARY|CRYPTO_LIBRARY):(PATH|FILEPATH)=/' \
               "$WD/ctx/build/CMakeCache.txt" | grep -v -- '-NOTFOUND' | cut -d= -f2- | LC_ALL=C sort -u)
    if [[ -z "$outside" ]]; then
      ok "all $n paths CMake found (config dirs, libraries, headers) belong to packages the builder installs"
    else
      bad "CMake used packages the builder does not install:$outside"
    fi
  fi
  if [[ "${DOCKERFILE_TEST_BUILD:-0}" == 1 ]]; then
    t0=$(date +%s)
    if (cd "$WD/ctx" && nice -n 10 cmake --build build --target imapprobe) >"$WD/out" 2>&1; then
      ok "the builder's build command builds imapprobe from the copied paths ($(( $(date +%s) - t0 ))s)"
      BINARY="$WD/ctx/build/operator/imapprobe"
    else
      bad "cmake --build build --target imapprobe from the copied paths"; tail -30 "$WD/out" | indent
    fi
  fi
else
  bad "CMake configure from only the copied paths"; tail -30 "$WD/out" | indent
fi

# Runtime packages exist in Debian.
if apt-cache show libc6 >/dev/null 2>&1; then
  for p in "${RUNTIME[@]}"; do
    if apt-cache show "$p" >/dev/null 2>&1; then ok "apt-cache show $p"; else bad "no Debian package $p"; fi
  done
else
  skip "apt lists are empty (run apt-get update): runtime package names not looked up"
fi

# ldd of the binary, mapped to packages.
# shellcheck disable=SC1091
codename="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")"
if [[ ! -x "$BINARY" ]]; then
  skip "no binary at $BINARY (build the imapprobe target first): the ldd check of the runtime packages was not run"
elif [[ "$codename" != bookworm ]]; then
  skip "this machine is '$codename', not bookworm like the image: the ldd check was not run"
elif ! command -v dpkg >/dev/null 2>&1 || ! command -v ldd >/dev/null 2>&1; then
  skip "dpkg or ldd missing: the ldd check was not run"
else
  echo "# binary: $BINARY ($(date -r "$BINARY" '+%F %T'))"
  owner() { # library path -> package name (without :arch)
    local p="$1" r cand
    r="$(readlink -f "$p")"
    for cand in "$p" "$r" "/usr$p" "${p#/usr}" "/usr$r" "${r#/usr}"; do
      if out="$(dpkg -S "$cand" 2>/dev/null)"; then
        echo "${out%%:*}" | cut -d, -f1 | sed 's/:.*//' | tr -d ' '
        return 0
      fi
    done
    return 1
  }
  declare -A lib_pkg=()
  ldd "$BINARY" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' >"$WD/ldd"
  unowned=""
  while read -r soname path; do
    if pkg="$(owner "$path")"; then lib_pkg[$soname]="$pkg"; else unowned+=" $soname($path)"; fi
  done <"$WD/ldd"
  [[ -z "$unowned" ]] && ok "every library ldd lists belongs to a Debian package ($(wc -l <"$WD/ldd") libraries)" \
    || bad "libraries owned by no package:$unowned"
  mapfile -t NEEDED < <(LC_ALL=C readelf -d "$BINARY" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  echo "# NEEDED: ${NEEDED[*]}"
  # Depends closure of the runtime list (what apt installs along with it).
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances "${RUNTIME[@]}" 2>/dev/null \
    | awk '/^[^ <]/ {print $1} /Depends: [^<]/ {print $2}' | sed 's/:.*//' | LC_ALL=C sort -u >"$WD/closure"
  listed() { printf '%s\n' "${RUNTIME[@]}" | grep -qx "$1"; }
  base() { printf '%s\n' "${BASE_PACKAGES[@]}" | grep -qx "$1"; }
  declare -A direct_pkgs=()
  for lib in "${NEEDED[@]}"; do
    pkg="${lib_pkg[$lib]:-}"
    if [[ -z "$pkg" ]]; then bad "NEEDED $lib not resolved by ldd"; continue; fi
    direct_pkgs[$pkg]=1
    if listed "$pkg"; then ok "NEEDED $lib: $pkg is in the runtime list"
    elif base "$pkg"; then ok "NEEDED $lib: $pkg is in the base image"
    else bad "NEEDED $lib: package $pkg is missing from the runtime apt-get install"
    fi
  done
  for lib in "${!lib_pkg[@]}"; do
    printf '%s\n' "${NEEDED[@]}" | grep -qx "$lib" && continue
    pkg="${lib_pkg[$lib]}"
    if listed "$pkg" || base "$pkg"; then ok "indirect $lib: $pkg is listed or in the base image"
    elif grep -qx "$pkg" "$WD/closure"; then ok "indirect $lib: $pkg comes with the runtime packages' Depends"
    else bad "indirect $lib: package $pkg is neither listed nor a dependency of the listed packages"
    fi
  done
  for p in "${RUNTIME[@]}"; do
    [[ "$p" == ca-certificates ]] && continue
    if [[ -n "${direct_pkgs[$p]:-}" ]]; then ok "runtime package $p provides a library the binary links"
    else bad "runtime package $p provides none of the binary's NEEDED libraries (superfluous, or the binary is stale)"
    fi
  done
fi

finish
