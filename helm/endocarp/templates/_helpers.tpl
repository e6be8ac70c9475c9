{{/*
Chart name, truncated to the 63 characters a label allows.
*/}}
{{- define "endocarp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: release name + chart name, unless the release name already contains it.
*/}}
{{- define "endocarp.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "endocarp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "endocarp.labels" -}}
helm.sh/chart: {{ include "endocarp.chart" . }}
{{ include "endocarp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: endocarp
{{- end }}

{{/*
Selector labels shared by every object of the release.
*/}}
{{- define "endocarp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "endocarp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Selector labels of the server pods (the migration Job's pods are not selected).
*/}}
{{- define "endocarp.serverSelectorLabels" -}}
{{ include "endocarp.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "endocarp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "endocarp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository@digest, or repository:tag (tag defaults to appVersion).
*/}}
{{- define "endocarp.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{- define "endocarp.isPostgres" -}}
{{- if eq .Values.database.type "postgres" }}true{{ end }}
{{- end }}

{{- define "endocarp.isSqlite" -}}
{{- if eq .Values.database.type "sqlite" }}true{{ end }}
{{- end }}

{{/*
Where the PostgreSQL URL comes from: name and key of the Secret.
*/}}
{{- define "endocarp.databaseSecretName" -}}
{{- default (include "endocarp.fullname" .) .Values.database.postgres.existingSecret }}
{{- end }}

{{- define "endocarp.databaseSecretKey" -}}
{{- if .Values.database.postgres.existingSecret }}{{ .Values.database.postgres.existingSecretKey }}{{ else }}database-url{{ end }}
{{- end }}

{{/*
Admin tokens: configured at all, and where they come from.
*/}}
{{- define "endocarp.hasAdminTokens" -}}
{{- if or .Values.admin.existingSecret .Values.admin.tokens }}true{{ end }}
{{- end }}

{{- define "endocarp.adminTokensSecretName" -}}
{{- default (include "endocarp.fullname" .) .Values.admin.existingSecret }}
{{- end }}

{{- define "endocarp.adminTokensSecretKey" -}}
{{- if .Values.admin.existingSecret }}{{ .Values.admin.existingSecretKey }}{{ else }}admin-tokens{{ end }}
{{- end }}

{{/*
mTLS with a non-empty allow-list of client certificates: credentials too.
*/}}
{{- define "endocarp.hasMtlsCredentials" -}}
{{- if and .Values.tls.enabled .Values.tls.mtls.enabled .Values.tls.mtls.allowedClients }}true{{ end }}
{{- end }}

{{/*
Does the chart create its own Secret (database URL and/or admin tokens from values)?
*/}}
{{- define "endocarp.createSecret" -}}
{{- $dbFromValues := and (eq .Values.database.type "postgres") (not .Values.database.postgres.existingSecret) }}
{{- $tokensFromValues := and .Values.admin.tokens (not .Values.admin.existingSecret) }}
{{- if or $dbFromValues $tokensFromValues }}true{{ end }}
{{- end }}

{{/*
The admin tokens in the server's `;`-separated `name:scopes:token` form, checked.
*/}}
{{- define "endocarp.adminTokens" -}}
{{- $entries := list }}
{{- range $i, $t := .Values.admin.tokens }}
{{- if not (and $t.name $t.scopes $t.token) }}
{{- fail (printf "admin.tokens[%d] needs name, scopes and token" $i) }}
{{- end }}
{{- if regexMatch "[:;\\s]" $t.name }}
{{- fail (printf "admin.tokens[%d].name %q must not contain ':', ';' or spaces" $i $t.name) }}
{{- end }}
{{- if lt (len $t.token) 16 }}
{{- fail (printf "admin.tokens[%d] (%s): tokens must be at least 16 bytes" $i $t.name) }}
{{- end }}
{{- if regexMatch "[;\\s]" $t.token }}
{{- fail (printf "admin.tokens[%d] (%s): a token must not contain ';' or spaces" $i $t.name) }}
{{- end }}
{{- range $t.scopes }}
{{- if not (has . (list "read" "write" "check" "lookup")) }}
{{- fail (printf "admin.tokens[%d] (%s): unknown scope %q (read, write, check, lookup)" $i $t.name .) }}
{{- end }}
{{- end }}
{{- $entries = append $entries (printf "%s:%s:%s" $t.name (join "," $t.scopes) $t.token) }}
{{- end }}
{{- join ";" $entries }}
{{- end }}

{{/*
The mTLS allow-list file: `name:scopes:dns-name` a line, checked.
*/}}
{{- define "endocarp.adminClientCerts" -}}
{{- range $i, $c := .Values.tls.mtls.allowedClients }}
{{- if not (and $c.name $c.scopes $c.dnsName) }}
{{- fail (printf "tls.mtls.allowedClients[%d] needs name, scopes and dnsName" $i) }}
{{- end }}
{{- range $c.scopes }}
{{- if not (has . (list "read" "write" "check" "lookup")) }}
{{- fail (printf "tls.mtls.allowedClients[%d] (%s): unknown scope %q (read, write, check, lookup)" $i $c.name .) }}
{{- end }}
{{- end }}
{{ printf "%s:%s:%s" $c.name (join "," $c.scopes) $c.dnsName }}
{{- end }}
{{- end }}

{{/*
Every refusal in one place; included by every template so that no mode renders half-way.
*/}}
{{- define "endocarp.validate" -}}
{{- $db := .Values.database.type }}
{{- if not (has $db (list "sqlite" "postgres")) }}
{{- fail (printf "database.type must be sqlite or postgres, not %q" $db) }}
{{- end }}
{{- if eq $db "sqlite" }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail (printf "database.type=sqlite runs exactly one replica (replicaCount is %d): SQLite is a single-writer file on one volume. Use database.type=postgres for several replicas." (int .Values.replicaCount)) }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- fail "database.type=sqlite runs exactly one replica: autoscaling.enabled must be false. Use database.type=postgres to autoscale." }}
{{- end }}
{{- end }}
{{- if eq $db "postgres" }}
{{- if not (or .Values.database.postgres.url .Values.database.postgres.existingSecret) }}
{{- fail "database.type=postgres needs database.postgres.existingSecret (recommended) or database.postgres.url" }}
{{- end }}
{{- if and .Values.database.postgres.url (not .Values.database.postgres.existingSecret) }}
{{- if not (regexMatch "^postgres(ql)?://" .Values.database.postgres.url) }}
{{- fail "database.postgres.url must start with postgres:// (postgres://user:password@host:5432/db)" }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.admin.tokens .Values.admin.existingSecret }}
{{- fail "set either admin.tokens or admin.existingSecret, not both" }}
{{- end }}
{{- if .Values.admin.tokens }}
{{- $_ := include "endocarp.adminTokens" . }}
{{- end }}
{{- if .Values.tls.enabled }}
{{- if not .Values.tls.existingSecret }}
{{- fail "tls.enabled needs tls.existingSecret (a kubernetes.io/tls Secret with tls.crt and tls.key)" }}
{{- end }}
{{- end }}
{{- if .Values.tls.mtls.enabled }}
{{- if not .Values.tls.enabled }}
{{- fail "tls.mtls.enabled needs tls.enabled" }}
{{- end }}
{{- $_ := include "endocarp.adminClientCerts" . }}
{{- end }}
{{- $hasCredentials := or (include "endocarp.hasAdminTokens" .) (include "endocarp.hasMtlsCredentials" .) }}
{{- if and .Values.admin.expose (not $hasCredentials) }}
{{- fail "admin.expose=true would open the admin API to the network without credentials: set admin.tokens or admin.existingSecret, or enable tls.mtls with tls.mtls.allowedClients" }}
{{- end }}
{{- if and .Values.config.decisionAuth (not (include "endocarp.hasAdminTokens" .)) }}
{{- fail "config.decisionAuth=true needs tokens with the check scope: set admin.tokens or admin.existingSecret" }}
{{- end }}
{{- end }}
