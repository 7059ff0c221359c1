package metalapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/metal-stack/metal-lib/httperrors"
	"github.com/metal-stack/security"
)

// Machine is a machine of the inventory.
type Machine struct {
	// ID is the machine UUID (also its system UUID).
	ID        string
	Partition string
	Size      string
	Rack      string
	// Chassis is the chassis serial metal-api reports as a system tag.
	Chassis string
}

// Image is an OS image metal-api knows. ID is "<os>-<major>.<minor>.<patch>"
// (patch is a date); Features are "machine" and/or "firewall".
type Image struct {
	ID       string
	Features []string
}

// DefaultImages are the images an emulator knows when Config.Images is
// empty: an Ubuntu and a firewall image, two builds each, so that asking for
// "ubuntu-24.04" resolves to the newest build as metal-api does.
func DefaultImages() []Image {
	return []Image{
		{ID: "ubuntu-24.04.20250101", Features: []string{"machine"}},
		{ID: "ubuntu-24.04.20250601", Features: []string{"machine"}},
		{ID: "firewall-ubuntu-3.0.20250101", Features: []string{"firewall"}},
		{ID: "firewall-ubuntu-3.0.20250601", Features: []string{"firewall"}},
	}
}

// Network is a network the emulator knows from the start: an IP pool (for
// example the internet network LoadBalancer IPs come from) or, with
// PrivateSuper, a partition's super network that cluster networks are carved
// from.
type Network struct {
	ID        string
	Partition string
	Prefixes  []netip.Prefix
	// PrivateSuper marks the partition's super network; ChildLength is the
	// default prefix length of networks allocated from it (default 22 / 64).
	PrivateSuper bool
	ChildLength  int
	// Shared networks (like the internet) may be used by every project.
	Shared bool
	// Underlay marks the partition's underlay network, which metal-api adds
	// to every firewall (and refuses when given explicitly).
	Underlay bool
	Labels   map[string]string
}

// Config is the emulator's inventory and credentials.
type Config struct {
	Machines []Machine
	Networks []Network
	// Projects that exist; empty accepts every project.
	Projects []string
	// Token is the accepted bearer token; empty accepts none.
	Token string
	// HMAC maps auth types (Metal-Admin, Metal-Edit, Metal-View) to keys.
	HMAC map[string]string
	// Version and MinClientVersion are what /v1/version reports; default
	// v0.43.1 and v0.40.0.
	Version, MinClientVersion string
	// Images metal-api knows; empty means DefaultImages.
	Images []Image
	// InstallDelay is how long a freshly allocated machine installs before
	// its allocation succeeds.
	InstallDelay time.Duration
	// PowerDelay is how long a power command takes until metal-bmc reports
	// the new power state; ReleaseDelay how long after a machine free its
	// IPs are released (metal-api does it asynchronously); ReclaimDelay how
	// long a freed machine is wiped before it waits for an allocation again.
	// Zero means DefaultDelay; a negative value means no delay.
	PowerDelay, ReleaseDelay, ReclaimDelay time.Duration
}

// DefaultDelay is the default of the asynchronous delays: short, but never
// zero, so that no client can mistake metal-api for synchronous.
const DefaultDelay = 30 * time.Millisecond

func delay(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultDelay
	case d < 0:
		return 0
	}
	return d
}

// Inventory returns n machines in partition with size, named by prefix.
func Inventory(prefix, partition, size string, n int) []Machine {
	out := make([]Machine, n)
	for i := range out {
		out[i] = Machine{ID: fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, i), Partition: partition, Size: size,
			Rack: fmt.Sprintf("rack-%d", i%2), Chassis: fmt.Sprintf("CH%s%04d", prefix, i/4)}
	}
	return out
}

// Emulator is a running metal-api emulator. Safe for concurrent use.
type Emulator struct {
	srv *httptest.Server

	mu           sync.Mutex
	cfg          Config
	machines     []*machine // inventory order
	byID         map[string]*machine
	networks     map[string]*network
	netOrder     []string
	ips          map[string]*models.V1IPResponse // by address
	releases     []release                       // asynchronous IP releases
	outage       bool
	allocDelay   time.Duration
	installDelay time.Duration
	powerDelay   time.Duration
	releaseDelay time.Duration
	reclaimDelay time.Duration
	contention   int // allocations still to refuse with "try again later"
	calls        int
	seq          int
}

type machine struct {
	inv         Machine
	alloc       *models.V1MachineAllocation
	allocatedAt time.Time
	tags        []string
	// power is the reported power state; wantPower what the last command
	// (at poweredAt) asked for, reported PowerDelay later.
	power, wantPower string
	poweredAt        time.Time
	// freedAt is when the machine was last freed; it waits for an
	// allocation again ReclaimDelay later.
	freedAt time.Time
	// interrupted is set when the machine was powered off while installing.
	interrupted bool
	liveliness  string
	asn         int64
}

// release is an IP metal-api's async actor releases ReleaseDelay after the
// machine was freed.
type release struct {
	addr, machine string
	freed         time.Time
}

type network struct {
	resp     *models.V1NetworkResponse
	prefixes []netip.Prefix
	childLen int
	super    bool
}

// New starts an emulator on a local port.
func New(cfg Config) *Emulator {
	if cfg.Version == "" {
		cfg.Version = "v0.43.1"
	}
	if cfg.MinClientVersion == "" {
		cfg.MinClientVersion = "v0.40.0"
	}
	if len(cfg.Images) == 0 {
		cfg.Images = DefaultImages()
	}
	e := &Emulator{cfg: cfg, byID: map[string]*machine{}, networks: map[string]*network{},
		ips: map[string]*models.V1IPResponse{}, installDelay: cfg.InstallDelay,
		powerDelay: delay(cfg.PowerDelay), releaseDelay: delay(cfg.ReleaseDelay), reclaimDelay: delay(cfg.ReclaimDelay)}
	for _, m := range cfg.Machines {
		// A waiting machine runs metal-hammer: it is powered on.
		mm := &machine{inv: m, power: "ON", wantPower: "ON", liveliness: "Alive"}
		e.machines = append(e.machines, mm)
		e.byID[m.ID] = mm
	}
	for _, n := range cfg.Networks {
		childLen := n.ChildLength
		if childLen == 0 {
			childLen = 22
		}
		e.addNetwork(&network{resp: &models.V1NetworkResponse{ID: new(n.ID), Name: n.ID, Partitionid: n.Partition,
			Prefixes: prefixStrings(n.Prefixes), Privatesuper: new(n.PrivateSuper), Shared: n.Shared,
			Labels: n.Labels, Nat: new(false), Underlay: new(n.Underlay)}, prefixes: n.Prefixes, childLen: childLen, super: n.PrivateSuper})
	}
	e.srv = httptest.NewServer(e.routes())
	return e
}

// URL is the emulator's base URL, for metalgo.NewClient.
func (e *Emulator) URL() string { return e.srv.URL }

// Close stops the emulator.
func (e *Emulator) Close() { e.srv.Close() }

// SetOutage switches a simulated outage: every call is answered 503.
func (e *Emulator) SetOutage(down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.outage = down
}

// SetAllocationDelay makes machine and firewall allocation take d before a
// machine is chosen.
func (e *Emulator) SetAllocationDelay(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.allocDelay = d
}

// SetInstallDelay sets how long allocated machines install before their
// allocation succeeds (affects machines allocated afterwards too).
func (e *Emulator) SetInstallDelay(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.installDelay = d
}

// SetPowerDelay sets how long power commands take until the new state is
// reported (d <= 0: at once), counted from each command, also for commands
// already sent.
func (e *Emulator) SetPowerDelay(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.powerDelay = max(d, 0)
}

// SetReleaseDelay sets how long after a machine free its IPs are released
// (d <= 0: at the next request), counted from each free, also for frees
// already done.
func (e *Emulator) SetReleaseDelay(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.releaseDelay = max(d, 0)
}

// SetReclaimDelay sets how long a freed machine is reclaimed (wiped) before
// it can be allocated again (d <= 0: at once), counted from each free, also
// for frees already done.
func (e *Emulator) SetReclaimDelay(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reclaimDelay = max(d, 0)
}

// SetAllocationContention makes the next n machine and firewall allocations
// fail as metal-api does when its partition lock is contended
// (datastore.FindWaitingMachine: 422 "too many parallel machine allocations
// taking place, try again later").
func (e *Emulator) SetAllocationContention(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.contention = n
}

// SetVersion changes what /v1/version reports.
func (e *Emulator) SetVersion(version, minClientVersion string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg.Version, e.cfg.MinClientVersion = version, minClientVersion
}

// LoseMachine makes a machine's liveliness Dead, as when it stops reporting.
func (e *Emulator) LoseMachine(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.byID[id]
	if !ok {
		return fmt.Errorf("no machine %s", id)
	}
	m.liveliness = "Dead"
	return nil
}

// Calls returns how many requests the emulator has answered.
func (e *Emulator) Calls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls
}

// Power returns a machine's reported power state (ON or OFF).
func (e *Emulator) Power(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tick()
	if m, ok := e.byID[id]; ok {
		return m.power
	}
	return ""
}

// IPs returns the allocated addresses.
func (e *Emulator) IPs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tick()
	out := make([]string, 0, len(e.ips))
	for a := range e.ips {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// tick applies what metal-api's asynchronous parts (metal-bmc's power
// reports, the async actor's IP releases, metal-hammer's reclaim) have done
// by now. Called with mu held at the start of every request.
func (e *Emulator) tick() {
	now := time.Now()
	for _, m := range e.machines {
		if m.power != m.wantPower && !now.Before(m.poweredAt.Add(e.powerDelay)) {
			m.power = m.wantPower
		}
	}
	kept := e.releases[:0]
	for _, r := range e.releases {
		if now.Before(r.freed.Add(e.releaseDelay)) {
			kept = append(kept, r)
			continue
		}
		e.releaseIP(r.addr, r.machine)
	}
	e.releases = kept
}

// Allocated returns the IDs of the allocated machines.
func (e *Emulator) Allocated() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, m := range e.machines {
		if m.alloc != nil {
			out = append(out, m.inv.ID)
		}
	}
	return out
}

// Networks returns the IDs of the networks allocated through the API (not
// those of Config).
func (e *Emulator) Networks() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, id := range e.netOrder {
		if !slices.ContainsFunc(e.cfg.Networks, func(n Network) bool { return n.ID == id }) {
			out = append(out, id)
		}
	}
	return out
}

// NetworkProject returns the project of a network ("" if there is none).
func (e *Emulator) NetworkProject(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n, ok := e.networks[id]; ok {
		return n.resp.Projectid
	}
	return ""
}

// MachineProject returns the project of an allocated machine ("" if it is
// not allocated).
func (e *Emulator) MachineProject(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m, ok := e.byID[id]; ok && m.alloc != nil && m.alloc.Project != nil {
		return *m.alloc.Project
	}
	return ""
}

// UserData returns the (base64) user data of an allocated machine.
func (e *Emulator) UserData(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m, ok := e.byID[id]; ok && m.alloc != nil {
		return m.alloc.UserData
	}
	return ""
}

func (e *Emulator) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", e.health)
	mux.HandleFunc("GET /v1/version", e.version)
	mux.HandleFunc("GET /v1/project/{id}", e.findProject)
	mux.HandleFunc("GET /v1/partition", e.listPartitions)

	mux.HandleFunc("POST /v1/machine/allocate", e.allocateMachine)
	mux.HandleFunc("POST /v1/firewall/allocate", e.allocateFirewall)
	mux.HandleFunc("GET /v1/machine/{id}", e.findMachine)
	mux.HandleFunc("GET /v1/machine/{id}/ipmi", e.findIPMIMachine)
	mux.HandleFunc("POST /v1/machine/find", e.findMachines)
	mux.HandleFunc("POST /v1/machine/ipmi/find", e.findIPMIMachines)
	mux.HandleFunc("POST /v1/firewall/find", e.findFirewalls)
	mux.HandleFunc("DELETE /v1/machine/{id}/free", e.freeMachine)
	mux.HandleFunc("POST /v1/machine/{id}/power/on", e.power("ON"))
	mux.HandleFunc("POST /v1/machine/{id}/power/off", e.power("OFF"))

	mux.HandleFunc("POST /v1/ip/allocate", e.allocateIP)
	mux.HandleFunc("POST /v1/ip/allocate/{ip}", e.allocateIP)
	mux.HandleFunc("GET /v1/ip/{id}", e.findIP)
	mux.HandleFunc("POST /v1/ip/find", e.findIPs)
	mux.HandleFunc("POST /v1/ip", e.updateIP)
	mux.HandleFunc("DELETE /v1/ip/free/{id}", e.freeIP)

	mux.HandleFunc("POST /v1/network/allocate", e.allocateNetwork)
	mux.HandleFunc("GET /v1/network/{id}", e.findNetwork)
	mux.HandleFunc("POST /v1/network/find", e.findNetworks)
	mux.HandleFunc("DELETE /v1/network/free/{id}", e.freeNetwork)
	return e.middleware(mux)
}

// middleware counts calls, plays the outage and checks credentials (health
// and version are open, as on metal-api).
func (e *Emulator) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.calls++
		down := e.outage
		e.tick()
		e.mu.Unlock()
		if down {
			writeError(w, http.StatusServiceUnavailable, "metal-api emulator: simulated outage")
			return
		}
		if r.URL.Path != "/v1/health" && r.URL.Path != "/v1/version" {
			if err := e.authenticate(r); err != nil {
				writeError(w, http.StatusUnauthorized, "authentication failed: %v", err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (e *Emulator) authenticate(r *http.Request) error {
	authz := r.Header.Get(security.AuthzHeaderKey)
	if authz == "" {
		return fmt.Errorf("no credentials")
	}
	if token, err := security.ExtractBearer(r); err == nil {
		if e.cfg.Token == "" || token != e.cfg.Token {
			return fmt.Errorf("token not accepted")
		}
		return nil
	}
	authType, _, _ := strings.Cut(authz, " ")
	key, ok := e.cfg.HMAC[authType]
	if !ok {
		return fmt.Errorf("unknown auth type %q", authType)
	}
	auth := security.NewHMACAuth(authType, []byte(key))
	if _, err := auth.User(r); err != nil {
		return err
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, &httperrors.HTTPErrorResponse{StatusCode: code, Message: fmt.Sprintf(format, args...)})
}

// apiError is an error as metal-api's service layer answers it: a status
// code and the message of the Go error it wrapped.
type apiError struct {
	code int
	msg  string
}

func (a *apiError) Error() string { return a.msg }

func fail(code int, format string, args ...any) *apiError {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// metal-api's datastore errors carry their kind as the first word
// (metal.NotFound, metal.Conflict, metal.Internal), and defaultError in
// service.go maps the kinds to 404, 409 and 500, everything else to 422.
func notFound(format string, args ...any) *apiError {
	return fail(http.StatusNotFound, "NotFound "+format, args...)
}

func unprocessable(format string, args ...any) *apiError {
	return fail(http.StatusUnprocessableEntity, format, args...)
}

func badRequest(format string, args ...any) *apiError {
	return fail(http.StatusBadRequest, format, args...)
}

// wrapf prefixes an apiError's message, keeping its code, as metal-api's
// fmt.Errorf("...: %w") chains keep the kind.
func wrapf(err *apiError, format string, args ...any) *apiError {
	return &apiError{code: err.code, msg: fmt.Sprintf(format, args...) + err.msg}
}

func writeAPIError(w http.ResponseWriter, err *apiError) {
	writeError(w, err.code, "%s", err.msg)
}

type validatable interface{ Validate(strfmt.Registry) error }

// decode reads a request body into a metal-go model and validates it the way
// the generated models define.
func decode[T any](w http.ResponseWriter, r *http.Request) (*T, bool) {
	return decodeAs[T](w, r, true)
}

// decodeAs decodes, validating the model only if validate is set: for
// requests metal-api reads into its own structs with fewer required fields
// than metal-go's model (an IP update without a type, as metal-ccm sends).
func decodeAs[T any](w http.ResponseWriter, r *http.Request, validate bool) (*T, bool) {
	v := new(T)
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "cannot decode request: %v", err)
		return nil, false
	}
	if val, ok := any(v).(validatable); ok && validate {
		if err := val.Validate(strfmt.Default); err != nil {
			writeError(w, http.StatusUnprocessableEntity, "invalid request: %v", err)
			return nil, false
		}
	}
	return v, true
}

func (e *Emulator) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, &models.RestHealthResponse{Status: new("healthy"), Message: new("metal-api emulator is healthy")})
}

func (e *Emulator) version(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	v := &models.RestVersion{Name: new("metal-api"), Version: new(e.cfg.Version), MinClientVersion: new(e.cfg.MinClientVersion),
		Revision: new("emulator"), Gitsha1: new("0000000"), Builddate: new(time.Now().UTC().Format(time.RFC3339))}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}

func (e *Emulator) projectExists(id string) bool {
	if len(e.cfg.Projects) == 0 {
		return id != ""
	}
	for _, p := range e.cfg.Projects {
		if p == id {
			return true
		}
	}
	return false
}

// noProject is masterdata-api's answer for an unknown project, which
// metal-api passes on as 404 (defaultError: mdmv1.IsNotFound).
func noProject(id string) *apiError {
	return fail(http.StatusNotFound, "rpc error: code = NotFound desc = project with id %q not found", id)
}

func (e *Emulator) findProject(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !e.projectExists(id) {
		writeAPIError(w, noProject(id))
		return
	}
	writeJSON(w, http.StatusOK, &models.V1ProjectResponse{Meta: &models.V1Meta{ID: id, Kind: "Project"}, Name: id})
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// hasTags reports whether have contains every tag of want.
func hasTags(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (e *Emulator) nextID(kind string) string {
	e.seq++
	return fmt.Sprintf("%s-%08d-0000-4000-8000-%012d", kind, e.seq, e.seq)
}

// IPTags returns the tags of an allocated IP as metal-api stores them.
func (e *Emulator) IPTags(addr string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tick()
	if ip, ok := e.ips[addr]; ok {
		return slices.Clone(ip.Tags)
	}
	return nil
}
