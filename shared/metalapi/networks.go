package metalapi

import (
	"encoding/binary"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/metal-stack/metal-go/api/models"
)

// superNetwork returns the private super network of a partition, or nil.
func (e *Emulator) superNetwork(partition string) *network {
	for _, id := range e.netOrder {
		if n := e.networks[id]; n.super && n.resp.Partitionid == partition {
			return n
		}
	}
	return nil
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

// allocateNetwork is allocateNetwork and createChildNetwork
// (service/network-service.go): a child of the partition's private super
// network, with the super network's child prefix length unless the request
// gives one.
func (e *Emulator) allocateNetwork(w http.ResponseWriter, r *http.Request) {
	req, ok := decode[models.V1NetworkAllocateRequest](w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err := e.allocateNetworkLocked(req)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, n.resp)
}

func (e *Emulator) allocateNetworkLocked(req *models.V1NetworkAllocateRequest) (*network, *apiError) {
	if req.Projectid == "" {
		return nil, badRequest("projectid should not be empty")
	}
	if req.Partitionid == "" {
		return nil, badRequest("partitionid should not be empty")
	}
	if !e.projectExists(req.Projectid) {
		return nil, noProject(req.Projectid)
	}
	if !e.partitionExists(req.Partitionid) {
		return nil, notFound("no partition with id %q found", req.Partitionid)
	}
	super := e.superNetwork(req.Partitionid)
	if super == nil {
		return nil, notFound("no network found")
	}
	bits := super.childLen
	for k, v := range req.Length {
		switch k {
		case "IPv4":
			bits = int(v)
		case "IPv6":
		default:
			return nil, badRequest("addressfamily of length is invalid invalid addressfamily: %s", k)
		}
	}
	for _, p := range req.Destinationprefixes {
		if _, err := netip.ParsePrefix(p); err != nil {
			return nil, badRequest("given prefix %v is not a valid ip with mask: %v", p, err)
		}
	}
	prefix, ok := e.carve(super, bits)
	if !ok {
		// createChildPrefix: go-ipam's AcquireChildPrefix error, wrapped.
		return nil, unprocessable("cannot allocate free child prefix in ipam: error creating new prefix from:%s in ipam: internal: no more child prefixes contained in prefix pool",
			super.prefixes[0])
	}
	id := e.nextID("net")
	n := &network{prefixes: []netip.Prefix{prefix}, resp: &models.V1NetworkResponse{ID: new(id), Name: req.Name, Description: req.Description,
		Partitionid: super.resp.Partitionid, Projectid: req.Projectid, Labels: req.Labels, Parentnetworkid: *super.resp.ID,
		Prefixes: []string{prefix.String()}, Destinationprefixes: orEmpty(req.Destinationprefixes), Nat: new(req.Nat), Privatesuper: new(false),
		Underlay: new(false), Shared: req.Shared, Vrf: int64(e.seq + 100), Created: strfmt.DateTime(time.Now())}}
	e.addNetwork(n)
	return n, nil
}

func (e *Emulator) findNetwork(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := e.networks[r.PathValue("id")]
	if !ok {
		writeAPIError(w, notFound("no network with id %q found", r.PathValue("id")))
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

// freeNetwork is freeNetwork (service/network-service.go): it releases the
// child prefixes in go-ipam, which refuses a prefix that still has IPs
// (releaseChildPrefixInternal: "prefix ... has ips, deletion not
// possible"), an error metal-api answers with 422. The IPs of a freed
// machine are released asynchronously, so right after a machine free this
// is temporary.
func (e *Emulator) freeNetwork(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := r.PathValue("id")
	n, ok := e.networks[id]
	if !ok {
		writeAPIError(w, notFound("no network with id %q found", id))
		return
	}
	if !e.isChild(n) {
		writeAPIError(w, unprocessable("error releasing child prefix in ipam: internal: prefix %s is no child prefix", n.prefixes[0]))
		return
	}
	for _, ip := range e.ips {
		if *ip.Networkid == id {
			writeAPIError(w, unprocessable("error releasing child prefix in ipam: internal: prefix %s has ips, deletion not possible", n.prefixes[0]))
			return
		}
	}
	delete(e.networks, id)
	e.netOrder = slices.DeleteFunc(e.netOrder, func(nid string) bool { return nid == id })
	writeJSON(w, http.StatusOK, n.resp)
}
