// Package operatingsystemconfig is metalkube's actuator for the
// OperatingSystemConfig controller of Gardener's extensions library
// (github.com/gardener/gardener/extensions/pkg/controller/operatingsystemconfig).
//
// For the provision purpose it renders the OSC's files and units, plus
// metalkube's extras, into user data — Ignition or cloud-init, chosen per OSC
// type (AddOptions.Formats) or by the OSC's providerConfig (apis/v1alpha1) —
// which the library stores in the Secret osc-result-<name> (key
// cloud_config) and references from status.cloudConfig. For the reconcile
// purpose it returns the extras as status.extensionUnits and
// status.extensionFiles, which gardener-node-agent applies with the OSC.
//
// The extras: Flatcar's update-engine and locksmithd stopped and disabled
// (types flatcar and coreos; nodes update through their machine image), DNS servers (a systemd-resolved drop-in), NTP servers (a
// systemd-timesyncd drop-in), a containerd hosts.toml per registry mirror and,
// when provisioning with containerd, /etc/containerd/config.toml and a
// hosts.toml per registry of the OSC's CRI config.
//
// The actuator validates the whole OSC before rendering and reports every
// problem at once, naming the file or unit (unknown encodings, missing
// Secrets or keys, two files on one path, units without names, ...); the
// library puts the error in status.lastError and nothing is written. Errors
// the OSC's author must fix carry Gardener's ERR_CONFIGURATION_PROBLEM code;
// a missing Secret does not (it may yet be created, and is retried). It
// reads Secrets referenced by files and deletes the user-data Secret when the
// OSC goes; it makes no calls to the bare-metal backend.
package operatingsystemconfig
