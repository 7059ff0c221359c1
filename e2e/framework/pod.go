package framework

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/metalkube/metalkube/shared/testkit/ports"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// InClusterConfig is the value machine-controller-manager's kubeconfig flags
// take for "the pod's service account".
const InClusterConfig = "inClusterConfig"

// StartPodInput says which pod to run as processes.
type StartPodInput struct {
	// Name prefixes the processes' names (<Name>-<container>).
	Name string
	// Namespace holds the Secrets and ConfigMaps the volumes refer to.
	Namespace string
	// Spec is the pod spec as rendered (a Deployment's template).
	Spec corev1.PodSpec
	// Client reads the volumes' Secrets and ConfigMaps.
	Client client.Reader
	// Root receives one directory per volume.
	Root string
	// LogDir receives each container's log.
	LogDir string
	// Binaries maps a container's image, or the first word of its command, to
	// the local program that plays it.
	Binaries map[string]string
	// ServiceAccountKubeconfig, if set, is a kubeconfig for the pod's service
	// account: what a pod's in-cluster config is (the API server's address in
	// its environment, the service account token mounted at a fixed path).
	// It replaces the value inClusterConfig and is the containers'
	// $KUBECONFIG, which a client falls back to where a pod would use its
	// in-cluster config.
	ServiceAccountKubeconfig string
	// HostPorts gives declared container ports a fixed port on this machine,
	// as a Service or a host port gives them a fixed address in a cluster
	// (a webhook configuration's URL names it); every other declared port
	// gets a free port.
	HostPorts map[int32]int
	// Env is added to every container's environment before the container's
	// own: the host's settings, such as a log format for every process.
	Env []string
	// LoopbackFlags maps a container's name to its flag for the address it
	// serves on (--bind-address, --address): the one thing added to a
	// command line. In a pod, listening on all interfaces means the pod's
	// own network namespace; on this host it would mean every interface of
	// the machine, so such a container is told to listen on 127.0.0.1.
	LoopbackFlags map[string]string
}

// Container is how one container is run.
type Container struct {
	Name string
	// Rendered is the container's command and args as rendered.
	Rendered []string
	// Run is what runs: Rendered with only mount paths, pod-local ports
	// and inClusterConfig rewritten, one for one.
	Run []string
	// Ports maps its declared container ports to the ports on this machine.
	Ports map[int32]int
	// Process runs it.
	Process *Process
}

// Pod is a running pod.
type Pod struct {
	Containers []*Container
}

// Processes returns the containers' processes.
func (p *Pod) Processes() []*Process {
	var out []*Process
	for _, c := range p.Containers {
		out = append(out, c.Process)
	}
	return out
}

// Stop ends every container.
func (p *Pod) Stop() {
	for _, c := range p.Containers {
		if c.Process != nil {
			c.Process.Stop(10 * time.Second)
		}
	}
}

// StartPod runs every container of a pod spec as a process, the way a
// kubelet would run it on this machine: each Secret, ConfigMap and projected
// volume is written to files under Root, and in the command line, the
// environment and the mounted files only the containers' mount paths (to
// the volumes' directories), their declared ports (to HostPorts or free
// ports on this machine; an address on all of the pod's interfaces, such as
// :8080, to 127.0.0.1) and inClusterConfig (to ServiceAccountKubeconfig,
// also the containers' $KUBECONFIG) are rewritten.
// Nothing is dropped from a command line, and nothing added but the
// loopback address of LoopbackFlags.
func StartPod(ctx context.Context, in StartPodInput) (*Pod, error) {
	// Mount paths become these directories in command lines and in files
	// (a kubeconfig's tokenFile), where a relative path would be read
	// relative to something else: the file's own directory.
	root, err := filepath.Abs(in.Root)
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", in.Name, err)
	}
	in.Root = root
	vols := map[string]string{} // volume name -> directory
	for _, v := range in.Spec.Volumes {
		dir := filepath.Join(in.Root, in.Name, v.Name)
		if err := writeVolume(ctx, in, v, dir); err != nil {
			return nil, fmt.Errorf("pod %s: volume %s: %w", in.Name, v.Name, err)
		}
		vols[v.Name] = dir
	}
	pod := &Pod{}
	for _, c := range in.Spec.Containers {
		rw, err := newRewriter(c, vols, in.ServiceAccountKubeconfig, in.HostPorts)
		if err != nil {
			return nil, fmt.Errorf("pod %s: container %s: %w", in.Name, c.Name, err)
		}
		rendered := append(slices.Clone(c.Command), c.Args...)
		if len(rendered) == 0 {
			return nil, fmt.Errorf("pod %s: container %s has neither command nor args", in.Name, c.Name)
		}
		run := make([]string, len(rendered))
		for i, a := range rendered {
			run[i] = rw.arg(a)
		}
		if flag := in.LoopbackFlags[c.Name]; flag != "" {
			run = append(run, "--"+flag+"=127.0.0.1")
		}
		var bin string
		var args []string
		if len(c.Command) > 0 {
			bin, args = in.Binaries[c.Command[0]], run[1:]
		} else {
			bin, args = in.Binaries[c.Image], run
		}
		if bin == "" {
			return nil, fmt.Errorf("pod %s: container %s: no local program for image %q / command %q", in.Name, c.Name, c.Image, c.Command)
		}
		env := slices.Clone(in.Env)
		if in.ServiceAccountKubeconfig != "" {
			env = append(env, "KUBECONFIG="+in.ServiceAccountKubeconfig)
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				return nil, fmt.Errorf("pod %s: container %s: env %s from a reference is not supported by the pod runner", in.Name, c.Name, e.Name)
			}
			env = append(env, e.Name+"="+rw.value(e.Value))
		}
		// Mounted files refer to each other by mount path (a kubeconfig's
		// tokenFile): rewrite those too.
		for _, m := range c.VolumeMounts {
			if err := rw.files(vols[m.Name]); err != nil {
				return nil, fmt.Errorf("pod %s: container %s: %w", in.Name, c.Name, err)
			}
		}
		p, err := StartProcess(StartProcessInput{Name: in.Name + "-" + c.Name, Path: bin, Args: args, LogDir: in.LogDir, Env: env})
		if err != nil {
			pod.Stop()
			return nil, err
		}
		pod.Containers = append(pod.Containers, &Container{Name: c.Name, Rendered: rendered, Run: run, Ports: rw.ports, Process: p})
	}
	return pod, nil
}

func writeVolume(ctx context.Context, in StartPodInput, v corev1.Volume, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	switch {
	case v.Secret != nil:
		return writeSecret(ctx, in, v.Secret.SecretName, v.Secret.Items, ptrTrue(v.Secret.Optional), dir)
	case v.ConfigMap != nil:
		return writeConfigMap(ctx, in, v.ConfigMap.Name, v.ConfigMap.Items, ptrTrue(v.ConfigMap.Optional), dir)
	case v.Projected != nil:
		for _, s := range v.Projected.Sources {
			var err error
			switch {
			case s.Secret != nil:
				err = writeSecret(ctx, in, s.Secret.Name, s.Secret.Items, ptrTrue(s.Secret.Optional), dir)
			case s.ConfigMap != nil:
				err = writeConfigMap(ctx, in, s.ConfigMap.Name, s.ConfigMap.Items, ptrTrue(s.ConfigMap.Optional), dir)
			default:
				err = fmt.Errorf("projected source %+v is not supported by the pod runner", s)
			}
			if err != nil {
				return err
			}
		}
		return nil
	case v.EmptyDir != nil:
		return nil
	}
	return fmt.Errorf("volume source %+v is not supported by the pod runner", v.VolumeSource)
}

func ptrTrue(b *bool) bool { return b != nil && *b }

func writeSecret(ctx context.Context, in StartPodInput, name string, items []corev1.KeyToPath, optional bool, dir string) error {
	s := &corev1.Secret{}
	if err := in.Client.Get(ctx, client.ObjectKey{Namespace: in.Namespace, Name: name}, s); err != nil {
		if optional && client.IgnoreNotFound(err) == nil {
			return nil
		}
		return fmt.Errorf("secret %s/%s: %w", in.Namespace, name, err)
	}
	return writeKeys(s.Data, items, dir, "secret "+name)
}

func writeConfigMap(ctx context.Context, in StartPodInput, name string, items []corev1.KeyToPath, optional bool, dir string) error {
	cm := &corev1.ConfigMap{}
	if err := in.Client.Get(ctx, client.ObjectKey{Namespace: in.Namespace, Name: name}, cm); err != nil {
		if optional && client.IgnoreNotFound(err) == nil {
			return nil
		}
		return fmt.Errorf("configmap %s/%s: %w", in.Namespace, name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return writeKeys(data, items, dir, "configmap "+name)
}

// writeKeys writes data as a kubelet projects it: every key, or only the
// items at their paths.
func writeKeys(data map[string][]byte, items []corev1.KeyToPath, dir, what string) error {
	files := map[string][]byte{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = v
		}
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("%s has no key %s", what, it.Key)
		}
		files[it.Path] = v
	}
	for p, v := range files {
		clean := filepath.Clean(p)
		if filepath.IsAbs(clean) || strings.HasPrefix(clean, "..") {
			return fmt.Errorf("%s: path %q leaves the volume", what, p)
		}
		f := filepath.Join(dir, clean)
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(f, v, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// rewriter maps a container's pod-local names to this machine's.
type rewriter struct {
	mounts [][2]string // mount path -> local path, longest first
	ports  map[int32]int
	sa     string
}

func newRewriter(c corev1.Container, vols map[string]string, sa string, hostPorts map[int32]int) (*rewriter, error) {
	rw := &rewriter{ports: map[int32]int{}, sa: sa}
	for _, m := range c.VolumeMounts {
		dir, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("mount of unknown volume %s", m.Name)
		}
		rw.mounts = append(rw.mounts, [2]string{path.Clean(m.MountPath), filepath.Join(dir, m.SubPath)})
	}
	sort.Slice(rw.mounts, func(i, j int) bool { return len(rw.mounts[i][0]) > len(rw.mounts[j][0]) })
	for _, p := range c.Ports {
		if hp, ok := hostPorts[p.ContainerPort]; ok {
			rw.ports[p.ContainerPort] = hp
			continue
		}
		free, err := FreePort()
		if err != nil {
			return nil, err
		}
		rw.ports[p.ContainerPort] = free
	}
	return rw, nil
}

// portRe matches a flag value that is a port (=10258) or ends in one
// (=:10258, =0.0.0.0:10258).
var portRe = regexp.MustCompile(`^(--?[A-Za-z0-9-]+=(?:[^=]*:)?)([0-9]+)$`)

// allInterfaces are the hosts of an address that listens on every interface
// of the pod; on this machine that is loopback (the pod's network namespace
// holds only the pod), not every interface of the machine.
var allInterfaces = []string{"=:", "=0.0.0.0:", "=[::]:"}

// arg rewrites one command-line word.
func (rw *rewriter) arg(a string) string {
	if m := portRe.FindStringSubmatch(a); m != nil {
		if n, err := strconv.ParseInt(m[2], 10, 32); err == nil {
			if free, ok := rw.ports[int32(n)]; ok {
				prefix := m[1]
				for _, all := range allInterfaces {
					if strings.HasSuffix(prefix, all) {
						prefix = strings.TrimSuffix(prefix, all) + "=127.0.0.1:"
					}
				}
				return prefix + strconv.Itoa(free)
			}
		}
	}
	if rw.sa != "" {
		if name, v, ok := strings.Cut(a, "="); ok && v == InClusterConfig {
			return name + "=" + rw.sa
		}
	}
	return rw.value(a)
}

// value rewrites the mount paths in s: a path at or under a mount path,
// where it starts a word or follows '='.
func (rw *rewriter) value(s string) string {
	for _, m := range rw.mounts {
		var b strings.Builder
		rest := s
		for {
			i := strings.Index(rest, m[0])
			if i < 0 {
				b.WriteString(rest)
				break
			}
			end := i + len(m[0])
			startOK := i == 0 || strings.ContainsRune("= \"':", rune(rest[i-1]))
			endOK := end == len(rest) || strings.ContainsRune("/ \"'\n,", rune(rest[end]))
			b.WriteString(rest[:i])
			if startOK && endOK {
				b.WriteString(m[1])
			} else {
				b.WriteString(m[0])
			}
			rest = rest[end:]
		}
		s = b.String()
	}
	return s
}

// files rewrites the mount paths inside the files of a volume directory.
func (rw *rewriter) files(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if out := rw.value(string(b)); out != string(b) {
			return os.WriteFile(p, []byte(out), 0o600)
		}
		return nil
	})
}

// FreePort returns a TCP port on 127.0.0.1 that is free and handed out to no
// one else (see package ports).
func FreePort() (int, error) { return ports.Free() }
