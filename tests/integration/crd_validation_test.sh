#!/usr/bin/env bash
# Validates crds/imapprobe.dev_imapprobes.yaml against a real kube-apiserver
# (tests/kube/cluster.sh, started in a temp dir and stopped at the end):
#   - the CRD installs without warnings and becomes Established;
#   - the chart's copy of the CRD is byte-identical;
#   - every schema field has a description, and every field is documented in
#     docs/crd-reference.md;
#   - every manifest in examples/ (not examples/helm/, which holds Helm values) is accepted (dry-run=server, then for real);
#   - a minimal probe gets all defaults filled in, and its default status
#     (observedGeneration 0) reads as InProgress to kstatus and Progressing to
#     the shipped Argo CD health check;
#   - invalid probes are refused, each with its expected message;
#   - a status written with server-side apply shows in the printer columns
#     (plain and -o wide), the short name and the categories work.
# Prints "crd_validation: N passed, M failed", then "N passed, M failed" last
# (tests/lib/testlib.sh); exits 1 if M > 0.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/testlib.sh"
TEST_NAME=crd_validation

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CL="$ROOT/tests/kube/cluster.sh"
CRD="$ROOT/crds/imapprobe.dev_imapprobes.yaml"
CHART_CRD="$ROOT/charts/imap-probe-operator/crds/imapprobe.dev_imapprobes.yaml"
DOC="$ROOT/docs/crd-reference.md"
EXAMPLES="$ROOT/examples"
CRD_NAME=imapprobes.imapprobe.dev
NS=crd-test              # namespace for the validation cases
EX_NS=mail-monitoring    # the namespace the examples use

WD="$(mktemp -d "${TMPDIR:-/tmp}/crd-validation.XXXXXX")"
at_exit rm -rf "$WD"
at_exit bash "$CL" stop "$WD"

bash "$CL" start "$WD"
KUBECTL_BIN="$(bash "$CL" bin)/kubectl"
k() { "$KUBECTL_BIN" --kubeconfig "$WD/kubeconfig" "$@"; }

# --- the CRD itself -----------------------------------------------------------

if cmp "$CRD" "$CHART_CRD"; then
  ok "chart CRD is byte-identical to crds/"
else
  bad "charts/imap-probe-operator/crds/ differs from crds/ (copy it: cp $CRD $CHART_CRD)"
fi

# Server-side: the CRD is validated, CEL rules are compiled and cost-checked.
if k apply --server-side -f "$CRD" >"$WD/out" 2>&1; then
  if grep -qi 'warning' "$WD/out"; then
    bad "CRD applied with warnings"; indent <"$WD/out"
  else
    ok "CRD applies without warnings"
  fi
else
  bad "CRD apply"; indent <"$WD/out"
  finish
fi
if k wait --for=condition=Established "crd/$CRD_NAME" --timeout=60s >"$WD/out" 2>&1; then
  ok "CRD is Established"
else
  bad "CRD not Established"; indent <"$WD/out"
  finish
fi

expect_eq "names" "ImapProbe ImapProbeList imapprobes imapprobe imap imapprobe monitoring" \
  "$(k get crd "$CRD_NAME" -o jsonpath='{.spec.names.kind} {.spec.names.listKind} {.spec.names.plural} {.spec.names.singular} {.spec.names.shortNames[*]} {.spec.names.categories[*]}')"
expect_eq "version v1alpha1 served and storage, status subresource" "v1alpha1 true true {}" \
  "$(k get crd "$CRD_NAME" -o jsonpath='{.spec.versions[*].name} {.spec.versions[0].served} {.spec.versions[0].storage} {.spec.versions[0].subresources.status}')"

# Every property of the schema has a description (metadata is the standard
# ObjectMeta, described by Kubernetes itself).
# shellcheck disable=SC2016  # a Go template, not shell expansions
undescribed="$(k get crd "$CRD_NAME" -o go-template='{{define "w"}}{{range $k, $v := .properties}}{{if not $v.description}}{{$k}}{{"\n"}}{{end}}{{template "w" $v}}{{if $v.items}}{{template "w" $v.items}}{{end}}{{end}}{{end}}{{range .spec.versions}}{{template "w" .schema.openAPIV3Schema}}{{end}}' \
  | grep -vx metadata || true)"
if [[ -z "$undescribed" ]]; then
  ok "every schema field has a description"
else
  bad "fields without a description: $(tr '\n' ' ' <<<"$undescribed")"
fi

# Field paths below $1 (e.g. imapprobes.spec), one per line, relative to it
# ("server.caBundleSecretRef.key"), from the live server's explain output:
# field lines are "<2 spaces per level><name>\t<type>".
field_paths() {
  k explain "$1" --recursive | awk '
    /^FIELDS:/ { in_fields = 1; next }
    in_fields && match($0, /^ +[A-Za-z0-9_]+\t</) {
      line = $0
      sub(/^ +/, "", line)
      depth = (length($0) - length(line)) / 2
      split(line, parts, "\t")
      name[depth] = parts[1]
      path = name[1]
      for (i = 2; i <= depth; i++) path = path "." name[i]
      print path
    }'
}

# The CRD's OpenAPI document is published a moment after Established.
for _ in $(seq 1 60); do
  k explain imapprobes.spec >/dev/null 2>&1 && break
  sleep 0.5
done
spec_paths="$(field_paths imapprobes.spec || true)"
if [[ "$(wc -l <<<"$spec_paths")" -lt 40 ]]; then
  bad "could not list the spec fields with kubectl explain (got: $(tr '\n' ' ' <<<"$spec_paths"))"
else
  missing=""
  while read -r p; do
    # Documented as `server.caBundleSecretRef.key` (the full path below spec).
    grep -qF "\`$p\`" "$DOC" || missing+=" $p"
  done <<<"$spec_paths"
  if [[ -z "$missing" ]]; then
    ok "all $(wc -l <<<"$spec_paths") spec fields are documented in docs/crd-reference.md"
  else
    bad "spec fields missing from docs/crd-reference.md (as \`path\`):$missing"
  fi
fi

status_paths="$(field_paths imapprobes.status || true)"
if [[ "$(wc -l <<<"$status_paths")" -lt 30 ]]; then
  bad "could not list the status fields with kubectl explain"
else
  missing=""
  while read -r p; do
    # Documented as `lastRun.time`, as `conditions[].reason`, or (step names
    # such as lastRun.durations.dns) as `dns` on the line of `lastRun.durations`.
    grep -qF "\`$p\`" "$DOC" && continue
    grep -qF "\`${p/conditions./conditions[].}\`" "$DOC" && continue
    parent_rows="$(grep -F "| \`${p%.*}\` |" "$DOC" || true)"
    if [[ "$p" == *.* ]] && grep -qF "\`${p##*.}\`" <<<"$parent_rows"; then continue; fi
    missing+=" $p"
  done <<<"$status_paths"
  if [[ -z "$missing" ]]; then
    ok "all $(wc -l <<<"$status_paths") status fields are documented in docs/crd-reference.md"
  else
    bad "status fields missing from docs/crd-reference.md:$missing"
  fi
fi

# Every printer column is documented.
missing=""
for col in $(k get crd "$CRD_NAME" -o jsonpath='{.spec.versions[0].additionalPrinterColumns[*].name}'); do
  grep -qF "\`${col^^}\`" "$DOC" || missing+=" ${col^^}"
done
if [[ -z "$missing" ]]; then ok "all printer columns are documented"; else bad "printer columns missing from the doc:$missing"; fi

# --- examples -------------------------------------------------------------------

k create namespace "$EX_NS" >/dev/null
k create namespace "$NS" >/dev/null

n_examples=0
for f in "$EXAMPLES"/*.yaml; do
  n_examples=$((n_examples + 1))
  name="examples/$(basename "$f")"
  if k apply --dry-run=server -f "$f" >"$WD/out" 2>&1; then
    ok "$name passes server-side validation (dry-run)"
  else
    bad "$name refused (dry-run=server)"; indent <"$WD/out"; continue
  fi
  if k apply -f "$f" >"$WD/out" 2>&1; then
    ok "$name applies"
  else
    bad "$name apply"; indent <"$WD/out"; continue
  fi
  namespaces="$(k get -f "$f" -o jsonpath='{range .items[*]}{.metadata.namespace}{"\n"}{end}' | sort -u | tr '\n' ' ')"
  expect_eq "$name: every object is in namespace $EX_NS" "$EX_NS " "$namespaces"
  kinds="$(k get -f "$f" -o jsonpath='{range .items[*]}{.kind}{"\n"}{end}' | sort -u | tr '\n' ' ')"
  case "$kinds" in
    *ImapProbe*Secret*) ok "$name: has an ImapProbe and its Secret" ;;
    *) bad "$name: expected an ImapProbe and a Secret, got: $kinds" ;;
  esac
done
for required in implicit-tls starttls oauth2-token round-trip strict-thresholds; do
  if [[ -f "$EXAMPLES/$required.yaml" ]]; then ok "examples/$required.yaml exists"; else bad "examples/$required.yaml missing"; fi
done
expect_eq "XOAuth2 example uses mechanism XOAuth2" "XOAuth2" \
  "$(k get imapprobes -n "$EX_NS" imap-oauth2 -o jsonpath='{.spec.auth.mechanism}')"
expect_eq "Microsoft 365 example: oauth2 ClientCredentials (the default) with Basic" "ClientCredentials Basic" \
  "$(k get imapprobes -n "$EX_NS" m365-monitor -o jsonpath='{.spec.auth.oauth2.grant} {.spec.auth.oauth2.clientAuthentication}')"
expect_eq "Google example: oauth2 RefreshToken with Post" "RefreshToken Post refresh-token" \
  "$(k get imapprobes -n "$EX_NS" gmail-monitor -o jsonpath='{.spec.auth.oauth2.grant} {.spec.auth.oauth2.clientAuthentication} {.spec.auth.oauth2.refreshTokenRef.key}')"
expect_eq "round-trip example enables the round trip" "true" \
  "$(k get imapprobes -n "$EX_NS" imap-round-trip -o jsonpath='{.spec.roundTrip.enabled}')"

# --- defaults -------------------------------------------------------------------

if k create -n "$NS" -f - >"$WD/out" 2>&1 <<'EOF'
apiVersion: imapprobe.dev/v1alpha1
kind: ImapProbe
metadata:
  name: minimal
spec:
  server:
    host: imap.example.com
  auth:
    secretRef:
      name: imap-credentials
EOF
then
  ok "minimal probe is accepted"
else
  bad "minimal probe refused"; indent <"$WD/out"
fi
get_minimal() { k get imapprobe -n "$NS" minimal -o jsonpath="$1" 2>&1 || true; }
expect_eq "defaults: server.tls, interval, auth.mechanism, mailbox" "Implicit 60s Plain INBOX" \
  "$(get_minimal '{.spec.server.tls} {.spec.interval} {.spec.auth.mechanism} {.spec.mailbox}')"
expect_eq "defaults: timeout, failureThreshold, suspend" "30s 2 false" \
  "$(get_minimal '{.spec.timeout} {.spec.failureThreshold} {.spec.suspend}')"
expect_eq "defaults: ipFamily, minTLSVersion, insecureSkipVerify" "Any TLSv1.2 false" \
  "$(get_minimal '{.spec.server.ipFamily} {.spec.server.minTLSVersion} {.spec.server.insecureSkipVerify}')"
expect_eq "defaults: secretRef keys, allowPlaintext" "username password false" \
  "$(get_minimal '{.spec.auth.secretRef.usernameKey} {.spec.auth.secretRef.passwordKey} {.spec.auth.allowPlaintext}')"
expect_eq "defaults: fetch, roundTrip" "0 Headers false" \
  "$(get_minimal '{.spec.fetch.latest} {.spec.fetch.what} {.spec.roundTrip.enabled}')"
expect_eq "defaults: certificate warnBefore, failBefore" "336h 72h" \
  "$(get_minimal '{.spec.certificate.warnBefore} {.spec.certificate.failBefore}')"
expect_eq "no default for port (the operator picks 993/143)" "" "$(get_minimal '{.spec.server.port}')"
# No operator runs here: a probe nobody has looked at must read as in
# progress to kstatus (Flux, Helm 4), never as Current.
expect_eq "default status: observedGeneration 0 (never a generation)" "0 1" \
  "$(get_minimal '{.status.observedGeneration} {.metadata.generation}')"
if GITOPS_BIN="$(bash "$ROOT/tests/gitops/build.sh" --check 2>"$WD/out")"; then
  k get imapprobe -n "$NS" minimal -o json >"$WD/minimal.json"
  expect_eq "kstatus: a probe no operator has seen is InProgress" "InProgress" \
    "$("$GITOPS_BIN/kstatus" <"$WD/minimal.json" | awk '{ print $2 }')"
  expect_eq "Argo CD health (shipped Lua): Progressing" "Progressing" \
    "$("$GITOPS_BIN/argocdhealth" "$ROOT/charts/imap-probe-operator/files/argocd-health.lua" \
      <"$WD/minimal.json" | awk '{ print $2 }')"
else
  bad "kstatus and argocdhealth are not built (tests/tools.sh builds them)"; indent <"$WD/out"
fi

# --- accepted edge cases ----------------------------------------------------------

# accepted "description" <<manifest (spec only, indented by 2)
accepted() {
  local desc="$1" body
  body="$(cat)"
  if k create --dry-run=server -n "$NS" -f - >"$WD/out" 2>&1 <<EOF
apiVersion: imapprobe.dev/v1alpha1
kind: ImapProbe
metadata:
  name: accepted
spec:
$body
EOF
  then
    ok "accepted: $desc"
  else
    bad "refused but should be accepted: $desc"; indent <"$WD/out"
  fi
}

accepted "mechanism None without secretRef" <<'EOF'
  server: {host: imap.example.com}
  auth: {mechanism: None}
EOF
accepted "mechanism None with an empty search and fetch.latest 0" <<'EOF'
  server: {host: imap.example.com}
  auth: {mechanism: None}
  search: ""
  fetch: {latest: 0, what: Full}
  roundTrip: {enabled: false}
EOF
accepted "IPv6 literal host, serverName, STARTTLS on 143" <<'EOF'
  server: {host: "2001:db8::10", port: 143, tls: STARTTLS, serverName: imap.example.com}
  auth: {mechanism: Login, secretRef: {name: s}}
EOF
accepted "compound and fractional durations, µs, interval exactly 10s" <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  interval: 10s
  timeout: 9500000µs
  thresholds: {connect: 150ms, tls: 0.3s, login: 1s500ms, total: 1m}
  certificate: {warnBefore: 720h, failBefore: 720h}
EOF
accepted "tls None with allowPlaintext, search, fetch 100 Full, round trip" <<'EOF'
  server: {host: imap.example.com, tls: None, port: 143}
  auth: {mechanism: ScramSHA256, secretRef: {name: s}, allowPlaintext: true}
  mailbox: "Archive/2024 \"quoted\""
  search: 'SINCE 1-Jan-2025 FROM "alerts@example.com"'
  fetch: {latest: 100, what: Full}
  roundTrip: {enabled: true}
  failureThreshold: 100
  suspend: true
EOF

accepted "delivery check over 465 with its own Secret, content checks" <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  timeout: 50s
  contentChecks:
    messageCount: {min: 1, max: 500, search: UNSEEN}
    newestMessage: {search: 'FROM "backup@example.com"', maxAge: 26h}
    quota: {warnPercent: 80, failPercent: 95.5}
  delivery:
    host: smtp.example.com
    tls: Implicit
    mechanism: Login
    secretRef: {name: smtp, passwordKey: pw}
    from: probe@example.com
    to: probe+check@example.com
    junkFolders: [Spam]
    timeout: 45s
EOF

# --- refused ----------------------------------------------------------------------

# refused "description" "expected message" [unexpected message] <<manifest
# The manifest is the spec, indented by 2; the object must be refused and the
# error output must contain the expected message (fixed string).
refused() {
  local desc="$1" want="$2" unwanted="${3:-}" body
  body="$(cat)"
  if k create -n "$NS" -f - >"$WD/out" 2>&1 <<EOF
apiVersion: imapprobe.dev/v1alpha1
kind: ImapProbe
metadata:
  name: refused
spec:
$body
EOF
  then
    bad "accepted but should be refused: $desc"
    k delete imapprobe -n "$NS" refused --wait=false >/dev/null 2>&1 || true
    return
  fi
  if ! grep -qF -- "$want" "$WD/out"; then
    bad "refused, but without '$want': $desc"; indent <"$WD/out"
  elif [[ -n "$unwanted" ]] && grep -qF -- "$unwanted" "$WD/out"; then
    bad "refused, but the output also has '$unwanted': $desc"; indent <"$WD/out"
  else
    ok "refused: $desc"
    echo "       $(grep -F -- "$want" "$WD/out" | head -1 | sed 's/^\* //')"
  fi
}

refused "missing spec.server.host" 'spec.server.host: Required value' <<'EOF'
  server: {port: 993}
  auth: {secretRef: {name: s}}
EOF
refused "empty spec.server.host" 'spec.server.host in body should be at least 1 chars long' <<'EOF'
  server: {host: ""}
  auth: {secretRef: {name: s}}
EOF
refused "host with a scheme" 'spec.server.host in body should match' <<'EOF'
  server: {host: "imaps://imap.example.com"}
  auth: {secretRef: {name: s}}
EOF
refused "server.tls: SSL (not in the enum)" \
  'spec.server.tls: Unsupported value: "SSL": supported values: "Implicit", "STARTTLS", "None"' <<'EOF'
  server: {host: imap.example.com, tls: SSL}
  auth: {secretRef: {name: s}}
EOF
refused "server.port: 70000" \
  'spec.server.port: Invalid value: 70000: spec.server.port in body should be less than or equal to 65535' <<'EOF'
  server: {host: imap.example.com, port: 70000}
  auth: {secretRef: {name: s}}
EOF
refused "server.port: 0" 'spec.server.port in body should be greater than or equal to 1' <<'EOF'
  server: {host: imap.example.com, port: 0}
  auth: {secretRef: {name: s}}
EOF
refused "interval: \"1 minute\" (pattern), without CEL conversion errors" \
  'spec.interval: Invalid value: "1 minute": spec.interval in body should match' 'type conversion error' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  interval: 1 minute
EOF
refused "timeout: 10 (a number, no unit)" 'spec.timeout in body must be of type string' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  timeout: 10
EOF
refused "timeout equal to interval" 'spec.timeout: Invalid value: timeout must be shorter than interval' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  interval: 30s
  timeout: 30s
EOF
refused "interval 20s with the default timeout 30s" 'timeout must be shorter than interval' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  interval: 20s
EOF
refused "interval: 5s" 'spec.interval: Invalid value: interval must be at least 10s' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  interval: 5s
  timeout: 2s
EOF
refused "timeout: 0s" 'spec.timeout: Invalid value: timeout must be greater than 0s' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  timeout: 0s
EOF
refused "mechanism Plain without secretRef" \
  'spec.auth: Invalid value: auth.secretRef is required unless auth.mechanism is None' <<'EOF'
  server: {host: imap.example.com}
  auth: {mechanism: Plain}
EOF
refused "no auth at all (defaults to Plain, needs a secretRef)" \
  'auth.secretRef is required unless auth.mechanism is None' <<'EOF'
  server: {host: imap.example.com}
EOF
refused "secretRef without name" 'spec.auth.secretRef.name: Required value' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {usernameKey: user}}
EOF
refused "mechanism: OAuth (not in the enum)" 'spec.auth.mechanism: Unsupported value: "OAuth"' <<'EOF'
  server: {host: imap.example.com}
  auth: {mechanism: OAuth, secretRef: {name: s}}
EOF
refused "roundTrip with mechanism None" \
  'spec.roundTrip.enabled: Invalid value: roundTrip.enabled requires an auth.mechanism other than None' <<'EOF'
  server: {host: imap.example.com}
  auth: {mechanism: None}
  roundTrip: {enabled: true}
EOF
refused "search with mechanism None" \
  'spec.search: Invalid value: search requires an auth.mechanism other than None' <<'EOF'
  server: {host: imap.example.com}
  auth: {mechanism: None}
  search: ALL
EOF
refused "fetch.latest with mechanism None" \
  'spec.fetch.latest: Invalid value: fetch.latest requires an auth.mechanism other than None' <<'EOF'
  server: {host: imap.example.com}
  auth: {mechanism: None}
  fetch: {latest: 1}
EOF
refused "auth.oauth2 with mechanism Plain" \
  'spec.auth.oauth2: Invalid value: auth.oauth2 requires auth.mechanism XOAuth2 or OAuthBearer' <<'EOF'
  server: {host: imap.example.com}
  auth:
    mechanism: Plain
    secretRef: {name: s}
    oauth2: {tokenURL: "https://login.example.com/token", clientID: a, clientSecretRef: {name: s}}
EOF
refused "auth.oauth2 over http without allowInsecureHTTP" \
  'oauth2.tokenURL must be https' <<'EOF'
  server: {host: imap.example.com}
  auth:
    mechanism: XOAuth2
    secretRef: {name: s}
    oauth2: {tokenURL: "http://login.example.com/token", clientID: a, clientSecretRef: {name: s}}
EOF
refused "auth.oauth2 ClientCredentials without a client secret" \
  'oauth2.clientSecretRef is required for the ClientCredentials grant' <<'EOF'
  server: {host: imap.example.com}
  auth:
    mechanism: XOAuth2
    secretRef: {name: s}
    oauth2: {tokenURL: "https://login.example.com/token", clientID: a}
EOF
refused "auth.oauth2 RefreshToken without refreshTokenRef" \
  'oauth2.refreshTokenRef is required with grant RefreshToken' <<'EOF'
  server: {host: imap.example.com}
  auth:
    mechanism: OAuthBearer
    secretRef: {name: s}
    oauth2: {tokenURL: "https://oauth2.example.com/token", clientID: a, grant: RefreshToken}
EOF
refused "auth.oauth2 PrivateKeyJwt without a certificate" \
  'oauth2.clientCertificateRef is required with clientAuthentication PrivateKeyJwt' <<'EOF'
  server: {host: imap.example.com}
  auth:
    mechanism: XOAuth2
    secretRef: {name: s}
    oauth2: {tokenURL: "https://login.example.com/token", clientID: a, clientAuthentication: PrivateKeyJwt,
             clientSecretRef: {name: s}}
EOF
refused "auth.oauth2 token URL with user info" 'spec.auth.oauth2.tokenURL in body should match' <<'EOF'
  server: {host: imap.example.com}
  auth:
    mechanism: XOAuth2
    secretRef: {name: s}
    oauth2: {tokenURL: "https://user:pw@login.example.com/token", clientID: a, clientSecretRef: {name: s}}
EOF
refused "mailbox with a newline" 'spec.mailbox in body should match' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  mailbox: "INBOX\r\nA1 DELETE INBOX"
EOF
refused "empty mailbox" 'spec.mailbox in body should be at least 1 chars long' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  mailbox: ""
EOF
refused "search with a newline" 'spec.search in body should match' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  search: "ALL\nA1 LOGOUT"
EOF
refused "fetch.latest: 1000" \
  'spec.fetch.latest: Invalid value: 1000: spec.fetch.latest in body should be less than or equal to 100' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  fetch: {latest: 1000}
EOF
accepted "locations and a verdict" <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  locations: [eu-west, us-east, ap-south]
  verdict: {minFailingLocations: 2, minFailureDuration: 2m30s}
EOF
refused "verdict.minFailureDuration: \"2 minutes\"" \
  'spec.verdict.minFailureDuration: Invalid value: "2 minutes": spec.verdict.minFailureDuration in body should match' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  verdict: {minFailureDuration: 2 minutes}
EOF
refused "a location that is not a DNS label" \
  'spec.locations[0]: Invalid value: "EU_West": spec.locations[0] in body should match' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  locations: [EU_West]
EOF
refused "a location twice" \
  'spec.locations[1]: Duplicate value: "eu-west"' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  locations: [eu-west, eu-west]
EOF
refused "verdict.minFailingLocations: 0" \
  'spec.verdict.minFailingLocations: Invalid value: 0: spec.verdict.minFailingLocations in body should be greater than or equal to 1' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  verdict: {minFailingLocations: 0}
EOF
refused "failureThreshold: 0" \
  'spec.failureThreshold: Invalid value: 0: spec.failureThreshold in body should be greater than or equal to 1' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  failureThreshold: 0
EOF
refused "certificate.failBefore larger than warnBefore" \
  'spec.certificate.failBefore: Invalid value: certificate.failBefore must not be longer than certificate.warnBefore' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  certificate: {warnBefore: 48h, failBefore: 72h}
EOF
refused "certificate.failBefore larger than the default warnBefore" \
  'certificate.failBefore must not be longer than certificate.warnBefore' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  certificate: {failBefore: 400h}
EOF
refused "certificate.warnBefore: 2 weeks (pattern)" 'spec.certificate.warnBefore in body should match' 'type conversion error' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  certificate: {warnBefore: 2 weeks}
EOF
refused "thresholds.login: fast (pattern)" 'spec.thresholds.login in body should match' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  thresholds: {login: fast}
EOF
refused "delivery without a login" 'delivery requires an auth.mechanism other than None' <<'EOF'
  server: {host: imap.example.com}
  auth: {mechanism: None}
  delivery: {host: smtp.example.com}
EOF
refused "delivery.timeout not shorter than timeout" 'delivery.timeout must be shorter than timeout' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  delivery: {host: smtp.example.com, timeout: 30s}
EOF
refused "delivery.to with angle brackets" 'spec.delivery.to in body should match' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  delivery: {host: smtp.example.com, to: "<x@example.com>"}
EOF
refused "delivery.mechanism CramMD5" 'spec.delivery.mechanism: Unsupported value: "CramMD5"' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  delivery: {host: smtp.example.com, mechanism: CramMD5}
EOF
refused "contentChecks without a login" 'contentChecks requires an auth.mechanism other than None' <<'EOF'
  server: {host: imap.example.com}
  auth: {mechanism: None}
  contentChecks: {messageCount: {min: 1}}
EOF
refused "messageCount.min above max" 'contentChecks.messageCount.min must not be above max' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  contentChecks: {messageCount: {min: 10, max: 5}}
EOF
refused "quota.warnPercent above failPercent" 'contentChecks.quota.warnPercent must not be above failPercent' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  contentChecks: {quota: {warnPercent: 95, failPercent: 80}}
EOF
refused "quota.failPercent over 100" 'spec.contentChecks.quota.failPercent in body should be less than or equal to 100' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  contentChecks: {quota: {failPercent: 120}}
EOF
refused "newestMessage without maxAge" 'spec.contentChecks.newestMessage.maxAge: Required value' <<'EOF'
  server: {host: imap.example.com}
  auth: {secretRef: {name: s}}
  contentChecks: {newestMessage: {search: ALL}}
EOF
refused "unknown field spec.server.hots" 'unknown field "spec.server.hots"' <<'EOF'
  server: {host: imap.example.com, hots: imap.example.org}
  auth: {secretRef: {name: s}}
EOF
expect_fail "refused: missing spec" 'spec: Required value' k create -n "$NS" -f - <<'EOF'
apiVersion: imapprobe.dev/v1alpha1
kind: ImapProbe
metadata:
  name: nospec
EOF

# --- status, printer columns, names ------------------------------------------------

# What the operator writes: server-side apply to the status subresource.
if k apply --server-side --subresource=status --field-manager=imap-probe-operator -n "$NS" -f - >"$WD/out" 2>&1 <<'EOF'
apiVersion: imapprobe.dev/v1alpha1
kind: ImapProbe
metadata:
  name: minimal
status:
  observedGeneration: 1
  conditions:
    - type: Available
      status: "True"
      reason: Succeeded
      message: logged in as monitor@example.com, INBOX has 12 messages
      lastTransitionTime: "2026-01-01T00:00:00Z"
      observedGeneration: 1
    - type: Ready
      status: "True"
      reason: Scheduled
      message: runs every 60s
      lastTransitionTime: "2026-01-01T00:00:00Z"
      observedGeneration: 1
  lastRun:
    time: "2026-01-01T00:05:00Z"
    outcome: Success
    reason: Succeeded
    message: logged in as monitor@example.com, INBOX has 12 messages
    failedStep: ""
    durations: {dns: 2ms, connect: 12ms, tls: 48ms, greeting: 3ms, capability: 1ms, login: 40ms,
                select: 5ms, search: 2ms, fetch: 9ms, roundTrip: 80ms, logout: 1ms, total: 1.204s}
    messages: 12
    remoteAddress: "192.0.2.10:993"
  certificate:
    subject: CN=imap.example.com
    issuer: CN=Example CA,O=Example,C=US
    notBefore: "2025-12-01T00:00:00Z"
    notAfter: "2026-03-01T00:00:00Z"
    daysRemaining: 59
    verified: true
    tlsVersion: TLSv1.3
    cipher: TLS_AES_256_GCM_SHA384
    dnsNames: [imap.example.com, mail.example.com]
  consecutiveFailures: 0
  consecutiveSuccesses: 7
  lastSuccessTime: "2026-01-01T00:05:00Z"
  lastFailureTime: "2025-12-31T23:00:00Z"
  nextRunTime: "2026-01-01T00:06:00Z"
  baseline: {dns: 2ms, connect: 11ms, tls: 45ms, greeting: 3ms, capability: 1ms, login: 38ms,
             select: 5ms, search: 2ms, fetch: 8ms, roundTrip: 75ms, logout: 1ms, total: 1.1s, samples: 7}
EOF
then
  ok "a full status is accepted (server-side apply, status subresource)"
else
  bad "status apply"; indent <"$WD/out"
fi
expect_eq "status fields are kept (not pruned)" "Success 1.204s 59 7 mail.example.com" \
  "$(get_minimal '{.status.lastRun.outcome} {.status.lastRun.durations.total} {.status.certificate.daysRemaining} {.status.baseline.samples} {.status.certificate.dnsNames[1]}')"
expect_eq "status apply left spec alone" "imap.example.com 1" "$(get_minimal '{.spec.server.host} {.metadata.generation}')"

expect_fail "status is typed (lastRun.outcome enum enforced)" "" \
  k apply --server-side --subresource=status --field-manager=imap-probe-operator -n "$NS" -f - <<'EOF'
apiVersion: imapprobe.dev/v1alpha1
kind: ImapProbe
metadata:
  name: minimal
status:
  lastRun:
    outcome: Flaky
EOF

headers() { k get "$@" 2>&1 | head -1 | tr -s ' ' | sed 's/ $//'; }
expect_eq "kubectl get imapprobes: columns" "NAME AVAILABLE REASON LATENCY CERT-DAYS LAST-RUN AGE" \
  "$(headers imapprobes -n "$NS")"
expect_eq "kubectl get imapprobes -o wide: columns" \
  "NAME AVAILABLE REASON LATENCY CERT-DAYS LAST-RUN AGE READY HOST CONNECT TLS LOGIN FAILURES" \
  "$(headers imapprobes -n "$NS" -o wide)"
row="$(k get imapprobes -n "$NS" minimal -o wide --no-headers 2>&1 | tr -s ' ')"
case "$row" in
  "minimal True Succeeded 1.204s 59 "*" True imap.example.com 12ms 48ms 40ms 0") ok "printer column values ($row)" ;;
  *) bad "printer column values: got '$row'" ;;
esac
expect_eq "short name: kubectl get imap" "imapprobe.imapprobe.dev/minimal" "$(k get imap -n "$NS" -o name 2>&1)"
expect_eq "category: kubectl get monitoring" "imapprobe.imapprobe.dev/minimal" "$(k get monitoring -n "$NS" -o name 2>&1)"
# As many as the example files define (a file may hold several).
example_probes="$(cat "$EXAMPLES"/*.yaml | grep -c '^kind: ImapProbe$')"
expect_eq "singular name: kubectl get imapprobe lists the $example_probes example probes" \
  "$example_probes" "$(k get imapprobe -n "$EX_NS" -o name 2>&1 | wc -l | tr -d ' ')"
# (Output captured first: with pipefail, "cmd | grep -q" can fail on SIGPIPE.)
all_out="$(k get all -n "$NS" -o name 2>&1 || true)"
if grep -q imapprobe <<<"$all_out"; then
  bad "kubectl get all lists ImapProbes (category all must not be set)"
else
  ok "kubectl get all does not list ImapProbes"
fi
explain_out="$(k explain imapprobes.spec.server.tls 2>&1 || true)"
if grep -q 'STARTTLS' <<<"$explain_out"; then
  ok "kubectl explain shows field documentation"
else
  bad "kubectl explain imapprobes.spec.server.tls"
fi

finish
