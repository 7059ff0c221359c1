// Package component is the runtime every metalkube component runs on: one
// set of flags, one lifecycle and one manager setup, so that the components
// differ only in what they reconcile.
//
// The lifecycle is the same everywhere: Options bind flags (AddFlags), are
// checked (Validate) and complete into a Config (Complete, which validates
// first); the Config builds the controller-runtime manager (NewManager) and
// runs it (Start). Tests skip the flags and build a Config directly.
//
// Flags (names are the Flag* constants), the same spelling in every component:
//
//	--kubeconfig                     cluster the component works on; empty: $KUBECONFIG, ~/.kube/config or in-cluster
//	--kube-api-qps, --kube-api-burst limits of the API client (defaults per component)
//	--leader-elect                   elect a leader, so that replicas can run (default true)
//	--leader-election-id             name of the lease (default: the component's)
//	--leader-election-namespace      namespace of the lease; empty: the pod's
//	--leader-elect-lease-duration    how long a lease holds without renewal (default 60s)
//	--leader-elect-renew-deadline    how long the leader tries to renew before it gives up (default 40s)
//	--leader-elect-retry-period      how often candidates try to take the lease (default 5s)
//	--metrics-bind-address           Prometheus metrics; 0 disables
//	--health-probe-bind-address      /healthz and /readyz; 0 disables
//	--graceful-shutdown-timeout      how long runnables get to stop (default 30s)
//
// Leases are long (60s/40s/5s) so that a loaded node renews in time; the
// lease is released on shutdown, so a rolling update hands over at once.
// Every manager answers /healthz while the process runs and /readyz once its
// caches have synced; components add readiness checks of their own (the
// backend, the webhook server) with AddReadyzCheck.
//
// Logging belongs to the root command alone (Logging: --log-level,
// --log-format): it builds one logger, hands it to controller-runtime and to
// klog (which the cloud-controller-manager and machine-controller-manager
// libraries log through) and puts it into the command's context, where
// components find it with Logger.
//
// The bare-metal backend client is built with one policy (NewBackend): while
// the backend does not answer, the component waits and retries instead of
// crash-looping; a wrong setting fails at once.
package component
