// Package admission holds the garden-side webhooks of `metalkube admission`:
// validation of Shoots, CloudProfiles and cloudprovider Secrets of type
// metalkube, and a Shoot mutator that fills in defaulted provider documents.
// Every rejection names the offending field by its path in the object (e.g.
// spec.provider.workers[0].providerConfig.serverLabels) and its value.
//
// The validation functions (Shoot, CloudProfile, Secret) are pure; the
// webhooks (NewValidatingWebhook, NewSecretWebhook, NewMutatingWebhook) wrap
// them with gardener's webhook library. No backend calls.
package admission
