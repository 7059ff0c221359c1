// Package v1alpha1 is the providerConfig of metalkube's OperatingSystemConfig
// extension, group os.metalkube.io, version v1alpha1, kind
// OperatingSystemConfiguration.
//
// An OperatingSystemConfig carries it in spec.providerConfig:
//
//	providerConfig:
//	  apiVersion: os.metalkube.io/v1alpha1
//	  kind: OperatingSystemConfiguration
//	  format: ignition            # or cloud-init; empty: the default of the OSC type
//	  dnsServers: [10.0.0.53]
//	  ntpServers: [ntp.example.org]
//	  registryMirrors:
//	  - upstream: docker.io
//	    mirrors:
//	    - url: https://mirror.example.org
//	      capabilities: [pull, resolve]
//
// Decode reads and validates it; the extension's admission webhook can call
// Validate for field-path errors.
package v1alpha1
