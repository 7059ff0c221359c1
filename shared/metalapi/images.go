package metalapi

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/metal-stack/metal-go/api/models"
)

// findImage resolves an image ID as datastore.FindImage and
// getMostRecentImageFor (datastore/image.go) do: "<os>-<major>.<minor>"
// matches every build of that version and resolves to the newest;
// "<os>-<major>.<minor>.<patch>" matches exactly. An unknown image is
// NotFound "no image for id:<id> found".
func (e *Emulator) findImage(id string) (*Image, *apiError) {
	os, want, ok := splitImage(id)
	if !ok {
		return nil, notFound("no image for id:%s found:no version found in image id %q", id, id)
	}
	var best *Image
	var bestV [3]int
	for i := range e.cfg.Images {
		img := &e.cfg.Images[i]
		ios, v, ok := splitImage(img.ID)
		if !ok || ios != os || v[0] != want[0] || v[1] != want[1] || (want[2] > 0 && v[2] != want[2]) {
			continue
		}
		if best == nil || v[2] > bestV[2] {
			best, bestV = img, v
		}
	}
	if best == nil {
		return nil, notFound("no image for id:%s found:no image for os:%s version:%d.%d.%d found", id, os, want[0], want[1], want[2])
	}
	return best, nil
}

// splitImage splits "<os>-<major>.<minor>[.<patch>]" at its last dash.
func splitImage(id string) (string, [3]int, bool) {
	var v [3]int
	i := strings.LastIndex(id, "-")
	if i <= 0 {
		return "", v, false
	}
	parts := strings.Split(id[i+1:], ".")
	if len(parts) < 2 || len(parts) > 3 {
		return "", v, false
	}
	for j, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return "", v, false
		}
		v[j] = n
	}
	return id[:i], v, true
}

func (e *Emulator) sizeExists(id string) bool {
	for _, m := range e.machines {
		if m.inv.Size == id {
			return true
		}
	}
	return false
}

func (e *Emulator) partitionExists(id string) bool {
	for _, m := range e.machines {
		if m.inv.Partition == id {
			return true
		}
	}
	for _, n := range e.networks {
		if n.resp.Partitionid == id {
			return true
		}
	}
	return false
}

// partitions lists the partitions metal-api knows: those of its machines and
// networks, sorted.
func (e *Emulator) partitions() []string {
	seen := map[string]bool{}
	for _, m := range e.machines {
		if m.inv.Partition != "" {
			seen[m.inv.Partition] = true
		}
	}
	for _, n := range e.networks {
		if n.resp.Partitionid != "" {
			seen[n.resp.Partitionid] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// listPartitions answers GET /v1/partition as metal-api does: every
// partition, with the fields metal-api requires (an empty boot configuration).
func (e *Emulator) listPartitions(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	parts := e.partitions()
	e.mu.Unlock()
	out := make([]*models.V1PartitionResponse, 0, len(parts))
	for _, p := range parts {
		out = append(out, &models.V1PartitionResponse{ID: &p, Name: p, Bootconfig: &models.V1PartitionBootConfiguration{}})
	}
	writeJSON(w, http.StatusOK, out)
}
