// Package ports hands out loopback TCP ports for test processes to listen on.
//
// Asking the kernel for port 0 and closing the listener is not enough: the
// kernel may give the same ephemeral port to the next caller (two flags of one
// peer got the same port that way), and any outgoing connection on the
// machine may take it before the peer binds it. Free picks ports below the
// ephemeral range, never returns a port twice in one process, and holds a
// lock file per port for the life of the process, so that test binaries
// running in parallel do not hand out the same port either.
package ports
