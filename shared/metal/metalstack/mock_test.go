package metalstack_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/metal-stack/metal-go/api/client/health"
	"github.com/metal-stack/metal-go/api/client/machine"
	"github.com/metal-stack/metal-go/api/client/network"
	"github.com/metal-stack/metal-go/api/client/project"
	"github.com/metal-stack/metal-go/api/client/version"
	"github.com/metal-stack/metal-go/api/models"
	testclient "github.com/metal-stack/metal-go/test/client"
	"github.com/metal-stack/metal-lib/httperrors"
	"github.com/stretchr/testify/mock"

	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/metalstack"
)

const mockURL = "https://metal.example.com/metal"

// mockBackend returns a backend on metal-go's own mock client.
func mockBackend(t *testing.T, fns *testclient.MetalMockFns) *metalstack.Backend {
	t.Helper()
	_, c := testclient.NewMetalMockClient(t, fns)
	b, err := metalstack.New(metalstack.Config{URL: mockURL, Client: c, Project: projectID, Partition: partition})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func healthy(m *mock.Mock) {
	m.On("Health", mock.Anything, mock.Anything).Return(&health.HealthOK{Payload: &models.RestHealthResponse{Status: new("healthy"), Message: new("ok")}}, nil)
}

func versionIs(v, minClient string) func(*mock.Mock) {
	return func(m *mock.Mock) {
		m.On("Info", mock.Anything, mock.Anything).Return(&version.InfoOK{Payload: &models.RestVersion{Version: new(v), MinClientVersion: new(minClient)}}, nil)
	}
}

func projectAnswers(err error) func(*mock.Mock) {
	return func(m *mock.Mock) {
		if err != nil {
			m.On("FindProject", mock.Anything, mock.Anything).Return(nil, err)
			return
		}
		m.On("FindProject", mock.Anything, mock.Anything).Return(&project.FindProjectOK{Payload: &models.V1ProjectResponse{Name: projectID}}, nil)
	}
}

func projectDefault(code int, msg string) error {
	d := project.NewFindProjectDefault(code)
	d.Payload = &httperrors.HTTPErrorResponse{StatusCode: code, Message: msg}
	return d
}

func TestHealthyWithMockClient(t *testing.T) {
	tests := []struct {
		name string
		fns  testclient.MetalMockFns
		// kind is the metal error kind; cause an error it must also wrap.
		kind, cause error
		text        []string
	}{
		{
			name: "healthy",
			fns:  testclient.MetalMockFns{Health: healthy, Version: versionIs("v0.43.1", "v0.40.0"), Project: projectAnswers(nil)},
		},
		{
			name: "credentials rejected",
			fns: testclient.MetalMockFns{Health: healthy, Version: versionIs("v0.43.1", "v0.40.0"),
				Project: projectAnswers(projectDefault(401, "invalid hmac"))},
			kind: metal.ErrInvalid, cause: metalstack.ErrUnauthorized, text: []string{mockURL, "401", "invalid hmac"},
		},
		{
			name: "credentials lack the right",
			fns: testclient.MetalMockFns{Health: healthy, Version: versionIs("v0.43.1", "v0.40.0"),
				Project: projectAnswers(projectDefault(403, "viewer may not"))},
			kind: metal.ErrInvalid, cause: metalstack.ErrUnauthorized, text: []string{mockURL, "403"},
		},
		{
			name: "project missing",
			fns: testclient.MetalMockFns{Health: healthy, Version: versionIs("v0.43.1", "v0.40.0"),
				Project: projectAnswers(projectDefault(404, "not found"))},
			kind: metal.ErrInvalid, text: []string{mockURL, projectID},
		},
		{
			name: "metal-api too old for this backend",
			fns:  testclient.MetalMockFns{Health: healthy, Version: versionIs("v0.30.2", "v0.20.0")},
			kind: metal.ErrInvalid, cause: metalstack.ErrIncompatible, text: []string{mockURL, "v0.30.2", metalstack.MinAPIVersion},
		},
		{
			name: "metal-api requires a newer client",
			fns:  testclient.MetalMockFns{Health: healthy, Version: versionIs("v0.60.0", "v0.55.0")},
			kind: metal.ErrInvalid, cause: metalstack.ErrIncompatible, text: []string{mockURL, "v0.55.0"},
		},
		{
			name: "development build of metal-api is not judged",
			fns:  testclient.MetalMockFns{Health: healthy, Version: versionIs("devel", ""), Project: projectAnswers(nil)},
		},
		{
			name: "unhealthy",
			fns: testclient.MetalMockFns{Health: func(m *mock.Mock) {
				e := health.NewHealthInternalServerError()
				e.Payload = &models.RestHealthResponse{Status: new("unhealthy"), Message: new("rethinkdb down")}
				m.On("Health", mock.Anything, mock.Anything).Return(nil, e)
			}},
			kind: metal.ErrUnavailable, text: []string{mockURL, "rethinkdb down"},
		},
		{
			name: "degraded",
			fns: testclient.MetalMockFns{Health: func(m *mock.Mock) {
				m.On("Health", mock.Anything, mock.Anything).Return(&health.HealthOK{Payload: &models.RestHealthResponse{Status: new("degraded"), Message: new("ipam slow")}}, nil)
			}},
			kind: metal.ErrUnavailable, text: []string{"degraded"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mockBackend(t, &tt.fns)
			err := b.Healthy(context.Background())
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("healthy: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want kind %v", err, tt.kind)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.cause)
			}
			for _, s := range tt.text {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestErrorMappingWithMockClient(t *testing.T) {
	privateNetwork := func(m *mock.Mock) {
		m.On("FindNetworks", mock.Anything, mock.Anything).Return(&network.FindNetworksOK{Payload: []*models.V1NetworkResponse{{
			ID: new("net-c1"), Projectid: projectID, Partitionid: partition, Parentnetworkid: "tenant-super",
			Labels: map[string]string{metalstack.TagCluster: "c1"}}}}, nil)
	}
	findNone := func(m *mock.Mock) {
		m.On("FindIPMIMachines", mock.Anything, mock.Anything).Return(&machine.FindIPMIMachinesOK{Payload: []*models.V1MachineIPMIResponse{}}, nil)
	}
	allocateAnswers := func(code int, msg string) func(*mock.Mock) {
		return func(m *mock.Mock) {
			findNone(m)
			d := machine.NewAllocateMachineDefault(code)
			d.Payload = &httperrors.HTTPErrorResponse{StatusCode: code, Message: msg}
			m.On("AllocateMachine", mock.Anything, mock.Anything).Return(nil, d)
		}
	}
	tests := []struct {
		name  string
		code  int
		msg   string
		kind  error
		cause error
	}{
		// The messages are metal-api v0.43.1's (datastore.FindWaitingMachine,
		// service.allocateRandomIP, networkResource.createChildPrefix).
		{name: "no machine available is no capacity", code: 422, msg: "no machine available", kind: metal.ErrNoCapacity},
		{name: "ip exhaustion on a 500 is no capacity", code: 500,
			msg: "unable to make networks:unable to allocate an ip in network: internet Internal cannot allocate free ip in ipam, no ips left", kind: metal.ErrNoCapacity},
		{name: "child prefix exhaustion on a 422 is no capacity", code: 422,
			msg: "cannot allocate free child prefix in ipam: error creating new prefix from:10.0.0.0/16 in ipam: internal: no more child prefixes contained in prefix pool", kind: metal.ErrNoCapacity},
		{name: "a contended partition lock is retryable", code: 422, msg: "too many parallel machine allocations taking place, try again later", kind: metal.ErrUnavailable},
		{name: "422 is invalid", code: 422, msg: "image ubuntu-99 not found", kind: metal.ErrInvalid},
		{name: "400 is invalid", code: 400, msg: "bad body", kind: metal.ErrInvalid},
		{name: "409 is conflict", code: 409, msg: "already allocated", kind: metal.ErrConflict},
		{name: "503 is unavailable", code: 503, msg: "maintenance", kind: metal.ErrUnavailable},
		{name: "429 is unavailable", code: 429, msg: "slow down", kind: metal.ErrUnavailable},
		{name: "401 is an invalid credential", code: 401, msg: "token expired", kind: metal.ErrInvalid, cause: metalstack.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mockBackend(t, &testclient.MetalMockFns{Network: privateNetwork, Machine: allocateAnswers(tt.code, tt.msg)})
			_, err := b.AllocateMachine(context.Background(), metal.MachineSpec{Name: "m1", Cluster: "c1", Size: "c1-large", Image: "ubuntu-24.04"})
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want kind %v", err, tt.kind)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.cause)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q drops metal-api's message %q", err, tt.msg)
			}
			if tt.kind == metal.ErrNoCapacity && !strings.Contains(err.Error(), "c1-large") {
				t.Errorf("no-capacity error %q does not name the size", err)
			}
		})
	}
}

func TestMachineReadsNeedTheProject(t *testing.T) {
	other := "proj-2"
	b := mockBackend(t, &testclient.MetalMockFns{Machine: func(m *mock.Mock) {
		m.On("FindIPMIMachine", mock.Anything, mock.Anything).Return(&machine.FindIPMIMachineOK{Payload: &models.V1MachineIPMIResponse{
			ID: new("m-1"), Allocation: &models.V1MachineAllocation{Project: &other, Name: new("x")}}}, nil)
	}})
	if _, err := b.GetMachine(context.Background(), "m-1"); !metal.IsNotFound(err) {
		t.Fatalf("get machine of another project: err = %v, want ErrNotFound", err)
	}
	// Freeing it must not call metal-api's free (the mock would fail on an
	// unexpected call).
	if err := b.FreeMachine(context.Background(), "m-1", metal.Owner{Cluster: "c1", Name: "x"}); err != nil {
		t.Fatalf("free machine of another project: %v, want nil (nothing to do)", err)
	}
}
