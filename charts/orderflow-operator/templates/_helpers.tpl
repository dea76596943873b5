{{- define "operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "operator.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "operator.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "operator.labels" -}}
{{ include "operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: orderflow
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The namespaces served when not cluster-wide (default: the release namespace), as JSON. */}}
{{- define "operator.namespaces" -}}
{{- if .Values.watch.namespaces -}}
{{- .Values.watch.namespaces | uniq | toJson -}}
{{- else -}}
{{- list .Release.Namespace | toJson -}}
{{- end -}}
{{- end -}}

{{/* The rules the operator needs wherever it serves HealthPolicies (why, rule by rule). */}}
{{- define "operator.rules" -}}
# Watch the policies; patch them for kopf's finalizer and bookkeeping annotations. No get:
# kopf works from its watch stream.
- apiGroups: [orderflow.dev]
  resources: [healthpolicies]
  verbs: [list, watch, patch]
# The operator writes the status (a merge patch); it never reads it back from the API.
- apiGroups: [orderflow.dev]
  resources: [healthpolicies/status]
  verbs: [patch]
# Read the target workload; patch its pod template (probes + readiness gate). No create,
# update or delete: the operator never owns workloads. rbac.targets.names narrows it to the
# named workloads.
- apiGroups: [apps]
  resources: [deployments, statefulsets]
  verbs: [get, patch]
  {{- with .Values.rbac.targets.names }}
  resourceNames: {{ toJson . }}
  {{- end }}
# Find the target's pods (list by the workload's selector) and set the gate condition on
# their status subresource only: it cannot change a pod's spec, nor delete a pod.
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
- apiGroups: [""]
  resources: [pods/status]
  verbs: [patch]
{{- if .Values.rbac.secrets.enabled }}
# Dependency addresses from Secrets (secretRef): get by name, never list or watch. The
# operator also refuses Secrets without the orderflow.dev/health-check=true label.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
  {{- with .Values.rbac.secrets.names }}
  resourceNames: {{ toJson . }}
  {{- end }}
{{- end }}
# Events on transitions and probe misuse.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end -}}

{{/* An ipBlock; the catch-all CIDRs lose the link-local/metadata ranges when guarded.
     include "operator.ipBlock" (list "0.0.0.0/0" true) */}}
{{- define "operator.ipBlock" -}}
{{- $cidr := index . 0 -}}
{{- $guard := index . 1 -}}
cidr: {{ $cidr | quote }}
{{- if and $guard (eq $cidr "0.0.0.0/0") }}
except: [169.254.0.0/16, 100.100.100.200/32]
{{- else if and $guard (eq $cidr "::/0") }}
except: ["fe80::/10", "fd00:ec2::254/128"]
{{- end }}
{{- end -}}
