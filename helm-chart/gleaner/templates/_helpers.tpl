{{/*
Names, labels and small derived values every template shares. The generated config is
in _config.tpl.
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "gleaner.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of every object: fullnameOverride, else <release>-<name>, or the release's name
alone when it already holds the chart's name. Kept to 63 characters (DNS labels).
*/}}
{{- define "gleaner.fullname" -}}
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

{{/* chart-version, as the helm.sh/chart label wants it. */}}
{{- define "gleaner.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels every object carries. */}}
{{- define "gleaner.labels" -}}
helm.sh/chart: {{ include "gleaner.chart" . }}
{{ include "gleaner.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gleaner
{{- end }}

{{/* The labels that select the agent's pods: never change them in an upgrade. */}}
{{- define "gleaner.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gleaner.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the pods run as. */}}
{{- define "gleaner.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gleaner.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, or repository@digest when a digest is given. */}}
{{- define "gleaner.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The cluster's name as the pods' CLUSTER_NAME. */}}
{{- define "gleaner.clusterName" -}}
{{- default "eks" .Values.clusterName }}
{{- end }}

{{/* The user and group the agent runs as (the container's setting wins, as in the pod). */}}
{{- define "gleaner.runAsUser" -}}
{{- $c := .Values.securityContext | default dict }}
{{- $p := .Values.podSecurityContext | default dict }}
{{- if hasKey $c "runAsUser" }}{{ $c.runAsUser }}
{{- else if hasKey $p "runAsUser" }}{{ $p.runAsUser }}
{{- else }}10001
{{- end }}
{{- end }}

{{- define "gleaner.runAsGroup" -}}
{{- $c := .Values.securityContext | default dict }}
{{- $p := .Values.podSecurityContext | default dict }}
{{- if hasKey $c "runAsGroup" }}{{ $c.runAsGroup }}
{{- else if hasKey $p "runAsGroup" }}{{ $p.runAsGroup }}
{{- else }}{{ include "gleaner.runAsUser" . }}
{{- end }}
{{- end }}

{{/*
A duration of the agent's config (500ms, 10s, 1m, 2h, or a bare number of seconds) in whole
seconds, rounded up.
*/}}
{{- define "gleaner.seconds" -}}
{{- $d := toString . }}
{{- $n := regexFind "^[0-9]+" $d | default "0" | int }}
{{- $unit := trimPrefix (toString $n) $d }}
{{- if eq $unit "ms" }}{{ div (add $n 999) 1000 }}
{{- else if eq $unit "m" }}{{ mul $n 60 }}
{{- else if eq $unit "h" }}{{ mul $n 3600 }}
{{- else }}{{ $n }}
{{- end }}
{{- end }}

{{/*
The agent's grace in seconds: service.grace of config.raw when it has one, else agent.grace.
*/}}
{{- define "gleaner.graceSeconds" -}}
{{- $grace := .Values.agent.grace }}
{{- if .Values.config.raw }}
{{- $raw := fromYaml .Values.config.raw }}
{{- $service := get $raw "service" | default dict }}
{{- $grace = get $service "grace" | default "5s" }}
{{- end }}
{{- include "gleaner.seconds" $grace }}
{{- end }}

{{/* terminationGracePeriodSeconds: the value given, which must exceed the grace, or grace + 15. */}}
{{- define "gleaner.terminationGracePeriod" -}}
{{- $grace := include "gleaner.graceSeconds" . | int }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $grace 15 }}
{{- else }}
{{- $t := .Values.terminationGracePeriodSeconds | int }}
{{- if le $t $grace }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be above the agent's grace (%ds): %s"
      $t $grace "the kubelet would kill the agent before it delivers what it holds") }}
{{- end }}
{{- $t }}
{{- end }}
{{- end }}

{{/*
The region the generated config names, or "" to leave it to the agent: AWS_REGION or
AWS_DEFAULT_REGION of the pod (IRSA's webhook sets AWS_REGION), else the region instance
metadata gives the node.
*/}}
{{- define "gleaner.region" -}}
{{- .Values.logs.cloudwatch.region }}
{{- end }}

{{/* The ports the agent's pods serve metrics on: [{name, port}]. */}}
{{- define "gleaner.metricsPorts" -}}
- name: http-metrics
  port: {{ .Values.agent.httpPort }}
{{- if .Values.metrics.exporter.enabled }}
- name: exporter
  port: {{ .Values.metrics.exporter.port }}
{{- end }}
{{- end }}

{{/* The port of the remote-write URL: the one it names, else 443 for https and 80 for http. */}}
{{- define "gleaner.remoteWritePort" -}}
{{- $url := urlParse .Values.metrics.remoteWrite.url }}
{{- with regexFind ":[0-9]+$" $url.host }}{{ trimPrefix ":" . }}{{ else }}{{ ternary 443 80 (eq $url.scheme "https") }}{{ end }}
{{- end }}
