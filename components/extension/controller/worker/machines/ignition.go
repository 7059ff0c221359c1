package machines

import (
	"encoding/json"
	"fmt"
)

// ignitionLists are Ignition's lists whose entries are identified by a key; a
// later config's entry replaces an earlier one with the same key, as Ignition
// itself merges configs.
var ignitionLists = map[string]string{
	"storage.files": "path", "storage.directories": "path", "storage.links": "path",
	"storage.disks": "device", "storage.filesystems": "device", "storage.raid": "name",
	"systemd.units": "name", "passwd.users": "name", "passwd.groups": "name",
}

// MergeIgnition merges extra into base, both Ignition configs (JSON), with
// Ignition's own rules: objects merge key by key, keyed lists replace entries
// with the same key and append the rest, other values of extra win. The result
// stays plain JSON, so machine-controller-manager can still replace its
// <<MACHINE_NAME>> and <<BOOTSTRAP_TOKEN>> placeholders in it.
func MergeIgnition(base, extra []byte) ([]byte, error) {
	var b, e map[string]any
	if err := json.Unmarshal(base, &b); err != nil || b["ignition"] == nil {
		return nil, fmt.Errorf("the pool's user data is not Ignition (extraIgnition needs an Ignition image)")
	}
	if err := json.Unmarshal(extra, &e); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	delete(e, "ignition") // the base config's version and settings stay
	return json.Marshal(mergeObject("", b, e))
}

func mergeObject(path string, base, extra map[string]any) map[string]any {
	for k, ev := range extra {
		p := k
		if path != "" {
			p = path + "." + k
		}
		switch ev := ev.(type) {
		case map[string]any:
			if bv, ok := base[k].(map[string]any); ok {
				base[k] = mergeObject(p, bv, ev)
				continue
			}
		case []any:
			if key, ok := ignitionLists[p]; ok {
				bv, _ := base[k].([]any)
				base[k] = mergeList(bv, ev, key)
				continue
			}
		}
		base[k] = ev
	}
	return base
}

func mergeList(base, extra []any, key string) []any {
	index := map[any]int{}
	for i, item := range base {
		if m, ok := item.(map[string]any); ok {
			index[m[key]] = i
		}
	}
	for _, item := range extra {
		if m, ok := item.(map[string]any); ok {
			if i, dup := index[m[key]]; dup {
				base[i] = item
				continue
			}
		}
		base = append(base, item)
	}
	return base
}
