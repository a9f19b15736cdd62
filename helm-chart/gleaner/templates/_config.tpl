{{/*
The config the agent runs (the ConfigMap's gleaner.yaml): config.raw as given, or a config
generated from the values. Each section appears only when its value turns it on; option
names are the plugins' own (gleaner --help-plugin NAME). Secrets never appear here: the
config names environment variables that the DaemonSet fills from Secrets.
*/}}
{{- define "gleaner.config" -}}
{{- if .Values.config.raw }}
{{- .Values.config.raw }}
{{- else }}
{{- $v := .Values }}
{{- $inputs := list }}
{{- $filters := list }}
{{- $outputs := list }}
{{- $metricsIn := false }}
{{- $metricsOut := false }}

{{- /* ---- inputs ---- */}}
{{- with $v.logs.tail }}
{{- if .enabled }}
{{- $s := dict "name" "tail" "alias" "containers" "tag" "kube.*" "path" .path
      "read_from_head" .readFromHead }}
{{- with .excludePath }}{{ $_ := set $s "exclude_path" . }}{{ end }}
{{- with .multilineParser }}{{ $_ := set $s "multiline.parser" . }}{{ end }}
{{- with .memBufLimit }}{{ $_ := set $s "mem_buf_limit" . }}{{ end }}
{{- $inputs = append $inputs (mergeOverwrite $s .extraOptions) }}
{{- end }}
{{- end }}
{{- with $v.metrics.node }}
{{- if .enabled }}
{{- $s := dict "name" "node_metrics" "alias" "node" "tag" "metrics.node"
      "path.procfs" "/host/proc" "path.sysfs" "/host/sys" "path.rootfs" "/host/root"
      "scrape_interval" .scrapeInterval }}
{{- $inputs = append $inputs (mergeOverwrite $s .extraOptions) }}
{{- $metricsIn = true }}
{{- end }}
{{- end }}
{{- with $v.metrics.kubelet }}
{{- if .enabled }}
{{- /* One input for both paths: job kubelet, with node and metrics_path labels. */}}
{{- $s := dict "name" "prometheus_scrape" "alias" "kubelet" "job_name" "kubelet"
      "tag" "metrics.kubelet" "kubelet" true
      "kubelet_endpoints" (list "/metrics/cadvisor" "/metrics/resource")
      "scrape_interval" .scrapeInterval "kubelet.tls.verify" .tlsVerify }}
{{- $inputs = append $inputs (mergeOverwrite $s .extraOptions) }}
{{- $metricsIn = true }}
{{- end }}
{{- end }}
{{- with $v.metrics.pods }}
{{- if .enabled }}
{{- $s := dict "name" "prometheus_scrape" "alias" "pods" "tag" "metrics.pods"
      "job_name" "kubernetes-pods" "kubernetes_pods" true "scrape_interval" .scrapeInterval }}
{{- $inputs = append $inputs (mergeOverwrite $s .extraOptions) }}
{{- $metricsIn = true }}
{{- end }}
{{- end }}
{{- with $v.metrics.agent }}
{{- if .enabled }}
{{- $inputs = append $inputs (dict "name" "internal_metrics" "alias" "agent"
      "tag" "metrics.agent" "scrape_interval" .scrapeInterval) }}
{{- $metricsIn = true }}
{{- end }}
{{- end }}
{{- $inputs = concat $inputs $v.config.extraInputs }}

{{- /* ---- filters ---- */}}
{{- with $v.kubernetes }}
{{- if .enabled }}
{{- $s := dict "name" "kubernetes" "alias" "kubernetes" "match" .match
      "labels" .labels "annotations" .annotations "namespace_labels" .namespaceLabels
      "merge_log" .mergeLog "keep_log" .keepLog "annotation_hints" .annotationHints
      "use_kubelet" .useKubelet }}
{{- with .mergeLogKey }}{{ $_ := set $s "merge_log_key" . }}{{ end }}
{{- $filters = append $filters (mergeOverwrite $s .extraOptions) }}
{{- end }}
{{- end }}
{{- $filters = concat $filters $v.config.extraFilters }}

{{- /* ---- outputs ---- */}}
{{- with $v.logs.cloudwatch }}
{{- if .enabled }}
{{- $s := dict "name" "cloudwatch_logs" "alias" "cloudwatch" "match" .match
      "auto_create_group" .autoCreateGroup }}
{{- with include "gleaner.region" $ }}{{ $_ := set $s "region" . }}{{ end }}
{{- with .logGroupTemplate }}{{ $_ := set $s "log_group_template" . }}{{ end }}
{{- with .logGroupName }}{{ $_ := set $s "log_group_name" . }}{{ end }}
{{- with .logStreamTemplate }}{{ $_ := set $s "log_stream_template" . }}{{ end }}
{{- with .logStreamPrefix }}{{ $_ := set $s "log_stream_prefix" . }}{{ end }}
{{- with .logRetentionDays }}{{ $_ := set $s "log_retention_days" . }}{{ end }}
{{- with .logKey }}{{ $_ := set $s "log_key" . }}{{ end }}
{{- with .endpoint }}{{ $_ := set $s "endpoint" . }}{{ end }}
{{- with .roleArn }}{{ $_ := set $s "role_arn" . }}{{ end }}
{{- $outputs = append $outputs (mergeOverwrite $s .extraOptions) }}
{{- end }}
{{- end }}
{{- with $v.logs.elasticsearch }}
{{- if .enabled }}
{{- $host := required "logs.elasticsearch.host is required when logs.elasticsearch.enabled is true" .host }}
{{- $s := dict "name" "es" "alias" "elasticsearch" "match" .match "host" $host "port" .port
      "index" .index "tls" .tls "tls.verify" .tlsVerify "suppress_type_name" .suppressTypeName }}
{{- with .auth }}
{{- if and (or .usernameKey .passwordKey .apiKeyKey) (not .existingSecret) }}
{{- fail "logs.elasticsearch.auth: usernameKey, passwordKey and apiKeyKey name keys of auth.existingSecret, which is not set" }}
{{- end }}
{{- if and .existingSecret (not (or .passwordKey .apiKeyKey)) }}
{{- fail "logs.elasticsearch.auth.existingSecret is set: name the key of the password (auth.passwordKey) or of the API key (auth.apiKeyKey) in it" }}
{{- end }}
{{- if .username }}{{ $_ := set $s "http_user" .username }}{{ end }}
{{- if .usernameKey }}{{ $_ := set $s "http_user" "${GLEANER_ES_USERNAME}" }}{{ end }}
{{- if .passwordKey }}{{ $_ := set $s "http_passwd" "${GLEANER_ES_PASSWORD}" }}{{ end }}
{{- if .apiKeyKey }}{{ $_ := set $s "http_api_key" "${GLEANER_ES_API_KEY}" }}{{ end }}
{{- end }}
{{- with .aws }}
{{- if .enabled }}
{{- $_ := set $s "aws_auth" true }}
{{- with .region }}{{ $_ := set $s "aws_region" . }}{{ end }}
{{- with .roleArn }}{{ $_ := set $s "aws_role_arn" . }}{{ end }}
{{- end }}
{{- end }}
{{- $outputs = append $outputs (mergeOverwrite $s .extraOptions) }}
{{- end }}
{{- end }}
{{- with $v.metrics.remoteWrite }}
{{- if .enabled }}
{{- $url := urlParse (required "metrics.remoteWrite.url is required when metrics.remoteWrite.enabled is true" .url) }}
{{- $tls := eq $url.scheme "https" }}
{{- $port := include "gleaner.remoteWritePort" $ | int }}
{{- $uri := default "/" $url.path }}
{{- with $url.query }}{{ $uri = printf "%s?%s" $uri . }}{{ end }}
{{- /* Every node sends its own series: without its name they would collide. */}}
{{- $labels := list (printf "cluster %s" "${CLUSTER_NAME}") (printf "node %s" "${NODE_NAME}") }}
{{- range $k, $val := .addLabels }}{{ $labels = append $labels (printf "%s %s" $k $val) }}{{ end }}
{{- $s := dict "name" "prometheus_remote_write" "alias" "remote_write" "match" "metrics.*"
      "host" $url.hostname "port" $port "uri" $uri "tls" $tls "add_label" $labels }}
{{- if .sigv4.enabled }}
{{- /* An AMP workspace's URL names its region. */}}
{{- $amp := regexFind "^aps-workspaces\\.[a-z0-9-]+\\.amazonaws\\.com$" $url.hostname }}
{{- $region := .sigv4.region | default (regexReplaceAll "^aps-workspaces\\.([a-z0-9-]+)\\..*$" $amp "${1}") }}
{{- $_ := set $s "aws_auth" true }}
{{- $_ := set $s "aws_service" .sigv4.service }}
{{- with $region }}{{ $_ := set $s "aws_region" . }}{{ end }}
{{- with .sigv4.roleArn }}{{ $_ := set $s "aws_role_arn" . }}{{ end }}
{{- end }}
{{- with .auth.username }}{{ $_ := set $s "http_user" . }}{{ end }}
{{- if .auth.existingSecret }}{{ $_ := set $s "http_passwd" "${GLEANER_REMOTE_WRITE_PASSWORD}" }}{{ end }}
{{- $outputs = append $outputs (mergeOverwrite $s .extraOptions) }}
{{- $metricsOut = true }}
{{- end }}
{{- end }}
{{- with $v.metrics.exporter }}
{{- if .enabled }}
{{- $labels := list }}
{{- range $k, $val := .addLabels }}{{ $labels = append $labels (printf "%s %s" $k $val) }}{{ end }}
{{- $s := dict "name" "prometheus_exporter" "alias" "exporter" "match" "metrics.*"
      "host" "0.0.0.0" "port" .port }}
{{- with $labels }}{{ $_ := set $s "add_label" . }}{{ end }}
{{- $outputs = append $outputs $s }}
{{- $metricsOut = true }}
{{- end }}
{{- end }}
{{- $outputs = concat $outputs $v.config.extraOutputs }}

{{- if not $outputs }}
{{- fail "no output is enabled: turn on logs.cloudwatch, logs.elasticsearch, metrics.remoteWrite or metrics.exporter, or give config.extraOutputs" }}
{{- end }}
{{- if and $metricsIn (not $metricsOut) (not $v.config.extraOutputs) }}
{{- fail "metrics are collected but sent nowhere: turn on metrics.remoteWrite or metrics.exporter" }}
{{- end }}
# Generated by the gleaner chart from its values (config.raw replaces it whole).
service:
  flush: {{ $v.agent.flush }}
  grace: {{ $v.agent.grace }}
  log_level: {{ $v.agent.logLevel }}
  log_format: {{ $v.agent.logFormat }}
  http_server: true
  http_listen: 0.0.0.0
  http_port: {{ $v.agent.httpPort }}
  storage.path: /var/lib/gleaner
{{- with $v.config.parsers }}
parsers:
{{- toYaml . | nindent 2 }}
{{- end }}
pipeline:
{{- with $inputs }}
  inputs:
{{- range . }}{{ include "gleaner.section" . | nindent 4 }}{{ end }}
{{- end }}
{{- with $filters }}
  filters:
{{- range . }}{{ include "gleaner.section" . | nindent 4 }}{{ end }}
{{- end }}
  outputs:
{{- range $outputs }}{{ include "gleaner.section" . | nindent 4 }}{{ end }}
{{- end }}
{{- end }}

{{/* The config as the ConfigMap holds it, and as its checksum is taken. */}}
{{- define "gleaner.configText" -}}
{{- include "gleaner.config" . | trim }}
{{- end }}

{{/* One plugin section of the config: its name first, then its options. */}}
{{- define "gleaner.section" -}}
- name: {{ required "every section of config.extraInputs, extraFilters and extraOutputs needs a name" .name }}
{{- with omit . "name" }}
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
