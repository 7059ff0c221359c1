// Package memory is an in-process bare-metal backend for unit tests. It holds a
// fixed set of servers and IP pools, allocates from them like a real backend
// (idempotent on request names, typed errors) and can be switched unavailable
// to test outage handling.
package memory
