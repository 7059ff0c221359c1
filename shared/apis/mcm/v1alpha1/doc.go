// Package v1alpha1 is the provider spec API of metalkube's machine-controller-manager
// driver, mcm.metalkube.io/v1alpha1.
//
// A MachineClass carries a ProviderSpec in .providerSpec:
//
//	apiVersion: machine.sapcloud.io/v1alpha1
//	kind: MachineClass
//	providerSpec:
//	  apiVersion: mcm.metalkube.io/v1alpha1
//	  kind: ProviderSpec
//	  image: flatcar-4230
//	  size: c1-large
//	  partition: zone-a
//	  serverLabels: {rack: r1}
//	  networks: [internal]
//	  ipAddresses: [{network: internet}]
//	  sshKeys: ["ssh-ed25519 AAAA..."]
//	  tags: {team: infra}
//	  cluster: shoot--project--name
//	secretRef: {name: worker-a, namespace: shoot--project--name}
//
// Decode reads it strictly (unknown fields are errors), Default fills in what
// may be left out and Validate names every bad field by its path
// (providerSpec.serverLabels[rack], providerSpec.sshKeys[0], ...).
//
// # MachineClass secret
//
// The Secret the MachineClass references (secretRef, or credentialsSecretRef for
// credentials) holds:
//
//   - userData (required): the machine's user data, Ignition JSON or cloud-init,
//     as rendered by the OperatingSystemConfig. machine-controller-manager
//     replaces its machine-name and bootstrap-token placeholders before the
//     driver sees it. For Ignition, the driver adds /etc/hostname (the machine
//     name) when the user data does not set it, so the node registers under the
//     name machine-controller-manager expects.
//
// Backend credentials do not live in the Secret: the backend and its connection
// are chosen by the flags of `metalkube mcm` (--backend, --metal-kubeconfig,
// --metal-namespace, --ip-pool), so one driver serves every class of a cluster.
// Other keys in the Secret are ignored.
package v1alpha1
