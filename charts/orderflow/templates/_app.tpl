{{/* Environment of the orderflow processes (API, worker, migrations).
     include "orderflow.appEnv" (list . "api") — the component names OTEL_SERVICE_NAME. */}}
{{- define "orderflow.appEnv" -}}
{{- $ctx := index . 0 -}}
{{- $component := index . 1 -}}
{{- $v := $ctx.Values -}}
- name: K8S_POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: K8S_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: ENVIRONMENT
  value: {{ $v.app.environment | quote }}
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "orderflow.dbPasswordSecret" $ctx }}
      key: {{ include "orderflow.dbPasswordKey" $ctx }}
{{- if $v.postgresql.enabled }}
- name: DATABASE_URL
  value: "postgresql://{{ $v.postgresql.auth.username }}:$(DATABASE_PASSWORD)@{{ include "orderflow.component" (list $ctx "postgresql") }}:5432/{{ $v.postgresql.auth.database }}"
{{- else }}
- name: DATABASE_URL
  value: "postgresql://{{ $v.externalDatabase.username }}:$(DATABASE_PASSWORD)@{{ $v.externalDatabase.host }}:{{ $v.externalDatabase.port }}/{{ $v.externalDatabase.database }}"
{{- end }}
{{- if $v.redis.enabled }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "orderflow.redisPasswordSecret" $ctx }}
      key: {{ $v.redis.auth.existingSecretKey | default "password" }}
- name: REDIS_URL
  value: "redis://:$(REDIS_PASSWORD)@{{ include "orderflow.component" (list $ctx "redis") }}:6379/0"
{{- else }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.externalRedis.existingSecret | default (include "orderflow.component" (list $ctx "app")) }}
      key: {{ ternary $v.externalRedis.existingSecretKey "REDIS_URL" (ne $v.externalRedis.existingSecret "") }}
{{- end }}
- name: JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $v.app.jwt.existingSecret | default (include "orderflow.component" (list $ctx "app")) }}
      key: JWT_SECRET
- name: JWT_EXPIRES_IN
  value: {{ $v.app.jwt.expiresIn | quote }}
- name: EMAIL_SINK_ENABLED
  value: {{ $v.app.email.builtinSink | quote }}
{{- if $v.app.email.existingSecret }}
- name: EMAIL_SINK_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.app.email.existingSecret }}
      key: EMAIL_SINK_URL
{{- else if $v.app.email.url }}
- name: EMAIL_SINK_URL
  value: {{ $v.app.email.url | quote }}
{{- else if $v.app.email.builtinSink }}
- name: EMAIL_SINK_URL
  value: "{{ include "orderflow.apiUrl" $ctx }}/_sink/email"
{{- end }}
- name: PAYMENT_FAILURE_RATE
  value: {{ $v.app.paymentFailureRate | quote }}
- name: CHAOS_LATENCY_MS
  value: {{ $v.app.chaos.latencyMs | quote }}
- name: CHAOS_ERROR_RATE
  value: {{ $v.app.chaos.errorRate | quote }}
- name: OTEL_SERVICE_NAME
  value: "orderflow-{{ $component }}"
- name: OTEL_SDK_DISABLED
  value: {{ not $v.telemetry.enabled | quote }}
{{- if $v.telemetry.enabled }}
{{- if $v.collector.enabled }}
# The bundled Collector over OTLP/gRPC: grpcio sends without holding the GIL and orderflow's
# span encoder is cheaper than the OTLP/HTTP path (bench/README.md).
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: "http://{{ include "orderflow.component" (list $ctx "collector") }}:4317"
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: grpc
{{- else }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ include "orderflow.otlpEndpoint" $ctx | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: http/protobuf
{{- end }}
# Milliseconds; the bundled Prometheus datasource's timeInterval is the same (lgtm.yaml).
- name: OTEL_METRIC_EXPORT_INTERVAL
  value: {{ mul (int $v.telemetry.metricExportIntervalSeconds) 1000 | quote }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: "service.namespace=orderflow,service.version={{ $ctx.Chart.AppVersion }},deployment.environment.name={{ $v.app.environment }},k8s.namespace.name=$(K8S_NAMESPACE),k8s.pod.name=$(K8S_POD_NAME){{ with $v.telemetry.resourceAttributes }},{{ . }}{{ end }}"
# CPU profiles to Pyroscope, named by OTEL_SERVICE_NAME and labelled from the attributes above.
- name: PROFILING_ENABLED
  value: {{ include "orderflow.profilingEnabled" $ctx | quote }}
{{- if eq (include "orderflow.profilingEnabled" $ctx) "true" }}
- name: PYROSCOPE_SERVER_ADDRESS
  value: {{ include "orderflow.pyroscopeAddress" $ctx | quote }}
- name: PYROSCOPE_SAMPLE_RATE
  value: {{ $v.profiling.sampleRate | quote }}
{{- end }}
{{- range $name, $value := $v.app.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* "true" when the app profiles itself: profiling.enabled, or when null, lgtm.enabled. */}}
{{- define "orderflow.profilingEnabled" -}}
{{- $p := .Values.profiling -}}
{{- if kindIs "invalid" $p.enabled -}}{{ .Values.lgtm.enabled }}{{- else -}}{{ $p.enabled }}{{- end -}}
{{- end -}}

{{/* Where profiles go: profiling.serverAddress, or the bundled LGTM's Pyroscope. */}}
{{- define "orderflow.pyroscopeAddress" -}}
{{- if .Values.profiling.serverAddress -}}
{{ .Values.profiling.serverAddress }}
{{- else if .Values.lgtm.enabled -}}
http://{{ include "orderflow.component" (list . "lgtm") }}:4040
{{- else -}}
{{ fail "profiling.enabled=true without lgtm.enabled needs profiling.serverAddress (Pyroscope's HTTP address)" }}
{{- end -}}
{{- end -}}

{{/* Pod annotations that roll the pods when their configuration changes, plus the
     OpenTelemetry Operator's injection annotation. include "orderflow.appPodAnnotations" (list . "api") */}}
{{- define "orderflow.appPodAnnotations" -}}
{{- $ctx := index . 0 -}}
{{- $component := index . 1 -}}
checksum/config: {{ pick $ctx.Values "app" "externalDatabase" "externalRedis" "telemetry" | toJson | sha256sum | trunc 16 }}
{{- if and $ctx.Values.otelOperator.enabled (has $component (list "api" "worker")) }}
instrumentation.opentelemetry.io/inject-python: {{ include "orderflow.component" (list $ctx "instrumentation") | quote }}
{{- end }}
{{- with (get (index $ctx.Values $component) "podAnnotations") }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* /tmp, the only place the app writes (the root filesystem is read-only). */}}
{{- define "orderflow.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- end -}}

{{- define "orderflow.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}
