# shellcheck shell=bash
# harness-common.sh - what the server harnesses (dovecot, postfix, hydra)
# share; sourced by each, never run. The caller defines die().

# pick_port MIN MAX: sets PICKED to a free TCP port on loopback, never one
# this process picked before. MIN/MAX (either may be empty) narrow the
# default range, which ends below the kernel's ephemeral range so that no
# outgoing connection takes the port between the pick and the bind.
declare -A TAKEN=()
pick_port() {
    local lo=20000 hi=60000 elo _ehi p
    if read -r elo _ehi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null && ((elo > lo + 2000)); then
        hi=$((elo - 1))
    fi
    lo=${1:-$lo}
    hi=${2:-$hi}
    ((hi - lo >= 16)) || die "port range $lo-$hi too small"
    while :; do
        p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
        [[ -n ${TAKEN[$p]:-} ]] && continue
        if [[ -n $(ss -Hltn "sport = :$p" 2>/dev/null) ]]; then continue; fi
        TAKEN[$p]=1
        # shellcheck disable=SC2034  # read by the sourcing harness
        PICKED=$p
        return 0
    done
}

is_alive() { # alive and not a zombie
    local st
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
    st=${st##*) }
    [[ ${st:0:1} != Z ]]
}
