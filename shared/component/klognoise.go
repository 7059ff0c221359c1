package component

import (
	"strings"

	"github.com/go-logr/logr"
)

// isRetrySignal reports whether an upstream library's error message only
// says that it retries: an update that lost an optimistic-concurrency race,
// or machine-controller-manager's requeue after it has updated a Machine's
// labels successfully (it returns that success as an error to requeue the
// Machine, and its worker logs it as one).
func isRetrySignal(msg string) bool {
	for _, s := range [...]string{
		"Machine labels/annotations update is successful",
		"the object has been modified; please apply your changes to the latest version and try again",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// retriesAsInfo wraps the logger upstream libraries log through (klog): an
// error that only signals a retry is logged at info level, marked
// "retried", so that an operator's error view shows real failures only.
// Everything else passes unchanged.
func retriesAsInfo(log logr.Logger) logr.Logger {
	// One more frame (retrySink's method) lies between the caller and the
	// sink: keep the reported caller right.
	return logr.New(retrySink{log.WithCallDepth(1).GetSink()})
}

type retrySink struct{ logr.LogSink }

func (s retrySink) Error(err error, msg string, kv ...any) {
	text := msg
	if err != nil {
		text += " " + err.Error()
	}
	if !isRetrySignal(text) {
		s.LogSink.Error(err, msg, kv...)
		return
	}
	if err != nil {
		kv = append(kv, "error", err.Error())
	}
	s.LogSink.Info(0, msg, append(kv, "retried", true)...)
}

func (s retrySink) WithValues(kv ...any) logr.LogSink {
	return retrySink{s.LogSink.WithValues(kv...)}
}

func (s retrySink) WithName(name string) logr.LogSink {
	return retrySink{s.LogSink.WithName(name)}
}

func (s retrySink) WithCallDepth(depth int) logr.LogSink {
	if cd, ok := s.LogSink.(logr.CallDepthLogSink); ok {
		return retrySink{cd.WithCallDepth(depth)}
	}
	return s
}
