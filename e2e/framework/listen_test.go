package framework

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"testing"
)

func TestParseProcAddr(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "IPv4 loopback", in: "0100007F:1F90", want: "127.0.0.1:8080"},
		{name: "IPv4 any", in: "00000000:0050", want: "0.0.0.0:80"},
		{name: "IPv6 any", in: "00000000000000000000000000000000:2A9A", want: "[::]:10906"},
		{name: "IPv6 loopback", in: "00000000000000000000000001000000:0016", want: "[::1]:22"},
		{name: "IPv4-mapped loopback", in: "0000000000000000FFFF00000100007F:0016", want: "127.0.0.1:22"},
		{name: "no port", in: "0100007F", wantErr: true},
		{name: "odd length", in: "0100007:0016", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcAddr(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && got.String() != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestListenersAndEndpoints: this process's own listener is found in /proc
// and its health path is reported, a path it does not serve is not.
func TestListenersAndEndpoints(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	want := netip.MustParseAddrPort(l.Addr().String())
	addrs, err := Listeners(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(addrs, want) {
		t.Fatalf("listeners %v lack %s", addrs, want)
	}
	eps := ProbeEndpoints(context.Background(), []netip.AddrPort{want}, "")
	if len(eps) != 1 || eps[0].URL != "http://"+want.String()+"/healthz" || eps[0].Status != http.StatusOK {
		t.Errorf("endpoints = %+v, want only /healthz with 200", eps)
	}
}
