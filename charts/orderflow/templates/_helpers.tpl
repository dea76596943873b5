{{/* Names ---------------------------------------------------------------------------------- */}}

{{- define "orderflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "orderflow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "orderflow.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "orderflow.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>", e.g. include "orderflow.component" (list . "api") */}}
{{- define "orderflow.component" -}}
{{- $ctx := index . 0 -}}
{{- printf "%s-%s" (include "orderflow.fullname" $ctx | trunc 50 | trimSuffix "-") (index . 1) -}}
{{- end -}}

{{/* Labels --------------------------------------------------------------------------------- */}}

{{- define "orderflow.selectorLabels" -}}
{{- $ctx := index . 0 -}}
app.kubernetes.io/name: {{ include "orderflow.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* include "orderflow.labels" (list . "api") */}}
{{- define "orderflow.labels" -}}
{{- $ctx := index . 0 -}}
{{ include "orderflow.selectorLabels" . }}
app.kubernetes.io/version: {{ $ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: orderflow
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $ctx.Chart.Name $ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- with $ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Images: never `latest`, never empty ------------------------------------------------------- */}}

{{/* include "orderflow.image" (list . .Values.api.image) */}}
{{- define "orderflow.image" -}}
{{- $ctx := index . 0 -}}
{{- $image := index . 1 -}}
{{- $tag := $image.tag | default $ctx.Chart.AppVersion | toString -}}
{{- if eq $tag "latest" -}}
{{- fail (printf "image %s: the tag `latest` is not allowed; pin a version" $image.repository) -}}
{{- end -}}
{{- printf "%s:%s" $image.repository $tag -}}
{{- end -}}

{{/* Security: the restricted Pod Security profile, for every pod and container -------------- */}}

{{/* include "orderflow.podSecurityContext" 10001 */}}
{{- define "orderflow.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "orderflow.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Shared pod spec fields: a ServiceAccount without a token, pull secrets, node selector.
     include "orderflow.podCommon" (list . "api" .Values.api.nodeSelector) */}}
{{- define "orderflow.podCommon" -}}
{{- $ctx := index . 0 -}}
serviceAccountName: {{ include "orderflow.component" (list $ctx (index . 1)) }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with $ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with index . 2 }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A ServiceAccount per component, no token: include "orderflow.serviceAccount" (list . "api") */}}
{{- define "orderflow.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "orderflow.component" . }}
  labels:
    {{- include "orderflow.labels" . | nindent 4 }}
automountServiceAccountToken: false
{{- end -}}

{{/* The API's probes, one definition for its Deployment and its HealthPolicy (the operator
     writes the policy's probes into the pod template; equal values mean a `helm upgrade` and
     the operator never undo each other). Ports are the container port, as the CRD wants.
     include "orderflow.apiProbes" . | fromYaml */}}
{{- define "orderflow.apiProbes" -}}
startup: {path: /healthz, port: {{ .Values.api.port }}, periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 60}
liveness: {path: /healthz, port: {{ .Values.api.port }}, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3}
readiness: {path: /readyz, port: {{ .Values.api.port }}, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 2}
{{- end -}}

{{/* Endpoints of the bundled or external dependencies -------------------------------------- */}}

{{- define "orderflow.apiUrl" -}}
http://{{ include "orderflow.component" (list . "api") }}:{{ .Values.api.service.port }}
{{- end -}}

{{- define "orderflow.otlpEndpoint" -}}
{{- if .Values.collector.enabled -}}
http://{{ include "orderflow.component" (list . "collector") }}:4318
{{- else -}}
{{- .Values.externalCollector.endpoint -}}
{{- end -}}
{{- end -}}

{{/* host:port of the LGTM stack's OTLP/gRPC receiver (what otel/collector.yaml expects). */}}
{{- define "orderflow.lgtmOtlpEndpoint" -}}
{{- if .Values.lgtm.enabled -}}
{{ include "orderflow.component" (list . "lgtm") }}:4317
{{- else -}}
{{- .Values.externalLgtm.otlpEndpoint -}}
{{- end -}}
{{- end -}}

{{/* The Secret and key holding the database password. */}}
{{- define "orderflow.dbPasswordSecret" -}}
{{- if .Values.postgresql.enabled -}}
{{- .Values.postgresql.auth.existingSecret | default (include "orderflow.component" (list . "postgresql")) -}}
{{- else -}}
{{- .Values.externalDatabase.existingSecret | default (include "orderflow.component" (list . "app")) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the bundled Redis's password (key: redis.auth.existingSecretKey). */}}
{{- define "orderflow.redisPasswordSecret" -}}
{{- .Values.redis.auth.existingSecret | default (include "orderflow.component" (list . "redis")) -}}
{{- end -}}

{{- define "orderflow.dbPasswordKey" -}}
{{- if .Values.postgresql.enabled -}}
{{- ternary .Values.postgresql.auth.existingSecretKey "password" (ne .Values.postgresql.auth.existingSecret "") -}}
{{- else -}}
{{- ternary .Values.externalDatabase.existingSecretKey "DATABASE_PASSWORD" (ne .Values.externalDatabase.existingSecret "") -}}
{{- end -}}
{{- end -}}

{{/* A value kept across upgrades: the live Secret's key if it exists, else a new random one.
     include "orderflow.keptSecret" (list . "secret-name" "KEY" 40) */}}
{{- define "orderflow.keptSecret" -}}
{{- $ctx := index . 0 -}}
{{- $existing := lookup "v1" "Secret" $ctx.Release.Namespace (index . 1) -}}
{{- $data := (get ($existing | default dict) "data") | default dict -}}
{{- if hasKey $data (index . 2) -}}
{{- index $data (index . 2) -}}
{{- else -}}
{{- randAlphaNum (index . 3) | b64enc -}}
{{- end -}}
{{- end -}}

{{/* Validation of combinations the schema cannot express --------------------------------------- */}}
{{- define "orderflow.validate" -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.externalDatabase.host) -}}
{{- fail "postgresql.enabled=false needs externalDatabase.host (and a password or existingSecret)" -}}
{{- end -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.externalDatabase.password) (not .Values.externalDatabase.existingSecret) -}}
{{- fail "postgresql.enabled=false needs externalDatabase.password or externalDatabase.existingSecret" -}}
{{- end -}}
{{- if and (not .Values.redis.enabled) (not .Values.externalRedis.url) (not .Values.externalRedis.existingSecret) -}}
{{- fail "redis.enabled=false needs externalRedis.url or externalRedis.existingSecret" -}}
{{- end -}}
{{- if and .Values.telemetry.enabled (not .Values.collector.enabled) (not .Values.externalCollector.endpoint) -}}
{{- fail "collector.enabled=false needs externalCollector.endpoint (or telemetry.enabled=false)" -}}
{{- end -}}
{{- if and .Values.collector.enabled (not .Values.lgtm.enabled) (not .Values.externalLgtm.otlpEndpoint) -}}
{{- fail "lgtm.enabled=false with the bundled collector needs externalLgtm.otlpEndpoint" -}}
{{- end -}}
{{- if gt (int .Values.healthPolicy.timeoutSeconds) (int .Values.healthPolicy.intervalSeconds) -}}
{{- fail (printf "healthPolicy.timeoutSeconds (%v) must not exceed healthPolicy.intervalSeconds (%v)" .Values.healthPolicy.timeoutSeconds .Values.healthPolicy.intervalSeconds) -}}
{{- end -}}
{{- end -}}


{{/* A memory quantity in whole MiB (Mi, Gi, M, G suffixes), e.g. for GOMEMLIMIT. */}}
{{- define "orderflow.mebibytes" -}}
{{- $q := toString . -}}
{{- if hasSuffix "Gi" $q -}}{{ mul (trimSuffix "Gi" $q | int) 1024 }}
{{- else if hasSuffix "Mi" $q -}}{{ trimSuffix "Mi" $q | int }}
{{- else if hasSuffix "G" $q -}}{{ div (mul (trimSuffix "G" $q | int) 1000000000) 1048576 }}
{{- else if hasSuffix "M" $q -}}{{ div (mul (trimSuffix "M" $q | int) 1000000) 1048576 }}
{{- else -}}{{ fail (printf "collector.resources.limits.memory %q: use a Mi, Gi, M or G quantity" $q) }}
{{- end -}}
{{- end -}}
