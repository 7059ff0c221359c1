package metalapi

import (
	"net/http"
	"net/netip"
	"slices"
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
		if family != "" && (family == "IPv6") != p.Addr().Is6() {
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

// families are the address families of a network's prefixes, IPv4 first
// (metal.Prefixes.AddressFamilies).
func families(nw *network) []string {
	var out []string
	for _, p := range nw.prefixes {
		f := "IPv4"
		if p.Addr().Is6() {
			f = "IPv6"
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out) // "IPv4" < "IPv6"
	return out
}

// allocateIP is allocateIP (service/ip-service.go) with allocateRandomIP
// and allocateSpecificIP.
func (e *Emulator) allocateIP(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeAs[models.V1IPAllocateRequest](w, r, false)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ip, err := e.allocateIPLocked(req, r.PathValue("ip"))
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, ip)
}

func (e *Emulator) allocateIPLocked(req *models.V1IPAllocateRequest, specific string) (*models.V1IPResponse, *apiError) {
	if deref(req.Networkid) == "" {
		return nil, badRequest("networkid should not be empty")
	}
	if deref(req.Projectid) == "" {
		return nil, badRequest("projectid should not be empty")
	}
	nw, ok := e.networks[*req.Networkid]
	if !ok {
		return nil, notFound("no network with id %q found", *req.Networkid)
	}
	if len(nw.prefixes) == 0 {
		return nil, unprocessable("network %s does not have prefixes configured", *req.Networkid)
	}
	if af := req.Addressfamily; af != "" {
		if af != "IPv4" && af != "IPv6" {
			return nil, unprocessable("invalid addressfamily: %s", af)
		}
		if !slices.Contains(families(nw), af) {
			return nil, badRequest("there is no prefix for the given addressfamily:%s present in network:%s", af, *req.Networkid)
		}
		if specific != "" {
			return nil, badRequest("it is not possible to specify specificIP and addressfamily")
		}
	}
	if !e.projectExists(*req.Projectid) {
		return nil, noProject(*req.Projectid)
	}
	// For private, unshared networks the project must be the network's.
	if !nw.resp.Shared && nw.resp.Parentnetworkid != "" && *req.Projectid != nw.resp.Projectid {
		return nil, unprocessable("can not allocate ip for project %q because network belongs to %q and the network is not shared", *req.Projectid, nw.resp.Projectid)
	}
	tags := slices.Clone(req.Tags)
	if req.Machineid != "" {
		tags = append(tags, machineTag(req.Machineid))
	}
	var addr netip.Addr
	if specific == "" {
		// allocateRandomIP: the requested family, else the network's only
		// one, else IPv4.
		fam := req.Addressfamily
		if fam == "" {
			fam = "IPv4"
			if fs := families(nw); len(fs) == 1 {
				fam = fs[0]
			}
		}
		a, ok := e.freeAddress(nw, fam)
		if !ok {
			return nil, fail(http.StatusInternalServerError, "Internal cannot allocate free ip in ipam, no ips left")
		}
		addr = a
	} else {
		a, err := netip.ParseAddr(specific)
		if err != nil {
			return nil, unprocessable("unable to parse specific ip: %v", err)
		}
		if !contains(nw, a) {
			return nil, unprocessable("specific ip not contained in any of the defined prefixes")
		}
		if _, used := e.ips[a.String()]; used {
			return nil, fail(http.StatusConflict, "Conflict ip already allocated")
		}
		addr = a
	}
	typ := "ephemeral"
	if deref(req.Type) == "static" {
		typ = "static"
	}
	now := strfmt.DateTime(time.Now())
	ip := &models.V1IPResponse{Ipaddress: new(addr.String()), Networkid: req.Networkid, Projectid: req.Projectid, Type: new(typ),
		Name: req.Name, Description: req.Description, Tags: uniq(tags), Allocationuuid: new(e.nextID("ip")),
		Created: now, Changed: now}
	e.ips[addr.String()] = ip
	return ip, nil
}

func contains(nw *network, a netip.Addr) bool {
	for _, p := range nw.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (e *Emulator) findIP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ip, ok := e.ips[r.PathValue("id")]
	if !ok {
		writeAPIError(w, notFound("no ip with id %q found", r.PathValue("id")))
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
			q.Machineid != "" && !slices.Contains(ip.Tags, machineTag(q.Machineid)) ||
			!hasTags(ip.Tags, q.Tags) {
			continue
		}
		out = append(out, ip)
	}
	slices.SortFunc(out, func(x, y *models.V1IPResponse) int { return strings.Compare(*x.Ipaddress, *y.Ipaddress) })
	writeJSON(w, http.StatusOK, out)
}

// updateIP is updateIP (service/ip-service.go): name, description and type
// change only when given, tags only when not null; validateIPUpdate refuses
// static to ephemeral and scope changes between two machines.
func (e *Emulator) updateIP(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeAs[models.V1IPUpdateRequest](w, r, false)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ip, ok := e.ips[deref(req.Ipaddress)]
	if !ok {
		writeAPIError(w, notFound("no ip with id %q found", deref(req.Ipaddress)))
		return
	}
	next := *ip
	if req.Name != "" {
		next.Name = req.Name
	}
	if req.Description != "" {
		next.Description = req.Description
	}
	if req.Tags != nil {
		next.Tags = slices.Clone(req.Tags)
	}
	if t := deref(req.Type); t == "static" || t == "ephemeral" {
		next.Type = new(t)
	}
	if deref(ip.Type) == "static" && deref(next.Type) == "ephemeral" {
		writeAPIError(w, badRequest("cannot change type of ip address from static to ephemeral"))
		return
	}
	if os, ns := scope(ip), scope(&next); os != ns && os != "project" && ns != "project" {
		writeAPIError(w, badRequest("can not use ip of scope %v with scope %v", os, ns))
		return
	}
	next.Tags = uniq(next.Tags)
	next.Changed = strfmt.DateTime(time.Now())
	*ip = next
	writeJSON(w, http.StatusOK, ip)
}

// freeIP is freeIP (service/ip-service.go): validateIPDelete refuses IPs of
// machine scope with 400; the release itself is synchronous.
func (e *Emulator) freeIP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := r.PathValue("id")
	ip, ok := e.ips[id]
	if !ok {
		writeAPIError(w, notFound("no ip with id %q found", id))
		return
	}
	if scope(ip) == "machine" {
		writeAPIError(w, badRequest("ip with machine scope can not be deleted"))
		return
	}
	delete(e.ips, id)
	writeJSON(w, http.StatusOK, ip)
}
