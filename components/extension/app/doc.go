// Package app builds the `metalkube extension` and `metalkube admission`
// commands.
//
// `metalkube extension` runs on a seed: the Infrastructure (with the
// metal-stack firewall), Worker, ControlPlane, OperatingSystemConfig,
// Bastion, health check and heartbeat controllers
// (switch with --controllers / --disable-controllers) and the control plane
// webhook (--disable-webhooks), served over TLS with
// certificates gardener's webhook library generates and registers
// (--webhook-config-mode, --webhook-config-namespace, ...). The
// extension has no bare-metal backend of its own: the Infrastructure
// (with the metal-stack firewall) and Bastion controllers call each shoot's
// backend with the shoot's cloudprovider Secret
// (components/extension/cloudprovider), in the shoot's project and
// namespace, as the shoot's ccm and mcm do; the other controllers make no
// backend calls.
//
// `metalkube admission` runs next to a garden: the validator (Shoots,
// CloudProfiles), secrets-validator (cloudprovider Secrets) and mutator
// (Shoot defaults) webhooks.
//
// Both take the runtime flags of shared/component (--kubeconfig, leader
// election with the leases provider-metalkube-leader-election and
// admission-metalkube-leader-election, --metrics-bind-address,
// --health-probe-bind-address; ready once the webhook server serves) and the
// webhook server's (--webhook-config-server-host, -port, -cert-dir).
package app
