package metalapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/metalkube/metalkube/shared/metalapi"
)

func TestEmulatorAuthAndOutage(t *testing.T) {
	e := metalapi.New(metalapi.Config{Machines: metalapi.Inventory("00000001", "p", "s", 1), Token: "t"})
	defer e.Close()
	do := func(method, path, token string) int {
		req, _ := http.NewRequest(method, e.URL()+path, strings.NewReader("{}"))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name, method, path, token string
		outage                    bool
		want                      int
	}{
		{name: "health is open", method: "GET", path: "/v1/health", want: 200},
		{name: "version is open", method: "GET", path: "/v1/version", want: 200},
		{name: "find needs credentials", method: "POST", path: "/v1/machine/find", want: 401},
		{name: "find with a wrong token", method: "POST", path: "/v1/machine/find", token: "x", want: 401},
		{name: "find with the token", method: "POST", path: "/v1/machine/find", token: "t", want: 200},
		{name: "unknown machine", method: "GET", path: "/v1/machine/nope", token: "t", want: 404},
		{name: "outage answers 503", method: "GET", path: "/v1/health", outage: true, want: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.SetOutage(tt.outage)
			defer e.SetOutage(false)
			if got := do(tt.method, tt.path, tt.token); got != tt.want {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, got, tt.want)
			}
		})
	}
}
