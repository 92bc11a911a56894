{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "imap-probe-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, or <release>-<chart> when the
release name does not contain the chart name. Truncated to 63 characters.
*/}}
{{- define "imap-probe-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart label value: name-version */}}
{{- define "imap-probe-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels (immutable on a Deployment: keep them minimal). */}}
{{- define "imap-probe-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "imap-probe-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "imap-probe-operator.labels" -}}
helm.sh/chart: {{ include "imap-probe-operator.chart" . }}
{{ include "imap-probe-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: imap-probe-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* ServiceAccount name. */}}
{{- define "imap-probe-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "imap-probe-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "imap-probe-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/* Name of the metrics Service (also the Prometheus job name via the ServiceMonitor). */}}
{{- define "imap-probe-operator.metricsServiceName" -}}
{{- printf "%s-metrics" (include "imap-probe-operator.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/*
Rules the operator needs on ImapProbes, their status, the Secrets they name
and Events, in every namespace it watches. Nothing else: no list/watch on
Secrets (unless secretCache.enabled), no writes to ImapProbe specs.
*/}}
{{- define "imap-probe-operator.probeRules" -}}
- apiGroups: ["imapprobe.dev"]
  resources: ["imapprobes"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["imapprobe.dev"]
  resources: ["imapprobes/status"]
  verbs: ["get", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  {{- if .Values.secretCache.enabled }}
  verbs: ["get", "list", "watch"]
  {{- else }}
  verbs: ["get"]
  {{- end }}
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* Operator arguments. */}}
{{- define "imap-probe-operator.args" -}}
- operator
{{- range .Values.watchNamespaces }}
- --namespace={{ . }}
{{- end }}
- --location={{ .Values.location }}
{{- if .Values.multiLocation.enabled }}
- --multi-location=true
- --location-entry-retention={{ .Values.multiLocation.entryRetention }}
- --leader-elect=false
- --leader-election-namespace={{ .Values.multiLocation.hubLeaseNamespace | default .Release.Namespace }}
- --identity=$(POD_NAME)
{{- if .Values.multiLocation.hubKubeconfigSecret }}
- --kubeconfig=/etc/imapprobe/hub/kubeconfig
{{- end }}
{{- else if .Values.sharding.enabled }}
- --shard=true
- --leader-elect=false
- --leader-election-namespace={{ .Release.Namespace }}
- --identity=$(POD_NAME)
{{- else }}
- --leader-elect={{ .Values.leaderElection.enabled }}
{{- if .Values.leaderElection.enabled }}
- --leader-election-name={{ .Values.leaderElection.leaseName }}
- --leader-election-namespace={{ .Release.Namespace }}
- --identity=$(POD_NAME)
{{- end }}
{{- end }}
- --concurrency={{ .Values.concurrency }}
{{- if .Values.secretCache.enabled }}
- --secret-cache=true
{{- end }}
- --status-heartbeat={{ .Values.statusHeartbeat }}
- --health-addr=:{{ .Values.health.port }}
{{- if .Values.metrics.enabled }}
- --metrics-addr=:{{ .Values.metrics.port }}
{{- end }}
- --log-format={{ .Values.logFormat }}
- --log-level={{ .Values.logLevel }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
