package metalstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-openapi/runtime"
	metalgo "github.com/metal-stack/metal-go"
	"github.com/metal-stack/metal-go/api/client/health"
	"github.com/metal-stack/metal-go/api/client/partition"
	"github.com/metal-stack/metal-go/api/client/project"
	"github.com/metal-stack/metal-go/api/client/version"
	"github.com/metal-stack/metal-lib/httperrors"

	"github.com/metalkube/metalkube/shared/metal"
)

var (
	_ metal.Client       = (*Backend)(nil)
	_ Firewalls          = (*Backend)(nil)
	_ metal.IPTagUpdater = (*Backend)(nil)
)

// BackendName is what Backend() returns.
const BackendName = "metalstack"

// DefaultHMACAuthType is the HMAC auth type used when none is configured, the
// one metal-go's older driver defaulted to.
const DefaultHMACAuthType = "Metal-Admin"

// ErrUnauthorized is wrapped by errors for requests metal-api refused because
// of the credentials (401/403). Such errors are of kind metal.ErrInvalid:
// retrying does not help.
var ErrUnauthorized = errors.New("credentials rejected")

// ErrIncompatible is wrapped (kind metal.ErrInvalid) when metal-api's version
// and this client's do not fit together.
var ErrIncompatible = errors.New("incompatible metal-api version")

// MinAPIVersion is the oldest metal-api this backend talks to: the one whose
// endpoints and fields it uses all exist.
const MinAPIVersion = "v0.40.0"

// metalGoModule is the module whose version this client reports.
const metalGoModule = "github.com/metal-stack/metal-go"

// fallbackClientVersion is the metal-go version go.mod pins, used when the
// binary carries no build information.
const fallbackClientVersion = "v0.43.1"

// Config configures the backend.
type Config struct {
	// URL of metal-api, e.g. https://api.metal.example.com/metal.
	URL string
	// Token is a bearer token; HMAC a shared key with HMACAuthType (default
	// Metal-Admin). One of them is needed unless Client is set.
	Token        string
	HMAC         string
	HMACAuthType string
	// Client, if set, is used instead of building one from URL and
	// credentials (tests with metal-go's mock client). URL still names the
	// API in errors.
	Client metalgo.Client

	// Project owns every machine, IP and network the backend allocates.
	Project string
	// Partition is the default partition of machines and networks.
	Partition string
	// Region is reported for machines (metal-api partitions carry no region).
	Region string
	// Networks are attached to every machine in addition to the cluster's
	// private network, e.g. the internet network.
	Networks []string
	// DNSServers and NTPServers are handed to every machine (metal-api
	// takes at most 3 and 5).
	DNSServers, NTPServers []string

	// RequirePrivateNetwork makes machine allocation fail (ErrInvalid
	// wrapping ErrNoPrivateNetwork) when the cluster has no private network
	// in the partition. By default the backend allocates one, named
	// DefaultPrivateNetworkName, as metal-api allocates no machine without one.
	RequirePrivateNetwork bool

	// WaitTimeout bounds how long power changes, machine frees and network
	// frees wait for metal-api to report their result (metal-bmc reports
	// power, the async actor releases IPs, metal-hammer reclaims machines);
	// default DefaultWaitTimeout. PollInterval is how often they ask;
	// default DefaultPollInterval.
	WaitTimeout, PollInterval time.Duration
}

// Defaults of Config.
const (
	DefaultWaitTimeout        = 10 * time.Minute
	DefaultPollInterval       = 2 * time.Second
	DefaultPrivateNetworkName = "nodes"
)

// ErrNoPrivateNetwork is wrapped (kind metal.ErrInvalid) when a machine is
// to be allocated for a cluster without a private network in the partition
// and Config.RequirePrivateNetwork is set: metal-api refuses such an
// allocation ("no private network given").
var ErrNoPrivateNetwork = errors.New("cluster has no private network in the partition")

// Backend is the metalstack backend. Safe for concurrent use.
type Backend struct {
	cfg Config
	c   metalgo.Client

	// locks serialises allocations of one (cluster, name) in this process, so
	// that two concurrent calls cannot both miss the find and allocate twice.
	locks keyedMutex

	mu            sync.Mutex
	versionOK     bool
	clientVersion string
}

// New returns a backend for cfg. It does not contact metal-api; Healthy does.
func New(cfg Config) (*Backend, error) {
	if cfg.Project == "" {
		return nil, metal.Errorf(metal.ErrInvalid, "configure metalstack backend", "", "project is empty")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, metal.Errorf(metal.ErrInvalid, "configure metalstack backend", "", "metal-api URL %q: want http(s)://host[:port][/path]", cfg.URL)
	}
	c := cfg.Client
	if c == nil {
		var opts []metalgo.ClientOption
		switch {
		case cfg.HMAC != "":
			t := cfg.HMACAuthType
			if t == "" {
				t = DefaultHMACAuthType
			}
			opts = append(opts, metalgo.HMACAuth(cfg.HMAC, t))
		case cfg.Token != "":
			opts = append(opts, metalgo.BearerToken(cfg.Token))
		default:
			return nil, metal.Errorf(metal.ErrInvalid, "configure metalstack backend", "", "metal-api at %s: neither an HMAC key nor a token is configured", cfg.URL)
		}
		c, err = metalgo.NewClient(cfg.URL, opts...)
		if err != nil {
			return nil, metal.Wrap(metal.ErrInvalid, "configure metalstack backend", "", fmt.Errorf("metal-api at %s: %w", cfg.URL, err))
		}
	}
	if len(cfg.DNSServers) > 3 {
		return nil, metal.Errorf(metal.ErrInvalid, "configure metalstack backend", "", "%d DNS servers %v: metal-api takes at most 3", len(cfg.DNSServers), cfg.DNSServers)
	}
	if len(cfg.NTPServers) > 5 {
		return nil, metal.Errorf(metal.ErrInvalid, "configure metalstack backend", "", "%d NTP servers %v: metal-api takes at most 5", len(cfg.NTPServers), cfg.NTPServers)
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = DefaultWaitTimeout
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	return &Backend{cfg: cfg, c: c, clientVersion: clientVersion()}, nil
}

// Backend implements metal.Client.
func (b *Backend) Backend() string { return BackendName }

// Healthy implements metal.Health: metal-api answers and reports healthy,
// its version fits this client (checked once), and the credentials may read
// the project.
func (b *Backend) Healthy(ctx context.Context) error {
	const op = "health"
	h, err := b.c.Health().Health(health.NewHealthParams().WithContext(ctx), nil)
	if err != nil {
		var ise *health.HealthInternalServerError
		if errors.As(err, &ise) && ise.Payload != nil {
			return metal.Errorf(metal.ErrUnavailable, op, "", "metal-api at %s reports %s: %s", b.cfg.URL, deref(ise.Payload.Status), deref(ise.Payload.Message))
		}
		return b.wrap(op, "", err)
	}
	if s := deref(h.Payload.Status); s != "" && s != "healthy" {
		return metal.Errorf(metal.ErrUnavailable, op, "", "metal-api at %s reports %s: %s", b.cfg.URL, s, deref(h.Payload.Message))
	}
	if err := b.checkVersion(ctx); err != nil {
		return err
	}
	if _, err := b.c.Project().FindProject(project.NewFindProjectParams().WithContext(ctx).WithID(b.cfg.Project), nil); err != nil {
		if metal.IsNotFound(b.wrap(op, "", err)) {
			return metal.Errorf(metal.ErrInvalid, op, "project "+b.cfg.Project, "metal-api at %s has no such project", b.cfg.URL)
		}
		return b.wrap(op, "project "+b.cfg.Project, err)
	}
	return nil
}

// checkVersion asks metal-api for its version once: metal-api must be at
// least MinAPIVersion and accept this client's metal-go version.
func (b *Backend) checkVersion(ctx context.Context) error {
	b.mu.Lock()
	ok := b.versionOK
	b.mu.Unlock()
	if ok {
		return nil
	}
	const op = "check version"
	v, err := b.c.Version().Info(version.NewInfoParams().WithContext(ctx), nil)
	if err != nil {
		return b.wrap(op, "", err)
	}
	server := deref(v.Payload.Version)
	if known(server) && compareVersions(server, MinAPIVersion) < 0 {
		return metal.Wrap(metal.ErrInvalid, op, "", fmt.Errorf("%w: metal-api at %s is %s, this backend needs at least %s", ErrIncompatible, b.cfg.URL, server, MinAPIVersion))
	}
	if min := deref(v.Payload.MinClientVersion); known(min) && known(b.clientVersion) && compareVersions(b.clientVersion, min) < 0 {
		return metal.Wrap(metal.ErrInvalid, op, "", fmt.Errorf("%w: metal-api at %s (%s) requires clients of at least %s, this one uses metal-go %s", ErrIncompatible, b.cfg.URL, server, min, b.clientVersion))
	}
	b.mu.Lock()
	b.versionOK = true
	b.mu.Unlock()
	return nil
}

// clientVersion is the metal-go version built into the binary.
func clientVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == metalGoModule {
				if d.Replace != nil {
					d = d.Replace
				}
				if known(d.Version) {
					return d.Version
				}
			}
		}
	}
	return fallbackClientVersion
}

// known reports whether v looks like a release version (vX.Y.Z...).
func known(v string) bool {
	_, ok := parseVersion(v)
	return ok
}

func parseVersion(v string) ([3]int, bool) {
	var out [3]int
	v, ok := strings.CutPrefix(strings.TrimSpace(v), "v")
	if !ok {
		return out, false
	}
	v, _, _ = strings.Cut(v, "-")
	v, _, _ = strings.Cut(v, "+")
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// compareVersions compares two vX.Y.Z versions (pre-release suffixes ignored).
func compareVersions(a, b string) int {
	pa, _ := parseVersion(a)
	pb, _ := parseVersion(b)
	for i := range pa {
		if pa[i] != pb[i] {
			if pa[i] < pb[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// noCapacity are fragments of metal-api's messages when no machine, address
// or child prefix is left, whatever the status code: 422 "no machine
// available" (datastore.FindWaitingMachine), 500 "cannot allocate free ip
// in ipam, no ips left" (service.allocateRandomIP), 422 "cannot allocate
// free child prefix ..." with go-ipam's "no more child prefixes contained in
// prefix pool" (networkResource.createChildPrefix).
var noCapacity = []string{"no machine available", "no ips left", "no more child prefixes", "cannot allocate free child prefix"}

// retryable are fragments of messages of temporary refusals: 422 "too many
// parallel machine allocations taking place, try again later"
// (datastore.FindWaitingMachine, when the partition lock is contended).
var retryable = []string{"try again later"}

// wrap turns a metal-go error into a typed metal error.
func (b *Backend) wrap(op, obj string, err error) error {
	if err == nil {
		return nil
	}
	var me *metal.Error
	if errors.As(err, &me) {
		return err
	}
	code, msg := 0, ""
	var api *runtime.APIError
	var coded interface{ Code() int }
	switch {
	case errors.As(err, &api):
		code = api.Code
	case errors.As(err, &coded):
		code = coded.Code()
	}
	var withPayload interface {
		GetPayload() *httperrors.HTTPErrorResponse
	}
	if errors.As(err, &withPayload) && withPayload.GetPayload() != nil {
		msg = withPayload.GetPayload().Message
	}
	if code != 0 {
		for _, f := range noCapacity {
			if strings.Contains(strings.ToLower(msg), f) {
				return metal.Errorf(metal.ErrNoCapacity, op, obj, "metal-api: %s", msg)
			}
		}
		for _, f := range retryable {
			if strings.Contains(strings.ToLower(msg), f) {
				return metal.Errorf(metal.ErrUnavailable, op, obj, "metal-api at %s answered %d: %s", b.cfg.URL, code, msg)
			}
		}
		detail := fmt.Sprintf("metal-api at %s answered %d", b.cfg.URL, code)
		if msg != "" {
			detail += ": " + msg
		}
		switch {
		case code == 404:
			return metal.Errorf(metal.ErrNotFound, op, obj, "%s", detail)
		case code == 409:
			return metal.Errorf(metal.ErrConflict, op, obj, "%s", detail)
		case code == 401 || code == 403:
			return &metal.Error{Kind: metal.ErrInvalid, Op: op, Object: obj, Detail: detail, Err: ErrUnauthorized}
		case code == 429 || code >= 500:
			return metal.Errorf(metal.ErrUnavailable, op, obj, "%s", detail)
		case code >= 400:
			return metal.Errorf(metal.ErrInvalid, op, obj, "%s", detail)
		}
	}
	var netErr net.Error
	var urlErr *url.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr), errors.As(err, &urlErr):
		return metal.Wrap(metal.ErrUnavailable, op, obj, fmt.Errorf("metal-api at %s: %w", b.cfg.URL, err))
	}
	// Anything else (an answer metal-go cannot read) is most likely a proxy
	// or an API in transition: retryable.
	return metal.Wrap(metal.ErrUnavailable, op, obj, fmt.Errorf("metal-api at %s: %w", b.cfg.URL, err))
}

// kindOf returns the kind of a typed error, ErrUnavailable for any other.
func kindOf(err error) error {
	var me *metal.Error
	if errors.As(err, &me) {
		return me.Kind
	}
	return metal.ErrUnavailable
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// poll calls check every PollInterval until it reports done, fails, ctx
// ends or WaitTimeout passes; what names what is awaited in the timeout
// error (ErrUnavailable: the operation may be retried).
func (b *Backend) poll(ctx context.Context, op, obj, what string, check func() (bool, error)) error {
	deadline := time.Now().Add(b.cfg.WaitTimeout)
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		if !time.Now().Before(deadline) {
			return metal.Errorf(metal.ErrUnavailable, op, obj, "metal-api at %s did not report %s within %s", b.cfg.URL, what, b.cfg.WaitTimeout)
		}
		t := time.NewTimer(b.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return metal.Wrap(metal.ErrUnavailable, op, obj, fmt.Errorf("waiting for %s: %w", what, ctx.Err()))
		case <-t.C:
		}
	}
}

// keyedMutex is a set of mutexes by key, dropped when unused.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int
}

// lock locks key and returns its unlock function.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l, ok := k.locks[key]
	if !ok {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		l.users--
		if l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

var _ metal.PartitionLister = (*Backend)(nil)

// ListPartitions implements metal.PartitionLister: metal-api's partitions.
func (b *Backend) ListPartitions(ctx context.Context) ([]string, error) {
	const op = "list partitions"
	resp, err := b.c.Partition().ListPartitions(partition.NewListPartitionsParams().WithContext(ctx), nil)
	if err != nil {
		return nil, b.wrap(op, "", err)
	}
	out := make([]string, 0, len(resp.Payload))
	for _, p := range resp.Payload {
		if id := deref(p.ID); id != "" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}
