package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	flagCSIAddress   = "csi-address"
	flagHTTPEndpoint = "http-endpoint"
	flagProbeTimeout = "probe-timeout"
)

func main() {
	address := flag.String(flagCSIAddress, "", "the driver's CSI socket (required)")
	endpoint := flag.String(flagHTTPEndpoint, "", "address of /healthz, e.g. :9808 (required)")
	timeout := flag.Duration(flagProbeTimeout, time.Second, "timeout of one Probe call")
	flag.Parse()
	if err := run(*address, *endpoint, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "csilivenessprobe:", err)
		os.Exit(1)
	}
}

func run(address, endpoint string, timeout time.Duration) error {
	if address == "" || endpoint == "" {
		return fmt.Errorf("--%s and --%s are required", flagCSIAddress, flagHTTPEndpoint)
	}
	target := address
	if !strings.HasPrefix(target, "unix:") {
		target = "unix://" + address
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	identity := csi.NewIdentityClient(conn)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		resp, err := identity.Probe(ctx, &csi.ProbeRequest{})
		switch {
		case err != nil:
			http.Error(w, "probe: "+err.Error(), http.StatusInternalServerError)
		case resp.GetReady() != nil && !resp.GetReady().GetValue():
			http.Error(w, "the driver is not ready", http.StatusInternalServerError)
		default:
			fmt.Fprintln(w, "ok")
		}
	})
	srv := &http.Server{Addr: endpoint, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}
