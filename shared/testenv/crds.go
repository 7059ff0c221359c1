package testenv

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// CRDSet names a set of upstream CRDs.
type CRDSet string

// The CRD sets testenv can install.
const (
	// MetalOperator: metal.ironcore.dev (Server, ServerClaim, BMC, ...).
	MetalOperator CRDSet = "metal-operator"
	// GardenerExtensions: extensions.gardener.cloud (Cluster, Infrastructure,
	// Worker, OperatingSystemConfig, ControlPlane, ...).
	GardenerExtensions CRDSet = "gardener-extensions"
	// GardenerResources: resources.gardener.cloud (ManagedResource).
	GardenerResources CRDSet = "gardener-resources"
	// MachineControllerManager: machine.sapcloud.io.
	MachineControllerManager CRDSet = "machine-controller-manager"
	// ClusterAPIIPAM: ipam.cluster.x-k8s.io (IPAddressClaim, IPAddress) and
	// Cluster API's Cluster, which an IPAM provider watches.
	ClusterAPIIPAM CRDSet = "cluster-api-ipam"
	// InClusterIPAM: the in-cluster IPAM provider's pools (InClusterIPPool,
	// GlobalInClusterIPPool and the prefix pools).
	InClusterIPAM CRDSet = "in-cluster-ipam"
	// ClusterAPI: the rest of Cluster API core (Machine, MachineSet,
	// MachineDeployment, ClusterClass, MachineHealthCheck, ...); with
	// ClusterAPIIPAM, which holds the Cluster CRD, every CRD the core manager
	// watches.
	ClusterAPI CRDSet = "cluster-api"
	// KubeadmBootstrap: KubeadmConfig and KubeadmConfigTemplate.
	KubeadmBootstrap CRDSet = "kubeadm-bootstrap"
	// KubeadmControlPlane: KubeadmControlPlane and its template.
	KubeadmControlPlane CRDSet = "kubeadm-control-plane"
)

// crdSource says where a set's CRDs are in which module. The version is the one
// the workspace resolves for the module; modules the workspace does not depend
// on (Cluster API core only ships CRDs to us) carry a pinned version.
type crdSource struct {
	module  string
	version string // empty: as resolved by the workspace
	dir     string
	match   func(name string) bool
	// labels are put on every CRD of the set, as the upstream kustomization
	// does (Cluster API's contract-version labels, which its core reads to
	// find a provider's API version).
	labels map[string]string
}

// capiContractLabels are the contract-version labels Cluster API's
// kustomizations put on the kubeadm providers' CRDs.
func capiContractLabels() map[string]string {
	return map[string]string{"cluster.x-k8s.io/v1beta1": "v1beta1", "cluster.x-k8s.io/v1beta2": "v1beta2"}
}

// clusterAPIVersion pins the Cluster API release whose CRDs are installed;
// it matches sigs.k8s.io/cluster-api/api in shared/go.mod, and the real
// Cluster API managers components/capi/hack/peers.sh builds.
const clusterAPIVersion = "v1.14.2"

// InClusterIPAMVersion pins the in-cluster IPAM provider release whose pool
// CRDs are installed; hack/peers.sh builds the provider at the same version.
const InClusterIPAMVersion = "v1.1.0"

var crdSources = map[CRDSet]crdSource{
	MetalOperator: {module: "github.com/ironcore-dev/metal-operator", dir: "config/crd/bases",
		match: func(n string) bool { return strings.HasPrefix(n, "metal.ironcore.dev_") }},
	GardenerExtensions: {module: "github.com/gardener/gardener", dir: "pkg/component/extensions/crds/assets",
		match: func(n string) bool { return strings.HasPrefix(n, "crd-extensions.gardener.cloud_") }},
	GardenerResources: {module: "github.com/gardener/gardener", dir: "example/seed-crds",
		match: func(n string) bool { return strings.HasPrefix(n, "10-crd-resources.gardener.cloud_") }},
	MachineControllerManager: {module: "github.com/gardener/machine-controller-manager", dir: "kubernetes/crds",
		match: func(n string) bool { return strings.HasPrefix(n, "machine.sapcloud.io_") }},
	ClusterAPIIPAM: {module: "sigs.k8s.io/cluster-api", version: clusterAPIVersion, dir: "core/config/crd/bases",
		match: func(n string) bool {
			return strings.HasPrefix(n, "ipam.cluster.x-k8s.io_") || n == "cluster.x-k8s.io_clusters.yaml"
		}},
	ClusterAPI: {module: "sigs.k8s.io/cluster-api", version: clusterAPIVersion, dir: "core/config/crd/bases",
		match: func(n string) bool {
			return !strings.HasPrefix(n, "ipam.cluster.x-k8s.io_") && n != "cluster.x-k8s.io_clusters.yaml" && strings.HasSuffix(n, ".yaml")
		}},
	KubeadmBootstrap: {module: "sigs.k8s.io/cluster-api", version: clusterAPIVersion, dir: "bootstrap/kubeadm/config/crd/bases",
		match: func(n string) bool { return strings.HasSuffix(n, ".yaml") }, labels: capiContractLabels()},
	KubeadmControlPlane: {module: "sigs.k8s.io/cluster-api", version: clusterAPIVersion, dir: "controlplane/kubeadm/config/crd/bases",
		match: func(n string) bool { return strings.HasSuffix(n, ".yaml") }, labels: capiContractLabels()},
	InClusterIPAM: {module: "sigs.k8s.io/cluster-api-ipam-provider-in-cluster", version: InClusterIPAMVersion, dir: "config/crd/bases",
		match: func(n string) bool { return strings.HasPrefix(n, "ipam.cluster.x-k8s.io_") }},
}

// CRDPaths returns the CRD files of the given sets, read from the Go module
// cache (downloaded through the module proxy if missing).
func CRDPaths(sets ...CRDSet) ([]string, error) {
	var paths []string
	for _, set := range sets {
		src, ok := crdSources[set]
		if !ok {
			return nil, fmt.Errorf("unknown CRD set %q", set)
		}
		dir, err := ModuleDir(src.module, src.version)
		if err != nil {
			return nil, fmt.Errorf("CRD set %s: %w", set, err)
		}
		entries, err := os.ReadDir(filepath.Join(dir, src.dir))
		if err != nil {
			return nil, fmt.Errorf("CRD set %s: %w", set, err)
		}
		n := len(paths)
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") && src.match(e.Name()) {
				paths = append(paths, filepath.Join(dir, src.dir, e.Name()))
			}
		}
		if len(paths) == n {
			return nil, fmt.Errorf("CRD set %s: no CRDs in %s", set, filepath.Join(dir, src.dir))
		}
	}
	sort.Strings(paths)
	return paths, nil
}

// ModuleDir returns the module cache directory of module at version, or at the
// version the current module (or workspace) selects when version is empty.
func ModuleDir(module, version string) (string, error) {
	if version == "" {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
		if err == nil && strings.TrimSpace(string(out)) != "" {
			return strings.TrimSpace(string(out)), nil
		}
		out, err = exec.Command("go", "list", "-m", "-f", "{{.Version}}", module).Output()
		if err != nil {
			return "", fmt.Errorf("resolve module %s: %w", module, exitErr(err))
		}
		version = strings.TrimSpace(string(out))
	}
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	cmd.Dir = os.TempDir()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("download module %s@%s: %w", module, version, exitErr(err))
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("download module %s@%s: %w", module, version, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("download module %s@%s: %s", module, version, info.Error)
	}
	return info.Dir, nil
}

func exitErr(err error) error {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}

// splitLabelled splits sets into those installed from their files as they
// are and those whose CRDs get labels, returned read and labelled.
func splitLabelled(sets []CRDSet) (plain []CRDSet, crds []*apiextensionsv1.CustomResourceDefinition, err error) {
	for _, set := range sets {
		src := crdSources[set]
		if len(src.labels) == 0 {
			plain = append(plain, set)
			continue
		}
		paths, err := CRDPaths(set)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, nil, err
			}
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := yaml.Unmarshal(data, crd); err != nil {
				return nil, nil, fmt.Errorf("CRD set %s: %s: %w", set, p, err)
			}
			if crd.Labels == nil {
				crd.Labels = map[string]string{}
			}
			maps.Copy(crd.Labels, src.labels)
			crds = append(crds, crd)
		}
	}
	return plain, crds, nil
}
