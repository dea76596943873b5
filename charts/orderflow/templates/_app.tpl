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
- name: REDIS_URL
  value: "redis://{{ include "orderflow.component" (list $ctx "redis") }}:6379/0"
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
- name: EMAIL_SINK_URL
  value: "{{ include "orderflow.apiUrl" $ctx }}/_sink/email"
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
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ include "orderflow.otlpEndpoint" $ctx | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: http/protobuf
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: "service.namespace=orderflow,service.version={{ $ctx.Chart.AppVersion }},deployment.environment.name={{ $v.app.environment }},k8s.namespace.name=$(K8S_NAMESPACE),k8s.pod.name=$(K8S_POD_NAME){{ with $v.telemetry.resourceAttributes }},{{ . }}{{ end }}"
{{- range $name, $value := $v.app.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
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
