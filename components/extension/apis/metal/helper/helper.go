package helper

import (
	"fmt"
	"maps"

	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
)

// FindImage returns the backend image of a machine image version for an
// architecture, first from the CloudProfileConfig, then from the images
// recorded in a Worker's status (so that a version removed from the profile
// keeps working for existing pools).
func FindImage(cpc *v1alpha1.CloudProfileConfig, status *v1alpha1.WorkerStatus, name, version, arch string) (*v1alpha1.MachineImage, error) {
	if cpc != nil {
		for _, mi := range cpc.MachineImages {
			if mi.Name != name {
				continue
			}
			for _, v := range mi.Versions {
				a := v1alpha1.DefaultArchitecture
				if v.Architecture != nil {
					a = *v.Architecture
				}
				if v.Version == version && a == arch {
					return &v1alpha1.MachineImage{Name: name, Version: version, Image: v.Image, Architecture: &a}, nil
				}
			}
		}
	}
	if status != nil {
		for _, mi := range status.MachineImages {
			a := v1alpha1.DefaultArchitecture
			if mi.Architecture != nil {
				a = *mi.Architecture
			}
			if mi.Name == name && mi.Version == version && a == arch {
				out := mi
				out.Architecture = &a
				return &out, nil
			}
		}
	}
	return nil, fmt.Errorf("no backend image for machine image %s version %s (%s) in the CloudProfile's providerConfig", name, version, arch)
}

// MachineType returns the backend size and server labels of a machine type.
func MachineType(cpc *v1alpha1.CloudProfileConfig, name string) (string, map[string]string) {
	if cpc != nil {
		for _, mt := range cpc.MachineTypes {
			if mt.Name == name {
				size := mt.Size
				if size == "" {
					size = name
				}
				return size, maps.Clone(mt.ServerLabels)
			}
		}
	}
	return name, nil
}

// Partition returns the backend partition of a zone of a region.
func Partition(cpc *v1alpha1.CloudProfileConfig, region, zone string) string {
	if r := Region(cpc, region); r != nil {
		for _, z := range r.Zones {
			if z.Name == zone && z.Partition != "" {
				return z.Partition
			}
		}
	}
	return zone
}

// ClusterPartition is a cluster's partition: the InfrastructureConfig's,
// else the partition of the first zone of the first worker pool with zones,
// else the region. It depends on the Shoot and its CloudProfile only, so
// every part of the extension derives the same one at any time, before the
// Infrastructure has reported anything.
func ClusterPartition(cpc *v1alpha1.CloudProfileConfig, ic *v1alpha1.InfrastructureConfig, region string, workerZones [][]string) string {
	if ic != nil && ic.Partition != "" {
		return ic.Partition
	}
	for _, zones := range workerZones {
		if len(zones) > 0 {
			return Partition(cpc, region, zones[0])
		}
	}
	return region
}

// Region returns the mapping of a region, or nil.
func Region(cpc *v1alpha1.CloudProfileConfig, region string) *v1alpha1.Region {
	if cpc == nil {
		return nil
	}
	for i := range cpc.Regions {
		if cpc.Regions[i].Name == region {
			return &cpc.Regions[i]
		}
	}
	return nil
}
