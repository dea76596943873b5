{{/* HPA and PDB of a Deployment: include "orderflow.scaling" (list . "api" .Values.api) */}}
{{- define "orderflow.scaling" -}}
{{- $ctx := index . 0 -}}
{{- $component := index . 1 -}}
{{- $v := index . 2 -}}
{{- $name := include "orderflow.component" (list $ctx $component) -}}
{{- if $v.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  labels:
    {{- include "orderflow.labels" (list $ctx $component) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ $v.autoscaling.minReplicas }}
  maxReplicas: {{ $v.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $v.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- if $v.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  labels:
    {{- include "orderflow.labels" (list $ctx $component) | nindent 4 }}
spec:
  maxUnavailable: {{ $v.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "orderflow.selectorLabels" (list $ctx $component) | nindent 6 }}
{{- end }}
{{- end -}}
