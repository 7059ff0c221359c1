package app

import (
	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/firewall/droplog"
)

func dropLogger(group uint16, netns int, log logr.Logger) manager.Runnable {
	return &droplog.Logger{Group: group, NetNS: netns, Log: log}
}
