{{/* Resource names: the edge's resources take the full name; a later component (the relay)
takes the full name plus its own suffix. */}}
{{- define "edgeauthz.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "edgeauthz.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "edgeauthz.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{ include "edgeauthz.edge.selectorLabels" . }}
{{- end -}}

{{- define "edgeauthz.edge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "edgeauthz.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: edge
{{- end -}}

{{- define "edgeauthz.relay.fullname" -}}
{{- printf "%s-relay" (include "edgeauthz.fullname" . | trunc 57 | trimSuffix "-") -}}
{{- end -}}

{{- define "edgeauthz.relay.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{ include "edgeauthz.relay.selectorLabels" . }}
{{- end -}}

{{- define "edgeauthz.relay.selectorLabels" -}}
app.kubernetes.io/name: {{ include "edgeauthz.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: relay
{{- end -}}

{{- define "edgeauthz.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "edgeauthz.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "edgeauthz.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Paths inside the container. */}}
{{- define "edgeauthz.configDir" -}}/etc/edgeauthz/config{{- end -}}
{{- define "edgeauthz.policyDir" -}}/etc/edgeauthz/policy{{- end -}}
{{- define "edgeauthz.tlsDir" -}}/etc/edgeauthz/tls{{- end -}}
{{- define "edgeauthz.bearerDir" -}}/etc/edgeauthz/bundle-credential{{- end -}}
{{- define "edgeauthz.stateDir" -}}/var/lib/edgeauthz{{- end -}}
{{- define "edgeauthz.relayClientTLSDir" -}}/etc/edgeauthz/relay-client-tls{{- end -}}
{{- define "edgeauthz.relayTLSDir" -}}/etc/edgeauthz/relay-tls{{- end -}}
{{- define "edgeauthz.relayConfigDir" -}}/etc/edgeauthz/relay-config{{- end -}}
{{- define "edgeauthz.writersCADir" -}}/etc/edgeauthz/writers-ca{{- end -}}
{{- define "edgeauthz.persistKeyDir" -}}/etc/edgeauthz/persist-key{{- end -}}
{{- define "edgeauthz.persistKeySecret" -}}{{ default (printf "%s-persist-key" (include "edgeauthz.fullname" .)) .Values.policy.persistKeySecret.name }}{{- end -}}

{{/* policy.source as config.yaml names it; fails on values that cannot work. */}}
{{- define "edgeauthz.policySource" -}}
{{- $p := .Values.policy -}}
{{- if eq $p.source "file" -}}
file://{{ include "edgeauthz.policyDir" . }}/policy.yaml
{{- else if eq $p.source "http" -}}
{{- if not (regexMatch "^https?://[^/]+" $p.http.url) -}}
{{- fail "policy.http.url: want the bundle's http(s):// URL when policy.source is http" -}}
{{- end -}}
{{- $p.http.url -}}
{{- else if eq $p.source "postgres" -}}
{{- if not (regexMatch "^postgres(ql)?://" $p.postgres.dsn) -}}
{{- fail "policy.postgres.dsn: want a postgres:// DSN when policy.source is postgres" -}}
{{- end -}}
{{- if regexMatch "^postgres(ql)?://[^/@]*:[^/@]*@" $p.postgres.dsn -}}
{{- fail "policy.postgres.dsn holds a password: it would be in a ConfigMap; put it in a Secret and name it in policy.postgres.passwordSecret" -}}
{{- end -}}
{{- if regexMatch "(?i)[?&]password=" $p.postgres.dsn -}}
{{- fail "policy.postgres.dsn holds a password: it would be in a ConfigMap; put it in a Secret and name it in policy.postgres.passwordSecret" -}}
{{- end -}}
{{- $p.postgres.dsn -}}
{{- else if eq $p.source "relay" -}}
{{- if $p.relay.address -}}
{{- if not (regexMatch "^xds://[^/,]+:[0-9]+(,[^/,]+:[0-9]+)*$" $p.relay.address) -}}
{{- fail "policy.relay.address: want xds://host:port[,host:port…]" -}}
{{- end -}}
{{- $p.relay.address -}}
{{- else if .Values.relay.enabled -}}
xds://{{ include "edgeauthz.relay.fullname" . }}.{{ .Release.Namespace }}.svc:{{ .Values.relay.grpcPort }}
{{- else -}}
{{- fail "policy.source relay: set relay.enabled=true (this release's relays) or policy.relay.address" -}}
{{- end -}}
{{- else -}}
{{- fail (printf "policy.source %q: want file, http, postgres or relay" $p.source) -}}
{{- end -}}
{{- end -}}
