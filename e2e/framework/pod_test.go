package framework

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestStartPod(t *testing.T) {
	const ns = "shoot--a--b"
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns}, Data: map[string][]byte{
			"kubeconfig": []byte("users:\n- user:\n    tokenFile: /srv/creds/token\n"), "token": []byte("t0k")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "conf", Namespace: ns}, Data: map[string]string{"config.yaml": "a: 1\n"}},
	).Build()
	spec := corev1.PodSpec{
		Volumes: []corev1.Volume{
			{Name: "creds", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"},
					Items: []corev1.KeyToPath{{Key: "kubeconfig", Path: "kubeconfig"}, {Key: "token", Path: "token"}}}},
			}}}},
			{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}},
		},
		Containers: []corev1.Container{{
			Name: "tool", Image: "example/tool:v1",
			Args: []string{"-c", "cat /etc/conf/config.yaml /srv/creds/kubeconfig; echo \"$MODE\"; echo \"kc=$KUBECONFIG\"", "tool",
				"--secure-port=10258", "--metrics=:10258", "--other=10258x", "--kubeconfig=inClusterConfig", "--path=/srv/credsx"},
			Env:          []corev1.EnvVar{{Name: "MODE", Value: "from /etc/conf/config.yaml"}},
			Ports:        []corev1.ContainerPort{{Name: "metrics", ContainerPort: 10258}},
			VolumeMounts: []corev1.VolumeMount{{Name: "creds", MountPath: "/srv/creds"}, {Name: "conf", MountPath: "/etc/conf/"}},
		}},
	}
	root := t.TempDir()
	pod, err := StartPod(context.Background(), StartPodInput{Name: "p", Namespace: ns, Spec: spec, Client: c, Root: root, LogDir: t.TempDir(),
		Binaries: map[string]string{"example/tool:v1": "/bin/sh"}, ServiceAccountKubeconfig: "/local/sa.kubeconfig"})
	if err != nil {
		t.Fatal(err)
	}
	defer pod.Stop()
	ctr := pod.Containers[0]
	creds, conf := filepath.Join(root, "p", "creds"), filepath.Join(root, "p", "conf")

	t.Run("only mount paths, declared ports and inClusterConfig are rewritten, one for one", func(t *testing.T) {
		if len(ctr.Run) != len(ctr.Rendered) {
			t.Fatalf("run %q has %d words, rendered %d", ctr.Run, len(ctr.Run), len(ctr.Rendered))
		}
		port := strings.TrimPrefix(ctr.Run[3], "--secure-port=")
		if n, err := strconv.Atoi(port); err != nil || n == 10258 {
			t.Errorf("--secure-port not moved to a free port: %q", ctr.Run[3])
		}
		want := []string{"-c", "cat " + conf + "/config.yaml " + creds + "/kubeconfig; echo \"$MODE\"; echo \"kc=$KUBECONFIG\"", "tool",
			"--secure-port=" + port, "--metrics=127.0.0.1:" + port, "--other=10258x", "--kubeconfig=/local/sa.kubeconfig", "--path=/srv/credsx"}
		for i := range want {
			if ctr.Run[i] != want[i] {
				t.Errorf("word %d: run %q, want %q (rendered %q)", i, ctr.Run[i], want[i], ctr.Rendered[i])
			}
		}
	})
	t.Run("volumes are files; paths inside them and in the environment are rewritten", func(t *testing.T) {
		var log string
		err := Eventually(context.Background(), "the container's output", 30*time.Second, 50*time.Millisecond, func(context.Context) (bool, error) {
			done, _ := ctr.Process.Exited()
			log = ctr.Process.Tail(4096)
			return done, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The service account's kubeconfig is also what the process's
		// clients fall back to, as a pod's clients fall back to its
		// in-cluster config.
		for _, want := range []string{"a: 1", "tokenFile: " + creds + "/token", "from " + conf + "/config.yaml", "kc=/local/sa.kubeconfig"} {
			if !strings.Contains(log, want) {
				t.Errorf("output %q lacks %q", log, want)
			}
		}
		if b, err := os.ReadFile(filepath.Join(creds, "token")); err != nil || string(b) != "t0k" {
			t.Errorf("token file = %q, %v", b, err)
		}
	})
	t.Run("a host port is kept, as a Service's address", func(t *testing.T) {
		hp, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		p, err := StartPod(context.Background(), StartPodInput{Name: "h", Namespace: ns, Spec: spec, Client: c, Root: root, LogDir: t.TempDir(),
			Binaries: map[string]string{"example/tool:v1": "/bin/sh"}, HostPorts: map[int32]int{10258: hp}})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Stop()
		want := "--secure-port=" + strconv.Itoa(hp)
		if got := p.Containers[0].Run[3]; got != want || p.Containers[0].Ports[10258] != hp {
			t.Errorf("run word 3 = %q, ports %v; want %q", got, p.Containers[0].Ports, want)
		}
	})
	t.Run("a container without a local program is an error", func(t *testing.T) {
		_, err := StartPod(context.Background(), StartPodInput{Name: "q", Namespace: ns, Spec: spec, Client: c, Root: root, LogDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), `no local program for image "example/tool:v1"`) {
			t.Errorf("err = %v", err)
		}
	})
}
