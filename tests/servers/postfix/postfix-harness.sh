#!/usr/bin/env bash
# postfix-harness.sh - a private, throw-away Postfix in front of the Dovecot harness,
# for tests of the mail flow (SMTP submission -> queue -> LMTP -> Sieve -> IMAP).
#
#   postfix-harness.sh start <workdir> --dovecot <dovecot-workdir>
#   postfix-harness.sh stop <workdir>
#   postfix-harness.sh release <workdir>      # release held mail and flush the queue
#
# Design (see README.md next to this file):
#  * One Postfix instance with its own config directory (<workdir>/conf), queue and
#    data directories and log (maillog_file; there may be no syslog). Debian's
#    binaries are used as installed: meta_directory/shlib_directory point back at
#    /etc/postfix and /usr/lib/postfix.
#  * `postfix -c DIR` (and the set-gid postqueue/postdrop) accept DIR only when the
#    system configuration (/etc/postfix/main.cf) lists it in alternate_config_directories.
#    start adds <workdir>/conf there, stop removes it again; the edits are serialized
#    with flock because several harnesses may start at once. If there is no system
#    main.cf (postfix installed with "No configuration"), a minimal one holding only
#    that list is created, and removed again by the last stop.
#  * Only 127.0.0.1, only our two ports: submission (STARTTLS required before AUTH)
#    and smtps (implicit TLS). Every other service is a UNIX socket in the queue
#    directory; nothing listens on port 25 and nothing is ever sent off the machine
#    (default/relay transports are `error`, outside recipients are refused at RCPT).
#  * SASL and delivery go to the Dovecot harness's main instance: Dovecot SASL over
#    its AUTH_PORT (so SMTP and IMAP share users and passwords) and LMTP on LMTP_PORT.
#    Valid recipients are the Dovecot harness's passwd-file users @imap.test.
#  * Ports are random, below the kernel's ephemeral range, checked free with `ss`;
#    a bind race with another harness is retried with fresh ports.
#  * Needs root (Postfix's master must start as root).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/harness-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/harness-common.sh"
set -E

PROG=postfix-harness
HOST=127.0.0.1
DOMAIN=imap.test
SYS_CONF=${POSTFIX_HARNESS_SYSTEM_CONF_DIR:-/etc/postfix}
LOCK_FILE=/run/lock/postfix-harness.lock
START_TIMEOUT=${POSTFIX_HARNESS_START_TIMEOUT:-10}
STOP_TIMEOUT=${POSTFIX_HARNESS_STOP_TIMEOUT:-10}
CREATED_MARK="# created by postfix-harness.sh (tests/servers/postfix); removed by its last stop"

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}
note() { printf '%s: %s\n' "$PROG" "$*" >&2; }
trap 'die "unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

usage() {
    cat >&2 <<EOF
usage: $0 start <workdir> --dovecot <dovecot-workdir>
       $0 stop <workdir>
       $0 release <workdir>
EOF
    exit 2
}

# Postfix re-reads a configuration or texthash file until its mtime is at least a
# second or two in the past (a guard against half-written files): about 2 s per
# command right after an edit. Everything here is written atomically (tmp + mv
# or postconf -e), so backdating is safe.
backdate() { touch -d '-10 seconds' "$@"; }

now_us() {
    local t=${EPOCHREALTIME/[.,]/}
    printf '%s' "$((10#$t))"
}

# ---------------------------------------------------------------- paths ---
set_paths() {
    WD=$1
    [[ $WD == /* ]] || die "workdir must be an absolute path: $WD"
    WD=${WD%/}
    CONF_DIR=$WD/conf
    DATA_DIR=$WD/data
    MAPS_DIR=$WD/maps
    LOG_DIR=$WD/logs
    LOG_FILE=$WD/logs/postfix.log
    ENV_FILE=$WD/env
    if [[ -f $WD/.queuedir ]]; then QUEUE_DIR=$(<"$WD/.queuedir"); else QUEUE_DIR=$WD/queue; fi
}

# ------------------------------------------- alternate_config_directories ---
# with_lock <function> <args...>: runs it holding the lock on the system main.cf edits
with_lock() {
    mkdir -p "${LOCK_FILE%/*}"
    (
        flock -w 30 9 || die "could not lock $LOCK_FILE within 30 s"
        "$@"
    ) 9>>"$LOCK_FILE"
}

alt_dirs() { postconf -c "$SYS_CONF" -h alternate_config_directories 2>/dev/null || true; }

register_conf_dir() {
    [[ -d $SYS_CONF ]] || die "$SYS_CONF does not exist; is the postfix package installed?"
    if [[ ! -e $SYS_CONF/main.cf ]]; then
        # "No configuration" install: postfix(1) still reads this file for the list
        printf '%s\ncompatibility_level = 3.6\n' "$CREATED_MARK" >"$SYS_CONF/main.cf.tmp"
        backdate "$SYS_CONF/main.cf.tmp"
        mv -f "$SYS_CONF/main.cf.tmp" "$SYS_CONF/main.cf"
        note "created a minimal $SYS_CONF/main.cf (only alternate_config_directories)"
    fi
    local cur d keep=()
    cur=$(alt_dirs)
    for d in ${cur//,/ }; do [[ $d == "$CONF_DIR" ]] && return 0; done
    # entries of harnesses that were never stopped and whose directory is gone
    for d in ${cur//,/ }; do [[ $d == *'$'* || -d $d ]] && keep+=("$d"); done
    cur=${keep[*]}
    postconf -c "$SYS_CONF" -e "alternate_config_directories = ${cur:+$cur }$CONF_DIR" \
        || die "postconf -e alternate_config_directories in $SYS_CONF/main.cf failed"
    backdate "$SYS_CONF/main.cf"
}

unregister_conf_dir() {
    [[ -f $SYS_CONF/main.cf ]] || return 0
    local cur d keep=()
    cur=$(alt_dirs)
    for d in ${cur//,/ }; do [[ $d == "$CONF_DIR" ]] || keep+=("$d"); done
    if ((${#keep[@]} > 0)); then
        postconf -c "$SYS_CONF" -e "alternate_config_directories = ${keep[*]}" \
            || die "postconf -e in $SYS_CONF/main.cf failed"
    elif [[ -n $cur ]]; then
        postconf -c "$SYS_CONF" -X alternate_config_directories \
            || die "postconf -X in $SYS_CONF/main.cf failed"
    fi
    if ((${#keep[@]} == 0)) && [[ $(head -n 1 "$SYS_CONF/main.cf") == "$CREATED_MARK" ]]; then
        rm -f "$SYS_CONF/main.cf"
    else
        backdate "$SYS_CONF/main.cf"
    fi
}

# ---------------------------------------------------------------- ports ---
# The range: POSTFIX_HARNESS_PORT_MIN/MAX, else harness-common.sh's default.
pick_port_in_range() { pick_port "${POSTFIX_HARNESS_PORT_MIN:-}" "${POSTFIX_HARNESS_PORT_MAX:-}"; }

# --------------------------------------------------------------- config ---
write_maps() {
    local users=$1
    mkdir -p "$MAPS_DIR"
    # every passwd-file user is a mailbox at imap.test (bench users too)
    awk -F: -v d="$DOMAIN" 'NF > 1 && $1 != "" { print $1 "@" d "\tOK" }' "$users" >"$MAPS_DIR/vmailbox.tmp"
    [[ -s $MAPS_DIR/vmailbox.tmp ]] || die "no users in $users"
    mv -f "$MAPS_DIR/vmailbox.tmp" "$MAPS_DIR/vmailbox"
    # HOLD and DISCARD only: unlike OK they never permit, so this map placed before
    # the SASL check cannot open a relay (see smtpd_relay_restrictions too)
    awk -F: -v d="$DOMAIN" 'NF > 1 && $1 != "" {
            print $1 "+discard@" d "\tDISCARD postfix-harness: discarded by recipient"
            print $1 "+hold@" d "\tHOLD postfix-harness: held until release"
        }' "$users" >"$MAPS_DIR/special.tmp"
    mv -f "$MAPS_DIR/special.tmp" "$MAPS_DIR/special"
    chmod 0644 "$MAPS_DIR"/*
    backdate "$MAPS_DIR"/*
}

write_conf() {
    local psub=$1 psmtps=$2
    mkdir -p "$CONF_DIR"
    cat >"$CONF_DIR/main.cf.tmp" <<EOF
# generated by postfix-harness.sh - do not edit
compatibility_level = 3.6
queue_directory = $QUEUE_DIR
data_directory = $DATA_DIR
meta_directory = $SYS_CONF
shlib_directory = /usr/lib/postfix
maillog_file = $LOG_FILE
# "delays=a/b/c/d" to the millisecond (default 10 ms): the benchmark compares
# the probe's delivery latency with Postfix's own account of it.
delay_logging_resolution_limit = 3
# the default prefixes (/var, /dev/stdout) do not cover a private log
maillog_file_prefixes = $LOG_DIR
syslog_name = postfix-harness
mail_owner = postfix
setgid_group = postdrop
myhostname = smtp.$DOMAIN
mydomain = $DOMAIN
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains =
mynetworks = 127.0.0.1/32
inet_interfaces = $HOST
inet_protocols = ipv4
smtputf8_enable = no
biff = no
append_dot_mydomain = no
smtpd_banner = \$myhostname ESMTP postfix-harness
recipient_delimiter = +

# delivery: only imap.test, by LMTP to the Dovecot harness
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = texthash:$MAPS_DIR/vmailbox
virtual_transport = lmtp:inet:$HOST:$LMTP_PORT
default_transport = error:5.7.1 postfix-harness delivers to $DOMAIN only
relay_transport = \$default_transport
local_transport = \$default_transport
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled

# tests expect quick retries, not Internet-scale backoff
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 10s
delay_warning_time = 0
in_flow_delay = 0
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_client_connection_rate_limit = 0
smtpd_client_auth_rate_limit = 0

# SASL by Dovecot (same users and passwords as IMAP)
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:$HOST:$AUTH_PORT
smtpd_sasl_mechanism_filter = plain, login
broken_sasl_auth_clients = no

# TLS with the Dovecot harness's CA-signed server certificate
smtpd_tls_cert_file = $DV_TLS/server.pem
smtpd_tls_key_file = $DV_TLS/server.key
smtpd_tls_CAfile = $DV_TLS/ca.pem
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_tls_auth_only = yes

# Only authenticated clients may send, and only to imap.test; the special
# recipients (HOLD/DISCARD) are looked up first but never permit by themselves.
# Unknown users: 550 5.1.1 by smtpd_reject_unlisted_recipient (default yes).
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination, reject
smtpd_recipient_restrictions = check_recipient_access texthash:$MAPS_DIR/special, reject_unauth_destination, permit_sasl_authenticated, reject
EOF
    mv -f "$CONF_DIR/main.cf.tmp" "$CONF_DIR/main.cf"
    cat >"$CONF_DIR/master.cf.tmp" <<EOF
# generated by postfix-harness.sh - do not edit
# No port 25: only submission (STARTTLS before AUTH) and smtps (implicit TLS), on $HOST.
# chroot = n everywhere: the queue directory is not prepared as a chroot jail.
# service type  private unpriv  chroot  wakeup  maxproc command + args
$HOST:$psub inet n - n - - smtpd
  -o syslog_name=postfix-harness/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
$HOST:$psmtps inet n - n - - smtpd
  -o syslog_name=postfix-harness/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    mv -f "$CONF_DIR/master.cf.tmp" "$CONF_DIR/master.cf"
    chmod 0644 "$CONF_DIR"/*.cf
    backdate "$CONF_DIR"/*.cf
}

# The queue's subdirectories with the owners and modes of Postfix's postfix-files
# (what `postfix check` would create, but without its slow shell scripts).
make_queue_dirs() {
    local d
    for d in active bounce corrupt defer deferred flush hold incoming private saved trace; do
        install -d -o postfix -g root -m 0700 "$QUEUE_DIR/$d"
    done
    install -d -o postfix -g postdrop -m 0730 "$QUEUE_DIR/maildrop"
    install -d -o postfix -g postdrop -m 0710 "$QUEUE_DIR/public"
    install -d -o root -g root -m 0755 "$QUEUE_DIR/pid"
}

# ------------------------------------------------------------ processes ---
master_pid() { # pid of our running master
    local pf=$QUEUE_DIR/pid/master.pid pid
    [[ -r $pf ]] || return 1
    pid=$(tr -dc 0-9 <"$pf")
    [[ -n $pid ]] || return 1
    is_alive "$pid" || return 1
    [[ $(instance_pids) == *"$pid"* ]] || return 1
    printf '%s' "$pid"
}

# Postfix daemons do not name their config on the command line, but they all
# inherit MAIL_CONFIG (import_environment), so it identifies this instance's processes.
instance_pids() {
    local e pid found
    # grep exits 2 when a process went away between the glob and the read
    found=$(grep -lzxF "MAIL_CONFIG=$CONF_DIR" /proc/[0-9]*/environ 2>/dev/null) || true
    for e in $found; do
        pid=${e#/proc/}
        pid=${pid%/environ}
        is_alive "$pid" && printf '%s\n' "$pid"
    done
    return 0
}

show_log() {
    if [[ -s $LOG_FILE ]]; then
        printf -- '----- %s (last 40 lines) -----\n' "$LOG_FILE" >&2
        tail -n 40 "$LOG_FILE" >&2
        printf -- '-----\n' >&2
    fi
}

stop_all() {
    if [[ -f $CONF_DIR/main.cf ]] && master_pid >/dev/null; then
        postfix -c "$CONF_DIR" stop >>"$LOG_DIR/postfix.stop" 2>&1 || true
    fi
    local deadline=$(($(now_us) + STOP_TIMEOUT * 1000000)) left
    while :; do
        left=$(instance_pids)
        [[ -z $left ]] && break
        if (($(now_us) > deadline)); then
            note "postfix processes still alive after ${STOP_TIMEOUT}s, sending SIGKILL: ${left//$'\n'/ }"
            # shellcheck disable=SC2086  # one pid per word
            kill -KILL $left 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.05
    done
    rm -f "$QUEUE_DIR/pid/master.pid"
}

# smtp_banner <port> [tls]: the server greets with 220
smtp_banner() {
    if [[ ${2:-} == tls ]]; then
        local out=$LOG_DIR/.probe.$1 pid i ok=1
        : >"$out"
        # -quiet implies -ign_eof: the session stays open until we kill it
        openssl s_client -connect "$HOST:$1" -quiet </dev/null >"$out" 2>/dev/null &
        pid=$!
        for ((i = 0; i < 100; i++)); do
            if grep -q '^220' "$out"; then ok=0; break; fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.02
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        rm -f "$out"
        return "$ok"
    else
        (
            exec 3<>"/dev/tcp/$HOST/$1" || exit 1
            IFS= read -r -t 2 line <&3 || exit 1
            printf 'QUIT\r\n' >&3
            [[ $line == 220* ]]
        ) 2>/dev/null
    fi
}

# ---------------------------------------------------------------- start ---
cmd_start() {
    local t0
    t0=$(now_us)
    [[ $# -ge 1 ]] || usage
    set_paths "$1"
    shift
    local dv=""
    while (($#)); do
        case $1 in
            --dovecot) [[ $# -ge 2 ]] || die "--dovecot needs the Dovecot harness's workdir"; dv=$2; shift 2 ;;
            --dovecot=*) dv=${1#*=}; shift ;;
            *) die "unknown option: $1" ;;
        esac
    done
    [[ -n $dv ]] || die "--dovecot <dovecot-workdir> is required"
    ((EUID == 0)) || die "must run as root (Postfix's master starts as root)"
    local b
    for b in postfix postconf postsuper postqueue ss awk flock openssl setpriv; do
        command -v "$b" >/dev/null || die "'$b' not found in PATH (need postfix, iproute2, util-linux, openssl)"
    done
    getent passwd postfix >/dev/null || die "no user postfix (is the postfix package installed?)"

    # what the Dovecot harness offers us
    [[ -r $dv/env ]] || die "no $dv/env: start the Dovecot harness in $dv first"
    local k v
    declare -A DV=()
    while IFS='=' read -r k v; do [[ -n $k && $k != \#* ]] && DV[$k]=$v; done <"$dv/env"
    for k in LMTP_PORT AUTH_PORT USERS_FILE CA_FILE SERVER_CERT_FILE PROBE_USER PROBE_PASSWORD; do
        [[ -n ${DV[$k]:-} ]] || die "$dv/env has no $k (a Dovecot harness without the mail flow?)"
    done
    LMTP_PORT=${DV[LMTP_PORT]} AUTH_PORT=${DV[AUTH_PORT]}
    DV_TLS=$(dirname "${DV[SERVER_CERT_FILE]}")
    [[ -r $DV_TLS/server.key ]] || die "no $DV_TLS/server.key"

    mkdir -p "$WD" || die "cannot create workdir $WD"
    if pid=$(master_pid 2>/dev/null); then die "a harness Postfix is already running in $WD (pid $pid); stop it first"; fi
    chmod 0755 "$WD"
    setpriv --reuid=postfix --regid="$(id -g postfix)" --clear-groups test -x "$WD" \
        || die "$WD is not reachable by user postfix; use a workdir whose parent directories are world-searchable (e.g. mktemp -d itself)"
    # UNIX sockets live in <queue>/private and <queue>/public (limit 107 bytes)
    if [[ ! -f $WD/.queuedir ]] && ((${#WD} + 6 + 20 > 100)); then
        QUEUE_DIR=$(mktemp -d /tmp/pfh.XXXXXX)
        printf '%s' "$QUEUE_DIR" >"$WD/.queuedir"
    fi
    mkdir -p "$CONF_DIR" "$QUEUE_DIR" "$DATA_DIR" "$LOG_DIR"
    chmod 0755 "$QUEUE_DIR" "$LOG_DIR"
    chown postfix: "$DATA_DIR"
    chmod 0700 "$DATA_DIR"
    write_maps "${DV[USERS_FILE]}"
    make_queue_dirs

    trap 'stop_all; with_lock unregister_conf_dir' EXIT
    with_lock register_conf_dir
    local attempt psub psmtps rc=0 started=""
    for ((attempt = 1; attempt <= 8; attempt++)); do
        pick_port_in_range; psub=$PICKED
        pick_port_in_range; psmtps=$PICKED
        write_conf "$psub" "$psmtps"
        : >"$LOG_FILE"
        rc=0
        # quick-start: postfix-script skips its integrity checks, ~2 s of shell
        # (make_queue_dirs did what they would create)
        : >"$QUEUE_DIR/quick-start"
        postfix -c "$CONF_DIR" start >"$LOG_DIR/postfix.start" 2>&1 </dev/null || rc=$?
        if ((rc == 0)); then
            started=yes
            break
        fi
        stop_all
        if grep -qi 'address already in use' "$LOG_DIR/postfix.start" "$LOG_FILE" 2>/dev/null; then
            note "port in use, retrying with other ports (attempt $attempt)"
            continue
        fi
        cat "$LOG_DIR/postfix.start" >&2
        show_log
        die "postfix failed to start (exit $rc, config $CONF_DIR)"
    done
    [[ -n $started ]] || { show_log; die "postfix: no free port after 8 attempts"; }

    local deadline=$(($(now_us) + START_TIMEOUT * 1000000))
    until smtp_banner "$psub" && smtp_banner "$psmtps" tls; do
        if (($(now_us) > deadline)) || ! master_pid >/dev/null; then
            cat "$LOG_DIR/postfix.start" >&2
            show_log
            die "postfix gave no SMTP greeting on $HOST:$psub / $HOST:$psmtps (TLS) within ${START_TIMEOUT}s"
        fi
        sleep 0.05
    done
    local mpid
    mpid=$(master_pid) || { show_log; die "postfix master exited right after start"; }
    {
        printf 'HOST=%s\n' "$HOST"
        printf 'WORKDIR=%s\n' "$WD"
        printf 'DOVECOT_WORKDIR=%s\n' "$dv"
        printf 'SUBMISSION_HOST=%s\nSUBMISSION_PORT=%s\n' "$HOST" "$psub"
        printf 'SMTPS_HOST=%s\nSMTPS_PORT=%s\n' "$HOST" "$psmtps"
        printf 'TLS_HOSTNAME=localhost\n'
        printf 'CA_FILE=%s\n' "${DV[CA_FILE]}"
        printf 'MAIL_DOMAIN=%s\n' "$DOMAIN"
        printf 'SMTP_USER=%s\nSMTP_PASSWORD=%s\n' "${DV[PROBE_USER]}" "${DV[PROBE_PASSWORD]}"
        printf 'SMTP_AUTH_MECHANISMS=PLAIN LOGIN\n'
        printf 'RCPT_INBOX=%s@%s\n' "${DV[PROBE_USER]}" "$DOMAIN"
        printf 'RCPT_DISCARD=%s+discard@%s\n' "${DV[PROBE_USER]}" "$DOMAIN"
        printf 'RCPT_HOLD=%s+hold@%s\n' "${DV[PROBE_USER]}" "$DOMAIN"
        printf 'RCPT_JUNK=%s+junk@%s\n' "${DV[PROBE_USER]}" "$DOMAIN"
        printf 'RCPT_UNKNOWN=nobody@%s\n' "$DOMAIN"
        printf 'RCPT_OUTSIDE=someone@example.com\n'
        printf 'LMTP_PORT=%s\nAUTH_PORT=%s\n' "$LMTP_PORT" "$AUTH_PORT"
        printf 'POSTFIX_CONF_DIR=%s\n' "$CONF_DIR"
        printf 'POSTFIX_QUEUE_DIR=%s\n' "$QUEUE_DIR"
        printf 'POSTFIX_LOG=%s\n' "$LOG_FILE"
        printf 'POSTFIX_PID=%s\n' "$mpid"
    } >"$ENV_FILE.tmp"
    mv -f "$ENV_FILE.tmp" "$ENV_FILE"
    trap - EXIT
    note "started postfix (master $mpid) in $((($(now_us) - t0) / 1000)) ms; env: $ENV_FILE"
}

cmd_stop() {
    [[ $# -eq 1 ]] || usage
    set_paths "$1"
    if [[ ! -d $WD ]]; then
        note "no workdir $WD, nothing to stop"
        return 0
    fi
    stop_all
    with_lock unregister_conf_dir
    if [[ -f $WD/.queuedir ]]; then
        [[ $QUEUE_DIR == /tmp/pfh.* ]] && rm -rf "$QUEUE_DIR"
        rm -f "$WD/.queuedir"
    fi
    local leftover
    leftover=$(instance_pids)
    [[ -z $leftover ]] || die "postfix processes for $WD survived stop: ${leftover//$'\n'/ }"
    return 0
}

cmd_release() {
    [[ $# -eq 1 ]] || usage
    set_paths "$1"
    master_pid >/dev/null || die "no harness Postfix running in $WD"
    local out
    out=$(postsuper -c "$CONF_DIR" -H ALL 2>&1) || { printf '%s\n' "$out" >&2; die "postsuper -H ALL failed"; }
    out=$(postqueue -c "$CONF_DIR" -f 2>&1) || { printf '%s\n' "$out" >&2; die "postqueue -f failed"; }
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd=$1
    shift
    case $cmd in
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        release) cmd_release "$@" ;;
        -h | --help | help) usage ;;
        *) usage ;;
    esac
}

main "$@"
