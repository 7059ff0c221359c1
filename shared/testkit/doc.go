// Package testkit holds the helpers every metalkube test suite shares, so
// that none keeps its own copy: Eventually (poll a condition with a deadline
// long enough for a loaded machine), golden files (Golden, with the one
// -update flag of the test binary) and, in package testkit/netns, network
// namespaces for tests that send real packets. The test control plane is
// package testenv.
package testkit
