// Package providerid defines metalkube's Kubernetes provider ID for bare-metal
// machines and parses the formats of the stacks it replaces.
//
// The format metalkube writes is
//
//	metal://<scope>/<id>
//
// where scope is the namespace of a ServerClaim (ironcore backend) or the
// partition of a machine (metal-stack backend) and id the claim name or the
// machine UUID. Parse also accepts metal-stack's older form with an empty host,
// metal:///<partition>/<id>. Both upstream forms carry the same two parts, so
// a node provisioned by metal-ccm, cloud-provider-metal or metalkube keeps its
// provider ID when it moves to metalkube.
package providerid
