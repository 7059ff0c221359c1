package component

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Logging flag names; only the root command binds them.
const (
	FlagLogFormat = "log-format"
	FlagLogLevel  = "log-level"
)

// EnvLogFormat, when set, is the default of --log-format: a host that runs
// many metalkube processes (the demo, a test bed) chooses one format for all
// of them, including those whose command lines it does not write (pods
// rendered by the extension). The flag, when given, wins.
const EnvLogFormat = "METALKUBE_LOG_FORMAT"

// Log formats.
const (
	LogFormatJSON    = "json"
	LogFormatConsole = "console"
)

// KlogFormat is the --logging-format of Kubernetes' component-base that
// routes klog into the root command's logger. The ccm selects it, so that
// the upstream cloud-controller-manager logs as every other component does.
const KlogFormat = "metalkube"

// Logging configures the one structured logger of the binary (logr over zap).
type Logging struct {
	// Format is json or console.
	Format string
	// Level is debug, info or error, or a verbosity number (higher is more
	// verbose; debug is 1).
	Level string
}

// AddFlags binds the logging flags; the root command calls it, no component.
func (o *Logging) AddFlags(fs *pflag.FlagSet) {
	format := LogFormatJSON
	if v := os.Getenv(EnvLogFormat); v != "" {
		format = v
	}
	fs.StringVar(&o.Format, FlagLogFormat, format, "log format of every component: json|console (default from $"+EnvLogFormat+", else json)")
	fs.StringVar(&o.Level, FlagLogLevel, "info", "log level of every component: debug|info|error or a verbosity number")
}

func (o *Logging) level() (zapcore.Level, error) {
	switch o.Level {
	case "debug":
		return zapcore.DebugLevel, nil
	case "info", "":
		return zapcore.InfoLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	n, err := strconv.Atoi(o.Level)
	if err != nil || n < 0 || n > 127 {
		return 0, fmt.Errorf("--%s=%q: want debug, info, error or a verbosity number 0-127", FlagLogLevel, o.Level)
	}
	return zapcore.Level(-n), nil
}

// Validate checks the flags.
func (o *Logging) Validate() error {
	if o.Format != LogFormatJSON && o.Format != LogFormatConsole {
		from := ""
		if os.Getenv(EnvLogFormat) == o.Format {
			from = " (from $" + EnvLogFormat + ")"
		}
		return fmt.Errorf("--%s=%q%s: want json or console", FlagLogFormat, o.Format, from)
	}
	_, err := o.level()
	return err
}

// Logger builds the logger, writing to w.
func (o *Logging) Logger(w io.Writer) (logr.Logger, error) {
	if err := o.Validate(); err != nil {
		return logr.Discard(), err
	}
	lvl, _ := o.level()
	return zap.New(zap.UseDevMode(false), zap.Level(lvl), zap.WriteTo(w), func(z *zap.Options) {
		if o.Format == LogFormatConsole {
			z.Encoder = zapcore.NewConsoleEncoder(zapcore.EncoderConfig{
				TimeKey: "ts", LevelKey: "level", NameKey: "logger", MessageKey: "msg",
				EncodeTime: zapcore.ISO8601TimeEncoder, EncodeLevel: zapcore.CapitalLevelEncoder, EncodeDuration: zapcore.StringDurationEncoder,
				LineEnding: zapcore.DefaultLineEnding,
			})
		}
	}), nil
}

// Verbosity is the klog verbosity that matches the level: 1 for debug, the
// number for a number, else 0.
func (o *Logging) Verbosity() int {
	lvl, err := o.level()
	if err != nil || lvl >= 0 {
		return 0
	}
	return -int(lvl)
}

// Setup builds the logger and makes it the binary's: controller-runtime's,
// klog's (with klog's verbosity set to match) and the returned context's.
// Only the root command calls it.
func (o *Logging) Setup(ctx context.Context, w io.Writer) (context.Context, logr.Logger, error) {
	log, err := o.Logger(w)
	if err != nil {
		return ctx, log, err
	}
	ctrl.SetLogger(log)
	klog.SetLoggerWithOptions(retriesAsInfo(log), klog.ContextualLogger(true))
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	if err := fs.Set("v", strconv.Itoa(o.Verbosity())); err != nil {
		return ctx, log, fmt.Errorf("klog verbosity: %w", err)
	}
	return logr.NewContext(ctx, log), log, nil
}

// Logger returns the logger the root command put into ctx, named name. A
// context without one (a unit test) gets controller-runtime's.
func Logger(ctx context.Context, name string) logr.Logger {
	log, err := logr.FromContext(ctx)
	if err != nil {
		log = ctrl.Log
	}
	return log.WithName(name)
}

// KlogVerbosity reports klog's current verbosity, as the root command set it.
func KlogVerbosity() int {
	v := 0
	for v < 127 && klog.V(klog.Level(v+1)).Enabled() {
		v++
	}
	return v
}

// registerKlogFormat is process-wide because component-base's registry is.
var registerKlogFormat = sync.OnceValue(func() error {
	return logsapi.RegisterLogFormat(KlogFormat, klogFormat{}, logsapi.LoggingStableOptions)
})

// RegisterKlogFormat registers KlogFormat with component-base, once per
// process; call it before component-base's logging flags are bound.
func RegisterKlogFormat() error { return registerKlogFormat() }

// klogFormat hands component-base the logger klog already has: the root's.
type klogFormat struct{}

func (klogFormat) Create(logsapi.LoggingConfiguration, logsapi.LoggingOptions) (logr.Logger, logsapi.RuntimeControl) {
	return klog.Background(), logsapi.RuntimeControl{}
}
