{{- define "nexbii.name" -}}nexbii-operator{{- end }}
{{- define "nexbii.fullname" -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}-nexbii-operator{{- end }}
{{- define "nexbii.labels" -}}
app.kubernetes.io/name: nexbii-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}
{{- define "nexbii.selector" -}}
app.kubernetes.io/name: nexbii-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
{{- define "nexbii.serviceAccount" -}}{{ default (include "nexbii.fullname" .) .Values.serviceAccount.name }}{{- end }}
{{- define "nexbii.rbacKind" -}}{{ if .Values.watchNamespace }}Role{{ else }}ClusterRole{{ end }}{{- end }}
