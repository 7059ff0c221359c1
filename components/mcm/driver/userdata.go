package driver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/gardener/machine-controller-manager/pkg/util/provider/machinecodes/codes"
	"github.com/gardener/machine-controller-manager/pkg/util/provider/machinecodes/status"
	corev1 "k8s.io/api/core/v1"

	api "github.com/metalkube/metalkube/shared/apis/mcm/v1alpha1"
)

// userData reads the user data from the MachineClass Secret and, for Ignition,
// makes sure it sets the hostname.
func userData(secret *corev1.Secret, hostname string) ([]byte, error) {
	if secret == nil {
		return nil, status.Error(codes.InvalidArgument, "no MachineClass Secret in the request")
	}
	data, ok := secret.Data[api.SecretKeyUserData]
	if !ok || len(data) == 0 {
		return nil, status.Error(codes.InvalidArgument, fmt.Sprintf("MachineClass Secret %s/%s: key %q is missing or empty", secret.Namespace, secret.Name, api.SecretKeyUserData))
	}
	return withHostname(data, hostname), nil
}

// withHostname adds /etc/hostname to an Ignition config that does not write
// it. Anything that is not an Ignition config (cloud-init, a script) is
// returned unchanged; so is an Ignition config that already sets it.
func withHostname(data []byte, hostname string) []byte {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return data
	}
	var cfg map[string]any
	if err := json.Unmarshal(trimmed, &cfg); err != nil {
		return data
	}
	ign, ok := cfg["ignition"].(map[string]any)
	if !ok || ign["version"] == nil {
		return data
	}
	storage, _ := cfg["storage"].(map[string]any)
	if storage == nil {
		storage = map[string]any{}
	}
	files, _ := storage["files"].([]any)
	for _, f := range files {
		if fm, ok := f.(map[string]any); ok && fm["path"] == "/etc/hostname" {
			return data
		}
	}
	files = append(files, map[string]any{
		"path":      "/etc/hostname",
		"mode":      420,
		"overwrite": true,
		"contents":  map[string]any{"source": "data:," + url.PathEscape(hostname+"\n")},
	})
	storage["files"] = files
	cfg["storage"] = storage
	out, err := json.Marshal(cfg)
	if err != nil {
		return data
	}
	return out
}
