#!/usr/bin/env bash
# The README's first command: install what is missing, build, start a local
# Dovecot with a demo mailbox (loopback only), and run a real probe against
# it in every output format. `operator/quickstart.sh stop` stops Dovecot.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
workdir=${QUICKSTART_DIR:-$root/.cache/quickstart}
harness=$root/tests/servers/dovecot/dovecot-harness.sh

if [[ "${1:-}" == "stop" ]]; then
  bash "$harness" stop "$workdir/dovecot"
  echo "quickstart: stopped"
  exit 0
fi

bash tests/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target imapprobe

mkdir -p "$workdir"
if [[ -f "$workdir/dovecot/env" ]]; then bash "$harness" stop "$workdir/dovecot" >/dev/null; fi
rm -rf "$workdir/dovecot"
bash "$harness" start "$workdir/dovecot" >/dev/null
# shellcheck disable=SC1091
source "$workdir/dovecot/env"
printf '%s' "$PROBE_PASSWORD" >"$workdir/password"
chmod 600 "$workdir/password"

probe=(build/operator/imapprobe check --host localhost --port "$IMAPS_PORT" --ca-file "$CA_FILE"
  --user "$PROBE_USER" --password-file "$workdir/password" --search ALL --fetch 5
  --warning login=500ms --critical total=5s)

echo
echo "\$ imapprobe check --host localhost --port $IMAPS_PORT ... --output text"
"${probe[@]}" --output text || true
echo
echo "\$ imapprobe check ... (Nagios/Icinga plugin output)"
status=0
"${probe[@]}" || status=$?
echo "exit code: $status"
echo
echo "A local Dovecot is running on 127.0.0.1 (ports in $workdir/dovecot/env)."
echo "Stop it with: operator/quickstart.sh stop"
exit "$status"
