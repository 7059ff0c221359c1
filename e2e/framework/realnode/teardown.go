package realnode

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/metalkube/metalkube/e2e/framework"
)

// stopOrder is the order Teardown stops the node's processes in: the
// kubelet first (or it would start the pods again), containerd last but
// one (the pods are removed through it before), etcd last.
var stopOrder = []string{"kubelet", "kube-proxy", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "containerd", "etcd"}

// chainPrefixes are the iptables chains of the kubelet, kube-proxy and the
// CNI plugins.
var chainPrefixes = []string{"KUBE-", "CNI-"}

// Sysctls are the host settings the kubelet (vm.*, kernel.*), the CNI
// bridge (ip_forward) and kube-proxy may change; Start records them and
// Teardown puts them back.
var Sysctls = []string{
	"net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet",
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// HostPaths are the directories outside the state directory that the node
// writes to because their place is fixed: the CNI library's result cache,
// the kubelet's device plugin socket directory, its container log links and
// the shims' socket directory. Start records which of them do not exist
// yet; Teardown removes those.
var HostPaths = []string{"/var/lib/cni", "/var/lib/kubelet", containerLogsDir, filepath.Dir(shimSocketDir)}

// ExistingHostPaths returns the HostPaths that exist.
func ExistingHostPaths() []string {
	var out []string
	for _, p := range HostPaths {
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func saveHostPaths(p paths) error {
	var absent []string
	for _, h := range HostPaths {
		if _, err := os.Stat(h); errors.Is(err, os.ErrNotExist) {
			absent = append(absent, h)
		}
	}
	b, err := json.Marshal(absent)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(p.state, "created.json"), b, 0o600)
}

// removeHostPaths removes the HostPaths the node created.
func removeHostPaths(p paths) error {
	b, err := os.ReadFile(filepath.Join(p.state, "created.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var created []string
	if err := json.Unmarshal(b, &created); err != nil {
		return fmt.Errorf("created.json: %w", err)
	}
	var errs []error
	for _, h := range created {
		if !slices.Contains(HostPaths, h) {
			errs = append(errs, fmt.Errorf("created.json names %s, not one of the node's host paths", h))
			continue
		}
		if err := os.RemoveAll(h); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ReadSysctls returns the current values of Sysctls.
func ReadSysctls() map[string]string {
	out := map[string]string{}
	for _, s := range Sysctls {
		if b, err := os.ReadFile(filepath.Join("/proc/sys", s)); err == nil {
			out[s] = strings.TrimSpace(string(b))
		}
	}
	return out
}

func saveSysctls(p paths) error {
	b, err := json.Marshal(ReadSysctls())
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(p.state, "sysctls.json"), b, 0o600)
}

func restoreSysctls(p paths) error {
	b, err := os.ReadFile(filepath.Join(p.state, "sysctls.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var saved map[string]string
	if err := json.Unmarshal(b, &saved); err != nil {
		return fmt.Errorf("sysctls.json: %w", err)
	}
	var errs []error
	for s, v := range saved {
		cur, err := os.ReadFile(filepath.Join("/proc/sys", s))
		if err == nil && strings.TrimSpace(string(cur)) == v {
			continue
		}
		if err := os.WriteFile(filepath.Join("/proc/sys", s), []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore %s=%s: %w", s, v, err))
		}
	}
	return errors.Join(errs...)
}

// Teardown removes everything a node with this state directory left, from
// a clean stop or a crash: the pods through the CRI, the processes, the
// mounts and network namespaces under stateDir, the bridge, the KUBE-* and
// CNI-* iptables chains, the kubepods cgroups, the pods' log links and the
// state directory; the host's Sysctls are put back. bin holds crictl and
// containerd (to remove the pods of a crashed run, containerd is started
// again for the purpose).
func Teardown(ctx context.Context, stateDir, bin string) error {
	p := paths{state: stateDir}
	var errs []error
	if _, err := os.Stat(stateDir); err == nil {
		stopProcess(p, "kubelet")
		if err := removePods(ctx, p, bin); err != nil {
			errs = append(errs, err)
		}
		for _, name := range stopOrder {
			stopProcess(p, name)
		}
	}
	// Whatever still runs with the state directory on its command line:
	// the shims, a process whose PID file was lost.
	for _, pid := range processesOf(stateDir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if err := removeCgroups(); err != nil {
		errs = append(errs, err)
	}
	if err := unmountUnder(stateDir); err != nil {
		errs = append(errs, err)
	}
	if err := removeLogLinks(stateDir); err != nil {
		errs = append(errs, err)
	}
	if err := removeChains(ctx); err != nil {
		errs = append(errs, err)
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", Bridge)); err == nil {
		if err := run(ctx, "ip", "link", "del", Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	if err := restoreSysctls(p); err != nil {
		errs = append(errs, err)
	}
	// The shims' socket directory, if nothing else uses it (removing a
	// directory that is not empty fails).
	_ = syscall.Rmdir(shimSocketDir)
	_ = syscall.Rmdir(filepath.Dir(shimSocketDir))
	if err := removeHostPaths(p); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(stateDir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removePods stops and removes every pod sandbox through the CRI, so that
// the CNI plugins release their addresses and rules. If containerd is not
// running (a crash), it is started for the purpose.
func removePods(ctx context.Context, p paths, bin string) error {
	crictl := filepath.Join(bin, "crictl")
	if _, err := os.Stat(p.containerdConf()); err != nil {
		return nil
	}
	if _, err := os.Stat(crictl); err != nil {
		return fmt.Errorf("remove pods: %w", err)
	}
	cri := func(args ...string) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return run(ctx, crictl, append([]string{"--runtime-endpoint", p.runtimeEndpoint(), "--timeout", "60s"}, args...)...)
	}
	if cri("version") != nil {
		stopProcess(p, "containerd")
		logDir := filepath.Join(p.state, "teardown-logs")
		if err := os.MkdirAll(logDir, 0o755); err != nil {
			return err
		}
		proc, err := framework.StartProcess(framework.StartProcessInput{
			Name: "containerd", Path: filepath.Join(bin, "containerd"), Args: []string{"--config=" + p.containerdConf()},
			LogDir: logDir, Env: []string{"PATH=" + bin + ":/usr/sbin:/usr/bin:/sbin:/bin"},
		})
		if err != nil {
			return fmt.Errorf("remove pods: %w", err)
		}
		defer proc.Stop(30 * time.Second)
		if err := framework.Eventually(ctx, "containerd serving for teardown", time.Minute, 200*time.Millisecond, func(context.Context) (bool, error) {
			err := cri("version")
			return err == nil, err
		}); err != nil {
			return fmt.Errorf("remove pods: %w\n%s", err, proc.Tail(2000))
		}
	}
	if err := cri("rmp", "--all", "--force"); err != nil {
		return fmt.Errorf("remove pods: %w", err)
	}
	return nil
}

// stopProcess ends the recorded process name, if it still runs with the
// state directory on its command line (a PID may have been reused): SIGTERM,
// then SIGKILL after 20s.
func stopProcess(p paths, name string) {
	pidFile := filepath.Join(p.pids(), name+".pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !cmdlineHas(pid, p.state) {
		_ = os.Remove(pidFile)
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(20 * time.Second)
	for cmdlineHas(pid, p.state) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if cmdlineHas(pid, p.state) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; i < 100 && cmdlineHas(pid, p.state); i++ {
			time.Sleep(50 * time.Millisecond)
		}
	}
	_ = os.Remove(pidFile)
}

// cmdlineHas reports whether process pid runs (not a zombie) with s in
// its command line.
func cmdlineHas(pid int, s string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 { // gone, or a zombie
		return false
	}
	return strings.Contains(string(b), s)
}

// processesOf lists the processes with dir on their command line.
func processesOf(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if cmdlineHas(pid, dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cgroupRoots are the kubelet's pod cgroups in every hierarchy.
func cgroupRoots() []string {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	if _, err := os.Stat("/sys/fs/cgroup/kubepods"); err == nil {
		roots = append(roots, "/sys/fs/cgroup/kubepods")
	}
	if _, err := os.Stat("/sys/fs/cgroup/kubepods.slice"); err == nil {
		roots = append(roots, "/sys/fs/cgroup/kubepods.slice")
	}
	return roots
}

// removeCgroups kills what is left in the kubepods cgroups and removes
// them, deepest first.
func removeCgroups() error {
	var errs []error
	for _, root := range cgroupRoots() {
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			var err error
			for range 100 {
				killProcs(d)
				if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

func killProcs(cgroup string) {
	b, err := os.ReadFile(filepath.Join(cgroup, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// mountsUnder lists the mount points under dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unmountUnder(dir string) error {
	var errs []error
	for range 3 {
		mps, err := mountsUnder(dir)
		if err != nil {
			return err
		}
		if len(mps) == 0 {
			return nil
		}
		errs = nil
		for _, mp := range mps {
			if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
			}
		}
	}
	return errors.Join(errs...)
}

// logLinks lists the links the kubelet made in /var/log/containers to
// logs under dir.
func logLinks(dir string) []string {
	ents, _ := os.ReadDir(containerLogsDir)
	var out []string
	for _, e := range ents {
		path := filepath.Join(containerLogsDir, e.Name())
		if target, err := os.Readlink(path); err == nil && strings.HasPrefix(target, dir+"/") {
			out = append(out, path)
		}
	}
	return out
}

func removeLogLinks(dir string) error {
	var errs []error
	for _, l := range logLinks(dir) {
		if err := os.Remove(l); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rule is one rule of `iptables -S`: its chain and its arguments.
type rule struct {
	chain string
	args  []string
}

// ourChain reports whether chain belongs to the kubelet, kube-proxy or CNI.
func ourChain(chain string) bool {
	for _, p := range chainPrefixes {
		if strings.HasPrefix(chain, p) {
			return true
		}
	}
	return false
}

// listChains returns a table's chains of ours and the rules of other
// chains that jump to them.
func listChains(ctx context.Context, cmd, table string) (chains []string, jumps []rule, err error) {
	out, err := exec.CommandContext(ctx, cmd, "-w", "-t", table, "-S").Output()
	if err != nil {
		return nil, nil, nil // table or family not there
	}
	for _, line := range strings.Split(string(out), "\n") {
		args := splitRule(line)
		if len(args) < 2 {
			continue
		}
		switch args[0] {
		case "-N":
			if ourChain(args[1]) {
				chains = append(chains, args[1])
			}
		case "-A":
			if ourChain(args[1]) {
				continue
			}
			for i, a := range args {
				if (a == "-j" || a == "-g") && i+1 < len(args) && ourChain(args[i+1]) {
					jumps = append(jumps, rule{chain: args[1], args: args[2:]})
					break
				}
			}
		}
	}
	return chains, jumps, nil
}

// splitRule splits a line of `iptables -S` into words, honouring double
// quotes (comments).
func splitRule(line string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && inQuote && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQuote, have = !inQuote, true
		case c == ' ' && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

var iptablesTables = []string{"filter", "nat", "mangle", "raw", "security"}

// removeChains deletes the rules that jump to our chains, then the chains.
func removeChains(ctx context.Context) error {
	var errs []error
	for _, cmd := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(cmd); err != nil {
			continue
		}
		for _, table := range iptablesTables {
			chains, jumps, err := listChains(ctx, cmd, table)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, j := range jumps {
				if err := run(ctx, cmd, append([]string{"-w", "-t", table, "-D", j.chain}, j.args...)...); err != nil {
					errs = append(errs, err)
				}
			}
			for _, c := range chains {
				if err := run(ctx, cmd, "-w", "-t", table, "-F", c); err != nil {
					errs = append(errs, err)
				}
			}
			for _, c := range chains {
				if err := run(ctx, cmd, "-w", "-t", table, "-X", c); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists what a node with this state directory left on the
// machine: processes, mounts, the bridge and its ports, iptables chains,
// kubepods cgroups, log links and the state directory itself. It is empty
// after Teardown.
func Leftovers(ctx context.Context, stateDir string) []string {
	var out []string
	for _, pid := range processesOf(stateDir) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		out = append(out, fmt.Sprintf("process %d: %s", pid, strings.ReplaceAll(string(b), "\x00", " ")))
	}
	if mps, err := mountsUnder(stateDir); err != nil {
		out = append(out, "mounts: "+err.Error())
	} else {
		for _, mp := range mps {
			out = append(out, "mount "+mp)
		}
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", Bridge)); err == nil {
		out = append(out, "link "+Bridge)
	}
	if links, _ := filepath.Glob("/sys/class/net/*/master"); len(links) > 0 {
		for _, l := range links {
			if target, err := os.Readlink(l); err == nil && filepath.Base(target) == Bridge {
				out = append(out, "link "+filepath.Base(filepath.Dir(l))+" (port of "+Bridge+")")
			}
		}
	}
	for _, cmd := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(cmd); err != nil {
			continue
		}
		for _, table := range iptablesTables {
			chains, _, _ := listChains(ctx, cmd, table)
			for _, c := range chains {
				out = append(out, fmt.Sprintf("%s chain %s/%s", cmd, table, c))
			}
		}
	}
	for _, c := range cgroupRoots() {
		out = append(out, "cgroup "+c)
	}
	for _, l := range logLinks(stateDir) {
		out = append(out, "log link "+l)
	}
	for _, d := range []string{stateDir, shimSocketDir} {
		if _, err := os.Stat(d); err == nil {
			out = append(out, "directory "+d)
		}
	}
	return out
}
