// Package conformance is the test suite every metal.Client backend must pass.
//
// A backend's test calls Run with a Backend description: the client, how many
// free servers it has, an IP network with a pool, and optionally a switch for a
// simulated outage. Subtests run in order on the same inventory and free what
// they allocate.
package conformance
