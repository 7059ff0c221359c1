package driver

import (
	"context"
	"slices"

	mcmdriver "github.com/gardener/machine-controller-manager/pkg/util/provider/driver"
)

// GetVolumeIDs returns the IDs of the volumes machine-controller-manager waits
// to detach when it drains a node: the volume handle of CSI volumes (of the
// configured drivers, or all) and the path of local volumes. Other volume
// types do not live on a bare-metal server and are left out.
func (d *Driver) GetVolumeIDs(_ context.Context, req *mcmdriver.GetVolumeIDsRequest) (*mcmdriver.GetVolumeIDsResponse, error) {
	var ids []string
	for _, pv := range req.PVSpecs {
		switch {
		case pv == nil:
		case pv.CSI != nil:
			if len(d.cfg.CSIDrivers) == 0 || slices.Contains(d.cfg.CSIDrivers, pv.CSI.Driver) {
				ids = append(ids, pv.CSI.VolumeHandle)
			}
		case pv.Local != nil:
			ids = append(ids, pv.Local.Path)
		}
	}
	return &mcmdriver.GetVolumeIDsResponse{VolumeIDs: ids}, nil
}
