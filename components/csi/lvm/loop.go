package lvm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// loopDevice is one attached loop device, as losetup lists it.
type loopDevice struct {
	Name      string      `json:"name"`
	BackFile  string      `json:"back-file"`
	Offset    json.Number `json:"offset"`
	SizeLimit json.Number `json:"sizelimit"`
	// AutoClear is set on a device detached while still in use: it goes
	// away with its last user and must not be reused for a new volume.
	AutoClear json.RawMessage `json:"autoclear"`
}

// extent returns where a loop-activated volume lies on its physical volume
// (callers hold g.mu):
// the device, the byte offset and the length.
func (g *VG) extent(ctx context.Context, lv LV) (string, int64, int64, error) {
	if len(lv.Segments) != 1 {
		return "", 0, 0, fmt.Errorf("%s/%s has %d segments: loop activation needs one contiguous segment", g.name, lv.Name, len(lv.Segments))
	}
	seg := lv.Segments[0]
	if g.extentSize == 0 {
		info, err := g.Info(ctx)
		if err != nil {
			return "", 0, 0, err
		}
		g.extentSize = info.ExtentSize
	}
	peStart, ok := g.peStart[seg.PV]
	if !ok {
		out, err := g.run(ctx, "pvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", "pv_name,pe_start", seg.PV)
		if err != nil {
			return "", 0, 0, err
		}
		var rep struct {
			Report []struct {
				PV []map[string]string `json:"pv"`
			} `json:"report"`
		}
		if err := json.Unmarshal(out, &rep); err != nil || len(rep.Report) == 0 || len(rep.Report[0].PV) == 0 {
			return "", 0, 0, fmt.Errorf("pvs %s: no report (%v)", seg.PV, err)
		}
		if peStart, err = strconv.ParseInt(rep.Report[0].PV[0]["pe_start"], 10, 64); err != nil {
			return "", 0, 0, fmt.Errorf("pvs %s pe_start: %w", seg.PV, err)
		}
		if g.peStart == nil {
			g.peStart = map[string]int64{}
		}
		g.peStart[seg.PV] = peStart
	}
	return seg.PV, peStart + seg.Start*g.extentSize, (seg.End - seg.Start + 1) * g.extentSize, nil
}

// findLoop returns the loop devices attached to pv at offset.
func findLoop(ctx context.Context, pv string, offset int64) ([]loopDevice, error) {
	out, err := exec.CommandContext(ctx, "losetup", "--list", "--json", "-O", "NAME,BACK-FILE,OFFSET,SIZELIMIT,AUTOCLEAR").Output()
	if err != nil {
		return nil, fmt.Errorf("losetup --list: %w", err)
	}
	if len(strings.TrimSpace(string(out))) == 0 {
		return nil, nil
	}
	var rep struct {
		Loops []loopDevice `json:"loopdevices"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return nil, fmt.Errorf("parse losetup --list: %w", err)
	}
	var found []loopDevice
	for _, l := range rep.Loops {
		if ac := string(l.AutoClear); ac == "true" || ac == "1" || ac == `"1"` {
			continue
		}
		if strings.TrimSuffix(l.BackFile, " (deleted)") == pv && l.Offset.String() == strconv.FormatInt(offset, 10) {
			found = append(found, l)
		}
	}
	return found, nil
}

// attachLoop attaches (or finds) the loop device of a volume.
func (g *VG) attachLoop(ctx context.Context, lv LV) (string, error) {
	pv, off, size, err := g.extent(ctx, lv)
	if err != nil {
		return "", err
	}
	found, err := findLoop(ctx, pv, off)
	if err != nil {
		return "", err
	}
	if len(found) > 0 {
		return found[0].Name, nil
	}
	out, err := exec.CommandContext(ctx, "losetup", "--find", "--show", "--offset", strconv.FormatInt(off, 10), "--sizelimit", strconv.FormatInt(size, 10), pv).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("attach a loop device to %s/%s (%s at %d): %w: %s", g.name, lv.Name, pv, off, err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// detachLoop detaches the loop devices of a volume.
func (g *VG) detachLoop(ctx context.Context, lv LV) error {
	pv, off, _, err := g.extent(ctx, lv)
	if err != nil {
		return err
	}
	found, err := findLoop(ctx, pv, off)
	if err != nil {
		return err
	}
	for _, l := range found {
		if err := detachDevice(ctx, l.Name); err != nil {
			return fmt.Errorf("%s/%s: %w", g.name, lv.Name, err)
		}
	}
	return nil
}

// detachDevice detaches one loop device.
func detachDevice(ctx context.Context, dev string) error {
	if out, err := exec.CommandContext(ctx, "losetup", "--detach", dev).CombinedOutput(); err != nil {
		return fmt.Errorf("detach %s: %w: %s", dev, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// resizeLoop sets the size limit of an attached loop device to the volume's
// new size (LOOP_SET_STATUS64), which the kernel applies at once.
func (g *VG) resizeLoop(ctx context.Context, lv LV) error {
	pv, off, size, err := g.extent(ctx, lv)
	if err != nil {
		return err
	}
	found, err := findLoop(ctx, pv, off)
	if err != nil {
		return err
	}
	for _, l := range found {
		if err := setLoopSize(l.Name, size); err != nil {
			return fmt.Errorf("resize %s of %s/%s to %d bytes: %w", l.Name, g.name, lv.Name, size, err)
		}
	}
	return nil
}

func setLoopSize(dev string, size int64) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := unix.IoctlLoopGetStatus64(int(f.Fd()))
	if err != nil {
		return fmt.Errorf("LOOP_GET_STATUS64: %w", err)
	}
	st.Sizelimit = uint64(size)
	if err := unix.IoctlLoopSetStatus64(int(f.Fd()), st); err != nil {
		return fmt.Errorf("LOOP_SET_STATUS64: %w", err)
	}
	return nil
}
