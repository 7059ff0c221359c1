package options

import (
	"fmt"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Logging flag names.
const (
	FlagLogFormat = "log-format"
	FlagLogLevel  = "log-level"
)

// Logging configures the structured logger (logr over zap).
type Logging struct {
	// Format is json or console.
	Format string
	// Level is debug, info or error, or a number (higher is more verbose).
	Level string
}

// AddFlags binds the logging flags.
func (o *Logging) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Format, FlagLogFormat, "json", "log format: json|console")
	fs.StringVar(&o.Level, FlagLogLevel, "info", "log level: debug|info|error or a verbosity number")
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
	var n int
	if _, err := fmt.Sscanf(o.Level, "%d", &n); err != nil || n < 0 {
		return 0, fmt.Errorf("--%s=%q: want debug, info, error or a verbosity number", FlagLogLevel, o.Level)
	}
	return zapcore.Level(-n), nil
}

// Validate checks the flags.
func (o *Logging) Validate() error {
	if o.Format != "json" && o.Format != "console" {
		return fmt.Errorf("--%s=%q: want json or console", FlagLogFormat, o.Format)
	}
	_, err := o.level()
	return err
}

// Logger builds the logger.
func (o *Logging) Logger() (logr.Logger, error) {
	if err := o.Validate(); err != nil {
		return logr.Discard(), err
	}
	lvl, _ := o.level()
	return zap.New(zap.UseDevMode(false), zap.Level(lvl), func(z *zap.Options) {
		if o.Format == "console" {
			z.Encoder = zapcore.NewConsoleEncoder(zapcore.EncoderConfig{
				TimeKey: "ts", LevelKey: "level", NameKey: "logger", MessageKey: "msg",
				EncodeTime: zapcore.ISO8601TimeEncoder, EncodeLevel: zapcore.CapitalLevelEncoder, EncodeDuration: zapcore.StringDurationEncoder,
				LineEnding: zapcore.DefaultLineEnding,
			})
		}
	}), nil
}
