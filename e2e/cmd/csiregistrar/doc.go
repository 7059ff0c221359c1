// Command csiregistrar stands in for kubernetes-csi's node-driver-registrar
// in the real-node test bed (e2e/realnode), whose module the Go module proxy
// refuses (403 for every version): it asks the driver for its name over
// --csi-address, serves the kubelet's plugin registration API
// (k8s.io/kubelet pluginregistration v1) on /registration/<name>-reg.sock
// with --kubelet-registration-path as the driver's endpoint, and exits when
// the kubelet reports a failed registration. With
// --mode=kubelet-registration-probe it succeeds only once a registration
// succeeded (the file "registration" next to the kubelet's socket path), as
// the upstream sidecar does. The real kubelet checks what it serves: a
// driver it did not register cannot mount a volume.
package main
