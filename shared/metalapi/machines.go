package metalapi

import (
	"encoding/base64"
	"net/http"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/metal-stack/metal-go/api/models"
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
	req, ok := decode[models.V1MachineAllocateRequest](w, r)
	if !ok {
		return
	}
	e.allocate(w, r, allocation{role: "machine", project: *req.Projectid, partition: *req.Partitionid, size: *req.Sizeid,
		image: *req.Imageid, name: req.Name, hostname: req.Hostname, description: req.Description, userData: req.UserData,
		sshKeys: req.SSHPubKeys, tags: req.Tags, ips: req.Ips, networks: req.Networks, dns: req.DNSServers, ntp: req.NtpServers})
}

func (e *Emulator) allocateFirewall(w http.ResponseWriter, r *http.Request) {
	req, ok := decode[models.V1FirewallCreateRequest](w, r)
	if !ok {
		return
	}
	e.allocate(w, r, allocation{role: "firewall", project: *req.Projectid, partition: *req.Partitionid, size: *req.Sizeid,
		image: *req.Imageid, name: req.Name, hostname: req.Hostname, description: req.Description, userData: req.UserData,
		sshKeys: req.SSHPubKeys, tags: req.Tags, ips: req.Ips, networks: req.Networks, dns: req.DNSServers, ntp: req.NtpServers})
}

func (e *Emulator) allocate(w http.ResponseWriter, r *http.Request, a allocation) {
	if !e.projectExists(a.project) {
		writeError(w, http.StatusUnprocessableEntity, "project %s not found", a.project)
		return
	}
	if a.userData != "" {
		if _, err := base64.StdEncoding.DecodeString(a.userData); err != nil {
			writeError(w, http.StatusUnprocessableEntity, "user_data must be base64 encoded: %v", err)
			return
		}
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
	var m *machine
	for _, c := range e.machines {
		if c.alloc == nil && c.liveliness == "Alive" && c.inv.Partition == a.partition && c.inv.Size == a.size {
			m = c
			break
		}
	}
	if m == nil {
		writeError(w, http.StatusUnprocessableEntity, "no machine available")
		return
	}
	// Check the networks before touching anything.
	for _, n := range a.networks {
		nw, ok := e.networks[*n.Networkid]
		if !ok {
			writeError(w, http.StatusUnprocessableEntity, "network %s not found", *n.Networkid)
			return
		}
		if nw.super {
			writeError(w, http.StatusUnprocessableEntity, "network %s is a private super network, machines join a child", *n.Networkid)
			return
		}
	}
	for _, ip := range a.ips {
		if _, ok := e.ips[ip]; !ok {
			writeError(w, http.StatusUnprocessableEntity, "ip %s is not allocated", ip)
			return
		}
	}
	var machineNetworks []*models.V1MachineNetwork
	var acquired []string
	for _, n := range a.networks {
		nw := e.networks[*n.Networkid]
		mn := &models.V1MachineNetwork{Networkid: n.Networkid, Prefixes: nw.resp.Prefixes, Private: new(nw.resp.Parentnetworkid != ""),
			Underlay: new(false), Nat: new(false), Projectid: new(nw.resp.Projectid), Vrf: new(nw.resp.Vrf), Asn: new(int64(4200000000)),
			Networktype: new("external"), Destinationprefixes: nw.resp.Destinationprefixes}
		if *mn.Private {
			mn.Networktype = new("privateprimaryunshared")
		}
		if n.Autoacquire == nil || *n.Autoacquire {
			addr, ok := e.freeAddress(nw, "")
			if !ok {
				e.release(acquired)
				writeError(w, http.StatusUnprocessableEntity, "no free ip in network %s", *n.Networkid)
				return
			}
			ip := &models.V1IPResponse{Ipaddress: new(addr.String()), Networkid: n.Networkid, Projectid: new(a.project),
				Type: new("ephemeral"), Allocationuuid: new(e.nextID("ip")), Name: a.name,
				Tags: []string{"machine.metal-stack.io/id=" + m.inv.ID}, Created: strfmt.DateTime(time.Now())}
			e.ips[addr.String()] = ip
			acquired = append(acquired, addr.String())
			mn.Ips = []string{addr.String()}
		}
		machineNetworks = append(machineNetworks, mn)
	}
	hostname := a.hostname
	if hostname == "" {
		hostname = "metal"
	}
	now := strfmt.DateTime(time.Now())
	m.alloc = &models.V1MachineAllocation{Allocationuuid: new(e.nextID("alloc")), Name: new(a.name), Hostname: new(hostname),
		Description: a.description, Project: new(a.project), Role: new(a.role), Image: &models.V1ImageResponse{ID: new(a.image)},
		Networks: machineNetworks, SSHPubKeys: a.sshKeys, UserData: a.userData, DNSServers: a.dns, NtpServers: a.ntp,
		Created: &now, Creator: new("metal-api-emulator"), Reinstall: new(false), Succeeded: new(false)}
	m.allocatedAt = time.Now()
	m.tags = append([]string(nil), a.tags...)
	m.acquired = acquired
	m.power = "ON"
	if a.role == "firewall" {
		writeJSON(w, http.StatusOK, e.firewallResponse(m))
		return
	}
	writeJSON(w, http.StatusOK, e.machineResponse(m))
}

// release frees ephemeral IPs acquired for a machine.
func (e *Emulator) release(addrs []string) {
	for _, a := range addrs {
		delete(e.ips, a)
	}
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
	if m.alloc != nil {
		cp := *m.alloc
		cp.Succeeded = new(time.Since(m.allocatedAt) >= e.installDelay)
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
		writeError(w, http.StatusNotFound, "machine %s not found", id)
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

func (e *Emulator) freeMachine(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.lookup(w, r.PathValue("id"))
	if m == nil {
		return
	}
	e.release(m.acquired)
	m.alloc, m.tags, m.acquired, m.power = nil, nil, nil, "OFF"
	writeJSON(w, http.StatusOK, e.machineResponse(m))
}

func (e *Emulator) power(state string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		defer e.mu.Unlock()
		m := e.lookup(w, r.PathValue("id"))
		if m == nil {
			return
		}
		m.power = state
		writeJSON(w, http.StatusOK, e.machineResponse(m))
	}
}
