package fleet

import (
	"net/http"
	"sync/atomic"

	"k8s.io/client-go/rest"
)

// Outage is an API outage switch: clients built from a config it wrapped get
// 503 Service Unavailable for every request while it is on. The zero value
// is off.
type Outage struct{ down atomic.Bool }

// Wrap returns a copy of cfg whose requests fail while the outage is on.
func (o *Outage) Wrap(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper { return outageTripper{rt: rt, down: &o.down} })
	return c
}

// Set switches the outage on or off.
func (o *Outage) Set(down bool) { o.down.Store(down) }

type outageTripper struct {
	rt   http.RoundTripper
	down *atomic.Bool
}

func (t outageTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.down.Load() {
		return t.rt.RoundTrip(req)
	}
	body := `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"fleet: backend outage","reason":"ServiceUnavailable","code":503}`
	return &http.Response{
		StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": []string{"application/json"}}, Body: readCloser(body), ContentLength: int64(len(body)), Request: req,
	}, nil
}
