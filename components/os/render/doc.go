// Package render turns a Plan — the files (with their bytes resolved) and the
// systemd units a machine gets at first boot — into user data: an Ignition
// config (spec 3.5.0, built with the Ignition project's own config types) or a
// cloud-init #cloud-config document (write_files for files, unit files and
// drop-ins; runcmd for daemon-reload, enable/disable and start/restart/stop).
//
// Rendering is deterministic: the same plan gives the same bytes, so a
// reconcile that changes nothing does not change the user-data Secret.
//
// Content a plan marks Plain is kept readable in the output (a percent-encoded
// data URL in Ignition, a literal block in cloud-init), so that placeholders
// such as <<BOOTSTRAP_TOKEN>> can still be replaced by the
// machine-controller-manager before the machine boots. Everything else is
// base64.
package render
