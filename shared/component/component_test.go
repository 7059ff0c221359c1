package component

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/metalkube/metalkube/shared/testkit"
)

func TestLoggingLevelAndFormat(t *testing.T) {
	tests := []struct {
		name, format, level string
		wantJSON, wantDebug bool
		wantErr             string
	}{
		{name: "json debug", format: "json", level: "debug", wantJSON: true, wantDebug: true},
		{name: "json info", format: "json", level: "info", wantJSON: true},
		{name: "console debug", format: "console", level: "debug", wantDebug: true},
		{name: "verbosity number", format: "json", level: "2", wantJSON: true, wantDebug: true},
		{name: "bad format", format: "xml", level: "info", wantErr: `--log-format="xml"`},
		{name: "bad level", format: "json", level: "loud", wantErr: `--log-level="loud"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			o := &Logging{Format: tt.format, Level: tt.level}
			log, err := o.Logger(&buf)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			log.WithName("c").V(1).Info("debug line")
			log.WithName("c").Info("info line")
			out := buf.String()
			if got := strings.Contains(out, "debug line"); got != tt.wantDebug {
				t.Errorf("debug line written: %v, want %v:\n%s", got, tt.wantDebug, out)
			}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if json.Valid([]byte(l)) != tt.wantJSON {
					t.Errorf("line %q: JSON %v, want %v", l, !tt.wantJSON, tt.wantJSON)
				}
			}
		})
	}
}

func TestLoggingSetupReachesKlogAndContext(t *testing.T) {
	var buf bytes.Buffer
	ctx, _, err := (&Logging{Format: "json", Level: "debug"}).Setup(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if KlogVerbosity() != 1 {
		t.Errorf("klog verbosity %d, want 1 for debug", KlogVerbosity())
	}
	Logger(ctx, "comp").Info("from context")
	if !strings.Contains(buf.String(), `"logger":"comp"`) || !strings.Contains(buf.String(), "from context") {
		t.Errorf("context logger output: %s", buf.String())
	}
}

func TestManagerOptions(t *testing.T) {
	parse := func(t *testing.T, args ...string) *Options {
		t.Helper()
		o := NewOptions("x")
		fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
		o.AddFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return o
	}
	tests := []struct {
		name    string
		args    []string
		wantErr []string
	}{
		{name: "defaults"},
		{name: "no lease name", args: []string{"--leader-election-id="}, wantErr: []string{"--leader-election-id is empty"}},
		{name: "no lease name without election", args: []string{"--leader-election-id=", "--leader-elect=false"}},
		{name: "renew not below lease", args: []string{"--leader-elect-lease-duration=10s", "--leader-elect-renew-deadline=10s"},
			wantErr: []string{"--leader-elect-renew-deadline=10s must be shorter than --leader-elect-lease-duration=10s"}},
		{name: "retry not below renew", args: []string{"--leader-elect-retry-period=50s"}, wantErr: []string{"--leader-elect-retry-period=50s"}},
		{name: "negative shutdown", args: []string{"--graceful-shutdown-timeout=-1s"}, wantErr: []string{"--graceful-shutdown-timeout=-1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parse(t, tt.args...).Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want %q", err, w)
				}
			}
		})
	}

	cfg := &Config{Name: "x", Manager: parse(t, "--leader-election-namespace=ns", "--metrics-bind-address=:9").Manager}
	mo := cfg.ManagerOptions(nil)
	if !mo.LeaderElection || mo.LeaderElectionID != "metalkube-x" || mo.LeaderElectionNamespace != "ns" || !mo.LeaderElectionReleaseOnCancel ||
		*mo.LeaseDuration != 60*time.Second || *mo.RenewDeadline != 40*time.Second || *mo.RetryPeriod != 5*time.Second ||
		mo.Metrics.BindAddress != ":9" || mo.HealthProbeBindAddress != ":8081" || *mo.GracefulShutdownTimeout != 30*time.Second {
		t.Errorf("manager options %+v", mo)
	}
}

func TestRESTOptionsNameTheFlag(t *testing.T) {
	_, err := (&RESTOptions{Kubeconfig: "/nonexistent/kubeconfig"}).Complete()
	if err == nil || !strings.Contains(err.Error(), `--kubeconfig="/nonexistent/kubeconfig"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestLogFormatDefaultFromEnvironment(t *testing.T) {
	tests := []struct {
		name, env string
		args      []string
		want      string
		wantErr   string
	}{
		{name: "unset: json", want: "json"},
		{name: "environment chooses", env: "console", want: "console"},
		{name: "flag wins over environment", env: "console", args: []string{"--log-format=json"}, want: "json"},
		{name: "bad environment names the variable", env: "xml", want: "xml", wantErr: `--log-format="xml" (from $METALKUBE_LOG_FORMAT)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvLogFormat, tt.env)
			o := &Logging{}
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if o.Format != tt.want {
				t.Errorf("format = %q, want %q", o.Format, tt.want)
			}
			err := o.Validate()
			if tt.wantErr == "" && err != nil {
				t.Errorf("Validate: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestStartupMessagesNameTheFlag: the two start failures an operator meets
// first outside a cluster name the flag to set, not client-go's
// KUBERNETES_MASTER or controller-runtime's Go field name.
func TestStartupMessagesNameTheFlag(t *testing.T) {
	t.Run("no kubeconfig", func(t *testing.T) {
		t.Setenv("KUBECONFIG", "")
		t.Setenv("HOME", t.TempDir())
		t.Setenv("KUBERNETES_SERVICE_HOST", "")
		_, err := (&RESTOptions{}).Complete()
		if err == nil || !strings.Contains(err.Error(), "--kubeconfig") || !strings.Contains(err.Error(), "$KUBECONFIG") || strings.Contains(err.Error(), "KUBERNETES_MASTER") {
			t.Fatalf("err = %v, want one naming --kubeconfig and $KUBECONFIG", err)
		}
	})
	t.Run("leader election outside a pod without a namespace", func(t *testing.T) {
		c := &Config{Name: "x", REST: &rest.Config{Host: "https://127.0.0.1:1"}, Manager: NewManagerOptions("metalkube-x")}
		_, err := c.NewManager(context.Background(), runtime.NewScheme())
		if err == nil || !strings.Contains(err.Error(), "--leader-election-namespace") || strings.Contains(err.Error(), "LeaderElectionNamespace") {
			t.Fatalf("err = %v, want one naming --leader-election-namespace", err)
		}
	})
}

// TestStartSaysTheAPIServerIsUnreachable: a component started against an
// API server that does not answer says so once, naming the host and that it
// keeps retrying, instead of only repeating controller-runtime's informer
// errors.
func TestStartSaysTheAPIServerIsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := "https://" + l.Addr().String()
	_ = l.Close() // nothing listens there any more
	var mu sync.Mutex
	var lines []string
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, prefix+" "+args)
	}, funcr.Options{})
	m := NewManagerOptions("metalkube-x")
	m.LeaderElect = false
	m.MetricsBindAddress, m.HealthProbeBindAddress = "0", "0"
	c := &Config{Name: "x", REST: &rest.Config{Host: host}, Manager: m}
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), log))
	mgr, err := c.NewManager(ctx, runtime.NewScheme())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Start(ctx, mgr) }()
	testkit.EventuallyWithin(t, time.Minute, "the unreachable API server said", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			if strings.Contains(l, "API server unreachable at start: retrying until it answers") && strings.Contains(l, host) {
				return true, ""
			}
		}
		return false, strings.Join(lines, "\n")
	})
	cancel()
	<-done
}
