package ruleset_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
)

func logrContext(t *testing.T) context.Context {
	return logr.NewContext(context.Background(), testr.NewWithOptions(t, testr.Options{Verbosity: 0}))
}

func toString(s v1alpha1.FirewallStatusStatus) string {
	return fmt.Sprintf("rules=%d deployed=%d ignored=%d version=%q applied=%v err=%q", s.Rules, s.DeployedPolicies, s.IgnoredPolicies, s.AgentVersion, s.LastApplied, s.Error)
}
