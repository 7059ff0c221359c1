package metalapi

import (
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/metal-stack/metal-lib/pkg/tag"
	"golang.org/x/crypto/ssh"
)

// allocation is what machine and firewall allocation requests have in common.
type allocation struct {
	role, project, partition, size, image, name, hostname, description, userData string
	sshKeys, tags, ips                                                           []string
	networks                                                                     []*models.V1MachineAllocationNetwork
	dns                                                                          []*models.V1DNSServer
	ntp                                                                          []*models.V1NTPServer
}

func (e *Emulator) allocateMachine(w http.ResponseWriter, r *http.Request) {
	// metal-api reads the request into its own struct, which requires less
	// than metal-go's model (autoacquire defaults to true, for example).
	req, ok := decodeAs[models.V1MachineAllocateRequest](w, r, false)
	if !ok {
		return
	}
	e.allocate(w, r, allocation{role: "machine", project: deref(req.Projectid), partition: deref(req.Partitionid), size: deref(req.Sizeid),
		image: deref(req.Imageid), name: req.Name, hostname: req.Hostname, description: req.Description, userData: req.UserData,
		sshKeys: req.SSHPubKeys, tags: req.Tags, ips: req.Ips, networks: req.Networks, dns: req.DNSServers, ntp: req.NtpServers})
}

func (e *Emulator) allocateFirewall(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeAs[models.V1FirewallCreateRequest](w, r, false)
	if !ok {
		return
	}
	e.allocate(w, r, allocation{role: "firewall", project: deref(req.Projectid), partition: deref(req.Partitionid), size: deref(req.Sizeid),
		image: deref(req.Imageid), name: req.Name, hostname: req.Hostname, description: req.Description, userData: req.UserData,
		sshKeys: req.SSHPubKeys, tags: req.Tags, ips: req.Ips, networks: req.Networks, dns: req.DNSServers, ntp: req.NtpServers})
}

func (e *Emulator) allocate(w http.ResponseWriter, r *http.Request, a allocation) {
	if err := e.allocationSpec(a); err != nil {
		writeAPIError(w, err)
		return
	}
	e.mu.Lock()
	delay := e.allocDelay
	e.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	m, err := e.allocateLocked(a)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	if a.role == "firewall" {
		writeJSON(w, http.StatusOK, e.firewallResponse(m))
		return
	}
	writeJSON(w, http.StatusOK, e.machineResponse(m))
}

// allocationSpec checks a request as createMachineAllocationSpec
// (service/machine-service.go) does; its errors are all 400.
func (e *Emulator) allocationSpec(a allocation) *apiError {
	if a.networks == nil {
		return badRequest("network ids cannot be nil")
	}
	if len(a.networks) == 0 {
		return badRequest("network ids cannot be empty")
	}
	img, err := e.findImage(a.image)
	if err != nil {
		return badRequest("%s", err.msg)
	}
	feature := "machine"
	if a.role == "firewall" {
		feature = "firewall"
	}
	if !slices.Contains(img.Features, feature) {
		return badRequest("given image is not usable for a %s, features: %s", feature, strings.Join(img.Features, ", "))
	}
	if a.partition == "" {
		return badRequest("when no machine id is given, a partition id must be specified")
	}
	if a.size == "" {
		return badRequest("when no machine id is given, a size id must be specified")
	}
	if !e.sizeExists(a.size) {
		return badRequest("size:%s not found err:NotFound no size with id %q found", a.size, a.size)
	}
	if !e.partitionExists(a.partition) {
		return badRequest("partition:%s not found err:NotFound no partition with id %q found", a.partition, a.partition)
	}
	// metal.DNSServers.Validate and metal.NTPServers.Validate.
	if len(a.dns) > 3 {
		return badRequest("please specify a maximum of three dns servers")
	}
	for _, s := range a.dns {
		if _, err := netip.ParseAddr(deref(s.IP)); err != nil {
			return badRequest("ip: %s for dns server not correct err: %v", deref(s.IP), err)
		}
	}
	if len(a.ntp) > 5 {
		return badRequest("please specify a maximum of five ntp servers")
	}
	for _, s := range a.ntp {
		if addr := deref(s.Address); net.ParseIP(addr) == nil && !dnsName.MatchString(addr) {
			return badRequest("dns name: %s for ntp server not correct", addr)
		}
	}
	return nil
}

// dnsName approximates govalidator.IsDNSName, which metal-api uses for NTP
// server names.
var dnsName = regexp.MustCompile(`^([a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.?$`)

// allocateLocked is allocateMachine (service/machine-service.go):
// validateAllocationSpec, the project, findWaitingMachine, gatherNetworks,
// makeNetworks, then the allocation with makeMachineTags. Errors before the
// networks are made leave nothing behind; IPs acquired before a later
// failure are released, as its rollbackOnError does.
func (e *Emulator) allocateLocked(a allocation) (*machine, *apiError) {
	// validateAllocationSpec
	if a.project == "" {
		return nil, unprocessable("project id must be specified")
	}
	for _, ip := range a.ips {
		if net.ParseIP(ip) == nil {
			return nil, unprocessable("%q is not a valid IP address", ip)
		}
	}
	for _, k := range a.sshKeys {
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
			return nil, unprocessable("invalid public SSH key: %s error:%v", k, err)
		}
	}
	if a.role == "firewall" && len(a.ips) == 0 && !slices.ContainsFunc(a.networks, auto) {
		return nil, unprocessable("when no ip is given at least one auto acquire network must be specified")
	}
	noauto := 0
	for _, n := range a.networks {
		if !auto(n) {
			noauto++
		}
	}
	if noauto > len(a.ips) {
		return nil, unprocessable("missing ip(s) for network(s) without automatic ip allocation")
	}
	if !e.projectExists(a.project) {
		return nil, noProject(a.project)
	}
	// datastore.FindWaitingMachine
	if e.contention > 0 {
		e.contention--
		return nil, unprocessable("too many parallel machine allocations taking place, try again later")
	}
	now := time.Now()
	var m *machine
	for _, c := range e.machines {
		if c.alloc == nil && c.liveliness == "Alive" && !e.reclaiming(c, now) && c.inv.Partition == a.partition && c.inv.Size == a.size {
			m = c
			break
		}
	}
	if m == nil {
		return nil, unprocessable("no machine available")
	}
	nets, err := e.gatherNetworks(a)
	if err != nil {
		return nil, wrapf(err, "unable to gather networks:")
	}
	machineID := m.inv.ID
	var machineNetworks []*models.V1MachineNetwork
	var acquired []string
	rollback := func() {
		for _, addr := range acquired {
			delete(e.ips, addr)
		}
	}
	for _, n := range nets {
		mn := &models.V1MachineNetwork{Networkid: n.nw.resp.ID, Prefixes: n.nw.resp.Prefixes, Private: new(n.typ != "external" && n.typ != "underlay"),
			Underlay: new(n.typ == "underlay"), Nat: new(false), Projectid: new(n.nw.resp.Projectid), Vrf: new(n.nw.resp.Vrf),
			Networktype: new(n.typ), Destinationprefixes: orEmpty(n.nw.resp.Destinationprefixes), Ips: []string{}}
		if n.auto {
			// makeMachineNetwork: one IP per address family of the network.
			for _, fam := range families(n.nw) {
				addr, ok := e.freeAddress(n.nw, fam)
				if !ok {
					rollback()
					return nil, fail(http.StatusInternalServerError,
						"unable to make networks:unable to allocate an ip in network: %s Internal cannot allocate free ip in ipam, no ips left", *n.nw.resp.ID)
				}
				e.ips[addr.String()] = &models.V1IPResponse{Ipaddress: new(addr.String()), Networkid: n.nw.resp.ID, Projectid: new(a.project),
					Type: new("ephemeral"), Allocationuuid: new(e.nextID("ip")), Name: a.name, Description: "autoassigned",
					Tags: []string{machineTag(machineID)}, Created: strfmt.DateTime(now), Changed: strfmt.DateTime(now)}
				acquired = append(acquired, addr.String())
				mn.Ips = append(mn.Ips, addr.String())
			}
		}
		for _, addr := range n.ips {
			ip := e.ips[addr]
			ip.Tags = uniq(append(ip.Tags, machineTag(machineID)))
			mn.Ips = append(mn.Ips, addr)
		}
		machineNetworks = append(machineNetworks, mn)
	}
	// makeNetworks: one ASN for all networks of the machine.
	e.seq++
	asn := int64(4210000000 + e.seq)
	for _, mn := range machineNetworks {
		mn.Asn = new(asn)
	}
	hostname := a.hostname
	if hostname == "" {
		hostname = "metal"
	}
	img, _ := e.findImage(a.image)
	created := strfmt.DateTime(now)
	m.alloc = &models.V1MachineAllocation{Allocationuuid: new(e.nextID("alloc")), Name: new(a.name), Hostname: new(hostname),
		Description: a.description, Project: new(a.project), Role: new(a.role),
		Image:    &models.V1ImageResponse{ID: new(img.ID), Name: img.ID, Features: img.Features, Usedby: []string{}},
		Networks: machineNetworks, SSHPubKeys: orEmpty(a.sshKeys), UserData: a.userData, DNSServers: a.dns, NtpServers: a.ntp,
		Created: &created, Creator: new("metal-api-emulator"), Reinstall: new(false), Succeeded: new(false)}
	m.allocatedAt, m.interrupted = now, false
	m.asn = asn
	m.tags = machineTags(m, a.tags)
	return m, nil
}

func auto(n *models.V1MachineAllocationNetwork) bool { return n.Autoacquire == nil || *n.Autoacquire }

func machineTag(id string) string { return tag.MachineID + "=" + id }

// machineTags is makeMachineTags (service/machine-service.go): the user's
// tags, with "key=value" tags overridden by the system labels of
// makeMachineSystemLabels (primary ASN, rack, chassis serial).
func machineTags(m *machine, user []string) []string {
	labels := map[string]string{}
	var plain []string
	for _, t := range user {
		if k, v, ok := strings.Cut(t, "="); ok {
			labels[k] = v
		} else {
			plain = append(plain, t)
		}
	}
	labels[tag.MachineNetworkPrimaryASN] = strconv.FormatInt(m.asn, 10)
	if m.inv.Rack != "" {
		labels[tag.MachineRack] = m.inv.Rack
	}
	if m.inv.Chassis != "" {
		labels[tag.MachineChassis] = m.inv.Chassis
	}
	for k, v := range labels {
		plain = append(plain, k+"="+v)
	}
	return uniq(plain)
}

// uniq is uniqueTags: duplicates removed (metal-api returns them in map
// order; sorted here).
func uniq(tags []string) []string {
	out := slices.Clone(tags)
	slices.Sort(out)
	return slices.Compact(out)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// allocationNetwork is a network of an allocation and how it is attached.
type allocationNetwork struct {
	nw   *network
	auto bool
	ips  []string
	typ  string // external, privateprimaryunshared, privateprimaryshared, privatesecondaryshared, underlay
}

// gatherNetworks is gatherNetworks and gatherNetworksFromSpec
// (service/machine-service.go): exactly one primary private network of the
// project in the machine's partition, no super or underlay networks given
// explicitly, given IPs in the given networks; firewalls get the
// partition's underlay.
func (e *Emulator) gatherNetworks(a allocation) ([]*allocationNetwork, *apiError) {
	super := e.superNetwork(a.partition)
	if super == nil {
		return nil, unprocessable("partition %s does not have a private super network", a.partition)
	}
	var out []*allocationNetwork
	var primary *allocationNetwork
	var private, shared []*allocationNetwork
	seen := map[string]bool{}
	for _, spec := range a.networks {
		id := deref(spec.Networkid)
		nw, ok := e.networks[id]
		if !ok {
			return nil, notFound("no network with id %q found", id)
		}
		if deref(nw.resp.Underlay) {
			return nil, unprocessable("underlay networks are not allowed to be set explicitly: %s", id)
		}
		if nw.super {
			return nil, unprocessable("private super networks are not allowed to be set explicitly: %s", id)
		}
		n := &allocationNetwork{nw: nw, auto: auto(spec), typ: "external"}
		if e.isChild(nw) {
			private = append(private, n)
			if nw.resp.Shared {
				n.typ = "privatesecondaryshared"
				shared = append(shared, n)
			} else {
				if primary != nil {
					return nil, unprocessable("multiple private networks are specified but there must be only one primary private network that must not be shared")
				}
				n.typ = "privateprimaryunshared"
				primary = n
			}
		}
		if !seen[id] {
			out = append(out, n)
		}
		seen[id] = true
	}
	if len(out) != len(a.networks) {
		return nil, unprocessable("given network ids are not unique")
	}
	if len(private) == 0 {
		return nil, unprocessable("no private network given")
	}
	if primary == nil {
		if len(shared) > 1 {
			return nil, unprocessable("machines and firewalls are not allowed to be placed into multiple private, shared networks (firewall needs an unshared private network and machines may only reside in one private network)")
		}
		primary = shared[0]
		primary.typ = "privateprimaryshared"
	}
	if a.role == "machine" && len(private) > 1 {
		return nil, unprocessable("machines are not allowed to be placed into multiple private networks")
	}
	if primary.nw.resp.Projectid != a.project {
		return nil, unprocessable("the given private network does not belong to the project, which is not allowed")
	}
	for _, addr := range a.ips {
		ip, ok := e.ips[addr]
		if !ok {
			return nil, notFound("no ip with id %q found", addr)
		}
		if deref(ip.Projectid) != a.project {
			return nil, unprocessable("given ip %q with project id %q does not belong to the project of this allocation: %s", addr, deref(ip.Projectid), a.project)
		}
		i := slices.IndexFunc(out, func(n *allocationNetwork) bool { return *n.nw.resp.ID == deref(ip.Networkid) })
		if i < 0 {
			return nil, unprocessable("given ip %q is not in any of the given networks, which is required", addr)
		}
		if scope(ip) == "" {
			return nil, unprocessable("given ip %q is not available for direct attachment to machine because it is already in use", addr)
		}
		out[i].auto = false
		out[i].ips = append(out[i].ips, addr)
	}
	for _, n := range private {
		if n.nw.resp.Partitionid != super.resp.Partitionid {
			return nil, unprocessable("private network %q must be located in the partition where the machine is going to be placed", *n.nw.resp.ID)
		}
		if !n.auto && len(n.ips) == 0 {
			return nil, unprocessable("the private network %q has no auto ip acquisition, but no suitable IPs were provided, which would lead into a machine having no ip address", *n.nw.resp.ID)
		}
	}
	if a.role == "firewall" {
		var underlay *network
		for _, id := range e.netOrder {
			if n := e.networks[id]; deref(n.resp.Underlay) && n.resp.Partitionid == a.partition {
				underlay = n
			}
		}
		if underlay == nil {
			return nil, unprocessable("no underlay found in the given partition:%s", a.partition)
		}
		out = append(out, &allocationNetwork{nw: underlay, auto: true, typ: "underlay"})
	}
	return out, nil
}

// isChild reports whether nw was allocated from a private super network.
func (e *Emulator) isChild(nw *network) bool {
	p, ok := e.networks[nw.resp.Parentnetworkid]
	return ok && p.super
}

// scope is metal.IP.GetScope: "machine" with a machine tag, "project" with
// a project, else "".
func scope(ip *models.V1IPResponse) string {
	if deref(ip.Projectid) == "" {
		return ""
	}
	for _, t := range ip.Tags {
		if strings.HasPrefix(t, tag.MachineID) {
			return "machine"
		}
	}
	return "project"
}

func (e *Emulator) machineResponse(m *machine) *models.V1MachineResponse {
	r := e.ipmiResponse(m)
	return &models.V1MachineResponse{ID: r.ID, Allocation: r.Allocation, Partition: r.Partition, Size: r.Size, Rackid: r.Rackid,
		State: r.State, Liveliness: r.Liveliness, Tags: r.Tags, Events: r.Events, Hardware: r.Hardware, Bios: r.Bios, Ledstate: r.Ledstate,
		Name: r.Name, Description: r.Description}
}

func (e *Emulator) firewallResponse(m *machine) *models.V1FirewallResponse {
	r := e.ipmiResponse(m)
	return &models.V1FirewallResponse{ID: r.ID, Allocation: r.Allocation, Partition: r.Partition, Size: r.Size, Rackid: r.Rackid,
		State: r.State, Liveliness: r.Liveliness, Tags: r.Tags, Events: r.Events, Hardware: r.Hardware, Bios: r.Bios, Ledstate: r.Ledstate,
		Name: r.Name, Description: r.Description}
}

func (e *Emulator) ipmiResponse(m *machine) *models.V1MachineIPMIResponse {
	var alloc *models.V1MachineAllocation
	events := &models.V1MachineRecentProvisioningEvents{CrashLoop: new(false), FailedMachineReclaim: new(false)}
	event := "Waiting"
	if e.reclaiming(m, time.Now()) {
		event = "Machine Reclaim"
	}
	if m.alloc != nil {
		cp := *m.alloc
		cp.Succeeded = new(e.installed(m))
		alloc = &cp
		event = "Installing"
		if *cp.Succeeded {
			event = "Phoned Home"
		}
	}
	events.Log = []*models.V1MachineProvisioningEvent{{Event: new(event), Time: strfmt.DateTime(time.Now())}}
	return &models.V1MachineIPMIResponse{
		ID: new(m.inv.ID), Name: m.inv.ID, Allocation: alloc, Rackid: m.inv.Rack, Liveliness: new(m.liveliness),
		Partition: &models.V1PartitionResponse{ID: new(m.inv.Partition), Name: m.inv.Partition},
		Size:      &models.V1SizeResponse{ID: new(m.inv.Size), Name: m.inv.Size},
		State:     &models.V1MachineState{Value: new(""), Description: new(""), MetalHammerVersion: new("emulator")},
		Tags:      append([]string{}, m.tags...), Events: events,
		Hardware: &models.V1MachineHardware{CPUCores: new(int32(8)), Memory: new(int64(32 << 30))},
		Bios:     &models.V1MachineBIOS{Vendor: new("emulator"), Version: new("1.0"), Date: new("2024-01-01")},
		Ledstate: &models.V1ChassisIdentifyLEDState{Value: new("LED-OFF"), Description: new("")},
		Ipmi:     &models.V1MachineIPMI{Powerstate: new(m.power), Address: new("192.0.2.1:623"), Interface: new("lanplus")},
	}
}

func (e *Emulator) lookup(w http.ResponseWriter, id string) *machine {
	m, ok := e.byID[id]
	if !ok {
		writeAPIError(w, notFound("no machine with id %q found", id))
	}
	return m
}

func (e *Emulator) findMachine(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m := e.lookup(w, r.PathValue("id")); m != nil {
		writeJSON(w, http.StatusOK, e.machineResponse(m))
	}
}

func (e *Emulator) findIPMIMachine(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m := e.lookup(w, r.PathValue("id")); m != nil {
		writeJSON(w, http.StatusOK, e.ipmiResponse(m))
	}
}

// match applies the fields of a machine find request the emulator supports.
func match(m *machine, q *models.V1MachineFindRequest) bool {
	if q.ID != "" && q.ID != m.inv.ID || q.PartitionID != "" && q.PartitionID != m.inv.Partition ||
		q.Sizeid != "" && q.Sizeid != m.inv.Size || q.Rackid != "" && q.Rackid != m.inv.Rack {
		return false
	}
	if q.AllocationProject != "" || q.AllocationName != "" || q.AllocationRole != "" || q.AllocationHostname != "" {
		a := m.alloc
		if a == nil || q.AllocationProject != "" && q.AllocationProject != *a.Project ||
			q.AllocationName != "" && q.AllocationName != *a.Name || q.AllocationRole != "" && q.AllocationRole != *a.Role ||
			q.AllocationHostname != "" && q.AllocationHostname != *a.Hostname {
			return false
		}
	}
	return hasTags(m.tags, q.Tags)
}

func (e *Emulator) find(w http.ResponseWriter, r *http.Request) ([]*machine, bool) {
	q, ok := decode[models.V1MachineFindRequest](w, r)
	if !ok {
		return nil, false
	}
	var out []*machine
	for _, m := range e.machines {
		if match(m, q) {
			out = append(out, m)
		}
	}
	return out, true
}

func (e *Emulator) findMachines(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ms, ok := e.find(w, r)
	if !ok {
		return
	}
	out := []*models.V1MachineResponse{}
	for _, m := range ms {
		out = append(out, e.machineResponse(m))
	}
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) findIPMIMachines(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ms, ok := e.find(w, r)
	if !ok {
		return
	}
	out := []*models.V1MachineIPMIResponse{}
	for _, m := range ms {
		out = append(out, e.ipmiResponse(m))
	}
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) findFirewalls(w http.ResponseWriter, r *http.Request) {
	q, ok := decode[models.V1FirewallFindRequest](w, r)
	if !ok {
		return
	}
	mq := &models.V1MachineFindRequest{ID: q.ID, PartitionID: q.PartitionID, Sizeid: q.Sizeid, AllocationProject: q.AllocationProject,
		AllocationName: q.AllocationName, AllocationHostname: q.AllocationHostname, AllocationRole: "firewall", Tags: q.Tags}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []*models.V1FirewallResponse{}
	for _, m := range e.machines {
		if match(m, mq) {
			out = append(out, e.firewallResponse(m))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// freeMachine is freeMachine (service/machine-service.go) and the async
// actor's freeMachine: the allocation and tags are gone at once, the IPs are
// released later by releaseMachineNetworks (ReleaseDelay), and metal-hammer
// wipes the machine before it waits for an allocation again (ReclaimDelay).
func (e *Emulator) freeMachine(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.lookup(w, r.PathValue("id"))
	if m == nil {
		return
	}
	if m.alloc != nil {
		at := time.Now()
		for _, n := range m.alloc.Networks {
			for _, addr := range n.Ips {
				e.releases = append(e.releases, release{addr: addr, machine: m.inv.ID, freed: at})
			}
		}
		// dangling IPs: those tagged with the machine but not in its networks.
		for addr, ip := range e.ips {
			if slices.Contains(ip.Tags, machineTag(m.inv.ID)) {
				e.releases = append(e.releases, release{addr: addr, machine: m.inv.ID, freed: at})
			}
		}
	}
	m.alloc, m.tags = nil, nil
	m.freedAt = time.Now()
	writeJSON(w, http.StatusOK, e.machineResponse(m))
}

// releaseIP is the async actor's disassociateIP and releaseIP: the machine
// tag is removed; an ephemeral IP no other machine uses is released.
func (e *Emulator) releaseIP(addr, machineID string) {
	ip, ok := e.ips[addr]
	if !ok || !slices.Contains(ip.Tags, machineTag(machineID)) {
		return
	}
	ip.Tags = slices.DeleteFunc(slices.Clone(ip.Tags), func(t string) bool { return t == machineTag(machineID) })
	if deref(ip.Type) == "static" || slices.ContainsFunc(ip.Tags, func(t string) bool { return strings.HasPrefix(t, tag.MachineID+"=") }) {
		return
	}
	delete(e.ips, addr)
}

// power is machineCmd (service/machine-service.go): the command is
// published to metal-bmc and answered at once; the power state changes when
// metal-bmc next reports (PowerDelay).
func (e *Emulator) power(state string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		defer e.mu.Unlock()
		m := e.lookup(w, r.PathValue("id"))
		if m == nil {
			return
		}
		if state == "OFF" && m.alloc != nil && !e.installed(m) {
			// metal-hammer is installing: switching off breaks it; the
			// allocation never succeeds (a reinstall would be needed).
			m.interrupted = true
		}
		m.wantPower, m.poweredAt = state, time.Now()
		if e.powerDelay == 0 {
			m.power = state
		}
		writeJSON(w, http.StatusOK, e.machineResponse(m))
	}
}

// reclaiming reports whether a freed machine is still being wiped.
func (e *Emulator) reclaiming(m *machine, now time.Time) bool {
	return !m.freedAt.IsZero() && now.Before(m.freedAt.Add(e.reclaimDelay))
}

// installed reports whether an allocated machine's installation has
// succeeded: InstallDelay passed and no power off interrupted it.
func (e *Emulator) installed(m *machine) bool {
	return m.alloc != nil && !m.interrupted && time.Since(m.allocatedAt) >= e.installDelay
}

// Installed reports whether the machine's installation succeeded.
func (e *Emulator) Installed(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.byID[id]
	return ok && e.installed(m)
}
