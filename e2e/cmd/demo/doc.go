// Command demo runs metalkube's demo: the local control plane, metal-operator,
// the IPAM provider, the fleet's hardware and every metalkube component walking a shoot through its life,
// with progress on stdout (and a copy in the log directory). It holds the
// running shoot until Ctrl-C (or SIGTERM, SIGHUP), then deletes it, checks
// that nothing leaked and exits 0 (or does so at once with -hold=false).
//
// Every process it starts dies with it, even when it is killed: the control
// plane, the peers and the components get a parent-death signal. A reader of
// its output that went away (a pipe into tee, ended by the same Ctrl-C) does
// not stop the cleanup: SIGPIPE is ignored.
package main
