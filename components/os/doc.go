// Package os is metalkube's operating system component: it reconciles Gardener
// OperatingSystemConfig resources (extensions.gardener.cloud/v1alpha1) into
// the user data a bare-metal machine boots with, either Ignition (spec 3.5) or
// cloud-init (#cloud-config).
//
// Its packages:
//
//   - apis/os/v1alpha1: the providerConfig an OperatingSystemConfig may carry
//     (output format, DNS servers, NTP servers, registry mirrors).
//   - render: the translation of a resolved boot plan (files with their bytes,
//     systemd units) into Ignition JSON or a cloud-config document.
//   - controller/operatingsystemconfig: the actuator for Gardener's extensions
//     library and AddToManager; it reads Secrets referenced by files and makes
//     no calls to the bare-metal backend.
//   - app: `metalkube os`, running that controller alone.
//   - test/integration: the controller on the real API server.
package os
