// Package operatingsystemconfig is metalkube's actuator for the
// OperatingSystemConfig controller of Gardener's extensions library
// (github.com/gardener/gardener/extensions/pkg/controller/operatingsystemconfig).
//
// For the provision purpose it renders the OSC's files and units, plus
// metalkube's extras, into user data — Ignition or cloud-init, chosen per OSC
// type (AddOptions.Formats) or by the OSC's providerConfig (apis/os/v1alpha1) —
// which the library stores in the Secret osc-result-<name> (key
// cloud_config) and references from status.cloudConfig. For the reconcile
// purpose it returns the extras as status.extensionUnits and
// status.extensionFiles, which gardener-node-agent applies with the OSC.
//
// The extras: Flatcar's update-engine and locksmithd stopped and disabled
// (types flatcar and coreos; nodes update through their machine image), DNS
// servers (a systemd-resolved drop-in), NTP servers (a systemd-timesyncd
// drop-in), a containerd hosts.toml per registry mirror and, when
// provisioning with containerd, /etc/containerd/config.toml, a hosts.toml per
// registry of the OSC's CRI config and containerd's ExecStart drop-in.
//
// # What a node gets, and why
//
// Units are treated as gardener-node-agent treats them once it runs, so that
// a unit behaves the same at provisioning, in Ignition and in cloud-init,
// and after the agent takes over: every unit whose enable is not false is
// enabled, every unit whose enable is false is disabled; units that are
// disabled or whose command is stop are stopped, and every other unit is
// (re)started — with or without a command, with or without an [Install]
// section (Gardener's gardener-user.service has neither; its .path unit does
// not fire for the key file that is already there). Gardener's OS
// extensions do the same in their user data (`systemctl enable X &&
// systemctl restart X` for each unit).
//
// containerd: every Gardener OS extension writes the drop-in
// containerd.service.d/11-exec_config.conf that starts containerd with
// --config=/etc/containerd/config.toml; gardenlet's OSCs do not carry it.
// Without it Flatcar's containerd reads /usr/share/containerd/config.toml and
// ignores metalkube's config and every later patch from gardener-node-agent.
// The binary is /usr/bin/containerd, /usr/sbin/containerd on SUSE types. The
// reconcile purpose returns the drop-in as an extension unit, because
// gardener-node-agent deletes drop-ins of its units that the OSC does not
// list.
//
// DNS: the resolved drop-in sets Domains=~. next to DNS=, which makes the
// configured servers answer every name; without it, per-link servers handed
// out by DHCP may still be asked, which in isolated networks leak queries or
// time out. /etc/resolv.conf is not written (os-metal-extension wrote one):
// on every supported image it belongs to systemd-resolved (a link to its stub
// or upstream file), which a plain file would replace, freezing out
// resolved's own updates; with Domains=~. resolved sends every query to the
// configured servers anyway.
//
// Permissions: a file without permissions gets 0600, gardener-node-agent's
// default, so that it keeps its mode when the agent rewrites it and secrets
// (kubeconfigs, tokens) are not world-readable by omission. Unit files and
// drop-ins are 0644 in both formats (Ignition cannot write them otherwise).
//
// Size: user data ends in the Secret osc-result-<name>, which holds 1 MiB
// (MaxSecretSize). Each file's content is encoded as keeps the user data
// smallest (see package render); user data still over the limit is refused
// before the Secret is written, naming the three largest contents and the
// limit, as a configuration problem that is not retried (only a change of the
// OSC can fix it). The previous Secret stays as it was.
//
// In-place updates: an OSC with spec.inPlaceUpdates is refused. Updating the
// OS in place needs a command in status.inPlaceUpdates.osUpdate that
// gardener-node-agent runs on the node; bare-metal machines get a new OS by
// being provisioned again, so metalkube has none to give. Worker pools use
// the AutoRollingUpdate strategy. Files from images (imageRef) are
// gardener-node-agent's to pull: accepted for the reconcile purpose, refused
// for provisioning, where nothing could pull them before the agent runs.
//
// The actuator validates the whole OSC before rendering and reports every
// problem at once, naming the file or unit (unknown encodings, missing
// Secrets or keys, two files on one path, units without names, ...); the
// library puts the error in status.lastError and nothing is written. Errors
// the OSC's author must fix carry Gardener's ERR_CONFIGURATION_PROBLEM code,
// and those only a change of the OSC can fix are not retried; a missing
// Secret is neither (it may yet be created, and is retried). It reads
// Secrets referenced by files and deletes the user-data Secret when the OSC
// goes; it makes no calls to the bare-metal backend.
package operatingsystemconfig
