package admission

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/metalkube/metalkube/components/extension/scheme"
)

// review posts an AdmissionReview for obj to the TLS server and returns the
// response.
func review(t *testing.T, srv *httptest.Server, path, kind string, obj []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	rev := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("1"),
			Kind:      metav1.GroupVersionKind{Group: "core.gardener.cloud", Version: "v1beta1", Kind: kind},
			Resource:  metav1.GroupVersionResource{Group: "core.gardener.cloud", Version: "v1beta1", Resource: strings.ToLower(kind) + "s"},
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: obj},
		},
	}
	b, _ := json.Marshal(rev)
	resp, err := srv.Client().Post(srv.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Response
}

// TestWebhooksOverTLS serves the validating and mutating webhooks over TLS
// through gardener's webhook library and sends them AdmissionReviews.
func TestWebhooksOverTLS(t *testing.T) {
	mgr, err := manager.New(&rest.Config{Host: "https://127.0.0.1:1"}, manager.Options{Scheme: scheme.Garden(), Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	val, err := NewValidatingWebhook(mgr)
	if err != nil {
		t.Fatal(err)
	}
	mut, err := NewMutatingWebhook(mgr)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(val.Path, val.Webhook)
	mux.Handle(mut.Path, mut.Webhook)
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()

	good := loadBase(t, "shoot")
	if r := review(t, srv, val.Path, "Shoot", good); !r.Allowed {
		t.Fatalf("valid Shoot denied: %v", r.Result)
	}
	bad, err := jsonpatch.MergePatch(good, []byte(`{"spec":{"provider":{"infrastructureConfig":{"networks":{"prefixLength":40}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	r := review(t, srv, val.Path, "Shoot", bad)
	if r.Allowed || !strings.Contains(r.Result.Message, "spec.provider.infrastructureConfig.networks.prefixLength: Invalid value: 40") {
		t.Fatalf("invalid Shoot: allowed=%v message=%q", r.Allowed, r.Result.Message)
	}

	noCP, err := jsonpatch.MergePatch(good, []byte(`{"spec":{"provider":{"controlPlaneConfig":null}}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := review(t, srv, mut.Path, "Shoot", noCP)
	if !m.Allowed || len(m.Patch) == 0 || !strings.Contains(string(m.Patch), "metallb") {
		t.Fatalf("mutator: allowed=%v patch=%s", m.Allowed, m.Patch)
	}
}
