package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
)

const (
	flagKubeconfig = "kubeconfig"
	flagNamespace  = "namespace"
	flagRelease    = "release"
	flagValues     = "f"
	flagTimeout    = "timeout"
	flagHome       = "home"
)

// valueFiles is a repeatable flag: value files in the order given.
type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

// input is what one install needs.
type input struct {
	kubeconfig, namespace, release, chart, home string
	values                                      []string
	timeout                                     time.Duration
}

func main() {
	var in input
	var files valueFiles
	flag.StringVar(&in.kubeconfig, flagKubeconfig, "", "the cluster's kubeconfig (required)")
	flag.StringVar(&in.namespace, flagNamespace, "", "the release's namespace, which must exist (required)")
	flag.StringVar(&in.release, flagRelease, "", "the release name (required)")
	flag.Var(&files, flagValues, "a values file; repeat it, later files override earlier ones")
	flag.DurationVar(&in.timeout, flagTimeout, 5*time.Minute, "how long to wait for the release's resources to be ready")
	flag.StringVar(&in.home, flagHome, "", "where Helm keeps its own files (repositories, registry config, plugins; required)")
	flag.Parse()
	in.values = files
	if flag.NArg() != 1 {
		fmt.Fprintf(os.Stderr, "helminstall: want one chart directory, got %d arguments\n", flag.NArg())
		os.Exit(2)
	}
	in.chart = flag.Arg(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, in); err != nil {
		fmt.Fprintln(os.Stderr, "helminstall:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, in input) error {
	for _, f := range []struct{ name, value string }{{flagKubeconfig, in.kubeconfig}, {flagNamespace, in.namespace}, {flagRelease, in.release}, {flagHome, in.home}} {
		if f.value == "" {
			return fmt.Errorf("-%s is required", f.name)
		}
	}
	if in.timeout <= 0 {
		return fmt.Errorf("-%s %s: must be positive", flagTimeout, in.timeout)
	}
	ch, err := loader.Load(in.chart)
	if err != nil {
		return fmt.Errorf("load chart %s: %w", in.chart, err)
	}
	if t := ch.Metadata.Type; t != "" && t != "application" {
		return fmt.Errorf("chart %s: %s charts are not installable", in.chart, t)
	}
	if deps := ch.Metadata.Dependencies; deps != nil {
		if err := action.CheckDependencies(ch, deps); err != nil {
			return fmt.Errorf("chart %s: %w", in.chart, err)
		}
	}

	settings := cli.New()
	settings.KubeConfig = in.kubeconfig
	settings.SetNamespace(in.namespace)
	settings.RepositoryConfig = filepath.Join(in.home, "config", "repositories.yaml")
	settings.RepositoryCache = filepath.Join(in.home, "cache", "repository")
	settings.RegistryConfig = filepath.Join(in.home, "config", "registry", "config.json")
	settings.PluginsDirectory = filepath.Join(in.home, "data", "plugins")
	vals, err := (&values.Options{ValueFiles: in.values}).MergeValues(getter.All(settings))
	if err != nil {
		return fmt.Errorf("values: %w", err)
	}

	// Helm's log is printed only if the install fails.
	var log bytes.Buffer
	logf := func(format string, v ...any) { fmt.Fprintf(&log, format+"\n", v...) }
	cfg := new(action.Configuration)
	if err := cfg.Init(settings.RESTClientGetter(), in.namespace, "secret", logf); err != nil {
		return fmt.Errorf("helm configuration: %w", err)
	}
	install := action.NewInstall(cfg)
	install.ReleaseName = in.release
	install.Namespace = in.namespace
	install.Wait = true
	install.Timeout = in.timeout
	rel, err := install.RunWithContext(ctx, ch, vals)
	if err != nil {
		return errors.Join(fmt.Errorf("install %s into %s: %w", in.release, in.namespace, err), errors.New(strings.TrimSpace(log.String())))
	}
	fmt.Printf("release %s in %s: %s, revision %d\n", rel.Name, rel.Namespace, rel.Info.Status, rel.Version)
	return nil
}
