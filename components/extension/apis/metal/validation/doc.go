// Package validation validates metalkube's provider documents. Every error is
// a field.Error with the path of the offending field (rooted where the
// document sits in its Gardener object, e.g.
// spec.provider.infrastructureConfig.networks.prefixLength) and its value.
package validation
