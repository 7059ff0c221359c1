{{/*
Helpers shared by every component subchart. Named templates are global in
Helm, so the subcharts under charts/ call these; they are meant to be
rendered through this umbrella chart.

Conventions: a component's objects are named "<release>-<component>" (or just
"metalkube-<component>" when the release is called metalkube); every value
that configures the binary maps to exactly one flag, emitted only when set so
that the binary's own default applies otherwise.
*/}}

{{- define "metalkube.fullname" -}}
{{- if eq .Release.Name "metalkube" -}}
metalkube-{{ .Chart.Name }}
{{- else -}}
{{- printf "%s-metalkube-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "metalkube.selectorLabels" -}}
app.kubernetes.io/name: metalkube
app.kubernetes.io/component: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "metalkube.labels" -}}
{{ include "metalkube.selectorLabels" . }}
app.kubernetes.io/part-of: metalkube
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "metalkube.image" -}}
{{- $img := .Values.global.image -}}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}

{{/*
metalkube.flag renders one flag as args list items: dict "name" NAME "value" V.
Empty strings and nil render nothing; a list renders the flag once per item;
booleans always render (so that false can switch off a default of true).
*/}}
{{- define "metalkube.flag" -}}
{{- $name := .name -}}
{{- $v := .value -}}
{{- if kindIs "slice" $v -}}
{{- range $v }}
- {{ printf "--%s=%v" $name . | quote }}
{{- end -}}
{{- else if kindIs "map" $v -}}
{{- range $k, $x := $v }}
- {{ printf "--%s=%s=%v" $name $k $x | quote }}
{{- end -}}
{{- else if kindIs "bool" $v }}
- {{ printf "--%s=%t" $name $v | quote }}
{{- else if or (kindIs "float64" $v) (kindIs "int64" $v) (kindIs "int" $v) }}
- {{ printf "--%s=%d" $name (int64 $v) | quote }}
{{- else if and (not (kindIs "invalid" $v)) (ne (toString $v) "") }}
- {{ printf "--%s=%v" $name $v | quote }}
{{- end -}}
{{- end -}}

{{/* metalkube.flags renders a list of (name value) pairs with metalkube.flag. */}}
{{- define "metalkube.flags" -}}
{{- range . }}
{{- include "metalkube.flag" (dict "name" (index . 0) "value" (index . 1)) }}
{{- end -}}
{{- end -}}

{{/* The logging flags, persistent flags of the root command. */}}
{{- define "metalkube.loggingArgs" -}}
{{- $l := .Values.global.logging -}}
{{- include "metalkube.flags" (list (list "log-format" $l.format) (list "log-level" $l.level)) }}
{{- end -}}

{{/* Where the backend's credentials are mounted (read-only, from Secrets). */}}
{{- define "metalkube.backendDir" -}}/etc/metalkube/backend{{- end -}}

{{/*
The shared backend flags (shared/options/backend.go). Credentials are never
flag values: the kubeconfig, HMAC key and token come from Secrets mounted as
files, and the flags name the files.
*/}}
{{- define "metalkube.backendArgs" -}}
{{- $b := .Values.global.backend -}}
{{- $ms := $b.metalstack -}}
{{- if eq $b.name "metalstack" }}
{{- $_ := required "global.backend.metalstack.url is required with global.backend.name=metalstack (--metal-api-url)" $ms.url -}}
{{- if not (or $ms.hmacSecret.name $ms.tokenSecret.name) }}
{{- fail "global.backend.name=metalstack needs credentials: set global.backend.metalstack.hmacSecret.name or global.backend.metalstack.tokenSecret.name (a Secret mounted as --metal-api-hmac-file / --metal-api-token-file)" }}
{{- end }}
{{- end }}
{{- $dir := include "metalkube.backendDir" . -}}
{{- $kubeconfig := "" -}}
{{- if $b.kubeconfigSecret.name }}{{ $kubeconfig = printf "%s/kubeconfig/%s" $dir $b.kubeconfigSecret.key }}{{ end -}}
{{- $hmac := "" -}}
{{- if $ms.hmacSecret.name }}{{ $hmac = printf "%s/hmac/%s" $dir $ms.hmacSecret.key }}{{ end -}}
{{- $token := "" -}}
{{- if $ms.tokenSecret.name }}{{ $token = printf "%s/token/%s" $dir $ms.tokenSecret.key }}{{ end -}}
{{- include "metalkube.flags" (list
  (list "backend" $b.name)
  (list "metal-kubeconfig" $kubeconfig)
  (list "metal-namespace" $b.namespace)
  (list "ip-pool" $b.ipPools)
  (list "backend-timeout" $b.timeout)
  (list "server-size-label" $b.serverSizeLabel)
  (list "server-partition-label" $b.serverPartitionLabel)
  (list "server-region-label" $b.serverRegionLabel)
  (list "metal-api-url" $ms.url)
  (list "metal-api-hmac-file" $hmac)
  (list "metal-api-hmac-auth-type" $ms.hmacAuthType)
  (list "metal-api-token-file" $token)
  (list "metal-project" $ms.project)
  (list "metal-partition" $ms.partition)
  (list "metal-network" $ms.networks)
  (list "metal-dns-server" $ms.dnsServers)
  (list "metal-ntp-server" $ms.ntpServers)
) }}
{{- end -}}

{{- define "metalkube.backendVolumeMounts" -}}
{{- $b := .Values.global.backend -}}
{{- $dir := include "metalkube.backendDir" . -}}
{{- if $b.kubeconfigSecret.name }}
- name: backend-kubeconfig
  mountPath: {{ $dir }}/kubeconfig
  readOnly: true
{{- end }}
{{- if $b.metalstack.hmacSecret.name }}
- name: backend-hmac
  mountPath: {{ $dir }}/hmac
  readOnly: true
{{- end }}
{{- if $b.metalstack.tokenSecret.name }}
- name: backend-token
  mountPath: {{ $dir }}/token
  readOnly: true
{{- end }}
{{- end -}}

{{- define "metalkube.backendVolumes" -}}
{{- $b := .Values.global.backend -}}
{{- range $name, $s := dict "backend-kubeconfig" $b.kubeconfigSecret "backend-hmac" $b.metalstack.hmacSecret "backend-token" $b.metalstack.tokenSecret }}
{{- if $s.name }}
- name: {{ $name }}
  secret:
    secretName: {{ $s.name }}
    defaultMode: 0440
    items:
      - key: {{ $s.key }}
        path: {{ $s.key }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
metalkube.backendInCluster is "true" when the ironcore backend is reached with
the pod's own ServiceAccount (no kubeconfig Secret): then the chart grants it
access to the metal-operator and IPAM objects in the backend namespace.
*/}}
{{- define "metalkube.backendInCluster" -}}
{{- $b := .Values.global.backend -}}
{{- if and (eq $b.name "ironcore") (not $b.kubeconfigSecret.name) -}}true{{- end -}}
{{- end -}}

{{- define "metalkube.backendNamespace" -}}
{{- default "default" .Values.global.backend.namespace -}}
{{- end -}}

{{/*
metalkube.backendRBAC renders a ClusterRole(+Binding) and a Role(+Binding) in
the backend namespace for the ironcore backend's calls, when it runs in-cluster.
dict "ctx" . "machines" ("write"|"read"|false) "ips" BOOL: machines = ServerClaims
(write: also their ignition Secrets; read: ServerClaims only), ips = Cluster
API IPAddressClaims/IPAddresses. A component gets only what it calls.
*/}}
{{- define "metalkube.backendRBAC" -}}
{{- $ := .ctx -}}
{{- if include "metalkube.backendInCluster" $ }}
{{- $name := printf "%s-backend" (include "metalkube.fullname" $) }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ $name }}
  labels:
    {{- include "metalkube.labels" $ | nindent 4 }}
rules:
  # Servers are cluster-scoped; listing them is also the backend's health
  # check.
  - apiGroups: [metal.ironcore.dev]
    resources: [servers]
    verbs: [get, list, watch]
  {{- if eq (toString .machines) "write" }}
  # Free capacity is checked against the unbound ServerClaims of every
  # namespace.
  - apiGroups: [metal.ironcore.dev]
    resources: [serverclaims]
    verbs: [list]
  {{- end }}
  {{- if .ips }}
  # A network's cluster-wide pools: read for family and free addresses,
  # updated to set a static IP's address aside; the addresses of such a pool
  # live in every namespace.
  - apiGroups: [ipam.cluster.x-k8s.io]
    resources: [globalinclusterippools]
    verbs: [get, update]
  - apiGroups: [ipam.cluster.x-k8s.io]
    resources: [ipaddresses]
    verbs: [list]
  {{- end }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ $name }}
  labels:
    {{- include "metalkube.labels" $ | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ include "metalkube.fullname" $ }}
    namespace: {{ $.Release.Namespace }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $name }}
  namespace: {{ include "metalkube.backendNamespace" $ }}
  labels:
    {{- include "metalkube.labels" $ | nindent 4 }}
rules:
  {{- if eq (toString .machines) "write" }}
  - apiGroups: [metal.ironcore.dev]
    resources: [serverclaims]
    verbs: [get, list, watch, create, update, patch, delete]
  # The ignition Secret of each ServerClaim.
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get, create, update, delete]
  {{- else if eq (toString .machines) "read" }}
  - apiGroups: [metal.ironcore.dev]
    resources: [serverclaims]
    verbs: [get, list, watch]
  {{- end }}
  {{- if .ips }}
  - apiGroups: [ipam.cluster.x-k8s.io]
    resources: [ipaddressclaims]
    verbs: [get, list, watch, create, update, patch, delete]
  - apiGroups: [ipam.cluster.x-k8s.io]
    resources: [ipaddresses]
    verbs: [get, list, watch]
  # Namespaced pools, and the one-address pool of each static IP.
  - apiGroups: [ipam.cluster.x-k8s.io]
    resources: [inclusterippools]
    verbs: [get, create, update, delete]
  {{- end }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}
  namespace: {{ include "metalkube.backendNamespace" $ }}
  labels:
    {{- include "metalkube.labels" $ | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ include "metalkube.fullname" $ }}
    namespace: {{ $.Release.Namespace }}
{{- end }}
{{- end -}}

{{/*
metalkube.leaseRBAC: a Role and RoleBinding for leader election (and other
leases) in a namespace: dict "ctx" . "namespace" NS "names" (list LEASE...) ["suffix" NAME-SUFFIX].
Creating cannot be limited to names; reading and renewing is.
*/}}
{{- define "metalkube.leaseRBAC" -}}
{{- $ := .ctx -}}
{{- $name := printf "%s-%s" (include "metalkube.fullname" $) (default "leases" (index . "suffix")) }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $name }}
  namespace: {{ .namespace }}
  labels:
    {{- include "metalkube.labels" $ | nindent 4 }}
rules:
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [create]
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    resourceNames: {{ toJson .names }}
    verbs: [get, watch, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}
  namespace: {{ .namespace }}
  labels:
    {{- include "metalkube.labels" $ | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ include "metalkube.fullname" $ }}
    namespace: {{ $.Release.Namespace }}
{{- end -}}

{{/* metalkube.clusterRoleBinding binds the component's ClusterRole to its ServiceAccount. */}}
{{- define "metalkube.clusterRoleBinding" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ include "metalkube.fullname" . }}
  labels:
    {{- include "metalkube.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ include "metalkube.fullname" . }}
subjects:
  - kind: ServiceAccount
    name: {{ include "metalkube.fullname" . }}
    namespace: {{ .Release.Namespace }}
{{- end -}}

{{- define "metalkube.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "metalkube.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "metalkube.labels" . | nindent 4 }}
automountServiceAccountToken: true
{{- end -}}

{{/* The pod security context every component but the firewall runs with. */}}
{{- define "metalkube.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "metalkube.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Scheduling and pod-level settings common to every component. */}}
{{- define "metalkube.podSettings" -}}
serviceAccountName: {{ include "metalkube.fullname" . }}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- range . }}
  - {{ toYaml (merge (dict) . (dict "labelSelector" (dict "matchLabels" (include "metalkube.selectorLabels" $ | fromYaml)))) | nindent 4 | trim }}
  {{- end }}
{{- end }}
{{- if .Values.affinity }}
affinity:
  {{- toYaml .Values.affinity | nindent 2 }}
{{- else if gt (int (default 1 (index .Values "replicas"))) 1 }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "metalkube.selectorLabels" . | nindent 14 }}
{{- end }}
{{- end -}}

{{- define "metalkube.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "metalkube.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "metalkube.labels" . | nindent 4 }}
spec:
  {{- if index .Values.pdb "minAvailable" }}
  minAvailable: {{ .Values.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ default 1 (index .Values.pdb "maxUnavailable") }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "metalkube.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/* metalkube.metricsService: dict "ctx" . "port" N "scheme" http|https. */}}
{{- define "metalkube.metricsService" -}}
{{- $ := .ctx -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "metalkube.fullname" $ }}-metrics
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "metalkube.labels" $ | nindent 4 }}
  annotations:
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ .port | quote }}
    prometheus.io/scheme: {{ default "http" (index . "scheme") }}
spec:
  type: ClusterIP
  selector:
    {{- include "metalkube.selectorLabels" $ | nindent 4 }}
  ports:
    - name: metrics
      port: {{ .port }}
      targetPort: metrics
      protocol: TCP
{{- end -}}

{{/* The Service in front of a webhook server (443 -> the webhook port). */}}
{{- define "metalkube.webhookService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "metalkube.webhookServiceName" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "metalkube.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "metalkube.selectorLabels" . | nindent 4 }}
  ports:
    - name: https
      port: 443
      targetPort: webhook
      protocol: TCP
{{- end -}}

{{/*
metalkube.webhookClientConfig: dict "ctx" . "path" PATH. The webhook Service,
or webhook.url plus PATH where the API server cannot reach Services.
*/}}
{{- define "metalkube.webhookClientConfig" -}}
{{- $ := .ctx -}}
{{- $path := .path -}}
clientConfig:
  {{- with $.Values.webhook.url }}
  url: {{ printf "%s%s" . $path | quote }}
  {{- else }}
  service:
    name: {{ include "metalkube.fullname" $ }}-webhook
    namespace: {{ $.Release.Namespace }}
    path: {{ .path }}
    port: 443
  {{- end }}
  {{- with $.Values.webhook.caBundle }}
  caBundle: {{ b64enc . }}
  {{- else }}
  {{- if and (eq $.Values.webhook.failurePolicy "Fail") (not $.Values.webhook.certManager.enabled) }}
  {{- fail (printf "%s.webhook.caBundle is empty while %s.webhook.failurePolicy is Fail: the API server could not call the webhook and would reject every request it covers; set %s.webhook.caBundle to the PEM CA that signed the certificate in Secret %s, set %s.webhook.certManager.enabled (cert-manager issues the certificate and injects its CA), or failurePolicy Ignore" $.Chart.Name $.Chart.Name $.Chart.Name $.Values.webhook.tlsSecret $.Chart.Name) }}
  {{- end }}
  {{- end }}
{{- end -}}

{{/*
metalkube.webhookAnnotations: with webhook.certManager.enabled, cert-manager's
CA injector fills the webhook configuration's caBundle from the Certificate.
*/}}
{{- define "metalkube.webhookAnnotations" -}}
{{- if .Values.webhook.certManager.enabled }}
  annotations:
    cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "metalkube.fullname" . }}-webhook
{{- end }}
{{- end -}}

{{/*
metalkube.webhookCertificate: with webhook.certManager.enabled, the serving
certificate of the webhook Service, issued by webhook.certManager.issuerRef
or, when that names no issuer, by a self-signed Issuer of the release; its
Secret is webhook.tlsSecret, which the pod mounts. cert-manager renews it.
*/}}
{{- define "metalkube.webhookCertificate" -}}
{{- $c := .Values.webhook.certManager -}}
{{- if $c.enabled }}
{{- $name := printf "%s-webhook" (include "metalkube.fullname" .) }}
{{- if not $c.issuerRef.name }}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata:
  name: {{ $name }}-selfsigned
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "metalkube.labels" . | nindent 4 }}
spec:
  selfSigned: {}
{{- end }}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: {{ $name }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "metalkube.labels" . | nindent 4 }}
spec:
  secretName: {{ .Values.webhook.tlsSecret }}
  dnsNames:
    - {{ $name }}.{{ .Release.Namespace }}.svc
    - {{ $name }}.{{ .Release.Namespace }}.svc.cluster.local
  issuerRef:
    {{- if $c.issuerRef.name }}
    name: {{ $c.issuerRef.name }}
    kind: {{ $c.issuerRef.kind }}
    group: {{ $c.issuerRef.group }}
    {{- else }}
    name: {{ $name }}-selfsigned
    kind: Issuer
    group: cert-manager.io
    {{- end }}
  privateKey:
    algorithm: ECDSA
    size: 256
    rotationPolicy: Always
{{- end }}
{{- end -}}

{{/*
metalkube.podAnnotations: the pod template's annotations (podAnnotations),
rendered with their own indentation under the template's metadata.
*/}}
{{- define "metalkube.podAnnotations" -}}
{{- with .Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
{{- end }}
{{- end -}}

{{/*
metalkube.extraEnv: environment variables added to the component's container
(extraEnv, a list of EnvVar), rendered with their own indentation. Never put
credentials here as literal values: use valueFrom.secretKeyRef.
*/}}
{{- define "metalkube.extraEnv" -}}
{{- with .Values.extraEnv }}
          env:
            {{- toYaml . | nindent 12 }}
{{- end }}
{{- end -}}

{{/*
metalkube.serviceMonitor: with global.serviceMonitor.enabled, a Prometheus
Operator ServiceMonitor for the component's metrics Service: dict "ctx" .
"scheme" SCHEME (https: the ccm's secure port, scraped with the
ServiceAccount token of Prometheus).
*/}}
{{- define "metalkube.serviceMonitor" -}}
{{- $ := .ctx -}}
{{- $sm := $.Values.global.serviceMonitor -}}
{{- if $sm.enabled }}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "metalkube.fullname" $ }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "metalkube.labels" $ | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "metalkube.selectorLabels" $ | nindent 6 }}
  endpoints:
    - port: metrics
      scheme: {{ default "http" (index . "scheme") }}
      {{- with $sm.interval }}
      interval: {{ . }}
      {{- end }}
      {{- if eq (index . "scheme") "https" }}
      bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
      tlsConfig:
        insecureSkipVerify: true
      {{- end }}
{{- end }}
{{- end -}}

{{/*
metalkube.networkPolicy: with global.networkPolicy.enabled, a NetworkPolicy
that admits traffic to the component's pods only on their declared ports:
probes and webhook from anywhere (the kubelet and the API server), metrics
from global.networkPolicy.metricsFrom (empty: anywhere). dict "ctx" .
"metricsServesProbes" BOOL (ccm and mcm answer their probes on the metrics
port, which then stays open to all). With global.networkPolicy.egress.enabled
it also allows only the connections the component makes: DNS, the API
servers and, for the components with a backend, the backend. Not for
host-network pods (the firewall), which NetworkPolicies do not cover.
*/}}
{{- define "metalkube.networkPolicy" -}}
{{- $ := .ctx -}}
{{- $np := $.Values.global.networkPolicy -}}
{{- if $np.enabled }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "metalkube.fullname" $ }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "metalkube.labels" $ | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "metalkube.selectorLabels" $ | nindent 6 }}
  {{- $eg := $np.egress }}
  policyTypes: [Ingress{{ if $eg.enabled }}, Egress{{ end }}]
  {{- if $eg.enabled }}
  {{- if not $eg.apiServer }}
  {{- fail "global.networkPolicy.egress.apiServer is required with global.networkPolicy.egress.enabled: without it no component could reach its Kubernetes API server; list it as NetworkPolicyPeers (e.g. ipBlock: {cidr: 10.0.0.1/32})" }}
  {{- end }}
  {{- $b := $.Values.global.backend }}
  {{- /* The extension has no backend of its own: it reaches the backends
  its shoots' cloudprovider Secrets name, which egress.backend lists. */}}
  {{- $usesBackend := has $.Chart.Name (list "ccm" "lb" "mcm" "capi") }}
  {{- $remoteBackend := or (eq $b.name "metalstack") $b.kubeconfigSecret.name }}
  {{- if and $usesBackend $remoteBackend (not $eg.backend) }}
  {{- fail (printf "global.networkPolicy.egress.backend is required with global.networkPolicy.egress.enabled and global.backend.name=%s%s: %s could not reach the bare-metal backend; list it as NetworkPolicyPeers" $b.name (ternary " with a kubeconfigSecret" "" (not (not $b.kubeconfigSecret.name))) $.Chart.Name) }}
  {{- end }}
  egress:
    - ports:
        - {port: 53, protocol: UDP}
        - {port: 53, protocol: TCP}
      {{- with $eg.dns }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    - to:
        {{- toYaml $eg.apiServer | nindent 8 }}
    {{- if and (or $usesBackend (eq $.Chart.Name "extension")) $eg.backend }}
    - to:
        {{- toYaml $eg.backend | nindent 8 }}
    {{- end }}
    {{- with $eg.extra }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
  ingress:
    - ports:
        - {port: probes, protocol: TCP}
        - {port: webhook, protocol: TCP}
        {{- if .metricsServesProbes }}
        - {port: metrics, protocol: TCP}
        {{- end }}
    {{- if not .metricsServesProbes }}
    - ports:
        - {port: metrics, protocol: TCP}
      {{- with $np.metricsFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
{{- end }}
{{- end -}}

{{/*
metalkube.components: the names of the subcharts, as a JSON list. Each is
switched with <name>.enabled; none is on by default, since they belong in
different clusters (see presets/).
*/}}
{{- define "metalkube.components" -}}
["ccm", "lb", "mcm", "os", "firewall", "extension", "admission", "csi", "capi"]
{{- end }}

{{/*
metalkube.extraVolumeMounts / metalkube.extraVolumes: the component's
extraVolumeMounts and extraVolumes as list items (no key), for the
container's volumeMounts and the pod's volumes.
*/}}
{{- define "metalkube.extraVolumeMounts" -}}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "metalkube.extraVolumes" -}}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
metalkube.volumeMounts / metalkube.volumes: the backend's credential mounts
and volumes followed by the extra ones, as list items; empty when there are
none.
*/}}
{{- define "metalkube.volumeMounts" -}}
{{- $parts := list }}
{{- with include "metalkube.backendVolumeMounts" . | trim }}{{ $parts = append $parts . }}{{ end }}
{{- with include "metalkube.extraVolumeMounts" . | trim }}{{ $parts = append $parts . }}{{ end }}
{{- join "\n" $parts }}
{{- end -}}

{{- define "metalkube.volumes" -}}
{{- $parts := list }}
{{- with include "metalkube.backendVolumes" . | trim }}{{ $parts = append $parts . }}{{ end }}
{{- with include "metalkube.extraVolumes" . | trim }}{{ $parts = append $parts . }}{{ end }}
{{- join "\n" $parts }}
{{- end -}}

{{/*
metalkube.generatedWebhookName: with webhook.generated, the name Gardener's
webhook library gives the webhook configurations it registers and the
Service they call (gardener-extension-<its name>).
*/}}
{{- define "metalkube.generatedWebhookName" -}}
gardener-extension-{{ ternary "provider-metalkube" "admission-metalkube" (eq .Chart.Name "extension") }}
{{- end -}}

{{/* metalkube.webhookServiceName: the Service the API server calls. */}}
{{- define "metalkube.webhookServiceName" -}}
{{- if get .Values.webhook "generated" -}}
{{ include "metalkube.generatedWebhookName" . }}
{{- else -}}
{{ include "metalkube.fullname" . }}-webhook
{{- end -}}
{{- end -}}

{{/*
metalkube.webhookFlags: the webhook server's flags. With webhook.generated
the component makes its own CA and serving certificate (kept in Secrets of
the release namespace, renewed before they expire) into an emptyDir and
registers its webhook configurations with that CA itself; otherwise it
serves the certificate mounted from webhook.tlsSecret and the chart renders
the configurations.
*/}}
{{- define "metalkube.webhookFlags" -}}
{{- $w := .Values.webhook -}}
{{- $flags := list (list "webhook-config-server-port" $w.port) (list "webhook-config-cert-dir" "/etc/metalkube/webhook-tls") -}}
{{- if $w.generated -}}
{{- if $w.certManager.enabled -}}
{{- fail (printf "%s.webhook.generated and %s.webhook.certManager.enabled both manage the webhook certificate: choose one" .Chart.Name .Chart.Name) -}}
{{- end -}}
{{- $flags = append $flags (list "webhook-config-namespace" .Release.Namespace) -}}
{{- if $w.url -}}
{{- $flags = append $flags (list "webhook-config-mode" "url") -}}
{{- $flags = append $flags (list "webhook-config-url" (trimPrefix "https://" $w.url)) -}}
{{- else -}}
{{- $flags = append $flags (list "webhook-config-mode" "service") -}}
{{- $flags = append $flags (list "webhook-config-service-port" 443) -}}
{{- end -}}
{{- end -}}
{{- include "metalkube.flags" $flags -}}
{{- end -}}

{{/* metalkube.webhookVolume: where the webhook server's certificate comes from. */}}
{{- define "metalkube.webhookVolume" -}}
- name: webhook-tls
{{- if .Values.webhook.generated }}
  emptyDir: {}
{{- else }}
  secret:
    secretName: {{ .Values.webhook.tlsSecret }}
    defaultMode: 0440
    items:
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
{{- end }}
{{- end -}}

{{/*
metalkube.generatedWebhookRBAC: with webhook.generated, what Gardener's
webhook library needs: its webhook configurations (created, then only the
one of its own name), and the certificate Secrets in the release namespace.
*/}}
{{- define "metalkube.generatedWebhookRBAC" -}}
{{- if .Values.webhook.generated }}
{{- $name := include "metalkube.generatedWebhookName" . }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ include "metalkube.fullname" . }}-webhook-registration
  labels:
    {{- include "metalkube.labels" . | nindent 4 }}
rules:
  # The library watches the configurations (an informer lists them all) and
  # writes only its own.
  - apiGroups: [admissionregistration.k8s.io]
    resources: [mutatingwebhookconfigurations, validatingwebhookconfigurations]
    verbs: [create, list, watch]
  - apiGroups: [admissionregistration.k8s.io]
    resources: [mutatingwebhookconfigurations, validatingwebhookconfigurations]
    resourceNames: [{{ $name }}]
    verbs: [get, update, patch, delete]
  # It watches Namespaces for the webhooks' namespace selectors.
  - apiGroups: [""]
    resources: [namespaces]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ include "metalkube.fullname" . }}-webhook-registration
  labels:
    {{- include "metalkube.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ include "metalkube.fullname" . }}-webhook-registration
subjects:
  - kind: ServiceAccount
    name: {{ include "metalkube.fullname" . }}
    namespace: {{ .Release.Namespace }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ include "metalkube.fullname" . }}-webhook-certificates
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "metalkube.labels" . | nindent 4 }}
rules:
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get, list, watch, create, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ include "metalkube.fullname" . }}-webhook-certificates
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "metalkube.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ include "metalkube.fullname" . }}-webhook-certificates
subjects:
  - kind: ServiceAccount
    name: {{ include "metalkube.fullname" . }}
    namespace: {{ .Release.Namespace }}
{{- end }}
{{- end -}}
