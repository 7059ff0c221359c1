{{/*
Helpers of the csi subchart. Its two workloads, the controller Deployment and
the node DaemonSet, share the component's labels; csi.role tells them apart
(their PodDisruptionBudgets select one each).
*/}}

{{- define "csi.roleLabel" -}}metalkube.io/csi-role{{- end -}}

{{/* csi.selectorLabels: dict "ctx" . "role" controller|node. */}}
{{- define "csi.selectorLabels" -}}
{{ include "metalkube.selectorLabels" .ctx }}
{{ include "csi.roleLabel" . }}: {{ .role }}
{{- end -}}

{{/* The node plugin's image: the metalkube binary with lvm2 and the file system tools. */}}
{{- define "csi.nodeImage" -}}
{{- $img := .Values.node.image -}}
{{- printf "%s:%s" $img.repository (default (default .Chart.AppVersion .Values.global.image.tag) $img.tag) -}}
{{- end -}}

{{/* csi.sidecarImage: one of .Values.sidecars. */}}
{{- define "csi.sidecarImage" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{/* Where the CSI socket is, inside every container of a csi pod. */}}
{{- define "csi.socketDir" -}}/csi{{- end -}}

{{/*
csi.sidecarSecurityContext: the upstream sidecars, unprivileged with every
capability dropped; dict "uid" N (65532 in the controller, 0 in the node pod,
whose socket and the kubelet's plugin registry are root's).
*/}}
{{- define "csi.sidecarSecurityContext" -}}
runAsNonRoot: {{ ne (int .uid) 0 }}
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* csi.livenessprobe: the livenessprobe sidecar, /healthz on healthPort calls the driver's Probe. dict "ctx" . "uid" N. */}}
{{- define "csi.livenessprobe" -}}
{{- $v := .ctx.Values -}}
- name: livenessprobe
  image: {{ include "csi.sidecarImage" $v.sidecars.livenessProbe }}
  imagePullPolicy: IfNotPresent
  args:
    - "--csi-address={{ include "csi.socketDir" . }}/csi.sock"
    - "--http-endpoint=:{{ $v.healthPort }}"
  ports:
    - name: probes
      containerPort: {{ $v.healthPort }}
      protocol: TCP
  resources:
    {{- toYaml $v.sidecars.livenessProbe.resources | nindent 4 }}
  securityContext:
    {{- include "csi.sidecarSecurityContext" (dict "uid" .uid) | nindent 4 }}
  volumeMounts:
    - name: socket-dir
      mountPath: {{ include "csi.socketDir" . }}
{{- end -}}

{{/* csi.probes: the driver container's probes, answered by the livenessprobe sidecar (a port number: named ports are the container's own). */}}
{{- define "csi.probes" -}}
livenessProbe:
  httpGet: {path: /healthz, port: {{ .Values.healthPort }}}
  initialDelaySeconds: 10
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 5
readinessProbe:
  httpGet: {path: /healthz, port: {{ .Values.healthPort }}}
  periodSeconds: 10
  timeoutSeconds: 5
{{- end -}}
