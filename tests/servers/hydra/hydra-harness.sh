#!/usr/bin/env bash
# hydra-harness.sh - a private, throw-away ORY Hydra (OAuth 2.0 server) for tests.
#
#   hydra-harness.sh start <workdir> [--access-token-ttl DUR] [--refresh-grace DUR]
#                                    [--tls-cert FILE --tls-key FILE [--tls-ca FILE]]
#   hydra-harness.sh stop <workdir>
#   hydra-harness.sh create-client <workdir> <client-id> [--secret S] [--auth basic|post|private_key_jwt]
#                                  [--jwks-file FILE] [--scope "mail offline"]
#                                  [--grant-types client_credentials,refresh_token,authorization_code]
#                                  [--access-token-ttl DUR]
#   hydra-harness.sh set-ttl <workdir> <client-id> <DUR>
#   hydra-harness.sh delete-client <workdir> <client-id>      (gone afterwards, also if it was not there)
#   hydra-harness.sh delete-tokens <workdir> <client-id>      (revokes every access token of the client)
#   hydra-harness.sh client-token <workdir> <client-id> <client-secret> [scope]
#   hydra-harness.sh refresh-token <workdir> <client-id> <client-secret> <subject> [scope]
#   hydra-harness.sh revoke <workdir> <client-id> <client-secret> <token>
#   hydra-harness.sh count-token-requests <workdir>
#
# Design (see README.md next to this file):
#  * `hydra serve all --dev` with DSN=memory: one process, state lost on stop, no
#    database to clean up. The binary comes from build-hydra.sh (cached build of
#    v2.3.0 from the Go module proxy); HYDRA_BIN overrides it.
#  * Public and admin ports on 127.0.0.1, random, below the kernel's ephemeral
#    range, checked free with `ss`; a bind race with another harness is retried
#    with fresh ports. With --tls-cert/--tls-key only the public port speaks
#    HTTPS (serve.public.tls); the admin port stays plain HTTP because Dovecot's
#    oauth2 passdb introspects there.
#  * Settings go into <workdir>/hydra.yml, passed with --config, so the
#    process's command line names its workdir (stop checks that before killing).
#    Only the system secret goes by environment, so it is written nowhere.
#  * LOG_LEVEL=info: Hydra logs every HTTP request, which is how
#    count-token-requests counts the token requests a test caused.
#  * The login and consent URLs are dummies nothing listens on: refresh-token
#    (hydra_flow.py) takes the challenges out of the redirects and accepts them
#    through the admin API, so no login UI is needed.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/harness-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/harness-common.sh"
set -E

PROG=hydra-harness
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FLOW="$HERE/hydra_flow.py"
HOST=127.0.0.1
# Port 9 (discard): nothing answers, and nothing is ever fetched from these.
DUMMY=http://127.0.0.1:9
START_TIMEOUT=${HYDRA_HARNESS_START_TIMEOUT:-20}
STOP_TIMEOUT=${HYDRA_HARNESS_STOP_TIMEOUT:-10}

die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
note() { printf '%s: %s\n' "$PROG" "$*" >&2; }
trap 'die "unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

usage() {
    awk 'NR > 1 && /^# Design/ { exit } NR > 1 && /^#/ { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}" >&2
    exit 2
}

now_us() { local t=${EPOCHREALTIME/[.,]/}; printf '%s' "$((10#$t))"; }

set_paths() {
    WD=$1
    [[ $WD == /* ]] || die "workdir must be an absolute path: $WD"
    WD=${WD%/}
    CONF=$WD/hydra.yml
    LOG=$WD/hydra.log
    PID_FILE=$WD/hydra.pid
    ENV_FILE=$WD/env
}

# ---------------------------------------------------------------- ports ---
# The range: HYDRA_HARNESS_PORT_MIN/MAX, else harness-common.sh's default.
pick_port_in_range() { pick_port "${HYDRA_HARNESS_PORT_MIN:-}" "${HYDRA_HARNESS_PORT_MAX:-}"; }

# ------------------------------------------------------------ processes ---
# Prints the pid of the Hydra serving $WD, if it runs.
running_pid() {
    local pid cmdline
    [[ -r $PID_FILE ]] || return 1
    pid=$(<"$PID_FILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    is_alive "$pid" || return 1
    # guard against a recycled pid: it must be hydra with our config
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *hydra*" --config $CONF "* ]] || return 1
    printf '%s' "$pid"
}

stop_pid() {
    local pid=$1 deadline
    kill -TERM "$pid" 2>/dev/null || true
    # After serving requests Hydra drains for about a second before it exits.
    deadline=$(($(now_us) + STOP_TIMEOUT * 1000000))
    while is_alive "$pid"; do
        if (($(now_us) > deadline)); then
            note "pid $pid still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.05
    done
    # reap, if it is our child (start's cleanup path)
    wait "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 40; i++)); do [[ -e /proc/$pid ]] || break; sleep 0.05; done
}

show_log() {
    if [[ -s $LOG ]]; then
        printf -- '----- %s (last 30 lines) -----\n' "$LOG" >&2
        tail -n 30 "$LOG" >&2
        printf -- '-----\n' >&2
    fi
}

# http_ok <port> <path>: a plain HTTP GET on $HOST answers 200
http_ok() {
    (
        exec 3<>"/dev/tcp/$HOST/$1" || exit 1
        printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n' "$2" "$HOST" "$1" >&3
        IFS= read -r -t 2 line <&3 || exit 1
        [[ $line == "HTTP/1."?" 200"* ]]
    ) 2>/dev/null
}

tcp_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

hydra_bin() {
    if [[ -n ${HYDRA_BIN:-} ]]; then
        [[ -x $HYDRA_BIN ]] || die "HYDRA_BIN=$HYDRA_BIN is not executable"
        printf '%s' "$HYDRA_BIN"
        return 0
    fi
    # Builds on a cold cache unless IMAPPROBE_TOOLS_PREBUILT says not to.
    bash "$HERE/build-hydra.sh" || die "no hydra binary (tests/servers/hydra/build-hydra.sh failed)"
}

write_conf() {
    local ppub=$1 padm=$2 scheme=http
    [[ -n $TLS_CERT ]] && scheme=https
    PUBLIC_URL=$scheme://$HOST:$ppub
    ADMIN_URL=http://$HOST:$padm
    {
        cat <<EOF
# generated by hydra-harness.sh - do not edit
log:
  level: info
  format: text
serve:
  public:
    host: $HOST
    port: $ppub
EOF
        if [[ -n $TLS_CERT ]]; then
            cat <<EOF
    tls:
      enabled: true
      cert:
        path: $TLS_CERT
      key:
        path: $TLS_KEY
EOF
        fi
        cat <<EOF
  admin:
    host: $HOST
    port: $padm
    tls:
      enabled: false
urls:
  self:
    issuer: $PUBLIC_URL/
    public: $PUBLIC_URL/
    admin: $ADMIN_URL/
  login: $DUMMY/login
  consent: $DUMMY/consent
  error: $DUMMY/error
EOF
        if [[ -n $ACCESS_TTL ]]; then printf 'ttl:\n  access_token: %s\n' "$ACCESS_TTL"; fi
        if [[ -n $REFRESH_GRACE ]]; then
            printf 'oauth2:\n  grant:\n    refresh_token:\n      rotation_grace_period: %s\n' "$REFRESH_GRACE"
        fi
    } >"$CONF.tmp"
    mv -f "$CONF.tmp" "$CONF"
}

# ---------------------------------------------------------------- start ---
cmd_start() {
    local t0
    t0=$(now_us)
    [[ $# -ge 1 ]] || usage
    set_paths "$1"
    shift
    ACCESS_TTL="" REFRESH_GRACE="" TLS_CERT="" TLS_KEY="" TLS_CA=""
    local dur_re='^[0-9]+(ns|us|ms|s|m|h)([0-9]+(ns|us|ms|s|m|h))*$'
    while (($#)); do
        case $1 in
            --access-token-ttl) [[ $# -ge 2 && $2 =~ $dur_re ]] || die "--access-token-ttl needs a duration like 30s or 1h"; ACCESS_TTL=$2; shift 2 ;;
            --refresh-grace) [[ $# -ge 2 && $2 =~ $dur_re ]] || die "--refresh-grace needs a duration like 10s (at most 5m)"; REFRESH_GRACE=$2; shift 2 ;;
            --tls-cert) [[ $# -ge 2 ]] || die "--tls-cert needs a file"; TLS_CERT=$(realpath "$2"); shift 2 ;;
            --tls-key) [[ $# -ge 2 ]] || die "--tls-key needs a file"; TLS_KEY=$(realpath "$2"); shift 2 ;;
            --tls-ca) [[ $# -ge 2 ]] || die "--tls-ca needs a file"; TLS_CA=$(realpath "$2"); shift 2 ;;
            *) die "unknown option: $1" ;;
        esac
    done
    [[ -z $TLS_CERT && -z $TLS_KEY ]] || [[ -n $TLS_CERT && -n $TLS_KEY ]] || die "--tls-cert and --tls-key go together"
    [[ -z $TLS_CERT || -r $TLS_CERT ]] || die "cannot read $TLS_CERT"
    [[ -z $TLS_KEY || -r $TLS_KEY ]] || die "cannot read $TLS_KEY"
    [[ -n $TLS_CERT && -z $TLS_CA ]] && TLS_CA=$TLS_CERT
    local b
    for b in ss openssl python3; do command -v "$b" >/dev/null || die "'$b' not found in PATH"; done
    local bin
    bin=$(hydra_bin) || exit 1

    mkdir -p "$WD" || die "cannot create workdir $WD"
    local pid
    if pid=$(running_pid); then die "a harness Hydra is already running in $WD (pid $pid); stop it first"; fi

    local secret attempt ppub padm deadline
    secret=$(openssl rand -hex 32)
    pid=""
    trap '[[ -n $pid ]] && stop_pid "$pid"; rm -f "$PID_FILE"' EXIT
    for ((attempt = 1; attempt <= 8; attempt++)); do
        pick_port_in_range; ppub=$PICKED
        pick_port_in_range; padm=$PICKED
        write_conf "$ppub" "$padm"
        : >"$LOG"
        # --sqa-opt-out: no telemetry attempts (there is no way out anyway).
        DSN=memory SECRETS_SYSTEM=$secret \
            nohup "$bin" serve all --dev --sqa-opt-out --config "$CONF" >>"$LOG" 2>&1 </dev/null &
        pid=$!
        printf '%s\n' "$pid" >"$PID_FILE"
        deadline=$(($(now_us) + START_TIMEOUT * 1000000))
        while :; do
            if ! is_alive "$pid"; then
                wait "$pid" 2>/dev/null || true
                if grep -qi 'address already in use' "$LOG"; then
                    note "port in use, retrying with other ports (attempt $attempt)"
                    pid=""
                    continue 2
                fi
                show_log
                pid=""
                die "hydra exited during start-up (config $CONF)"
            fi
            if http_ok "$padm" /health/ready && tcp_open "$ppub"; then break 2; fi
            if (($(now_us) > deadline)); then
                show_log
                die "hydra not ready within ${START_TIMEOUT}s (admin $ADMIN_URL/health/ready, public port $ppub)"
            fi
            sleep 0.05
        done
    done
    ((attempt <= 8)) || { show_log; die "no free ports after 8 attempts"; }

    {
        printf 'HYDRA_HOST=%s\n' "$HOST"
        printf 'HYDRA_PUBLIC_PORT=%s\nHYDRA_ADMIN_PORT=%s\n' "$ppub" "$padm"
        printf 'HYDRA_PUBLIC_URL=%s\n' "$PUBLIC_URL"
        printf 'HYDRA_ADMIN_URL=%s\n' "$ADMIN_URL"
        printf 'HYDRA_ISSUER=%s/\n' "$PUBLIC_URL"
        printf 'HYDRA_TOKEN_URL=%s/oauth2/token\n' "$PUBLIC_URL"
        printf 'HYDRA_AUTH_URL=%s/oauth2/auth\n' "$PUBLIC_URL"
        printf 'HYDRA_REVOKE_URL=%s/oauth2/revoke\n' "$PUBLIC_URL"
        printf 'HYDRA_JWKS_URL=%s/.well-known/jwks.json\n' "$PUBLIC_URL"
        printf 'HYDRA_INTROSPECT_URL=%s/admin/oauth2/introspect\n' "$ADMIN_URL"
        printf 'HYDRA_LOGIN_URL=%s/login\nHYDRA_CONSENT_URL=%s/consent\n' "$DUMMY" "$DUMMY"
        printf 'HYDRA_REDIRECT_URI=%s/callback\n' "$DUMMY"
        printf 'HYDRA_PUBLIC_TLS=%s\n' "$([[ -n $TLS_CERT ]] && echo yes || echo no)"
        printf 'HYDRA_CA_FILE=%s\n' "$TLS_CA"
        printf 'HYDRA_ACCESS_TOKEN_TTL=%s\n' "${ACCESS_TTL:-1h}"
        printf 'HYDRA_REFRESH_GRACE=%s\n' "${REFRESH_GRACE:-0s}"
        printf 'HYDRA_LOG=%s\n' "$LOG"
        printf 'HYDRA_BIN=%s\n' "$bin"
        printf 'HYDRA_PID=%s\n' "$pid"
    } >"$ENV_FILE.tmp"
    mv -f "$ENV_FILE.tmp" "$ENV_FILE"
    trap - EXIT
    note "started hydra (pid $pid) in $((($(now_us) - t0) / 1000)) ms: public $PUBLIC_URL, admin $ADMIN_URL; env: $ENV_FILE"
}

cmd_stop() {
    [[ $# -eq 1 ]] || usage
    set_paths "$1"
    if [[ ! -d $WD ]]; then note "no workdir $WD, nothing to stop"; return 0; fi
    local pid
    if pid=$(running_pid); then stop_pid "$pid"; fi
    rm -f "$PID_FILE"
    if pid=$(running_pid); then die "hydra (pid $pid) survived stop"; fi
    return 0
}

cmd_count_token_requests() {
    [[ $# -eq 1 ]] || usage
    set_paths "$1"
    [[ -r $LOG ]] || die "no $LOG"
    # One "completed handling request" line per answered request; the access
    # log has method and path in its http_request map, e.g.
    #   msg=completed handling request http_request=map[... method:POST path:/oauth2/token query:<nil> ...]
    grep -cE 'msg=completed handling request .* method:POST path:/oauth2/token[ ?]' "$LOG" || true
}

flow() {
    [[ $# -ge 1 ]] || usage
    set_paths "$1"
    [[ -r $ENV_FILE ]] || die "no $ENV_FILE (start the harness first)"
    python3 "$FLOW" "$CMD" "$WD" "${@:2}" || exit 1
}

main() {
    [[ $# -ge 1 ]] || usage
    CMD=$1
    shift
    case $CMD in
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        count-token-requests) cmd_count_token_requests "$@" ;;
        create-client | set-ttl | client-token | refresh-token | revoke | delete-client | delete-tokens) flow "$@" ;;
        *) usage ;;
    esac
}

main "$@"
