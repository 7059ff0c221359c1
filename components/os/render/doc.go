// Package render turns a Plan — the files (with their bytes resolved) and the
// systemd units a machine gets at first boot — into user data: an Ignition
// config (spec 3.5.0, built with the Ignition project's own config types) or a
// cloud-init #cloud-config document (write_files for files, unit files and
// drop-ins; runcmd for daemon-reload, enable/disable and start/restart/stop).
//
// Rendering is deterministic: the same plan gives the same bytes, so a
// reconcile that changes nothing does not change the user-data Secret.
//
// Units are treated as gardener-node-agent treats them (see Unit), the same
// in both formats: cloud-init enables or disables each unit, then restarts
// or stops it; Ignition enables or disables it and leaves what enabling does
// not do to StartUnit, which runs once at first boot.
//
// Content a plan marks Plain is kept readable in the output (a percent-encoded
// data URL in Ignition, a literal block in cloud-init), so that placeholders
// such as <<BOOTSTRAP_TOKEN>> can still be replaced by the
// machine-controller-manager before the machine boots. Everything else gets
// the encoding that makes it smallest in the output, measured: in Ignition a
// percent-encoded or base64 data URL or gzip with base64, in cloud-init a
// literal block, a double-quoted scalar, base64 or gzip with base64.
package render
