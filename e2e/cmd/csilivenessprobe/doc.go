// Command csilivenessprobe stands in for kubernetes-csi's livenessprobe in
// the real-node test bed (e2e/realnode), whose module the Go module proxy
// refuses (403 for every version): GET /healthz on --http-endpoint calls the
// driver's CSI Probe over --csi-address and answers 200 only when the driver
// reports itself ready, 500 otherwise.
package main
