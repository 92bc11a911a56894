#!/usr/bin/env bash
# dovecot-harness.sh - private, throw-away Dovecot 2.3 servers for integration tests.
#
#   dovecot-harness.sh start <workdir> [--users N] [--oauth2-introspection-url URL]
#   dovecot-harness.sh stop <workdir>
#   dovecot-harness.sh mint-token <workdir> <user> [ttl-seconds]
#
# Design (see README.md next to this file):
#  * Dovecot chooses ssl_cert per `local <ip>` / `local_name <sni>` block, never per
#    port. To keep the TLS listeners on HOST=127.0.0.1 (so a client verifies the same
#    host everywhere and each port shows exactly one TLS defect) the harness runs
#    one Dovecot instance per certificate variant:
#        main        IMAP_PORT on IMAP_HOST=127.0.0.2 (plain + STARTTLS, LOGINDISABLED
#                    before TLS) and IMAPS_PORT on 127.0.0.1
#        expired     IMAPS_EXPIRED_PORT     (notAfter in the past, signed by the test CA)
#        wronghost   IMAPS_WRONGHOST_PORT   (SAN DNS:wrong.example only, signed by the CA)
#        selfsigned  IMAPS_SELFSIGNED_PORT  (self-signed CN/SAN localhost, not from the CA)
#        expiring    IMAPS_EXPIRING_PORT    (valid, signed by the CA, expires in 5 days)
#        nostarttls  IMAP_NOSTARTTLS_PORT   (ssl = no, plaintext auth allowed)
#    The main instance also serves the mail flow for a Postfix in front of it
#    (tests/servers/postfix): LMTP on LMTP_PORT (Sieve files +junk mail into Junk)
#    and an auth-client listener on AUTH_PORT for Postfix's Dovecot SASL.
#    Each instance has its own base_dir/state_dir/log and config; all of them share
#    the users (passwd-file), the maildirs and the certificates under <workdir>.
#    `stop` stops them all.
#  * Why 127.0.0.2 for IMAP_PORT: Dovecot's login process treats a connection whose
#    remote IP equals its local IP as "secured" (login-common/client-common.c), so
#    127.0.0.1 -> 127.0.0.1 would never see LOGINDISABLED / disable_plaintext_auth.
#    Connecting to 127.0.0.2 makes Linux pick source 127.0.0.1, so the check works.
#    The CA-signed certificates therefore also carry IP:127.0.0.2 in their SANs.
#    Every port has its own <PORTKEY minus _PORT>_HOST key in env; use those.
#  * Ports are random, picked below the kernel's ephemeral range and checked free with
#    `ss -ltn`; if Dovecot still fails to bind (another harness won the race) the
#    instance is retried with fresh ports.
#  * Runs as root (login = dovenull, internal = dovecot, mail uid = nobody because
#    Dovecot refuses mail access as uid 0) or as any unprivileged user (everything
#    runs as that user, no chroots).  As root, <workdir> must be reachable by the
#    users nobody/dovecot (the harness chmods <workdir> itself to 0755 and checks).
#  * XOAUTH2/OAUTHBEARER: by default the oauth2 passdb validates HS256 JWTs locally
#    (mint-token signs them). With --oauth2-introspection-url it asks a real OAuth 2.0
#    server instead (RFC 7662 POST, e.g. the Hydra harness's admin introspection
#    endpoint): the token's `sub` is the user and `active` must be true. auth_cache_size
#    stays 0, so every login introspects again and a revoked token fails at once.
#  * Nothing outside <workdir> is touched, except that a short base_dir is created
#    under /tmp when <workdir> is so long that UNIX socket paths would not fit.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/harness-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/harness-common.sh"
set -E

PROG=dovecot-harness
HOST=127.0.0.1
PLAIN_HOST=127.0.0.2     # main instance's plain/STARTTLS listener, see above
INSTANCES=(main expired wronghost selfsigned expiring nostarttls)
START_TIMEOUT=${DOVECOT_HARNESS_START_TIMEOUT:-10}
STOP_TIMEOUT=${DOVECOT_HARNESS_STOP_TIMEOUT:-10}
SEED_MESSAGES=10
SEED_UNSEEN=3            # the last 3 seed messages have no \Seen flag
PROBE_USER=probe PROBE_PASSWORD=probe-secret-1
SCRAM_USER=scram SCRAM_PASSWORD=scram-secret-1
CRAM_USER=cram CRAM_PASSWORD=cram-secret-1
OAUTH_USER=oauth
QUOTA_USER=quota QUOTA_PASSWORD=quota-secret-1
# Only the quota user has limits; its seeded mailbox is at QUOTA_SEED_* of them.
QUOTA_STORAGE_KB=100 QUOTA_MESSAGES=20
JUNK_FOLDER=Junk
BENCH_PREFIX=bench BENCH_PASSWORD=bench-secret
OAUTH_ISSUER=dovecot-harness
OAUTH_KID=harness

die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
note() { printf '%s: %s\n' "$PROG" "$*" >&2; }
trap 'die "unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

usage() {
    cat >&2 <<EOF
usage: $0 start <workdir> [--users N] [--oauth2-introspection-url URL]
       $0 stop <workdir>
       $0 mint-token <workdir> <user> [ttl-seconds]
EOF
    exit 2
}

now_us() { local t=${EPOCHREALTIME/[.,]/}; printf '%s' "$((10#$t))"; }

# ---------------------------------------------------------------- paths ---
set_paths() {
    WD=$1
    [[ $WD == /* ]] || die "workdir must be an absolute path: $WD"
    WD=${WD%/}
    CONF_DIR=$WD/conf
    TLS_DIR=$WD/tls
    USERS_DIR=$WD/users
    USERS_FILE=$WD/users/passwd
    MAIL_DIR=$WD/mail
    LOG_DIR=$WD/logs
    STATE_ROOT=$WD/state
    KEY_DIR=$WD/oauth2-keys
    HMAC_HEX_FILE=$WD/oauth2-hmac.hex
    ENV_FILE=$WD/env
    SIEVE_DIR=$WD/sieve
    if [[ -f $WD/.rundir ]]; then RUN_ROOT=$(<"$WD/.rundir"); else RUN_ROOT=$WD/run; fi
}

conf_path() { if [[ $1 == main ]]; then printf '%s' "$WD/dovecot.conf"; else printf '%s' "$CONF_DIR/$1.conf"; fi; }

# ---------------------------------------------------------------- certs ---
gen_certs() {
    [[ -f $TLS_DIR/.complete ]] && return 0
    rm -rf "$TLS_DIR"
    mkdir -p "$TLS_DIR/ca/newcerts"
    local d=$TLS_DIR cnf=$TLS_DIR/openssl.cnf
    : >"$d/ca/index.txt"
    printf '1000\n' >"$d/ca/serial"
    cat >"$cnf" <<EOF
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = placeholder
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ ca ]
default_ca = harness_ca
[ harness_ca ]
dir = $d/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
certificate = $d/ca.pem
private_key = $d/ca.key
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
commonName = supplied
[ srv_valid ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, DNS:imap.test, IP:127.0.0.1, IP:127.0.0.2
[ srv_wronghost ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.example
[ srv_selfsigned ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = DNS:localhost, DNS:imap.test, IP:127.0.0.1
EOF
    newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
    # test CA
    newkey "$d/ca.key"
    openssl req -config "$cnf" -new -x509 -key "$d/ca.key" -subj "/CN=dovecot-harness test CA" \
        -extensions v3_ca -days 3650 -out "$d/ca.pem"
    # leaf certificates signed by the CA: name ext CN startdate enddate
    local yesterday in5days
    yesterday=$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)
    in5days=$(date -u -d '+5 days' +%Y%m%d%H%M%SZ)
    sign() {
        local name=$1 ext=$2 cn=$3 start=$4 end=$5
        newkey "$d/$name.key"
        openssl req -config "$cnf" -new -key "$d/$name.key" -subj "/CN=$cn" -out "$d/$name.csr"
        openssl ca -config "$cnf" -batch -notext -extensions "$ext" \
            -startdate "$start" -enddate "$end" -in "$d/$name.csr" -out "$d/$name.pem" 2>"$d/$name.err" \
            || { cat "$d/$name.err" >&2; die "openssl ca failed for $name"; }
        rm -f "$d/$name.csr" "$d/$name.err"
    }
    sign server srv_valid localhost "$yesterday" 20351231235959Z
    sign expired srv_valid localhost 20200101000000Z 20200201000000Z
    sign wronghost srv_wronghost wrong.example "$yesterday" 20351231235959Z
    sign expiring srv_valid localhost "$yesterday" "$in5days"
    # self-signed, not from the CA
    newkey "$d/selfsigned.key"
    openssl req -config "$cnf" -new -x509 -key "$d/selfsigned.key" -subj "/CN=localhost" \
        -extensions srv_selfsigned -days 3650 -out "$d/selfsigned.pem"
    chmod 0644 "$d"/*.pem
    chmod 0600 "$d"/*.key
    : >"$d/.complete"
}

# ---------------------------------------------------------------- users ---
# passwd-file line: user:password:uid:gid:gecos:home:shell:extra
gen_users() {
    local bench=$1
    mkdir -p "$USERS_DIR"
    local scram_hash cram_hash
    if [[ -s $USERS_DIR/scram.hash && -s $USERS_DIR/cram.hash ]]; then
        scram_hash=$(<"$USERS_DIR/scram.hash")
        cram_hash=$(<"$USERS_DIR/cram.hash")
    else
        local pwconf=$USERS_DIR/doveadm-pw.conf
        # doveadm needs *a* config; a minimal one keeps it independent of /etc/dovecot.
        printf 'base_dir = %s\nstate_dir = %s\nlog_path = /dev/stderr\n' \
            "$RUN_ROOT/pw" "$RUN_ROOT/pw" >"$pwconf"
        scram_hash=$(doveadm -c "$pwconf" pw -s SCRAM-SHA-256 -p "$SCRAM_PASSWORD") \
            || die "doveadm pw -s SCRAM-SHA-256 failed"
        cram_hash=$(doveadm -c "$pwconf" pw -s CRAM-MD5 -p "$CRAM_PASSWORD") \
            || die "doveadm pw -s CRAM-MD5 failed"
        [[ $scram_hash == '{SCRAM-SHA-256}'* ]] || die "unexpected SCRAM hash: $scram_hash"
        [[ $cram_hash == '{CRAM-MD5}'* ]] || die "unexpected CRAM-MD5 hash: $cram_hash"
        printf '%s\n' "$scram_hash" >"$USERS_DIR/scram.hash"
        printf '%s\n' "$cram_hash" >"$USERS_DIR/cram.hash"
        rm -rf "$pwconf" "$RUN_ROOT/pw"
    fi
    local oauth_pw
    oauth_pw=$(openssl rand -hex 24)   # unusable password: oauth logs in by token only
    USERS=("$PROBE_USER" "$SCRAM_USER" "$CRAM_USER" "$OAUTH_USER" "$QUOTA_USER")
    {
        printf '%s:{PLAIN}%s::::%s::\n' "$PROBE_USER" "$PROBE_PASSWORD" "$MAIL_DIR/$PROBE_USER"
        printf '%s:%s::::%s::\n' "$SCRAM_USER" "$scram_hash" "$MAIL_DIR/$SCRAM_USER"
        printf '%s:%s::::%s::\n' "$CRAM_USER" "$cram_hash" "$MAIL_DIR/$CRAM_USER"
        printf '%s:{PLAIN}%s::::%s::\n' "$OAUTH_USER" "$oauth_pw" "$MAIL_DIR/$OAUTH_USER"
        # userdb_quota_rule only matters to the main instance (the others load no quota plugin)
        printf '%s:{PLAIN}%s::::%s::userdb_quota_rule=*:storage=%sK:messages=%s\n' "$QUOTA_USER" \
            "$QUOTA_PASSWORD" "$MAIL_DIR/$QUOTA_USER" "$QUOTA_STORAGE_KB" "$QUOTA_MESSAGES"
        if ((bench > 0)); then
            awk -v n="$bench" -v p="$BENCH_PREFIX" -v pw="$BENCH_PASSWORD" -v m="$MAIL_DIR" \
                'BEGIN { for (i = 0; i < n; i++) printf "%s%d:{PLAIN}%s::::%s/%s%d::\n", p, i, pw, m, p, i }'
        fi
    } >"$USERS_FILE.tmp"
    mv -f "$USERS_FILE.tmp" "$USERS_FILE"
    chmod 0644 "$USERS_FILE"
}

# ----------------------------------------------------------------- mail ---
# Seeds every user whose maildir does not exist yet (existing mail is kept).
seed_mail() {
    local bench=$1
    mkdir -p "$MAIL_DIR"
    local list=$WD/.seed-users
    {
        local u
        for u in "${USERS[@]}"; do [[ -d $MAIL_DIR/$u ]] || printf '%s\n' "$u"; done
    } >"$list"
    if ((bench > 0)); then
        # fast existence check for the bench users without one process per user
        local existing
        existing=$(cd "$MAIL_DIR" && find . -mindepth 1 -maxdepth 1 -type d -name "$BENCH_PREFIX*" -printf '%f\n')
        awk -v n="$bench" -v p="$BENCH_PREFIX" -v ex="$existing" \
            'BEGIN { k = split(ex, a, "\n"); for (j = 1; j <= k; j++) have[a[j]] = 1
                     for (i = 0; i < n; i++) if (!((p i) in have)) print p i }' >>"$list"
    fi
    if [[ -s $list ]]; then
        awk -v m="$MAIL_DIR" '{ d = m "/" $0
            print d "/cur"; print d "/new"; print d "/tmp"
            print d "/.Archive/cur"; print d "/.Archive/new"; print d "/.Archive/tmp" }' "$list" \
            | xargs -d '\n' mkdir -p
        awk -v m="$MAIL_DIR" -v nmsg="$SEED_MESSAGES" -v unseen="$SEED_UNSEEN" '
        {
            u = $0; d = m "/" u
            for (n = 1; n <= nmsg; n++) {
                flags = (n <= nmsg - unseen) ? "S" : ""
                f = sprintf("%s/cur/%d.seed%02d.dovecot-harness:2,%s", d, 1704067200 + n * 3600, n, flags)
                printf "Return-Path: <sender@imap.test>\n" > f
                printf "Message-ID: <seed-%d.%s@dovecot-harness.test>\n", n, u > f
                printf "Date: Mon, 01 Jan 2024 %02d:00:00 +0000\n", n > f
                printf "From: Seed Sender <sender@imap.test>\n" > f
                printf "To: %s <%s@imap.test>\n", u, u > f
                printf "Subject: Seed message %d\n", n > f
                printf "MIME-Version: 1.0\n" > f
                printf "Content-Type: text/plain; charset=us-ascii\n" > f
                printf "Content-Transfer-Encoding: 7bit\n\n" > f
                printf "This is seed message %d for %s.\n", n, u > f
                close(f)
            }
            s = d "/subscriptions"; print "Archive" > s; close(s)
            s = d "/.Archive/maildirfolder"; printf "" > s; close(s)
        }' "$list"
        if ((EUID == 0)); then
            awk -v m="$MAIL_DIR" '{ print m "/" $0 }' "$list" | xargs -d '\n' chown -R "$MAIL_UID:$MAIL_GID"
        fi
    fi
    rm -f "$list"
    if ((EUID == 0)); then chown "$MAIL_UID:$MAIL_GID" "$MAIL_DIR"; fi
}

# ---------------------------------------------------------------- oauth ---
gen_oauth_key() {
    if [[ ! -s $HMAC_HEX_FILE ]]; then
        (umask 077; openssl rand -hex 32 >"$HMAC_HEX_FILE")
    fi
    # Dovecot (lib-oauth2, oauth2-jwt.c) looks up  shared/<azp>/<ALG>/<kid>  in
    # local_validation_key_dict; dict-fs strips "shared/", so with
    # fs:posix:prefix=<KEY_DIR>/ the file is <KEY_DIR>/default/HS256/<kid>
    # (azp claim absent -> "default"). Its content is the base64 HMAC key.
    mkdir -p "$KEY_DIR/default/HS256"
    local hex
    hex=$(<"$HMAC_HEX_FILE")
    printf '%s' "$hex" | xxd_r_b64 >"$KEY_DIR/default/HS256/$OAUTH_KID"
    chmod 0755 "$KEY_DIR" "$KEY_DIR/default" "$KEY_DIR/default/HS256"
    chmod 0644 "$KEY_DIR/default/HS256/$OAUTH_KID"
}

# hex on stdin -> base64 (single line, no newline) of the raw bytes, without xxd
xxd_r_b64() {
    local hex esc="" i
    hex=$(cat)
    for ((i = 0; i < ${#hex}; i += 2)); do esc+="\\x${hex:i:2}"; done
    # shellcheck disable=SC2059  # the format string is the escaped key on purpose
    printf "$esc" | openssl base64 -A
}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

mint_token() {
    local user=$1 ttl=${2:-3600}
    [[ $user =~ ^[A-Za-z0-9._@+-]+$ ]] || die "unsupported user name for a token: $user"
    [[ $ttl =~ ^-?[0-9]+$ ]] || die "ttl must be an integer number of seconds: $ttl"
    [[ -s $HMAC_HEX_FILE ]] || die "no oauth2 key in $WD (run start first)"
    local now iat exp hex header payload signing sig
    now=$(date +%s)
    exp=$((now + ttl))
    iat=$((now - 5))
    ((exp >= iat)) || iat=$((exp - 60))   # negative ttl: a consistent but expired token
    hex=$(<"$HMAC_HEX_FILE")
    header=$(printf '{"alg":"HS256","typ":"JWT","kid":"%s"}' "$OAUTH_KID" | b64url)
    payload=$(printf '{"iss":"%s","sub":"%s","email":"%s@imap.test","iat":%d,"nbf":%d,"exp":%d}' \
        "$OAUTH_ISSUER" "$user" "$user" "$iat" "$iat" "$exp" | b64url)
    signing=$header.$payload
    sig=$(printf '%s' "$signing" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hex" -binary | b64url)
    printf '%s.%s\n' "$signing" "$sig"
}

# --------------------------------------------------------------- config ---
detect_identity() {
    if ((EUID == 0)); then
        getent passwd dovenull >/dev/null && LOGIN_USER=dovenull || LOGIN_USER=nobody
        getent passwd dovecot >/dev/null && INTERNAL_USER=dovecot || INTERNAL_USER=nobody
        INTERNAL_GROUP=$(id -gn "$INTERNAL_USER")
        MAIL_USER=nobody
        getent passwd "$MAIL_USER" >/dev/null || die "user nobody is needed as mail uid when running as root"
        MAIL_UID=$(id -u "$MAIL_USER")
        MAIL_GID=$(id -g "$MAIL_USER")
    else
        MAIL_USER=$(id -un 2>/dev/null) || die "uid $EUID has no user name; Dovecot needs one"
        LOGIN_USER=$MAIL_USER
        INTERNAL_USER=$MAIL_USER
        INTERNAL_GROUP=$(id -gn)
        MAIL_UID=$EUID
        MAIL_GID=$(id -g)
    fi
}

# write_conf <instance> <imap-port or 0> <imaps-port or 0> [<lmtp-port> <auth-port> (main only)]
write_conf() {
    local inst=$1 pimap=$2 pimaps=$3 plmtp=${4:-0} pauth=${5:-0} cert ssl dpa
    case $inst in
        main) cert=server ssl=yes dpa=yes ;;
        expired | wronghost | selfsigned | expiring) cert=$inst ssl=yes dpa=yes ;;
        nostarttls) cert="" ssl=no dpa=no ;;
        *) die "unknown instance $inst" ;;
    esac
    local base=$RUN_ROOT/$inst imap_host=$HOST
    [[ $inst == main ]] && imap_host=$PLAIN_HOST
    # The main implicit-TLS listener also answers on ::1, for ipFamily Both.
    local imaps_hosts=$HOST
    [[ $inst == main ]] && imaps_hosts="$HOST ::1"
    local imap_limit=$((BENCH_USERS + 200))
    ((imap_limit >= 1024)) || imap_limit=1024
    local client_limit=$((BENCH_USERS + 1000))
    local protocols=imap
    [[ $inst == main ]] && protocols="imap lmtp"
    local f
    f=$(conf_path "$inst")
    {
        cat <<EOF
# generated by dovecot-harness.sh - instance "$inst" - do not edit
protocols = $protocols
listen = $HOST $PLAIN_HOST
base_dir = $base
state_dir = $STATE_ROOT/$inst
log_path = $LOG_DIR/$inst.log
info_log_path = $LOG_DIR/$inst.log
debug_log_path = $LOG_DIR/$inst.log
login_greeting = dovecot-harness ($inst) ready.
default_login_user = $LOGIN_USER
default_internal_user = $INTERNAL_USER
default_internal_group = $INTERNAL_GROUP
mail_uid = $MAIL_UID
mail_gid = $MAIL_GID
first_valid_uid = $MAIL_UID
last_valid_uid = $MAIL_UID
first_valid_gid = $MAIL_GID
last_valid_gid = $MAIL_GID
mail_location = maildir:$MAIL_DIR/%u
mail_fsync = never
mail_max_userip_connections = 2000
default_client_limit = $client_limit
default_vsz_limit = 1G
namespace inbox {
  inbox = yes
  separator = /
}
ssl = $ssl
disable_plaintext_auth = $dpa
auth_mechanisms = plain login cram-md5 scram-sha-256 xoauth2 oauthbearer
auth_failure_delay = 0
auth_verbose = yes
auth_debug = ${DOVECOT_HARNESS_AUTH_DEBUG:-no}
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $CONF_DIR/oauth2.conf.ext
}
passdb {
  driver = passwd-file
  mechanisms = plain login cram-md5 scram-sha-256 none
  args = scheme=PLAIN username_format=%u $USERS_FILE
}
userdb {
  driver = passwd-file
  args = username_format=%u $USERS_FILE
}
service imap-login {
  service_count = 0
  inet_listener imap {
    address = $imap_host
    port = $pimap
  }
  inet_listener imaps {
    address = $imaps_hosts
    port = $pimaps
    ssl = yes
  }
}
service imap {
  process_limit = $imap_limit
}
service anvil {
  # no auth penalty: tests do many failed logins from 127.0.0.1
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
        [[ $inst == main ]] && write_mailflow_conf "$plmtp" "$pauth"
        if [[ $ssl == yes ]]; then
            cat <<EOF
ssl_cert = <$TLS_DIR/$cert.pem
ssl_key = <$TLS_DIR/$cert.key
ssl_min_protocol = TLSv1.2
EOF
        fi
        if ((EUID != 0)); then
            cat <<EOF
# unprivileged: no chroot, everything runs as $MAIL_USER
service imap-login {
  chroot =
}
service anvil {
  chroot =
}
service auth-worker {
  user = \$default_internal_user
}
EOF
        fi
    } >"$f.tmp"
    mv -f "$f.tmp" "$f"
}

# The main instance's part of the mail flow (Postfix -> LMTP -> Sieve -> maildir),
# and quota. The quota plugin is loaded for every user, but only the quota user's
# userdb entry has a rule, so everyone else stays unlimited.
write_mailflow_conf() {
    local plmtp=$1 pauth=$2
    cat <<EOF
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
mail_plugins = \$mail_plugins quota
protocol imap {
  mail_plugins = \$mail_plugins imap_quota
}
protocol lmtp {
  mail_plugins = \$mail_plugins sieve
  # RCPT TO:<probe+x@imap.test> is the passwd-file user "probe"
  auth_username_format = %Ln
  postmaster_address = postmaster@imap.test
}
# No auto = create: the users' LIST output stays as it was until mail is filed
# into Junk (Sieve's fileinto :create makes the folder).
namespace inbox {
  mailbox $JUNK_FOLDER {
    special_use = \\Junk
  }
}
plugin {
  quota = count:User quota
  # the count backend needs virtual sizes in the index
  quota_vsizes = yes
  sieve_before = $SIEVE_DIR/before.sieve
}
service lmtp {
  inet_listener lmtp {
    address = $HOST
    port = $plmtp
  }
}
# Postfix's smtpd_sasl_type = dovecot talks to an auth-client socket; an inet
# listener of the auth service is one (the type is by name only for UNIX sockets).
service auth {
  inet_listener sasl {
    address = $HOST
    port = $pauth
  }
}
EOF
}

write_sieve() {
    mkdir -p "$SIEVE_DIR"
    cat >"$SIEVE_DIR/before.sieve.tmp" <<EOF
# dovecot-harness: mail to <user>+junk@imap.test goes to $JUNK_FOLDER
require ["fileinto", "envelope", "subaddress", "mailbox"];
if envelope :detail "to" "junk" {
  fileinto :create "$JUNK_FOLDER";
  stop;
}
EOF
    mv -f "$SIEVE_DIR/before.sieve.tmp" "$SIEVE_DIR/before.sieve"
    rm -f "$SIEVE_DIR/before.svbin"
    # LMTP compiles the script as the mail user and stores before.svbin next to it
    if ((EUID == 0)); then chown -R "$MAIL_UID:$MAIL_GID" "$SIEVE_DIR"; fi
    chmod 0755 "$SIEVE_DIR"
}

# Virtual size (CRLF line ends, as the quota count backend sees it) of a user's
# seeded mail, so tests can know the expected usage without logging in.
seed_vsize() {
    local dir=$MAIL_DIR/$1
    find "$dir" -type f -path '*/cur/*' -name '*.seed*' -exec cat {} + | wc -lc \
        | awk '{ print $1 + $2 }'
}

write_oauth_conf() {
    if [[ -n $OAUTH2_INTROSPECTION_URL ]]; then
        # Hydra answers {"active":false} for unknown, expired and revoked tokens,
        # and a `sub` (client id for client_credentials) for live ones.
        cat >"$CONF_DIR/oauth2.conf.ext.tmp" <<EOF
# dovecot oauth2 passdb: RFC 7662 introspection by an OAuth 2.0 server, see dovecot-harness.sh
introspection_mode = post
introspection_url = $OAUTH2_INTROSPECTION_URL
username_attribute = sub
active_attribute = active
active_value = true
timeout_msecs = 5000
EOF
    else
        cat >"$CONF_DIR/oauth2.conf.ext.tmp" <<EOF
# dovecot oauth2 passdb: local JWT validation (HS256), see dovecot-harness.sh
introspection_mode = local
local_validation_key_dict = fs:posix:prefix=$KEY_DIR/
username_attribute = sub
issuers = $OAUTH_ISSUER
EOF
    fi
    mv -f "$CONF_DIR/oauth2.conf.ext.tmp" "$CONF_DIR/oauth2.conf.ext"
    chmod 0644 "$CONF_DIR/oauth2.conf.ext"
}

# ---------------------------------------------------------------- ports ---
# The range: DOVECOT_HARNESS_PORT_MIN/MAX, else harness-common.sh's default.
pick_port_in_range() { pick_port "${DOVECOT_HARNESS_PORT_MIN:-}" "${DOVECOT_HARNESS_PORT_MAX:-}"; }

# ------------------------------------------------------------ processes ---
master_pid() { # prints the pid of a running master of instance $1
    local pf=$RUN_ROOT/$1/master.pid pid
    [[ -r $pf ]] || return 1
    pid=$(<"$pf")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    is_alive "$pid" || return 1
    # guard against a recycled pid: it must be a dovecot master using our config
    local cmdline
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *dovecot*" -c $(conf_path "$1") "* ]] || return 1
    printf '%s' "$pid"
}

stop_all() {
    local inst pid pids=() masters=() c
    [[ -d $RUN_ROOT ]] || return 0
    for inst in "${INSTANCES[@]}"; do
        pid=$(master_pid "$inst") || continue
        pids+=("$pid")
        masters+=("$pid")
        for c in $(pgrep -P "$pid" 2>/dev/null || true); do pids+=("$c"); done
        kill -TERM "$pid" 2>/dev/null || true
    done
    ((${#pids[@]} > 0)) || return 0
    local deadline=$(($(now_us) + STOP_TIMEOUT * 1000000)) left
    while :; do
        left=()
        for pid in "${pids[@]}"; do is_alive "$pid" && left+=("$pid"); done
        ((${#left[@]} == 0)) && break
        if (($(now_us) > deadline)); then
            note "processes still alive after ${STOP_TIMEOUT}s, sending SIGKILL: ${left[*]}"
            kill -KILL "${left[@]}" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.05
    done
    # give init up to 2 s to reap the (now dead) daemonized masters, so that
    # `pgrep dovecot` right after stop shows nothing; zombies are harmless anyway
    local i
    for ((i = 0; i < 40; i++)); do
        left=()
        for pid in "${masters[@]}"; do [[ -e /proc/$pid ]] && left+=("$pid"); done
        ((${#left[@]} == 0)) && break
        sleep 0.05
    done
    for inst in "${INSTANCES[@]}"; do rm -f "$RUN_ROOT/$inst/master.pid"; done
}

probe_plain() {
    (
        exec 3<>"/dev/tcp/$1/$2" || exit 1
        IFS= read -r -t 2 line <&3 || exit 1
        [[ $line == '* OK'* ]]
    ) 2>/dev/null
}

# probe_banner <host> <port> <prefix>: the first line the server sends starts with prefix
probe_banner() {
    (
        exec 3<>"/dev/tcp/$1/$2" || exit 1
        IFS= read -r -t 2 line <&3 || exit 1
        [[ $line == "$3"* ]]
    ) 2>/dev/null
}

probe_tls() {
    local out=$WD/.probe.$2 pid i ok=1
    : >"$out"
    # -quiet implies -ign_eof: the session stays open until we kill it
    openssl s_client -connect "$1:$2" -quiet </dev/null >"$out" 2>/dev/null &
    pid=$!
    for ((i = 0; i < 100; i++)); do
        if grep -q '^\* OK' "$out"; then ok=0; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.02
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$out"
    return "$ok"
}

show_log() {
    local f=$LOG_DIR/$1.log
    if [[ -s $f ]]; then
        printf -- '----- %s (last 40 lines) -----\n' "$f" >&2
        tail -n 40 "$f" >&2
        printf -- '-----\n' >&2
    fi
}

# start_instance <inst>: sets PORT_<inst>_imap / PORT_<inst>_imaps
declare -A PORTS=()
start_instance() {
    local inst=$1 attempt pimap pimaps plmtp pauth out rc
    for ((attempt = 1; attempt <= 8; attempt++)); do
        pimap=0 pimaps=0 plmtp=0 pauth=0
        case $inst in
            main)
                pick_port_in_range; pimap=$PICKED; pick_port_in_range; pimaps=$PICKED
                pick_port_in_range; plmtp=$PICKED; pick_port_in_range; pauth=$PICKED
                ;;
            nostarttls) pick_port_in_range; pimap=$PICKED ;;
            *) pick_port_in_range; pimaps=$PICKED ;;
        esac
        write_conf "$inst" "$pimap" "$pimaps" "$plmtp" "$pauth"
        mkdir -p "$STATE_ROOT/$inst"
        : >"$LOG_DIR/$inst.log"
        rc=0
        # output to a file: daemonized children may keep inherited fds open
        dovecot -c "$(conf_path "$inst")" >"$LOG_DIR/$inst.start" 2>&1 </dev/null || rc=$?
        out=$(<"$LOG_DIR/$inst.start")
        if ((rc == 0)); then
            PORTS[$inst.imap]=$pimap
            PORTS[$inst.imaps]=$pimaps
            PORTS[$inst.lmtp]=$plmtp
            PORTS[$inst.auth]=$pauth
            return 0
        fi
        if grep -qi 'address already in use' <<<"$out" "$LOG_DIR/$inst.log" 2>/dev/null; then
            note "instance $inst: port in use, retrying with other ports (attempt $attempt)"
            continue
        fi
        printf '%s\n' "$out" >&2
        show_log "$inst"
        die "dovecot instance '$inst' failed to start (exit $rc, config $(conf_path "$inst"))"
    done
    show_log "$inst"
    die "dovecot instance '$inst': no free port after 8 attempts"
}

wait_ready() {
    local deadline=$(($(now_us) + START_TIMEOUT * 1000000)) inst kind port host
    for inst in "${INSTANCES[@]}"; do
        for kind in imap imaps; do
            port=${PORTS[$inst.$kind]}
            ((port != 0)) || continue
            host=$HOST
            [[ $inst.$kind == main.imap ]] && host=$PLAIN_HOST
            until if [[ $kind == imap ]]; then probe_plain "$host" "$port"; else probe_tls "$host" "$port"; fi; do
                if (($(now_us) > deadline)); then
                    show_log "$inst"
                    die "instance '$inst' gave no IMAP greeting on $host:$port ($kind) within ${START_TIMEOUT}s"
                fi
                sleep 0.05
            done
        done
    done
    # LMTP greets with 220; the auth service opens with its VERSION line
    local what prefix
    for what in lmtp auth; do
        port=${PORTS[main.$what]}
        prefix=220
        [[ $what == auth ]] && prefix=VERSION
        until probe_banner "$HOST" "$port" "$prefix"; do
            if (($(now_us) > deadline)); then
                show_log main
                die "instance 'main' gave no $what greeting on $HOST:$port within ${START_TIMEOUT}s"
            fi
            sleep 0.05
        done
    done
}

# ---------------------------------------------------------------- start ---
cmd_start() {
    local t0
    t0=$(now_us)
    BENCH_USERS=0
    OAUTH2_INTROSPECTION_URL=""
    [[ $# -ge 1 ]] || usage
    set_paths "$1"
    shift
    while (($#)); do
        case $1 in
            --users) [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || die "--users needs a number"; BENCH_USERS=$((10#$2)); shift 2 ;;
            --users=*) [[ ${1#*=} =~ ^[0-9]+$ ]] || die "--users needs a number"; BENCH_USERS=$((10#${1#*=})); shift ;;
            --oauth2-introspection-url)
                [[ $# -ge 2 && $2 =~ ^https?://[^[:space:]]+$ ]] || die "--oauth2-introspection-url needs an http(s) URL"
                OAUTH2_INTROSPECTION_URL=$2; shift 2 ;;
            --oauth2-introspection-url=*)
                [[ ${1#*=} =~ ^https?://[^[:space:]]+$ ]] || die "--oauth2-introspection-url needs an http(s) URL"
                OAUTH2_INTROSPECTION_URL=${1#*=}; shift ;;
            *) die "unknown option: $1" ;;
        esac
    done
    local b
    for b in dovecot doveadm openssl ss awk; do
        command -v "$b" >/dev/null || die "'$b' not found in PATH (need dovecot-core, dovecot-imapd, openssl, iproute2)"
    done

    mkdir -p "$WD" || die "cannot create workdir $WD"
    local inst
    for inst in "${INSTANCES[@]}"; do
        if pid=$(master_pid "$inst"); then die "a harness Dovecot is already running in $WD (instance $inst, pid $pid); stop it first"; fi
    done
    detect_identity
    mkdir -p "$CONF_DIR" "$LOG_DIR" "$STATE_ROOT"

    # UNIX socket paths are limited to 107 bytes; the longest one Dovecot creates in
    # base_dir is about 30 bytes past "<base_dir>/". Use a short dir in /tmp if needed.
    if [[ ! -f $WD/.rundir ]] && ((${#WD} + 4 + 11 + 40 > 107)); then
        RUN_ROOT=$(mktemp -d /tmp/dvh.XXXXXX)
        printf '%s' "$RUN_ROOT" >"$WD/.rundir"
    fi
    mkdir -p "$RUN_ROOT"

    if ((EUID == 0)); then
        # auth (user dovecot) reads users/ and oauth2-keys/, imap (user nobody) the mail
        chmod 0755 "$WD" "$CONF_DIR"
        local u
        for u in "$MAIL_USER" "$INTERNAL_USER"; do
            setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups test -x "$WD" \
                || die "$WD is not reachable by user $u; as root the harness needs a workdir whose parent directories are world-searchable (e.g. mktemp -d itself, not a subdirectory of it)"
        done
    fi

    gen_certs
    gen_users "$BENCH_USERS"
    seed_mail "$BENCH_USERS"
    gen_oauth_key
    write_oauth_conf
    write_sieve
    ((EUID == 0)) && chmod 0755 "$USERS_DIR"

    trap 'stop_all' EXIT
    for inst in "${INSTANCES[@]}"; do start_instance "$inst"; done
    wait_ready

    local pids=() p
    for inst in "${INSTANCES[@]}"; do
        p=$(master_pid "$inst") || { show_log "$inst"; die "instance $inst exited right after start"; }
        pids+=("$p")
    done
    local token quota_seed_bytes
    token=$(mint_token "$OAUTH_USER" 86400)
    quota_seed_bytes=$(seed_vsize "$QUOTA_USER")
    {
        printf 'HOST=%s\n' "$HOST"
        printf 'WORKDIR=%s\n' "$WD"
        printf 'IMAP_HOST=%s\nIMAP_PORT=%s\n' "$PLAIN_HOST" "${PORTS[main.imap]}"
        printf 'IMAPS_HOST=%s\nIMAPS_PORT=%s\n' "$HOST" "${PORTS[main.imaps]}"
        printf 'IMAPS_EXPIRED_HOST=%s\nIMAPS_EXPIRED_PORT=%s\n' "$HOST" "${PORTS[expired.imaps]}"
        printf 'IMAPS_WRONGHOST_HOST=%s\nIMAPS_WRONGHOST_PORT=%s\n' "$HOST" "${PORTS[wronghost.imaps]}"
        printf 'IMAPS_SELFSIGNED_HOST=%s\nIMAPS_SELFSIGNED_PORT=%s\n' "$HOST" "${PORTS[selfsigned.imaps]}"
        printf 'IMAPS_EXPIRING_HOST=%s\nIMAPS_EXPIRING_PORT=%s\n' "$HOST" "${PORTS[expiring.imaps]}"
        printf 'IMAP_NOSTARTTLS_HOST=%s\nIMAP_NOSTARTTLS_PORT=%s\n' "$HOST" "${PORTS[nostarttls.imap]}"
        printf 'TLS_HOSTNAME=localhost\n'
        printf 'WRONGHOST_CERT_NAME=wrong.example\n'
        printf 'EXPIRING_CERT_DAYS=5\n'
        printf 'CA_FILE=%s\n' "$TLS_DIR/ca.pem"
        printf 'SERVER_CERT_FILE=%s\n' "$TLS_DIR/server.pem"
        printf 'EXPIRED_CERT_FILE=%s\n' "$TLS_DIR/expired.pem"
        printf 'WRONGHOST_CERT_FILE=%s\n' "$TLS_DIR/wronghost.pem"
        printf 'SELFSIGNED_CERT_FILE=%s\n' "$TLS_DIR/selfsigned.pem"
        printf 'EXPIRING_CERT_FILE=%s\n' "$TLS_DIR/expiring.pem"
        printf 'PROBE_USER=%s\nPROBE_PASSWORD=%s\n' "$PROBE_USER" "$PROBE_PASSWORD"
        printf 'SCRAM_USER=%s\nSCRAM_PASSWORD=%s\n' "$SCRAM_USER" "$SCRAM_PASSWORD"
        printf 'CRAM_USER=%s\nCRAM_PASSWORD=%s\n' "$CRAM_USER" "$CRAM_PASSWORD"
        printf 'OAUTH_USER=%s\nOAUTH_TOKEN=%s\n' "$OAUTH_USER" "$token"
        if [[ -n $OAUTH2_INTROSPECTION_URL ]]; then
            printf 'OAUTH2_MODE=introspection\nOAUTH2_INTROSPECTION_URL=%s\n' "$OAUTH2_INTROSPECTION_URL"
        else
            printf 'OAUTH2_MODE=local-jwt\n'
        fi
        printf 'BENCH_USERS=%s\nBENCH_USER_PREFIX=%s\nBENCH_PASSWORD=%s\n' "$BENCH_USERS" "$BENCH_PREFIX" "$BENCH_PASSWORD"
        printf 'SEED_MESSAGES=%s\nSEED_UNSEEN=%s\nARCHIVE_FOLDER=Archive\n' "$SEED_MESSAGES" "$SEED_UNSEEN"
        printf 'LMTP_HOST=%s\nLMTP_PORT=%s\n' "$HOST" "${PORTS[main.lmtp]}"
        printf 'AUTH_HOST=%s\nAUTH_PORT=%s\n' "$HOST" "${PORTS[main.auth]}"
        printf 'MAIL_DOMAIN=imap.test\nJUNK_FOLDER=%s\n' "$JUNK_FOLDER"
        printf 'QUOTA_USER=%s\nQUOTA_PASSWORD=%s\n' "$QUOTA_USER" "$QUOTA_PASSWORD"
        printf 'QUOTA_STORAGE_LIMIT_KB=%s\nQUOTA_MESSAGE_LIMIT=%s\n' "$QUOTA_STORAGE_KB" "$QUOTA_MESSAGES"
        printf 'QUOTA_SEED_MESSAGES=%s\nQUOTA_SEED_BYTES=%s\n' "$SEED_MESSAGES" "$quota_seed_bytes"
        # what GETQUOTAROOT shows as STORAGE usage: KiB, rounded up
        printf 'QUOTA_SEED_STORAGE_KB=%s\n' "$(((quota_seed_bytes + 1023) / 1024))"
        printf 'USERS_FILE=%s\n' "$USERS_FILE"
        printf 'DOVECOT_LOG=%s\n' "$LOG_DIR/main.log"
        printf 'DOVECOT_LOG_DIR=%s\n' "$LOG_DIR"
        printf 'DOVECOT_CONF=%s\n' "$WD/dovecot.conf"
        printf 'DOVECOT_PIDS=%s\n' "$(IFS=,; printf '%s' "${pids[*]}")"
    } >"$ENV_FILE.tmp"
    mv -f "$ENV_FILE.tmp" "$ENV_FILE"
    trap - EXIT
    local ms=$((($(now_us) - t0) / 1000))
    note "started ${#pids[@]} dovecot instances in ${ms} ms; env: $ENV_FILE"
}

cmd_stop() {
    [[ $# -eq 1 ]] || usage
    set_paths "$1"
    if [[ ! -d $WD ]]; then note "no workdir $WD, nothing to stop"; return 0; fi
    stop_all
    if [[ -f $WD/.rundir ]]; then
        local r
        r=$(<"$WD/.rundir")
        [[ $r == /tmp/dvh.* ]] && rm -rf "$r"
        rm -f "$WD/.rundir"
    fi
    local leftover
    leftover=$(pgrep -a dovecot 2>/dev/null | grep -F -- "$WD/" || true)
    [[ -z $leftover ]] || die "dovecot processes for $WD survived stop: $leftover"
    return 0
}

cmd_mint_token() {
    [[ $# -ge 2 && $# -le 3 ]] || usage
    set_paths "$1"
    mint_token "$2" "${3:-3600}"
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd=$1
    shift
    case $cmd in
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        mint-token) cmd_mint_token "$@" ;;
        -h | --help | help) usage ;;
        *) usage ;;
    esac
}

main "$@"
