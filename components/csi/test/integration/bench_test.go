package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/metalkube/metalkube/components/csi/lvm"
	"github.com/metalkube/metalkube/components/csi/lvm/lvmtest"
)

// BenchmarkCreateDelete100 creates and deletes 100 volumes of 8 MiB through
// the driver (CSI CreateVolume/DeleteVolume over its unix socket) and, in the
// same run on the same volume group, with lvcreate/lvremove called directly
// (the same allocation flags, no zeroing, no tags): ms per volume of each and
// their ratio.
func BenchmarkCreateDelete100(b *testing.B) {
	const n = 100
	vg := lvmtest.VG(b, "bench", 1, 2<<30)
	c := dial(b, serve(b, vg, "node-a"))
	ctx := context.Background()
	direct := []string{"-an", "-Zn", "--alloc", "contiguous"}
	if vg.Activation() == lvm.ActivationDM {
		direct = []string{"-Zy"}
	}
	var driverTime, lvmTime time.Duration
	for b.Loop() {
		start := time.Now()
		ids := make([]string, 0, n)
		for i := range n {
			v, err := c.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: fmt.Sprintf("bench-%d", i), CapacityRange: &csi.CapacityRange{RequiredBytes: 8 << 20}, VolumeCapabilities: []*csi.VolumeCapability{mountCap("")}})
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, v.GetVolume().GetVolumeId())
		}
		for _, id := range ids {
			if _, err := c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
				b.Fatal(err)
			}
		}
		driverTime += time.Since(start)

		start = time.Now()
		for i := range n {
			lvmtest.LVM(b, vg, append([]string{"lvcreate", "-y", "-n", fmt.Sprintf("direct-%d", i), "-L", "8m"}, append(direct, "bench")...)...)
		}
		for i := range n {
			lvmtest.LVM(b, vg, "lvremove", "-y", fmt.Sprintf("bench/direct-%d", i))
		}
		lvmTime += time.Since(start)
	}
	vols := float64(b.N * n)
	b.ReportMetric(float64(driverTime.Milliseconds())/vols, "driver-ms/volume")
	b.ReportMetric(float64(lvmTime.Milliseconds())/vols, "lvm2-ms/volume")
	b.ReportMetric(float64(driverTime)/float64(lvmTime), "driver/lvm2")
}
