package metalapi

import (
	"encoding/binary"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/metal-stack/metal-go/api/models"
)

// maxScan bounds how many addresses of a prefix the emulator looks at.
const maxScan = 1 << 16

// freeAddress returns the first unallocated host address of nw in family
// ("IPv4", "IPv6" or "" for any).
func (e *Emulator) freeAddress(nw *network, family string) (netip.Addr, bool) {
	for _, p := range nw.prefixes {
		if family != "" && (strings.EqualFold(family, "IPv6") != p.Addr().Is6()) {
			continue
		}
		a := p.Masked().Addr().Next() // skip the network address
		for i := 0; i < maxScan && a.IsValid() && p.Contains(a); i++ {
			next := a.Next()
			if a.Is4() && !p.Contains(next) {
				break // broadcast
			}
			if _, used := e.ips[a.String()]; !used {
				return a, true
			}
			a = next
		}
	}
	return netip.Addr{}, false
}

func contains(nw *network, a netip.Addr) bool {
	for _, p := range nw.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (e *Emulator) allocateIP(w http.ResponseWriter, r *http.Request) {
	req, ok := decode[models.V1IPAllocateRequest](w, r)
	if !ok {
		return
	}
	if !e.projectExists(*req.Projectid) {
		writeError(w, http.StatusUnprocessableEntity, "project %s not found", *req.Projectid)
		return
	}
	typ := *req.Type
	if typ != "ephemeral" && typ != "static" {
		writeError(w, http.StatusUnprocessableEntity, "ip type must be ephemeral or static, not %q", typ)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	nw, ok := e.networks[*req.Networkid]
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "network %s not found", *req.Networkid)
		return
	}
	var addr netip.Addr
	if specific := r.PathValue("ip"); specific != "" {
		a, err := netip.ParseAddr(specific)
		if err != nil {
			writeError(w, http.StatusBadRequest, "ip %q is not an address: %v", specific, err)
			return
		}
		if !contains(nw, a) {
			writeError(w, http.StatusUnprocessableEntity, "ip %s is not in any prefix of network %s", a, *req.Networkid)
			return
		}
		if _, used := e.ips[a.String()]; used {
			writeError(w, http.StatusConflict, "ip %s is already allocated", a)
			return
		}
		addr = a
	} else {
		a, ok := e.freeAddress(nw, req.Addressfamily)
		if !ok {
			writeError(w, http.StatusUnprocessableEntity, "no free ip in network %s", *req.Networkid)
			return
		}
		addr = a
	}
	ip := &models.V1IPResponse{Ipaddress: new(addr.String()), Networkid: req.Networkid, Projectid: req.Projectid, Type: new(typ),
		Name: req.Name, Description: req.Description, Tags: append([]string{}, req.Tags...), Allocationuuid: new(e.nextID("ip")),
		Created: strfmt.DateTime(time.Now()), Changed: strfmt.DateTime(time.Now())}
	e.ips[addr.String()] = ip
	writeJSON(w, http.StatusCreated, ip)
}

func (e *Emulator) findIP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ip, ok := e.ips[r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "ip %s not found", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, ip)
}

func (e *Emulator) findIPs(w http.ResponseWriter, r *http.Request) {
	q, ok := decode[models.V1IPFindRequest](w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []*models.V1IPResponse{}
	for _, ip := range e.ips {
		if q.Ipaddress != "" && q.Ipaddress != *ip.Ipaddress || q.Projectid != "" && q.Projectid != *ip.Projectid ||
			q.Networkid != "" && q.Networkid != *ip.Networkid || q.Name != "" && q.Name != ip.Name ||
			q.Type != "" && q.Type != *ip.Type || q.Allocationuuid != "" && q.Allocationuuid != *ip.Allocationuuid ||
			!hasTags(ip.Tags, q.Tags) {
			continue
		}
		out = append(out, ip)
	}
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) updateIP(w http.ResponseWriter, r *http.Request) {
	req, ok := decode[models.V1IPUpdateRequest](w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ip, ok := e.ips[*req.Ipaddress]
	if !ok {
		writeError(w, http.StatusNotFound, "ip %s not found", *req.Ipaddress)
		return
	}
	if req.Type != nil {
		if *req.Type != "ephemeral" && *req.Type != "static" {
			writeError(w, http.StatusUnprocessableEntity, "ip type must be ephemeral or static, not %q", *req.Type)
			return
		}
		ip.Type = new(*req.Type)
	}
	if req.Name != "" {
		ip.Name = req.Name
	}
	if req.Description != "" {
		ip.Description = req.Description
	}
	ip.Tags = append([]string{}, req.Tags...)
	ip.Changed = strfmt.DateTime(time.Now())
	writeJSON(w, http.StatusOK, ip)
}

func (e *Emulator) freeIP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := r.PathValue("id")
	ip, ok := e.ips[id]
	if !ok {
		writeError(w, http.StatusNotFound, "ip %s not found", id)
		return
	}
	delete(e.ips, id)
	writeJSON(w, http.StatusOK, ip)
}

func (e *Emulator) addNetwork(n *network) {
	e.networks[*n.resp.ID] = n
	e.netOrder = append(e.netOrder, *n.resp.ID)
}

// carve returns the first child prefix of length bits in super that overlaps
// no existing child.
func (e *Emulator) carve(super *network, bits int) (netip.Prefix, bool) {
	for _, p := range super.prefixes {
		if !p.Addr().Is4() || bits < p.Bits() || bits > 32 {
			continue
		}
		base := binary.BigEndian.Uint32(p.Masked().Addr().AsSlice())
		step := uint32(1) << (32 - bits)
		count := uint32(1) << (bits - p.Bits())
		for i := uint32(0); i < count && i < maxScan; i++ {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], base+i*step)
			cand := netip.PrefixFrom(netip.AddrFrom4(b), bits)
			free := true
			for _, id := range e.netOrder {
				n := e.networks[id]
				if n.resp.Parentnetworkid != *super.resp.ID {
					continue
				}
				for _, q := range n.prefixes {
					if q.Overlaps(cand) {
						free = false
					}
				}
			}
			if free {
				return cand, true
			}
		}
	}
	return netip.Prefix{}, false
}

func (e *Emulator) allocateNetwork(w http.ResponseWriter, r *http.Request) {
	req, ok := decode[models.V1NetworkAllocateRequest](w, r)
	if !ok {
		return
	}
	if !e.projectExists(req.Projectid) {
		writeError(w, http.StatusUnprocessableEntity, "project %q not found", req.Projectid)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var super *network
	for _, id := range e.netOrder {
		if n := e.networks[id]; n.super && n.resp.Partitionid == req.Partitionid {
			super = n
			break
		}
	}
	if super == nil {
		writeError(w, http.StatusUnprocessableEntity, "partition %q has no private super network", req.Partitionid)
		return
	}
	bits := super.childLen
	for k, v := range req.Length {
		if strings.EqualFold(k, "IPv4") {
			bits = int(v)
		}
	}
	prefix, ok := e.carve(super, bits)
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "no free /%d left in private super network %s", bits, *super.resp.ID)
		return
	}
	id := e.nextID("net")
	n := &network{prefixes: []netip.Prefix{prefix}, resp: &models.V1NetworkResponse{ID: new(id), Name: req.Name, Description: req.Description,
		Partitionid: req.Partitionid, Projectid: req.Projectid, Labels: req.Labels, Parentnetworkid: *super.resp.ID,
		Prefixes: []string{prefix.String()}, Destinationprefixes: req.Destinationprefixes, Nat: new(req.Nat), Privatesuper: new(false),
		Underlay: new(false), Shared: req.Shared, Vrf: int64(e.seq + 100), Created: strfmt.DateTime(time.Now())}}
	e.addNetwork(n)
	writeJSON(w, http.StatusCreated, n.resp)
}

func (e *Emulator) findNetwork(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := e.networks[r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "network %s not found", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, n.resp)
}

func (e *Emulator) findNetworks(w http.ResponseWriter, r *http.Request) {
	q, ok := decode[models.V1NetworkFindRequest](w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []*models.V1NetworkResponse{}
	for _, id := range e.netOrder {
		n := e.networks[id].resp
		if q.ID != "" && q.ID != *n.ID || q.Name != "" && q.Name != n.Name || q.Partitionid != "" && q.Partitionid != n.Partitionid ||
			q.Projectid != "" && q.Projectid != n.Projectid || q.Parentnetworkid != "" && q.Parentnetworkid != n.Parentnetworkid ||
			q.Privatesuper && !*n.Privatesuper {
			continue
		}
		labelsMatch := true
		for k, v := range q.Labels {
			if got, ok := n.Labels[k]; !ok || got != v {
				labelsMatch = false
			}
		}
		if labelsMatch {
			out = append(out, n)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) freeNetwork(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := r.PathValue("id")
	n, ok := e.networks[id]
	if !ok {
		writeError(w, http.StatusNotFound, "network %s not found", id)
		return
	}
	if n.resp.Parentnetworkid == "" {
		writeError(w, http.StatusUnprocessableEntity, "network %s was not allocated and cannot be freed", id)
		return
	}
	for _, ip := range e.ips {
		if *ip.Networkid == id {
			writeError(w, http.StatusConflict, "network %s has ip %s in use", id, *ip.Ipaddress)
			return
		}
	}
	delete(e.networks, id)
	for i, nid := range e.netOrder {
		if nid == id {
			e.netOrder = append(e.netOrder[:i], e.netOrder[i+1:]...)
			break
		}
	}
	writeJSON(w, http.StatusOK, n.resp)
}
