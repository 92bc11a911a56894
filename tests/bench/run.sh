#!/usr/bin/env bash
# tests/bench/run.sh - the project's benchmark (issue 5); docs/benchmarks.md.
#
#   bash tests/bench/run.sh            full run (~25 min on 2 cores)
#   bash tests/bench/run.sh --quick    smaller counts (~5 min)
#   bash tests/bench/run.sh --smoke    tiny counts, no targets (< 2 min once built): CI
#   options: --parts abcdsl (any subset)  --keep (keep the work directory)
#            --enforce (exit 3 when a target is missed; full and quick runs only)
#
# Parts:
#   a  engine cost: imapprobe_bench (full probe and tls-only) at concurrency
#      1/10/50 against a private Dovecot, side by side with Debian's
#      prometheus-blackbox-exporter (same IMAP exchange), check_imap -S
#      (monitoring-plugins: one process per probe, no login) and the floor,
#      openssl s_time (one TLS handshake per connection); Dovecot's own CPU
#      per probe for each.
#   b  operator scale: a real kube-apiserver, N ImapProbes, the real operator:
#      time until every probe has run and written status, RSS per probe, CPU
#      and API requests per run, schedule lag.
#   s  sharding: N probes over R replicas of one location (--shard): each
#      replica's share, RSS and CPU; kill -9 of one (until the others agree,
#      until its probes have run again); a new replica (probes moved).
#   l  locations: N probes from L locations of one replica each
#      (--multi-location): until every probe has L entries and a verdict,
#      each location's RSS and CPU, API writes per run.
#   d  the /metrics page: the operator's exposition against prometheus-cpp
#      (Debian's prometheus-cpp-dev) for the same series, heap per probe and
#      time per scrape (imapprobe_metrics_bench; no servers).
#   c  timing truth: `imapprobe check --output json` step durations against
#      packet timestamps captured with tshark on loopback (needs root), and
#      the delivery check's latency against Postfix's own delays= log figures.
#
# Everything talks to 127.0.0.1 only; every loop is bounded in count and time.
# Output: a table per part and one `key=value` line per figure (prefix
# `bench.`), also written to $BENCH_OUT (default: <build>/bench-results/).
#
# Environment: BENCH_BUILD_DIR (default <repo>/build), BENCH_OUT, BENCH_B_SIZES
# (part b probe counts, e.g. "1000 2000"), BENCH_B_STEADY (part b's steady
# window in seconds), BENCH_SECRET_CACHE (true: the operator runs with
# --secret-cache), BENCH_OPERATOR_ARGS (more operator flags, e.g.
# "--status-heartbeat=30m"), BENCH_OPERATOR_WRAPPER (a command the operator runs
# under, e.g. "env MALLOC_ARENA_MAX=2"; a wrapper that forks, such as heaptrack,
# makes the RSS and CPU figures its own), BENCH_B_INTERVAL (part b's interval in
# seconds instead of N * 60 / 1000), BENCH_B_TLS (None: plain IMAP probes, see
# B_TLS), BENCH_B_PAUSED (false: no window with the
# operator paused after the steady one), BENCH_B_REFERENCE (probes of part b's
# reference, every run writing status and reading its Secret, on the largest
# size's API server; 0: none), BENCH_B_REFERENCE_INTERVAL (their interval, s),
# BENCH_B_REFERENCE_WINDOW (its window, s, at least the interval), BENCH_S_SIZES (part s probe counts;
# default the first part b size), BENCH_S_REPLICAS (part s replicas, default 3),
# BENCH_L_SIZES, BENCH_L_LOCATIONS (part l: probe counts, default the first
# part b size; locations, default 3), BENCH_B_PPROF (true: part b's API
# server runs with --profiling=true and its CPU profile over the steady window
# is kept beside the results, with `go tool pprof -top` of it when Go is there),
# BENCH_WORKDIR_PARENT (default /tmp).
set -euo pipefail
set -E

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/tests/bench
MODE=full PARTS=abcdsl KEEP="" ENFORCE=""
while (($#)); do
  case $1 in
    --quick) MODE=quick ;;
    --smoke) MODE=smoke ;;
    --full) MODE=full ;;
    --parts) PARTS=${2:?--parts needs a value}; shift ;;
    --parts=*) PARTS=${1#*=} ;;
    --keep) KEEP=yes ;;
    --enforce) ENFORCE=yes ;;
    -h | --help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

# ---------------------------------------------------------------- sizes ---
case $MODE in
  full)
    A_COUNT=2000 A_CONC="1 10 50" STIME=10
    B_SIZES="1000 5000 10000" B_STEADY=60 C_PROBES=20 ;;
  quick)
    A_COUNT=400 A_CONC="1 10 50" STIME=4
    B_SIZES="200" B_STEADY=20 C_PROBES=20 ;;
  smoke)
    A_COUNT=40 A_CONC="1 10" STIME=1
    B_SIZES="20" B_STEADY=5 C_PROBES=5 ;;
esac
B_SIZES=${BENCH_B_SIZES:-$B_SIZES} # e.g. BENCH_B_SIZES="1000 2000"
# Part s: probe counts over S_REPLICAS sharded replicas (the smallest part b size).
S_SIZES=${BENCH_S_SIZES:-${B_SIZES%% *}}
S_REPLICAS=${BENCH_S_REPLICAS:-3}
# Part l: probe counts from L_LOCATIONS locations of one replica each.
L_SIZES=${BENCH_L_SIZES:-${B_SIZES%% *}}
L_LOCATIONS=${BENCH_L_LOCATIONS:-3}
# A steady window longer than one interval shows second runs (status writes
# per run at steady state): e.g. BENCH_B_STEADY=660 for 10000 probes (600 s).
B_STEADY=${BENCH_B_STEADY:-$B_STEADY}
B_NAMESPACES=4
B_IDLE=15 # seconds the API server's idle CPU is measured, with the probes stored
[[ $MODE == smoke ]] && B_IDLE=2
B_RATE_PER_MIN=1000 # probes per minute at steady state: interval = N * 60 / 1000 s (>= 10 s)
B_STATUS_TIMEOUT=8s
# Part b's probes: Implicit (IMAPS with the CA bundle and a login, the
# default) or None (plain IMAP to the harness's nostarttls instance, without
# login: what a run costs the API server does not depend on the probe, and
# such runs leave the two cores for 10,000 probes a minute)
B_TLS=${BENCH_B_TLS:-Implicit}
[[ $B_TLS == Implicit || $B_TLS == None ]] || { echo "BENCH_B_TLS: Implicit or None, not $B_TLS" >&2; exit 2; }
# Part b's reference for the write policy: once the largest size's steady
# and paused windows are over, on the same API server (its probes still
# stored), B_REF probes at a B_REF_INTERVAL interval in a namespace of their
# own, run by an operator that writes status after every run
# (--status-heartbeat=0s) and GETs the Secret every run (no cache), as the
# operator did before the write policy. Its API server CPU per run, raw and
# net of its own paused window, stands beside the policy's: the cut measured
# within one run, not against a figure from another day. 0: no reference.
case $MODE in
  full) B_REF=1000 B_REF_INTERVAL=60 B_REF_WINDOW=180 ;;
  quick) B_REF=200 B_REF_INTERVAL=60 B_REF_WINDOW=60 ;;
  smoke) B_REF=10 B_REF_INTERVAL=10 B_REF_WINDOW=12 ;;
esac
B_REF=${BENCH_B_REFERENCE:-$B_REF}
B_REF_INTERVAL=${BENCH_B_REFERENCE_INTERVAL:-$B_REF_INTERVAL}
B_REF_WINDOW=${BENCH_B_REFERENCE_WINDOW:-$B_REF_WINDOW}
# A window shorter than the interval can end before any probe runs again.
if ((B_REF > 0 && B_REF_WINDOW < B_REF_INTERVAL)); then
  echo "BENCH_B_REFERENCE_WINDOW ($B_REF_WINDOW s) must be at least the reference's interval ($B_REF_INTERVAL s)" >&2
  exit 2
fi

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }
has_part() { [[ $PARTS == *$1* ]]; }

# ------------------------------------------------------------- packages ---
log "mode $MODE, parts $PARTS"
bash "$ROOT/tests/setup.sh" >&2
bench_packages=(prometheus-blackbox-exporter monitoring-plugins-standard tshark time python3
  prometheus-cpp-dev)
missing=()
for p in "${bench_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
BLACKBOX=$(command -v prometheus-blackbox-exporter || true)
CHECK_IMAP=/usr/lib/nagios/plugins/check_imap

# ---------------------------------------------------------------- build ---
BUILD=${BENCH_BUILD_DIR:-$ROOT/build}
cmake_args=()
# Until tests/CMakeLists.txt includes bench.cmake, inject it (include_guard'ed).
grep -q 'bench/bench.cmake' "$ROOT/tests/CMakeLists.txt" 2>/dev/null \
  || cmake_args+=("-DCMAKE_PROJECT_INCLUDE=$BENCH/bench.cmake")
if [[ ! -f $BUILD/build.ninja && ! -f $BUILD/Makefile ]] || ((${#cmake_args[@]})); then
  gen=(); [[ -f $BUILD/CMakeCache.txt ]] || gen=(-G Ninja)
  nice -n 5 cmake -S "$ROOT" -B "$BUILD" "${gen[@]}" "${cmake_args[@]}" >&2
fi
log "building imapprobe_bench and imapprobe in $BUILD"
nice -n 5 cmake --build "$BUILD" --target imapprobe_bench >&2 || die "imapprobe_bench does not build"
BENCH_BIN=$BUILD/imapprobe_bench
[[ -x $BENCH_BIN ]] || BENCH_BIN=$(find "$BUILD" -name imapprobe_bench -type f -perm -u+x | head -1)
METRICS_BENCH=""
if has_part d; then
  # configured again so that a newly installed prometheus-cpp is found
  nice -n 5 cmake "$BUILD" >/dev/null
  if nice -n 5 cmake --build "$BUILD" --target imapprobe_metrics_bench >&2; then
    METRICS_BENCH=$(find "$BUILD" -name imapprobe_metrics_bench -type f -perm -u+x | head -1)
  else
    log "WARNING: imapprobe_metrics_bench does not build (prometheus-cpp-dev missing?); part d is skipped"
    PARTS=${PARTS//d/}
  fi
fi
IMAPPROBE=$BUILD/operator/imapprobe
if ! nice -n 5 cmake --build "$BUILD" --target imapprobe >&2; then
  if [[ -x $IMAPPROBE ]] && "$IMAPPROBE" operator --help >/dev/null 2>&1; then
    log "WARNING: imapprobe does not build now; using the existing $IMAPPROBE"
  else
    log "WARNING: imapprobe does not build; parts b and c are skipped"
    PARTS=${PARTS//[bc]/}
  fi
fi

# ------------------------------------------------------------- workdir ---
W=$(mktemp -d "${BENCH_WORKDIR_PARENT:-/tmp}/imapprobe-bench.XXXXXX")
chmod 0755 "$W" # the harness's Dovecot users must reach the Dovecot workdir below
OUT_DIR=$(dirname "${BENCH_OUT:-$BUILD/bench-results/x}")
mkdir -p "$OUT_DIR"
OUT=${BENCH_OUT:-$OUT_DIR/bench-$MODE-$(date -u +%Y%m%dT%H%M%SZ).txt}
FIG=$W/figures.kv TABLES=$W/tables.txt
: >"$FIG"; : >"$TABLES"
STARTED_PIDS=() KUBE_WDS=() DV_WD="" PF_WD=""
stop_pid() { # stop_pid PID [grace-seconds]: TERM, bounded wait, KILL; only our own pids
  local pid=$1 grace=${2:-10} i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$? p k
  for p in "${STARTED_PIDS[@]}"; do stop_pid "$p" 5; done
  for k in "${KUBE_WDS[@]}"; do bash "$ROOT/tests/kube/cluster.sh" stop "$k" >/dev/null 2>&1 || true; done
  [[ -n $PF_WD ]] && bash "$ROOT/tests/servers/postfix/postfix-harness.sh" stop "$PF_WD" >/dev/null 2>&1 || true
  [[ -n $DV_WD ]] && bash "$ROOT/tests/servers/dovecot/dovecot-harness.sh" stop "$DV_WD" >/dev/null 2>&1 || true
  if [[ -n $KEEP ]]; then log "work directory kept: $W"; else rm -rf "$W"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT TERM

fig() { # fig KEY VALUE: one machine-readable figure
  printf 'bench.%s=%s\n' "$1" "$2" | tee -a "$FIG" >&2
}
kv() { # kv FILE KEY: value of KEY=... in FILE (empty if absent)
  awk -F= -v k="$2" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' "$1"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
CLK_TCK=$(getconf CLK_TCK)
proc_ticks() { # utime+stime of one process (ticks)
  awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# -------------------------------------------------------------- machine ---
fig machine.nproc "$(nproc)"
fig machine.cpu "\"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)\""
fig machine.mem_gib "$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)"
fig machine.loadavg_at_start "$(cut -d' ' -f1 /proc/loadavg)"
fig machine.openssl "\"$(openssl version | cut -d' ' -f1-2)\""
fig mode "$MODE"

# -------------------------------------------------------------- Dovecot ---
max_conc=4
for c in $A_CONC; do ((c > max_conc)) && max_conc=$c; done
DV_WD=$W/dovecot
log "starting Dovecot with $((max_conc + 4)) bench users"
bash "$ROOT/tests/servers/dovecot/dovecot-harness.sh" start "$DV_WD" --users $((max_conc + 4)) >&2
set -a; . "$DV_WD/env"; set +a
DV_MASTER=${DOVECOT_PIDS%%,*}
# The harness runs imap-login in high-performance mode (service_count = 0).
grep -A1 'service imap-login' "$DOVECOT_CONF" | grep -q 'service_count = 0' \
  && fig dovecot.login_high_performance 1 || fig dovecot.login_high_performance 0

dv_ticks() { # CPU of the main Dovecot instance: master (with reaped children) + live children
  local t f
  t=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$DV_MASTER/stat")
  for f in $(pgrep -P "$DV_MASTER" 2>/dev/null); do
    t=$((t + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$f/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
ms_per() { calc "($1) * 1000 / $CLK_TCK / $2"; } # ms_per TICKS COUNT

FAILED=0
declare -A A=() # part a figures for the table: A[tool.conc.field]

# ------------------------------------------------------------- part a ---
run_ours() { # run_ours MODE CONC
  local mode=$1 c=$2 out=$W/a-ours-$1-$2.txt d0 d1 rc=0
  d0=$(dv_ticks)
  timeout 900 "$BENCH_BIN" --host 127.0.0.1 --port "$IMAPS_PORT" --ca-file "$CA_FILE" \
    --user-prefix "$BENCH_USER_PREFIX" --password "$BENCH_PASSWORD" \
    --count "$A_COUNT" --concurrency "$c" --mode "$mode" >"$out" || rc=$?
  d1=$(dv_ticks)
  local key=ours-$mode
  A[$key.$c.pps]=$(kv "$out" probes_per_second)
  A[$key.$c.cpu]=$(kv "$out" cpu_ms_per_probe)
  A[$key.$c.rss]=$(kv "$out" peak_rss_kib)
  A[$key.$c.p50]=$(kv "$out" total_ms_p50)
  A[$key.$c.p99]=$(kv "$out" total_ms_p99)
  A[$key.$c.fail]=$(kv "$out" failures)
  A[$key.$c.dv]=$(ms_per "$d1 - $d0" "$(kv "$out" probes)")
  if ((rc != 0)) || [[ ${A[$key.$c.fail]} != 0 ]]; then
    FAILED=1
    log "imapprobe_bench $mode c=$c failed (rc $rc): $(kv "$out" first_failure_reason) $(kv "$out" first_failure_message)"
  fi
  fig "a.imapprobe_$mode.c$c.probes_per_second" "${A[$key.$c.pps]}"
  fig "a.imapprobe_$mode.c$c.cpu_ms_per_probe" "${A[$key.$c.cpu]}"
  fig "a.imapprobe_$mode.c$c.peak_rss_kib" "${A[$key.$c.rss]}"
  fig "a.imapprobe_$mode.c$c.total_ms_p50" "${A[$key.$c.p50]}"
  fig "a.imapprobe_$mode.c$c.total_ms_p99" "${A[$key.$c.p99]}"
  fig "a.imapprobe_$mode.c$c.failures" "${A[$key.$c.fail]}"
  fig "a.imapprobe_$mode.c$c.dovecot_cpu_ms_per_probe" "${A[$key.$c.dv]}"
  if [[ $mode == full ]]; then
    local s
    for s in tls login select search fetch; do
      fig "a.imapprobe_full.c$c.step_${s}_ms_p50" "$(kv "$out" "step_${s}_ms_p50")"
    done
  fi
}

BB_PID=""
start_blackbox() {
  local conf=$W/blackbox.yml i b64 port
  {
    echo "modules:"
    for ((i = 0; i < max_conc; i++)); do
      b64=$(printf '\0%s%d\0%s' "$BENCH_USER_PREFIX" "$i" "$BENCH_PASSWORD" | base64 -w0)
      cat <<EOF
  imap$i:
    prober: tcp
    timeout: 20s
    tcp:
      tls: true
      tls_config:
        ca_file: $CA_FILE
      query_response:
        - expect: "^\\\\* OK"
        - send: "a AUTHENTICATE PLAIN $b64"
        - expect: "^a OK"
        - send: "b EXAMINE INBOX"
        - expect: "^b OK"
        - send: "c SEARCH ALL"
        - expect: "^c OK"
        - send: "d FETCH 6:10 (UID RFC822.SIZE BODY.PEEK[HEADER])"
        - expect: "^d OK"
        - send: "e LOGOUT"
        - expect: "^e OK"
EOF
    done
  } >"$conf"
  port=$(free_port)
  "$BLACKBOX" --config.file="$conf" --web.listen-address="127.0.0.1:$port" --log.level=warn \
    >"$W/blackbox.log" 2>&1 &
  BB_PID=$!
  STARTED_PIDS+=("$BB_PID")
  BB_ADDR=127.0.0.1:$port
  for ((i = 0; i < 100; i++)); do
    curl -fsS "http://$BB_ADDR/-/healthy" >/dev/null 2>&1 && return 0
    kill -0 "$BB_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$W/blackbox.log" >&2
  die "blackbox_exporter did not start"
}

run_blackbox() { # run_blackbox CONC
  local c=$1 out=$W/a-bb-$1.txt t0 t1 d0 d1 rc=0
  t0=$(proc_ticks "$BB_PID"); d0=$(dv_ticks)
  timeout 900 python3 "$BENCH/http_driver.py" --exporter "$BB_ADDR" --target "127.0.0.1:$IMAPS_PORT" \
    --count "$A_COUNT" --concurrency "$c" --deadline 600 >"$out" || rc=$?
  t1=$(proc_ticks "$BB_PID"); d1=$(dv_ticks)
  local n; n=$(kv "$out" probes)
  A[bb.$c.pps]=$(kv "$out" probes_per_second)
  A[bb.$c.cpu]=$(ms_per "$t1 - $t0" "$n")
  A[bb.$c.rss]=$(awk '/^VmHWM/ { print $2 }' "/proc/$BB_PID/status")
  A[bb.$c.p50]=$(kv "$out" total_ms_p50)
  A[bb.$c.p99]=$(kv "$out" total_ms_p99)
  A[bb.$c.fail]=$(kv "$out" failures)
  A[bb.$c.dv]=$(ms_per "$d1 - $d0" "$n")
  if ((rc != 0)); then FAILED=1; log "blackbox c=$c: $(kv "$out" first_failure)"; fi
  fig "a.blackbox.c$c.probes_per_second" "${A[bb.$c.pps]}"
  fig "a.blackbox.c$c.cpu_ms_per_probe" "${A[bb.$c.cpu]}"
  fig "a.blackbox.c$c.peak_rss_kib" "${A[bb.$c.rss]}"
  fig "a.blackbox.c$c.total_ms_p50" "${A[bb.$c.p50]}"
  fig "a.blackbox.c$c.total_ms_p99" "${A[bb.$c.p99]}"
  fig "a.blackbox.c$c.failures" "${A[bb.$c.fail]}"
  fig "a.blackbox.c$c.dovecot_cpu_ms_per_probe" "${A[bb.$c.dv]}"
}

run_check_imap() { # run_check_imap CONC: one process per probe, CPU of all children
  local c=$1 out=$W/a-check-$1.txt tf=$W/a-check-$1.time d0 d1 t0 t1 rc=0
  d0=$(dv_ticks); t0=$(now)
  seq "$A_COUNT" | timeout 900 /usr/bin/time -f 'user=%U sys=%S maxrss=%M' -o "$tf" \
    xargs -P "$c" -I{} "$CHECK_IMAP" -H 127.0.0.1 -p "$IMAPS_PORT" -S -t 20 >"$out" 2>&1 || rc=$?
  t1=$(now); d1=$(dv_ticks)
  local ok fail u s
  ok=$(grep -c '^IMAP OK' "$out" || true)
  fail=$((A_COUNT - ok))
  u=$(sed -n 's/.*user=\([0-9.]*\).*/\1/p' "$tf"); s=$(sed -n 's/.*sys=\([0-9.]*\).*/\1/p' "$tf")
  A[chk.$c.pps]=$(calc "$A_COUNT / ($t1 - $t0)" 1)
  A[chk.$c.cpu]=$(calc "($u + $s) * 1000 / $A_COUNT")
  A[chk.$c.rss]=$(sed -n 's/.*maxrss=\([0-9]*\).*/\1/p' "$tf")
  A[chk.$c.p50]="" A[chk.$c.p99]=""
  A[chk.$c.fail]=$fail
  A[chk.$c.dv]=$(ms_per "$d1 - $d0" "$A_COUNT")
  if ((fail > 0)); then FAILED=1; log "check_imap c=$c: $fail failed: $(grep -v '^IMAP OK' "$out" | head -1)"; fi
  fig "a.check_imap.c$c.probes_per_second" "${A[chk.$c.pps]}"
  fig "a.check_imap.c$c.cpu_ms_per_probe" "${A[chk.$c.cpu]}"
  fig "a.check_imap.c$c.peak_rss_kib" "${A[chk.$c.rss]}"
  fig "a.check_imap.c$c.failures" "$fail"
  fig "a.check_imap.c$c.dovecot_cpu_ms_per_probe" "${A[chk.$c.dv]}"
}

run_openssl() { # the floor: one full TLS handshake per connection, nothing else
  local out=$W/a-openssl.txt tf=$W/a-openssl.time d0 d1 n u s us
  d0=$(dv_ticks)
  timeout $((STIME + 60)) /usr/bin/time -f 'user=%U sys=%S maxrss=%M' -o "$tf" \
    openssl s_time -connect "127.0.0.1:$IMAPS_PORT" -new -time "$STIME" -CAfile "$CA_FILE" \
    >"$out" 2>&1 || true
  d1=$(dv_ticks)
  # "N connections in X.XXs; Y connections/user sec, bytes read 0"
  n=$(sed -n 's/^\([0-9]*\) connections in \([0-9.]*\)s;.*/\1/p' "$out" | head -1)
  us=$(sed -n 's/^\([0-9]*\) connections in \([0-9.]*\)s;.*/\2/p' "$out" | head -1)
  [[ -n $n && $n -gt 0 ]] || { FAILED=1; log "openssl s_time gave no result: $(tail -3 "$out")"; return 0; }
  u=$(sed -n 's/.*user=\([0-9.]*\).*/\1/p' "$tf"); s=$(sed -n 's/.*sys=\([0-9.]*\).*/\1/p' "$tf")
  A[ssl.1.pps]=$(calc "$n / $STIME" 1)
  A[ssl.1.cpu]=$(calc "($u + $s) * 1000 / $n")
  A[ssl.1.user]=$(calc "$us * 1000 / $n")
  A[ssl.1.rss]=$(sed -n 's/.*maxrss=\([0-9]*\).*/\1/p' "$tf")
  A[ssl.1.fail]=0 A[ssl.1.p50]="" A[ssl.1.p99]=""
  A[ssl.1.dv]=$(ms_per "$d1 - $d0" "$n")
  fig a.openssl_s_time.connections "$n"
  fig a.openssl_s_time.cpu_ms_per_handshake "${A[ssl.1.cpu]}"
  fig a.openssl_s_time.user_ms_per_handshake "${A[ssl.1.user]}"
  fig a.openssl_s_time.dovecot_cpu_ms_per_handshake "${A[ssl.1.dv]}"
}

ratio_target() { # ratio_target NAME NUM DEN LIMIT
  local r met
  [[ -n $2 && -n $3 ]] || return 0
  # A figure at or below zero (a net figure under its background's noise)
  # measures nothing: such a target is not met.
  r=$(calc "$2 / ($3 + 1e-12)")
  met=$(awk -v n="$2" -v d="$3" -v r="$r" -v l="$4" \
    'BEGIN { print (n <= 0 || d <= 0) ? "unmeasured" : (r <= l) ? "met" : "missed" }')
  fig "target.$1" "$r"
  if [[ $MODE != smoke ]]; then
    fig "target.$1.limit" "$4"
    fig "target.$1.status" "$met"
    [[ $met == met ]] || TARGET_MISSED=1
  fi
}
TARGET_MISSED=0

if has_part a; then
  log "part a: engine cost, $A_COUNT probes per run, concurrency $A_CONC"
  "$BENCH_BIN" --port "$IMAPS_PORT" --ca-file "$CA_FILE" --count 4 --concurrency 2 >/dev/null \
    || die "imapprobe_bench cannot probe the harness Dovecot"
  [[ -n $BLACKBOX ]] || die "prometheus-blackbox-exporter is missing"
  start_blackbox
  for c in $A_CONC; do
    log "part a: concurrency $c"
    run_ours full "$c"
    run_blackbox "$c"
    run_ours tls-only "$c"
    run_check_imap "$c"
  done
  run_openssl
  stop_pid "$BB_PID"
  {
    echo
    echo "Part a: engine cost ($A_COUNT probes per row; one io_context thread for imapprobe)"
    printf '%-34s %4s %9s %12s %10s %12s %8s %8s %5s\n' tool conc probes/s "cpu ms/probe" "peak RSS" \
      "dovecot ms" "p50 ms" "p99 ms" fail
    row() { # row NAME KEY CONC
      printf '%-34s %4s %9s %12s %10s %12s %8s %8s %5s\n' "$1" "$3" "${A[$2.$3.pps]}" \
        "${A[$2.$3.cpu]}" "${A[$2.$3.rss]:-}" "${A[$2.$3.dv]}" "${A[$2.$3.p50]:--}" \
        "${A[$2.$3.p99]:--}" "${A[$2.$3.fail]}"
    }
    for c in $A_CONC; do
      row "imapprobe full probe" ours-full "$c"
      row "blackbox_exporter (same exchange)" bb "$c"
      row "imapprobe tls-only (no login)" ours-tls-only "$c"
      row "check_imap -S (no login, 1 proc)" chk "$c"
    done
    [[ -n ${A[ssl.1.cpu]:-} ]] && row "openssl s_time (handshake only)" ssl 1
    echo "(peak RSS in KiB: imapprobe_bench process, blackbox_exporter process, largest check_imap"
    echo " process, openssl; dovecot ms = CPU of all Dovecot processes per probe)"
  } >>"$TABLES"
  for c in $A_CONC; do
    ratio_target "ours_over_blackbox_cpu.c$c" "${A[ours-full.$c.cpu]}" "${A[bb.$c.cpu]}" 0.5
    ratio_target "ours_over_openssl_handshake_cpu.c$c" "${A[ours-full.$c.cpu]}" "${A[ssl.1.cpu]}" 1.25
  done
fi

# ------------------------------------------------------------- part b ---
scrape() { curl -fsS --max-time 60 "http://127.0.0.1:$1/metrics" >"$2" 2>/dev/null || : >"$2"; }
metric() { # metric FILE NAME-WITH-LABELS: the sample's value (0 if absent)
  awk -v n="$2" '$1 == n { print $2; found = 1; exit } END { if (!found) print 0 }' "$1"
}
lag_quantile() { # lag_quantile BEFORE AFTER KIND Q: quantile of the schedule-lag histogram
  # between two scrapes (BEFORE may be /dev/null), linear within a bucket as
  # Prometheus' histogram_quantile; "" when no run of that kind fell between.
  awk -v kind="$3" -v q="$4" '
    match($0, /^imapprobe_operator_schedule_lag_seconds_bucket\{run="[a-z]+",le="[^"]+"\}/) {
      if (index($0, "run=\"" kind "\"") == 0) next
      le = $0; sub(/.*le="/, "", le); sub(/".*/, "", le)
      if (FILENAME == ARGV[1]) before[le] = $NF; else { after[le] = $NF; order[++n] = le }
    }
    END {
      total = after["+Inf"] - before["+Inf"]
      if (total <= 0) exit
      rank = q * total; prev_le = 0; prev_c = 0
      for (i = 1; i <= n; i++) {
        le = order[i]; c = after[le] - before[le]
        if (c >= rank) {
          if (le == "+Inf") { printf "%.4f\n", prev_le; exit }
          printf "%.4f\n", prev_le + (le - prev_le) * (c > prev_c ? (rank - prev_c) / (c - prev_c) : 1); exit
        }
        prev_le = le; prev_c = c
      }
    }' "$1" "$2"
}
prof_seconds() { # prof_seconds TOP REGEX: seconds of the first matching line of `pprof -top -cum` (0 if none)
  awk -v re="$2" '$0 ~ re {
      v = ($0 ~ /Total samples/) ? $0 : $4
      if ($0 ~ /Total samples/) { sub(/.*Total samples = /, "", v); sub(/ .*/, "", v) }
      f = (v ~ /ms$/) ? 0.001 : (v ~ /min$/) ? 60 : (v ~ /h$/) ? 3600 : 1
      sub(/[a-z]+$/, "", v); print v * f; found = 1; exit
    } END { if (!found) print 0 }' "$1"
}
api_by_verb() { # api_by_verb FILE: "VERB COUNT" summed over codes
  awk '/^imapprobe_operator_api_requests_total\{/ && match($0, /verb="[^"]*"/) {
      c[substr($0, RSTART + 6, RLENGTH - 7)] += $NF } END { for (v in c) print v, c[v] }' "$1" | sort
}

RSS0=""
start_bench_cluster() { # start_bench_cluster WORKDIR: API server, CRD, namespaces, one Secret each; sets kc
  local kwd=$1 i
  KUBE_WDS+=("$kwd")
  local extra=${KUBE_APISERVER_ARGS:-}
  [[ ${BENCH_B_PPROF:-false} == true ]] && extra+=" --profiling=true"
  KUBE_APISERVER_ARGS=$extra bash "$ROOT/tests/kube/cluster.sh" start "$kwd" >&2
  kc=("$(bash "$ROOT/tests/kube/cluster.sh" bin)/kubectl" --kubeconfig "$kwd/kubeconfig" --request-timeout=120s)
  "${kc[@]}" apply --server-side -f "$ROOT/crds/imapprobe.dev_imapprobes.yaml" >&2
  "${kc[@]}" wait --for=condition=Established crd/imapprobes.imapprobe.dev --timeout=60s >&2
  for ((i = 0; i < B_NAMESPACES; i++)); do
    "${kc[@]}" create namespace "bench-$i" >/dev/null
    "${kc[@]}" -n "bench-$i" create secret generic imap-bench \
      --from-literal=username="$BENCH_USER_PREFIX$i" --from-literal=password="$BENCH_PASSWORD" \
      --from-file=ca.crt="$CA_FILE" >/dev/null
  done
}

create_bench_probes() { # create_bench_probes N INTERVAL: N probes over the namespaces (kc set)
  local n=$1 interval=$2 i port=$IMAPS_PORT
  [[ $B_TLS == None ]] && port=$IMAP_NOSTARTTLS_PORT
  for ((i = 0; i < B_NAMESPACES; i++)); do
    python3 - "$n" "$B_NAMESPACES" "$i" "$port" "$interval" "$B_STATUS_TIMEOUT" "$B_TLS" \
      >"$W/probes-$n-$i.yaml" <<'EOF'
import sys
n, nns, ns, port, interval, timeout, tls = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                            sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7])
# Implicit: TLS with the CA bundle from the Secret; None: plain IMAP with
# no login (BENCH_B_TLS=None: connect, greeting, LOGOUT; what a run costs the
# API server, with Dovecot's share small enough for 10,000 probes a minute on
# two cores: a login costs Dovecot an imap process).
if tls == "None":
    server_tls, auth, mail = "    tls: None\n", "    mechanism: None\n", ""
else:
    server_tls = "    caBundleSecretRef:\n      name: imap-bench\n"
    auth = "    mechanism: Plain\n    secretRef:\n      name: imap-bench\n"
    mail = "  mailbox: INBOX\n  search: ALL\n  fetch:\n    latest: 5\n"
docs = []
for k in range(ns, n, nns):
    docs.append(f"""apiVersion: imapprobe.dev/v1alpha1
kind: ImapProbe
metadata:
  name: p{k:05d}
  namespace: bench-{ns}
spec:
  server:
    host: 127.0.0.1
    port: {port}
{server_tls}  auth:
{auth}{mail}  interval: {interval}s
  timeout: {timeout}
""")
print("---\n".join(docs))
EOF
  done
  local pids=()
  for ((i = 0; i < B_NAMESPACES; i++)); do
    timeout 900 "${kc[@]}" create -f "$W/probes-$n-$i.yaml" >/dev/null 2>"$W/create-$n-$i.err" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || { cat "$W"/create-"$n"-*.err >&2; die "creating probes failed"; }; done
  local created; created=$("${kc[@]}" get imapprobes -A --no-headers 2>/dev/null | wc -l)
  [[ $created -eq $n ]] || die "created $created probes, wanted $n"
}

run_reference() { # run_reference N: part b's reference (B_REF) on the API server of size N (kc, kwd set)
  local n=$1 r=$B_REF ri=$B_REF_INTERVAL rw=$B_REF_WINDOW ns=bench-ref port=$IMAPS_PORT
  local rlog=$W/operator-reference-$n.log rport rpid m1=$W/metrics-ref-$n-1.txt m2=$W/metrics-ref-$n-2.txt
  log "part b: reference, $r probes every ${ri}s writing status after every run, a Secret GET per run"
  "${kc[@]}" create namespace "$ns" >/dev/null
  "${kc[@]}" -n "$ns" create secret generic imap-bench \
    --from-literal=username="${BENCH_USER_PREFIX}0" --from-literal=password="$BENCH_PASSWORD" \
    --from-file=ca.crt="$CA_FILE" >/dev/null
  # The policy's probes, with a login (a Secret to read) where they have none:
  # plain IMAP then needs auth.allowPlaintext.
  [[ $B_TLS == None ]] && port=$IMAP_NOSTARTTLS_PORT
  python3 - "$r" "$ns" "$port" "$ri" "$B_STATUS_TIMEOUT" "$B_TLS" >"$W/probes-ref.yaml" <<'EOF'
import sys
r, (ns, port, interval, timeout, tls) = int(sys.argv[1]), sys.argv[2:]
if tls == "None":
    server_tls, extra_auth, mail = "    tls: None\n", "    allowPlaintext: true\n", ""
else:
    server_tls, extra_auth = "    caBundleSecretRef:\n      name: imap-bench\n", ""
    mail = "  mailbox: INBOX\n  search: ALL\n  fetch:\n    latest: 5\n"
print("---\n".join(f"""apiVersion: imapprobe.dev/v1alpha1
kind: ImapProbe
metadata:
  name: ref{k:05d}
  namespace: {ns}
spec:
  server:
    host: 127.0.0.1
    port: {port}
{server_tls}  auth:
    mechanism: Plain
    secretRef:
      name: imap-bench
{extra_auth}{mail}  interval: {interval}s
  timeout: {timeout}
""" for k in range(r)))
EOF
  timeout 300 "${kc[@]}" create -f "$W/probes-ref.yaml" >/dev/null
  rport=$(free_port)
  # shellcheck disable=SC2086 # word splitting wanted: flags
  "$IMAPPROBE" operator --kubeconfig "$kwd/kubeconfig" --leader-elect=false -n "$ns" \
    --status-heartbeat=0s --secret-cache=false ${BENCH_OPERATOR_ARGS:-} \
    --health-addr 127.0.0.1:0 --metrics-addr "127.0.0.1:$rport" >"$rlog" 2>&1 &
  rpid=$!
  STARTED_PIDS+=("$rpid")
  local runs_of='probe [^ ]+: (Success|Degraded|Failure) ' deadline=$(($(date +%s) + r / 10 + 60)) ran=0
  while ((ran < r)); do
    sleep 1
    kill -0 "$rpid" 2>/dev/null || { tail -20 "$rlog" >&2; die "the reference operator exited"; }
    ran=$({ grep -oE "$runs_of" "$rlog" || true; } | sort -u | wc -l)
    (($(date +%s) < deadline)) || { log "part b: reference: only $ran of $r probes ran"; FAILED=1; break; }
  done
  local as_pid runs1 runs2 runs as1 as2 t1 window get1 get2 writes ref_raw
  as_pid=$(cat "$kwd/apiserver.pid")
  scrape "$rport" "$m1"
  runs1=$(grep -cE "$runs_of" "$rlog" || true); as1=$(proc_ticks "$as_pid"); t1=$(now)
  sleep "$rw"
  as2=$(proc_ticks "$as_pid"); window=$(calc "$(now) - $t1" 3)
  runs2=$(grep -cE "$runs_of" "$rlog" || true)
  scrape "$rport" "$m2"
  runs=$((runs2 - runs1 > 0 ? runs2 - runs1 : 1))
  writes=$(calc "$(metric "$m2" imapprobe_operator_status_writes_total) - $(metric "$m1" imapprobe_operator_status_writes_total)" 0)
  get1=$(api_by_verb "$m1" | awk '$1 == "GET" { print $2 }')
  get2=$(api_by_verb "$m2" | awk '$1 == "GET" { print $2 }')
  ref_raw=$(calc "($as2 - $as1) * 1000 / $CLK_TCK / $runs" 2)
  fig "b.n$n.ref_probes" "$r"
  fig "b.n$n.ref_interval_seconds" "$ri"
  fig "b.n$n.ref_steady_runs" "$((runs2 - runs1))"
  fig "b.n$n.ref_failed_runs" "$(grep -c ': Failure ' "$rlog" || true)"
  # per-run figures of a window without runs would divide by the fallback of
  # one run and read as a cost: they are left out
  if ((runs2 - runs1 >= 1)); then
    fig "b.n$n.ref_status_writes_per_run" "$(calc "$writes / $runs" 3)"
    fig "b.n$n.ref_api_GET_per_run" "$(calc "(${get2:-0} - ${get1:-0}) / $runs" 3)"
    fig "b.n$n.ref_apiserver_cpu_ms_per_run" "$ref_raw"
  fi
  # a reference of failing runs or of skipped writes measures something else:
  # no cut is computed from it
  if ((runs2 - runs1 < 1)) || (($(grep -c ': Failure ' "$rlog" || true) > 0)) ||
    (($(calc "$writes < 0.9 * $runs" 0))); then
    log "part b: reference: no runs, failed runs or fewer writes than runs ($writes for $((runs2 - runs1))): see $rlog"
    FAILED=1
    stop_pid "$rpid" 30
    return 0
  fi
  fig "b.n$n.apiserver_cpu_cut_x_raw" \
    "$(calc "$ref_raw / ($(kv "$FIG" "bench.b.n$n.steady_apiserver_cpu_ms_per_run") + 1e-9)" 2)"
  # issue 8's target: the API server's CPU per run cut at least 5x, so the
  # policy's cost over the reference's is at most 0.2
  ratio_target "b.n$n.apiserver_cpu_policy_over_reference_raw" \
    "$(kv "$FIG" "bench.b.n$n.steady_apiserver_cpu_ms_per_run")" "$ref_raw" 0.2
  if [[ $MODE != smoke && ${BENCH_B_PAUSED:-true} == true ]]; then
    local asp0 asp_t0 as_paused ref_net
    kill -STOP "$rpid"
    asp0=$(proc_ticks "$as_pid"); asp_t0=$(now)
    sleep "$rw"
    as_paused=$(calc "($(proc_ticks "$as_pid") - $asp0) * 1000 / $CLK_TCK / ($(now) - $asp_t0)" 2)
    kill -CONT "$rpid"
    ref_net=$(calc "(($as2 - $as1) * 1000 / $CLK_TCK - $as_paused * $window) / $runs" 2)
    fig "b.n$n.ref_apiserver_paused_operator_cpu_ms_per_second" "$as_paused"
    fig "b.n$n.ref_apiserver_cpu_ms_per_run_net_of_paused" "$ref_net"
    fig "b.n$n.apiserver_cpu_cut_x_net_of_paused" \
      "$(calc "$ref_net / ($(kv "$FIG" "bench.b.n$n.steady_apiserver_cpu_ms_per_run_net_of_paused") + 1e-9)" 2)"
    ratio_target "b.n$n.apiserver_cpu_policy_over_reference_net_of_paused" \
      "$(kv "$FIG" "bench.b.n$n.steady_apiserver_cpu_ms_per_run_net_of_paused")" "$ref_net" 0.2
  fi
  stop_pid "$rpid" 30
}

run_scale() { # run_scale N
  local n=$1 kwd=$W/kube-$1 kc interval i ns
  # dv_ticks reads the instance the probes connect to (DOVECOT_PIDS lists the
  # harness's instances in order; nostarttls is the sixth)
  local DV_MASTER=$DV_MASTER
  if [[ $B_TLS == None ]]; then
    DV_MASTER=$(cut -d, -f6 <<<"$DOVECOT_PIDS")
    [[ -n $DV_MASTER ]] || die "no nostarttls Dovecot instance in DOVECOT_PIDS=$DOVECOT_PIDS"
  fi
  fig "b.n$n.tls" "\"$B_TLS\""
  interval=$((n * 60 / B_RATE_PER_MIN)); ((interval >= 10)) || interval=10
  interval=${BENCH_B_INTERVAL:-$interval}
  log "part b: $n probes, interval ${interval}s: starting kube-apiserver"
  start_bench_cluster "$kwd"

  local mport op_log=$W/operator-$n.log op_pid t0
  start_operator() {
    mport=$(free_port)
    # BENCH_SECRET_CACHE=true: Secrets from memory (--secret-cache), no GET per run
    # shellcheck disable=SC2086 # word splitting wanted: a command and flags
    ${BENCH_OPERATOR_WRAPPER:-} "$IMAPPROBE" operator --kubeconfig "$kwd/kubeconfig" --leader-elect=false \
      --secret-cache="${BENCH_SECRET_CACHE:-false}" ${BENCH_OPERATOR_ARGS:-} \
      --health-addr 127.0.0.1:0 --metrics-addr "127.0.0.1:$mport" >"$op_log" 2>&1 &
    op_pid=$!
    STARTED_PIDS+=("$op_pid")
  }
  if [[ -z $RSS0 ]]; then
    # the operator's RSS with no probe at all: the base of the per-probe slope
    # (a log of its own: a wrapper that forks may outlive stop_pid by a moment)
    local probes_log=$op_log
    op_log=$W/operator-no-probes.log
    start_operator
    for ((i = 0; i < 50; i++)); do
      [[ -n $(curl -fsS "http://127.0.0.1:$mport/metrics" 2>/dev/null | head -c1) ]] && break
      sleep 0.2
    done
    sleep 2
    RSS0=$(awk '/^VmRSS/ { print $2 }' "/proc/$op_pid/status")
    stop_pid "$op_pid" 30
    op_log=$probes_log
    fig b.operator_rss_kib_no_probes "$RSS0"
  fi

  local t_create=$(now)
  create_bench_probes "$n" "$interval"
  fig "b.n$n.interval_seconds" "$interval"
  fig "b.n$n.create_seconds" "$(calc "$(now) - $t_create" 1)"

  # the operator, from start until every probe has status for its generation
  local deadline_s=$((n / 25 + 120)) poll=2 conv="" done_n=0 m1=$W/metrics-$n-1.txt m2=$W/metrics-$n-2.txt
  [[ $MODE == smoke ]] && deadline_s=90
  local as_pid as0 dv0 asi0 asi_t0 as_idle
  as_pid=$(cat "$kwd/apiserver.pid")
  # The API server's own idle CPU (etcd in the same process) with the probes
  # stored and no operator: per steady run it is part of the raw figure, so
  # it is reported apart (see steady_apiserver_cpu_ms_per_run_net_of_idle).
  asi0=$(proc_ticks "$as_pid"); asi_t0=$(now)
  sleep "$B_IDLE"
  as_idle=$(calc "($(proc_ticks "$as_pid") - $asi0) * 1000 / $CLK_TCK / ($(now) - $asi_t0)" 2)
  fig "b.n$n.apiserver_idle_cpu_ms_per_second" "$as_idle"
  as0=$(proc_ticks "$as_pid"); dv0=$(dv_ticks)
  t0=$(now)
  local t0_epoch; t0_epoch=$(date -u +%s)
  start_operator
  log "part b: operator pid $op_pid, waiting up to ${deadline_s}s for $n probes to report"
  # Cheap trigger first (distinct probes with a finished run in the operator's
  # log), then the API's word (observedGeneration == generation for all):
  # listing 10000 objects every second would load the machine being measured.
  local ran=0
  while :; do
    sleep 1
    kill -0 "$op_pid" 2>/dev/null || { tail -20 "$op_log" >&2; die "the operator exited"; }
    ran=$({ grep -oE 'probe [^ ]+: (Success|Degraded|Failure) ' "$op_log" || true; } | sort -u | wc -l)
    if ((ran >= n)); then
      done_n=$("${kc[@]}" get imapprobes -A \
        -o jsonpath='{range .items[*]}{.metadata.generation} {.status.observedGeneration}{"\n"}{end}' \
        2>/dev/null | awk '$1 == $2' | wc -l) || done_n=0
      if ((done_n >= n)); then conv=$(calc "$(now) - $t0" 1); break; fi
      sleep "$poll"
    fi
    if (($(calc "$(now) - $t0" 0) > deadline_s)); then
      done_n=$("${kc[@]}" get imapprobes -A \
        -o jsonpath='{range .items[*]}{.metadata.generation} {.status.observedGeneration}{"\n"}{end}' \
        2>/dev/null | awk '$1 == $2' | wc -l) || done_n=0
      break
    fi
  done
  local as1 dv1; as1=$(proc_ticks "$as_pid"); dv1=$(dv_ticks)
  # the precise end: the newest status.lastRun.time (a LIST of every probe,
  # so read before the steady window starts: it costs the API server CPU)
  local last_run
  last_run=$("${kc[@]}" get imapprobes -A -o jsonpath='{range .items[*]}{.status.lastRun.time}{"\n"}{end}' \
    | sort | tail -1)
  # the steady window: from this scrape to the one after it
  scrape "$mport" "$m1"
  local cpu1 runs1 as_s0 t_s0; cpu1=$(proc_ticks "$op_pid"); runs1=$(grep -c ': Success \|: Failure \|: Degraded ' "$op_log" || true)
  as_s0=$(proc_ticks "$as_pid"); t_s0=$(now)
  fig "b.n$n.converged_probes" "$done_n"
  if [[ -n $conv ]]; then
    fig "b.n$n.converge_seconds_polled" "$conv"
    [[ -n $last_run ]] && fig "b.n$n.converge_seconds_last_status" \
      "$(calc "$(date -u -d "$last_run" +%s.%N) - $t0_epoch" 1)"
    fig "b.n$n.first_runs_per_second" "$(calc "$n / $conv" 1)"
    # where the machine's time went until then, per first run (watch list included)
    fig "b.n$n.first_runs_operator_cpu_ms_per_run" "$(calc "$cpu1 * 1000 / $CLK_TCK / $n" 2)"
    fig "b.n$n.first_runs_apiserver_cpu_ms_per_run" "$(calc "($as1 - $as0) * 1000 / $CLK_TCK / $n" 2)"
    fig "b.n$n.first_runs_dovecot_cpu_ms_per_run" "$(calc "($dv1 - $dv0) * 1000 / $CLK_TCK / $n" 2)"
  else
    log "part b: only $done_n of $n probes reported within ${deadline_s}s"
    FAILED=1
  fi
  # steady state after convergence (runs due in this window: N / interval per second)
  local prof_pid="" prof=${OUT%.txt}-apiserver-cpu-n$n.pb.gz
  if [[ ${BENCH_B_PPROF:-false} == true ]]; then
    # Go's profiler samples the API server at 100 Hz while the window runs:
    # where its CPU per run goes, by function
    timeout $((B_STEADY + 60)) "${kc[@]}" --request-timeout=0 get --raw \
      "/debug/pprof/profile?seconds=$B_STEADY" >"$prof" 2>"$W/pprof-$n.err" &
    prof_pid=$!
  fi
  sleep "$B_STEADY"
  if [[ -n $prof_pid ]]; then
    if wait "$prof_pid" && [[ -s $prof ]]; then
      log "part b: API server CPU profile of the steady window: $prof"
    else
      log "part b: no API server CPU profile ($(head -c 300 "$W/pprof-$n.err"))"
      prof_pid=""
    fi
  fi
  local cpu2 rss hwm runs2 s as2 window
  as2=$(proc_ticks "$as_pid"); window=$(calc "$(now) - $t_s0" 3)
  # Resident set at steady state, before this window's scrapes (a scrape
  # builds the whole page: its transient memory is in the high-water mark)
  rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$op_pid/status")
  scrape "$mport" "$m2"
  cpu2=$(proc_ticks "$op_pid")
  # one more scrape, timed: the page at N probes (rendered on the telemetry thread)
  local scrape_s scrape_b
  read -r scrape_s scrape_b < <(curl -fsS --max-time 60 -o /dev/null -w '%{time_total} %{size_download}\n' \
    "http://127.0.0.1:$mport/metrics" 2>/dev/null || echo "0 0")
  fig "b.n$n.scrape_seconds" "$scrape_s"
  fig "b.n$n.scrape_bytes" "$scrape_b"
  fig "b.n$n.rss_kib_after_scrapes" "$(awk '/^VmRSS/ { print $2 }' "/proc/$op_pid/status")"
  hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$op_pid/status")
  runs2=$(metric "$m2" imapprobe_operator_status_writes_total)
  local runs_total; runs_total=$(grep -c ': Success \|: Failure \|: Degraded ' "$op_log" || true)
  fig "b.n$n.runs" "$runs_total"
  fig "b.n$n.status_writes" "$runs2"
  fig "b.n$n.status_write_errors" "$(metric "$m2" imapprobe_operator_status_write_errors_total)"
  fig "b.n$n.failed_runs" "$(grep -c ': Failure ' "$op_log" || true)"
  fig "b.n$n.rss_kib" "$rss"
  fig "b.n$n.hwm_kib" "$hwm"
  fig "b.n$n.rss_kib_per_probe" "$(calc "($rss - $RSS0) / $n" 2)"
  fig "b.n$n.cpu_ms_per_run" "$(calc "$cpu2 * 1000 / $CLK_TCK / ($runs_total > 0 ? $runs_total : 1)" 2)"
  if ((runs_total - runs1 >= 20)); then
    fig "b.n$n.steady_cpu_ms_per_run" "$(calc "($cpu2 - $cpu1) * 1000 / $CLK_TCK / ($runs_total - $runs1)" 2)"
  fi
  fig "b.n$n.steady_runs" "$((runs_total - runs1))"
  # The status write policy (docs/operator.md, "Status writes"): writes and
  # the API server's CPU per run once every probe has reported.
  local writes1 steady_runs
  writes1=$(metric "$m1" imapprobe_operator_status_writes_total)
  steady_runs=$((runs_total - runs1 > 0 ? runs_total - runs1 : 1))
  fig "b.n$n.steady_status_writes_per_run" "$(calc "($runs2 - $writes1) / $steady_runs" 3)"
  fig "b.n$n.steady_status_writes_skipped" \
    "$(calc "$(metric "$m2" imapprobe_operator_status_writes_skipped_total) - $(metric "$m1" imapprobe_operator_status_writes_skipped_total)" 0)"
  fig "b.n$n.steady_apiserver_cpu_ms_per_run" "$(calc "($as2 - $as_s0) * 1000 / $CLK_TCK / $steady_runs" 2)"
  fig "b.n$n.steady_apiserver_cpu_ms_per_run_net_of_idle" \
    "$(calc "(($as2 - $as_s0) * 1000 / $CLK_TCK - $as_idle * $window) / $steady_runs" 2)"
  # Schedule lag from the cumulative histogram: first runs (the start-up
  # queue) over the whole life, and the steady rhythm over the steady window.
  for s in 0.5 0.9 0.99; do
    fig "b.n$n.first_lag_seconds_q$s" "$(lag_quantile /dev/null "$m2" first "$s")"
    fig "b.n$n.steady_lag_seconds_q$s" "$(lag_quantile "$m1" "$m2" next "$s")"
  done
  fig "b.n$n.first_lag_max_seconds" "$(metric "$m2" 'imapprobe_operator_schedule_lag_max_seconds{run="first"}')"
  fig "b.n$n.next_lag_max_seconds" "$(metric "$m2" 'imapprobe_operator_schedule_lag_max_seconds{run="next"}')"
  fig "b.n$n.steady_lag_runs" "$(calc "$(metric "$m2" 'imapprobe_operator_schedule_lag_seconds_count{run="next"}') - $(metric "$m1" 'imapprobe_operator_schedule_lag_seconds_count{run="next"}')" 0)"
  local verb cnt
  while read -r verb cnt; do
    [[ -n $verb ]] || continue
    fig "b.n$n.api_${verb}_per_run" "$(calc "$cnt / ($runs_total > 0 ? $runs_total : 1)" 3)"
    fig "b.n$n.api_${verb}_total" "$cnt"
  done < <(api_by_verb "$m2")
  grep '^imapprobe_operator_api_requests_total' "$m2" | sed "s/^/# n=$n /" >>"$W/api-codes.txt" || true
  # The API server's CPU with the operator paused (SIGSTOP) for a window as
  # long as the steady one, right after it: the same stored objects, the same
  # history of writes to compact, the same open watches; only the operator's
  # requests are gone. Steady minus paused, per steady run, is what the runs
  # cost the API server (the idle figure above is taken before any write, so
  # the compaction of the start-up's writes is billed to the steady window).
  if [[ $MODE != smoke && ${BENCH_B_PAUSED:-true} == true ]]; then
    local asp0 asp_t0 as_paused
    kill -STOP "$op_pid"
    asp0=$(proc_ticks "$as_pid"); asp_t0=$(now)
    sleep "$B_STEADY"
    as_paused=$(calc "($(proc_ticks "$as_pid") - $asp0) * 1000 / $CLK_TCK / ($(now) - $asp_t0)" 2)
    kill -CONT "$op_pid"
    fig "b.n$n.apiserver_paused_operator_cpu_ms_per_second" "$as_paused"
    fig "b.n$n.steady_apiserver_cpu_ms_per_run_net_of_paused" \
      "$(calc "(($as2 - $as_s0) * 1000 / $CLK_TCK - $as_paused * $window) / $steady_runs" 2)"
  fi
  stop_pid "$op_pid" 30
  # the reference, once: on the largest size's API server
  local sizes=($B_SIZES)
  ((B_REF > 0)) && [[ $n == "${sizes[-1]}" ]] && run_reference "$n"
  bash "$ROOT/tests/kube/cluster.sh" stop "$kwd" >&2 || true
  rm -rf "$kwd"
  if [[ -n $prof_pid ]] && command -v go >/dev/null; then
    local top=${prof%.pb.gz}.top.txt
    go tool pprof -top -cum -nodecount=400 "$prof" >"$top" 2>&1 || true
    # The watch cache's consistency check lists and decodes every stored
    # object every 5 to 7.5 minutes, runs or no runs: its share of the
    # window, per steady run (the idle figure, 15 s long, misses it).
    fig "b.n$n.steady_apiserver_profiled_cpu_seconds" "$(prof_seconds "$top" 'Total samples')"
    fig "b.n$n.steady_apiserver_consistency_check_cpu_ms_per_run" \
      "$(calc "$(prof_seconds "$top" 'consistency.*Checker.*CalculateDigests$') * 1000 / $steady_runs" 2)"
  fi
}

if has_part b; then
  for n in $B_SIZES; do run_scale "$n"; done
  {
    echo
    echo "Part b: operator scale (real kube-apiserver; $B_NAMESPACES namespaces, one Secret each; steady window ${B_STEADY}s)"
    printf '%7s %8s %8s %9s %8s %8s %8s %9s %10s %9s %9s %9s %9s %7s %9s %8s %16s\n' probes interval create_s \
      converge_s runs/s RSS_MiB HWM_MiB KiB/probe cpu_ms/run first_p99 steady_n s_p50_ms s_p99_ms GET/run PATCH/run wr/s_run as_ms/s_run
    for n in $B_SIZES; do
      g() { kv "$FIG" "bench.b.n$n.$1"; }
      printf '%7s %8s %8s %9s %8s %8s %8s %9s %10s %9s %9s %9s %9s %7s %9s %8s %16s\n' "$n" "$(g interval_seconds)s" \
        "$(g create_seconds)" "$(g converge_seconds_last_status)" "$(g first_runs_per_second)" \
        "$(calc "$(g rss_kib) / 1024" 1)" "$(calc "$(g hwm_kib) / 1024" 1)" "$(g rss_kib_per_probe)" \
        "$(g cpu_ms_per_run)" "$(calc "$(g first_lag_seconds_q0.99)+0" 2)" "$(g steady_lag_runs)" \
        "$(calc "($(g steady_lag_seconds_q0.5)+0) * 1000" 1)" "$(calc "($(g steady_lag_seconds_q0.99)+0) * 1000" 1)" \
        "$(calc "$(g api_GET_per_run)+0" 2)" "$(calc "$(g api_PATCH_per_run)+0" 2)" \
        "$(calc "$(g steady_status_writes_per_run)+0" 3)" \
        "$(calc "$(g steady_apiserver_cpu_ms_per_run)+0" 2)/$(calc "$(g steady_apiserver_cpu_ms_per_run_net_of_idle)+0" 2)/$(calc "$(g steady_apiserver_cpu_ms_per_run_net_of_paused)+0" 2)"
    done
    echo "(operator RSS with no probes: ${RSS0:-?} KiB; KiB/probe = (RSS - that) / probes; first_p99: lag"
    echo " of first runs (the start-up queue), s; steady_n runs planned by their previous run in the steady"
    echo " window, their lag p50/p99 in ms; wr/s_run status writes per steady run; as_ms/s_run the API"
    echo " server's CPU per steady run, raw/net of its idle CPU before the operator started/net of its CPU"
    echo " with the operator paused after the steady window; GET includes the LIST)"
    for n in $B_SIZES; do
      g() { kv "$FIG" "bench.b.n$n.$1"; }
      [[ -n $(g ref_probes) ]] || continue
      ref_net=$(g ref_apiserver_cpu_ms_per_run_net_of_paused) cut_net=$(g apiserver_cpu_cut_x_net_of_paused)
      [[ -n $ref_net ]] && ref_net+=" ms" cut_net+="x"
      echo "Reference on the $n-probe API server: $(g ref_probes) probes every $(g ref_interval_seconds)s, status written"
      if [[ -n $(g ref_apiserver_cpu_ms_per_run) ]]; then
        echo " after every run, a Secret GET per run: $(g ref_steady_runs) runs in ${B_REF_WINDOW}s, $(g ref_status_writes_per_run) writes and"
        echo " $(g ref_api_GET_per_run) GETs per run; API server CPU per run $(g ref_apiserver_cpu_ms_per_run) ms raw, ${ref_net:-no} net of paused."
      else
        echo " after every run, a Secret GET per run: no runs in its ${B_REF_WINDOW}s window, so no per-run figures."
      fi
      if [[ -n $(g apiserver_cpu_cut_x_raw) ]]; then
        echo " The write policy's cut: $(g apiserver_cpu_cut_x_raw)x raw, ${cut_net:-no figure} net of paused (target: 5x)"
      else
        echo " No cut: the reference did not run as it should (see the log above)"
      fi
    done
  } >>"$TABLES"
  set -- $B_SIZES
  if (($# >= 2)); then
    first=$1; for last; do :; done
    fig b.rss_kib_per_probe_slope "$(calc "($(kv "$FIG" "bench.b.n$last.rss_kib") - $(kv "$FIG" "bench.b.n$first.rss_kib")) / ($last - $first)" 2)"
  fi
fi

# ------------------------------------------------------------- part s ---
# Sharding (docs/operator.md, "Sharding"): N probes over R replicas of one
# location (--shard), each its own process: the share and the RSS and CPU of
# each replica at steady state, then kill -9 of one (time until the others
# agree without it, and until each of its probes has run again), then a new
# replica (how many probes move; rendezvous hashing moves about 1/R).
owned_probes() { # owned_probes METRICS-FILE: "ns/name" of each probe with series there
  sed -n 's/^imapprobe_probe_success{namespace="\([^"]*\)",name="\([^"]*\)"}.*/\1\/\2/p' "$1" | sort -u
}
shard_agreed() { # shard_agreed MEMBERS PORT...: every replica sees MEMBERS live members and agrees
  local members=$1 port t; shift
  for port; do
    t=$(curl -fsS --max-time 10 "http://127.0.0.1:$port/metrics" 2>/dev/null | grep '^imapprobe_operator_shard_' || true)
    grep -qx "imapprobe_operator_shard_members $members" <<<"$t" || return 1
    grep -qx 'imapprobe_operator_shard_view_agreed 1' <<<"$t" || return 1
  done
}
run_shard() { # run_shard N R
  local n=$1 r=$2 kwd=$W/kube-shard-$1 kc interval i
  interval=$((n * 60 / B_RATE_PER_MIN)); ((interval >= 10)) || interval=10
  interval=${BENCH_B_INTERVAL:-$interval}
  log "part s: $n probes over $r replicas, interval ${interval}s: starting kube-apiserver"
  start_bench_cluster "$kwd"
  create_bench_probes "$n" "$interval"
  local -a pids ports logs
  start_replica() { # start_replica INDEX
    ports[$1]=$(free_port); logs[$1]=$W/shard-$n-$1.log
    # shellcheck disable=SC2086 # word splitting wanted: operator flags
    "$IMAPPROBE" operator --kubeconfig "$kwd/kubeconfig" --shard=true --location bench \
      --leader-election-namespace default --identity "replica-$1" \
      --secret-cache="${BENCH_SECRET_CACHE:-false}" ${BENCH_OPERATOR_ARGS:-} \
      --health-addr 127.0.0.1:0 --metrics-addr "127.0.0.1:${ports[$1]}" >"${logs[$1]}" 2>&1 &
    pids[$1]=$!
    STARTED_PIDS+=("${pids[$1]}")
  }
  local t0; t0=$(now)
  for ((i = 0; i < r; i++)); do start_replica "$i"; done
  # every probe has reported (the API's word), bounded
  local deadline_s=$((n / 25 + 120)) done_n=0
  [[ $MODE == smoke ]] && deadline_s=90
  while (($(calc "$(now) - $t0" 0) < deadline_s)); do
    sleep 2
    done_n=$("${kc[@]}" get imapprobes -A \
      -o jsonpath='{range .items[*]}{.metadata.generation} {.status.observedGeneration}{"\n"}{end}' \
      2>/dev/null | awk '$1 == $2' | wc -l) || done_n=0
    ((done_n >= n)) && break
  done
  fig "s.n$n.r$r.converged_probes" "$done_n"
  ((done_n >= n)) || { log "part s: only $done_n of $n probes reported"; FAILED=1; }
  fig "s.n$n.r$r.converge_seconds" "$(calc "$(now) - $t0" 1)"
  # steady window: each replica's share, CPU and RSS
  local -a cpu0 runs0
  for ((i = 0; i < r; i++)); do
    cpu0[$i]=$(proc_ticks "${pids[$i]}")
    runs0[$i]=$(grep -c ': Success \|: Failure \|: Degraded ' "${logs[$i]}" || true)
  done
  local ts0; ts0=$(now)
  sleep "$B_STEADY"
  local window; window=$(calc "$(now) - $ts0" 3)
  local owned runs cpu rss_sum=0 cpu_sum=0 runs_sum=0 owned_min=$n owned_max=0
  for ((i = 0; i < r; i++)); do
    scrape "${ports[$i]}" "$W/shard-$n-$i.prom"
    owned=$(owned_probes "$W/shard-$n-$i.prom" | wc -l)
    runs=$(($(grep -c ': Success \|: Failure \|: Degraded ' "${logs[$i]}" || true) - runs0[i]))
    cpu=$(calc "($(proc_ticks "${pids[$i]}") - ${cpu0[$i]}) * 1000 / $CLK_TCK / $window" 2)
    fig "s.n$n.r$r.replica$i.owned" "$owned"
    fig "s.n$n.r$r.replica$i.rss_kib" "$(awk '/^VmRSS/ { print $2 }' "/proc/${pids[$i]}/status")"
    fig "s.n$n.r$r.replica$i.cpu_ms_per_second" "$cpu"
    fig "s.n$n.r$r.replica$i.steady_runs" "$runs"
    rss_sum=$((rss_sum + $(awk '/^VmRSS/ { print $2 }' "/proc/${pids[$i]}/status")))
    cpu_sum=$(calc "$cpu_sum + $cpu" 2); runs_sum=$((runs_sum + runs))
    ((owned < owned_min)) && owned_min=$owned
    ((owned > owned_max)) && owned_max=$owned
  done
  fig "s.n$n.r$r.rss_kib_sum" "$rss_sum"
  fig "s.n$n.r$r.owned_min" "$owned_min"
  fig "s.n$n.r$r.owned_max" "$owned_max"
  ((runs_sum > 0)) && fig "s.n$n.r$r.steady_cpu_ms_per_run" "$(calc "$cpu_sum * $window / $runs_sum" 2)"
  # kill -9 of the last replica
  local victim=$((r - 1)) t_kill lost_list alive_ports=()
  owned_probes "$W/shard-$n-$victim.prom" >"$W/shard-$n-lost.txt"
  kill -KILL "${pids[$victim]}"; t_kill=$(now)
  wait "${pids[$victim]}" 2>/dev/null || true # reaped quietly (no "Killed" line)
  for ((i = 0; i < victim; i++)); do alive_ports+=("${ports[$i]}"); done
  local agree_s="" resume_s=""
  while (($(calc "$(now) - $t_kill" 0) < interval + 60)); do
    if [[ -z $agree_s ]] && shard_agreed "$((r - 1))" "${alive_ports[@]}"; then
      agree_s=$(calc "$(now) - $t_kill" 1)
    fi
    if [[ -n $agree_s ]]; then
      # each lost probe has a run logged by a survivor after the kill
      local resumed; resumed=$(for ((i = 0; i < victim; i++)); do
        awk -v t="$(date -u -d "@${t_kill%.*}" +%Y-%m-%dT%H:%M:%S)" '$1 >= t' "${logs[$i]}"
      done | grep -oE 'probe [^ ]+: (Success|Degraded|Failure) ' | sed 's/^probe \([^:]*\):.*/\1/' \
        | sort -u | comm -12 - "$W/shard-$n-lost.txt" | wc -l)
      if ((resumed >= $(wc -l <"$W/shard-$n-lost.txt"))); then resume_s=$(calc "$(now) - $t_kill" 1); break; fi
    fi
    sleep 1
  done
  fig "s.n$n.r$r.kill_probes_lost" "$(wc -l <"$W/shard-$n-lost.txt")"
  fig "s.n$n.r$r.kill_agree_seconds" "${agree_s:-timeout}"
  fig "s.n$n.r$r.kill_resume_seconds" "${resume_s:-timeout}"
  [[ -n $resume_s ]] || FAILED=1
  # a new replica: how many probes move (owners once every probe has run on its owner)
  local before=$W/shard-$n-before.txt after=$W/shard-$n-after.txt t_join moved="" join_s=""
  for ((i = 0; i < victim; i++)); do
    scrape "${ports[$i]}" "$W/shard-$n-$i.prom"; owned_probes "$W/shard-$n-$i.prom" | sed "s/\$/ $i/"
  done | sort >"$before"
  start_replica "$r"; t_join=$(now)
  alive_ports+=("${ports[$r]}")
  while (($(calc "$(now) - $t_join" 0) < interval + 90)); do
    sleep 2
    [[ -n $join_s ]] || { shard_agreed "$r" "${alive_ports[@]}" && join_s=$(calc "$(now) - $t_join" 1); } || continue
    for i in $(seq 0 $((victim - 1))) "$r"; do
      scrape "${ports[$i]}" "$W/shard-$n-$i.prom"; owned_probes "$W/shard-$n-$i.prom" | sed "s/\$/ $i/"
    done | sort >"$after"
    # settled: every probe on exactly one replica
    if (($(cut -d' ' -f1 "$after" | sort -u | wc -l) == n && $(wc -l <"$after") == n)); then
      moved=$(join "$before" "$after" | awk '$2 != $3' | wc -l); break
    fi
  done
  fig "s.n$n.r$r.join_agree_seconds" "${join_s:-timeout}"
  fig "s.n$n.r$r.join_moved" "${moved:-timeout}"
  [[ -n $moved ]] && fig "s.n$n.r$r.join_moved_fraction" "$(calc "$moved / $n" 3)"
  for ((i = 0; i <= r; i++)); do [[ $i == "$victim" ]] || stop_pid "${pids[$i]}" 30; done
  bash "$ROOT/tests/kube/cluster.sh" stop "$kwd" >&2 || true
  rm -rf "$kwd"
}

if has_part s; then
  for n in $S_SIZES; do run_shard "$n" "$S_REPLICAS"; done
  {
    echo
    echo "Part s: sharding, $S_REPLICAS replicas of one location (real kube-apiserver; steady window ${B_STEADY}s)"
    printf '%7s %11s %11s %10s %10s %11s %10s %6s\n' probes owned_min/max RSS_MiB_sum cpu_ms/run \
      kill_agree kill_resume join_agree moved
    for n in $S_SIZES; do
      g() { kv "$FIG" "bench.s.n$n.r$S_REPLICAS.$1"; }
      printf '%7s %11s %11s %10s %10s %11s %10s %6s\n' "$n" "$(g owned_min)/$(g owned_max)" \
        "$(calc "$(g rss_kib_sum) / 1024" 1)" "$(g steady_cpu_ms_per_run)" "$(g kill_agree_seconds)s" \
        "$(g kill_resume_seconds)s" "$(g join_agree_seconds)s" "$(g join_moved)"
    done
    echo "(owned: probes per replica; kill_*: after kill -9 of one replica, until the others agree"
    echo " without it / until each of its probes has run again; join_*: a new replica, until all"
    echo " agree / probes that changed replica)"
  } >>"$TABLES"
fi

# ------------------------------------------------------------- part l ---
# Locations (docs/multi-location.md): N probes run from L locations of one
# replica each (--multi-location), one kube-apiserver as the hub. Until every
# probe carries L entries and a verdict; then at steady state each location's
# RSS and CPU, and the API writes per run over all of them (entries, the
# verdict, Events).
run_locations() { # run_locations N L
  local n=$1 l=$2 kwd=$W/kube-loc-$1 kc interval i
  interval=$((n * l * 60 / B_RATE_PER_MIN)); ((interval >= 10)) || interval=10
  interval=${BENCH_B_INTERVAL:-$interval}
  log "part l: $n probes from $l locations, interval ${interval}s: starting kube-apiserver"
  start_bench_cluster "$kwd"
  create_bench_probes "$n" "$interval"
  local -a pids ports logs
  local t0; t0=$(now)
  for ((i = 0; i < l; i++)); do
    ports[$i]=$(free_port); logs[$i]=$W/loc-$n-$i.log
    # shellcheck disable=SC2086 # word splitting wanted: operator flags
    "$IMAPPROBE" operator --kubeconfig "$kwd/kubeconfig" --multi-location=true --location "loc-$i" \
      --leader-election-namespace default --identity "loc-$i-0" \
      --secret-cache="${BENCH_SECRET_CACHE:-false}" ${BENCH_OPERATOR_ARGS:-} \
      --health-addr 127.0.0.1:0 --metrics-addr "127.0.0.1:${ports[$i]}" >"${logs[$i]}" 2>&1 &
    pids[$i]=$!
    STARTED_PIDS+=("${pids[$i]}")
  done
  # every probe has L entries and the verdict's Available, bounded
  local deadline_s=$((n * l / 25 + 120)) done_n=0
  [[ $MODE == smoke ]] && deadline_s=90
  while (($(calc "$(now) - $t0" 0) < deadline_s)); do
    sleep 2
    done_n=$("${kc[@]}" get imapprobes -A -o json 2>/dev/null | python3 -c '
import json, sys
l = int(sys.argv[1]); n = 0
for o in json.load(sys.stdin)["items"]:
    st = o.get("status", {})
    avail = [c for c in st.get("conditions", []) if c.get("type") == "Available"]
    n += len(st.get("locations", [])) == l and bool(avail) and avail[0].get("reason") == "Succeeded"
print(n)' "$l") || done_n=0
    ((done_n >= n)) && break
  done
  fig "l.n$n.l$l.converged_probes" "$done_n"
  ((done_n >= n)) || { log "part l: only $done_n of $n probes have $l entries and a verdict"; FAILED=1; }
  fig "l.n$n.l$l.converge_seconds" "$(calc "$(now) - $t0" 1)"
  local -a cpu0 runs0 m0
  for ((i = 0; i < l; i++)); do
    cpu0[$i]=$(proc_ticks "${pids[$i]}")
    runs0[$i]=$(grep -c ': Success \|: Failure \|: Degraded ' "${logs[$i]}" || true)
    scrape "${ports[$i]}" "$W/loc-$n-$i-0.prom"
  done
  local ts0; ts0=$(now)
  sleep "$B_STEADY"
  local window; window=$(calc "$(now) - $ts0" 3)
  local runs cpu rss rss_sum=0 cpu_sum=0 runs_sum=0 patches=0
  for ((i = 0; i < l; i++)); do
    scrape "${ports[$i]}" "$W/loc-$n-$i-1.prom"
    runs=$(($(grep -c ': Success \|: Failure \|: Degraded ' "${logs[$i]}" || true) - runs0[i]))
    cpu=$(calc "($(proc_ticks "${pids[$i]}") - ${cpu0[$i]}) * 1000 / $CLK_TCK / $window" 2)
    rss=$(awk '/^VmRSS/ { print $2 }' "/proc/${pids[$i]}/status")
    fig "l.n$n.l$l.location$i.rss_kib" "$rss"
    fig "l.n$n.l$l.location$i.cpu_ms_per_second" "$cpu"
    fig "l.n$n.l$l.location$i.steady_runs" "$runs"
    local p0 p1
    p0=$(api_by_verb "$W/loc-$n-$i-0.prom" | awk '$1 == "PATCH" { print $2 }')
    p1=$(api_by_verb "$W/loc-$n-$i-1.prom" | awk '$1 == "PATCH" { print $2 }')
    patches=$(calc "$patches + ${p1:-0} - ${p0:-0}" 0)
    rss_sum=$((rss_sum + rss)); cpu_sum=$(calc "$cpu_sum + $cpu" 2); runs_sum=$((runs_sum + runs))
  done
  fig "l.n$n.l$l.rss_kib_sum" "$rss_sum"
  fig "l.n$n.l$l.steady_runs" "$runs_sum"
  fig "l.n$n.l$l.steady_patches" "$patches"
  if ((runs_sum > 0)); then
    fig "l.n$n.l$l.steady_cpu_ms_per_run" "$(calc "$cpu_sum * $window / $runs_sum" 2)"
    fig "l.n$n.l$l.steady_writes_per_run" "$(calc "$patches / $runs_sum" 3)"
  fi
  for ((i = 0; i < l; i++)); do stop_pid "${pids[$i]}" 30; done
  bash "$ROOT/tests/kube/cluster.sh" stop "$kwd" >&2 || true
  rm -rf "$kwd"
}

if has_part l; then
  for n in $L_SIZES; do run_locations "$n" "$L_LOCATIONS"; done
  {
    echo
    echo "Part l: $L_LOCATIONS locations of one replica each (real kube-apiserver as the hub; steady window ${B_STEADY}s)"
    printf '%7s %10s %16s %12s %10s %10s\n' probes converge RSS_MiB/location cpu_ms/run writes/run steady_runs
    for n in $L_SIZES; do
      g() { kv "$FIG" "bench.l.n$n.l$L_LOCATIONS.$1"; }
      local_rss=""
      for ((i = 0; i < L_LOCATIONS; i++)); do
        local_rss+="${local_rss:+/}$(calc "$(g "location$i.rss_kib") / 1024" 1)"
      done
      printf '%7s %9ss %16s %12s %10s %10s\n' "$n" "$(g converge_seconds)" "$local_rss" \
        "$(g steady_cpu_ms_per_run)" "$(g steady_writes_per_run)" "$(g steady_runs)"
    done
    echo "(converge: until every probe has an entry from each location and the verdict; writes: PATCH"
    echo " requests of all locations (entries, the verdict) per run in the steady window)"
  } >>"$TABLES"
fi

# ------------------------------------------------------------- part c ---
if has_part c; then
  if [[ $(id -u) -ne 0 ]]; then
    log "part c skipped: capturing with a tcp port filter needs root (CI runs as root)"
    fig c.skipped not-root
  else
    log "part c: $C_PROBES checks under tshark on lo, port $IMAPS_PORT"
    cap=$W/c.pcapng tlog=$W/tshark.log
    tshark -i lo -f "tcp port $IMAPS_PORT" -w "$cap" -q >"$tlog" 2>&1 &
    TS_PID=$!
    STARTED_PIDS+=("$TS_PID")
    for ((i = 0; i < 100; i++)); do grep -q 'Capturing on' "$tlog" && break; sleep 0.1; done
    sleep 0.5
    results=()
    for ((k = 1; k <= C_PROBES; k++)); do
      timeout 60 "$IMAPPROBE" check -H 127.0.0.1 -p "$IMAPS_PORT" --ca-file "$CA_FILE" \
        -u "${BENCH_USER_PREFIX}0" --password-env BENCH_PASSWORD --search ALL --fetch 5 \
        -o json >"$W/c-$k.json" || true
      results+=("$W/c-$k.json")
      sleep 0.05
    done
    sleep 0.5
    kill -INT "$TS_PID" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$TS_PID" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$TS_PID" 2
    tshark -r "$cap" -T fields -E separator=, -e frame.time_epoch -e tcp.stream -e tcp.srcport \
      -e tcp.dstport -e tcp.flags.syn -e tcp.flags.ack -e tcp.flags.fin -e tcp.len >"$W/c.csv" 2>/dev/null
    python3 "$BENCH/wire_timing.py" --csv "$W/c.csv" --port "$IMAPS_PORT" "${results[@]}" >"$W/c.kv" \
      || { FAILED=1; log "part c: $(grep -E 'error|unmatched' "$W/c.kv" | tr '\n' ' ')"; }
    while IFS='=' read -r k v; do fig "c.$k" "$v"; done <"$W/c.kv"
    {
      echo
      echo "Part c: timing truth ($C_PROBES checks, imapprobe check --output json vs packets; engine reports whole ms)"
      printf '%-10s %4s %16s %16s %12s\n' step n "max |diff| ms" "mean diff ms" "wire p50 ms"
      for s in connect tls greeting login select search fetch logout fetch+logout total; do
        [[ -n $(kv "$W/c.kv" "wire_${s}_n") ]] || continue
        printf '%-10s %4s %16s %16s %12s\n' "$s" "$(kv "$W/c.kv" "wire_${s}_n")" \
          "$(kv "$W/c.kv" "wire_${s}_max_abs_diff_ms")" "$(kv "$W/c.kv" "wire_${s}_mean_diff_ms")" \
          "$(kv "$W/c.kv" "wire_${s}_p50_ms")"
      done
      echo "(diff = engine - wire; each check is a new process, so its first handshake pays OpenSSL's start-up)"
    } >>"$TABLES"

    # The delivery check's latency against Postfix's own delays= for the same
    # message (tests/bench/delivery_timing.py says what is compared).
    log "part c: $C_PROBES delivery checks through a private Postfix"
    PF_WD=$W/postfix
    bash "$ROOT/tests/servers/postfix/postfix-harness.sh" start "$PF_WD" --dovecot "$DV_WD" >&2
    results=()
    for ((k = 1; k <= C_PROBES; k++)); do
      timeout 60 "$IMAPPROBE" check -H 127.0.0.1 -p "$IMAPS_PORT" --ca-file "$CA_FILE" \
        -u "${BENCH_USER_PREFIX}0" --password-env BENCH_PASSWORD --smtp-host 127.0.0.1 \
        --smtp-port "$(kv "$PF_WD/env" SUBMISSION_PORT)" --smtp-server-name localhost \
        --mail-from "${BENCH_USER_PREFIX}0@imap.test" --mail-to "${BENCH_USER_PREFIX}0@imap.test" \
        --delivery-timeout 10s -t 20s -o json >"$W/cd-$k.json" || true
      results+=("$W/cd-$k.json")
      sleep 0.2
    done
    sleep 1  # the last delays= line is written after the LMTP reply
    python3 "$BENCH/delivery_timing.py" --log "$(kv "$PF_WD/env" POSTFIX_LOG)" "${results[@]}" \
      >"$W/cd.kv" || { FAILED=1; log "part c: delivery timing: $(tr '\n' ' ' <"$W/cd.kv")"; }
    bash "$ROOT/tests/servers/postfix/postfix-harness.sh" stop "$PF_WD" >/dev/null 2>&1 || true
    while IFS='=' read -r k v; do fig "c.$k" "$v"; done <"$W/cd.kv"
    {
      echo
      echo "Part c: delivery latency ($C_PROBES delivery checks; ours = smtpSend + delivery, Postfix = delays a+b+c+d)"
      printf '%4s %14s %16s %16s %16s\n' n "ours p50 ms" "Postfix p50 ms" "mean diff ms" "max |diff| ms"
      printf '%4s %14s %16s %16s %16s\n' "$(kv "$W/cd.kv" delivery_n)" \
        "$(kv "$W/cd.kv" delivery_ours_p50_ms)" "$(kv "$W/cd.kv" delivery_postfix_p50_ms)" \
        "$(kv "$W/cd.kv" delivery_mean_diff_ms)" "$(kv "$W/cd.kv" delivery_max_abs_diff_ms)"
      echo "(diff = ours - Postfix: Dovecot storing the message until the probe saw it)"
    } >>"$TABLES"
  fi
fi

# ------------------------------------------------------------- part d ---
if has_part d; then
  case $MODE in full) D_PROBES=10000 ;; quick) D_PROBES=2000 ;; *) D_PROBES=200 ;; esac
  log "part d: the /metrics page for $D_PROBES probes, ours against prometheus-cpp"
  "$METRICS_BENCH" --probes "$D_PROBES" --scrapes 9 >"$W/d.kv" || { FAILED=1; log "part d failed"; }
  while IFS='=' read -r k v; do [[ -n $k ]] && fig "d.$k" "$v"; done <"$W/d.kv"
  {
    echo
    echo "Part d: the /metrics page ($D_PROBES probes, same families and labels; median of 9 scrapes)"
    printf '%-16s %14s %12s %14s %12s %12s
' exposition heap_KiB B/probe B/sample_line scrape_ms page_KiB
    for x in ours prometheus_cpp; do
      printf '%-16s %14s %12s %14s %12s %12s
' "$x" "$(calc "$(kv "$W/d.kv" "$x.heap_bytes") / 1024" 0)" \
        "$(kv "$W/d.kv" "$x.heap_bytes_per_probe")" "$(kv "$W/d.kv" "$x.heap_bytes_per_sample_line")" \
        "$(kv "$W/d.kv" "$x.scrape_ms")" "$(calc "$(kv "$W/d.kv" "$x.page_bytes") / 1024" 0)"
    done
    echo "(ours: RunMetrics' facts, rendered at scrape time; prometheus-cpp: a Registry with one object"
    echo " per series, Collect + TextSerializer; heap from glibc mallinfo2, allocator overhead included)"
  } >>"$TABLES"
fi

# -------------------------------------------------------------- report ---
fig machine.loadavg_at_end "$(cut -d' ' -f1 /proc/loadavg)"
{
  echo "imap-probe-operator benchmark, mode $MODE, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "machine: $(nproc) CPUs, $(kv "$FIG" bench.machine.cpu), $(kv "$FIG" bench.machine.mem_gib) GiB;" \
    "load average at start $(kv "$FIG" bench.machine.loadavg_at_start), at end $(kv "$FIG" bench.machine.loadavg_at_end)"
  cat "$TABLES"
  if grep -q '^bench.target\.' "$FIG"; then
    echo
    echo "Targets (a ratio each, met when at most its limit):"
    grep '^bench.target\.[^=]*=' "$FIG" | grep -v '\.limit=\|\.status=' | while IFS='=' read -r k v; do
      name=${k#bench.target.}
      st=$(kv "$FIG" "$k.status")
      lim=$(kv "$FIG" "$k.limit")
      printf '  %-42s %6s %s\n' "$name" "$v" "${st:+(limit $lim: $st)}"
    done
  fi
  echo
  echo "Figures:"
  cat "$FIG"
} >"$OUT"
echo
cat "$OUT"
log "results: $OUT"
if ((FAILED)); then log "some probes or parts failed (see above)"; exit 1; fi
if [[ -n $ENFORCE && $MODE != smoke ]] && ((TARGET_MISSED)); then log "a target was missed"; exit 3; fi
exit 0
