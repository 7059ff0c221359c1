// Package framework holds the e2e suite's helpers: building the metalkube
// binary and the upstream peers (machine-controller-manager), running them as
// processes against the test control plane with their logs kept, network
// namespaces and a loopback forward into them, and waiting for conditions.
//
// Helpers are named VerbNoun(ctx, VerbNounInput) where they take more than a
// couple of arguments.
package framework
