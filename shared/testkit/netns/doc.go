// Package netns creates network namespaces for tests and for the demo, runs
// commands and Go code inside them and connects them to the caller's
// namespace: the firewall's packet tests route real traffic through a
// firewall namespace between a client and a server namespace, and the e2e
// suite runs the firewall agent in one.
//
// The core (Create, NS.Output, NS.Do, NS.Listen, NS.Dial, NS.Forward, IP)
// returns errors; New, Require, Run and NS.Exec are the test forms, which
// fail or skip the test instead. Tests skip with a clear message where the
// process lacks CAP_NET_ADMIN or the ip tool (Available says why).
package netns
