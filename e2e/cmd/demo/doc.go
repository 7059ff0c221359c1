// Command demo runs metalkube's demo: the local control plane, metal-operator,
// the IPAM provider, the fleet's hardware and every metalkube component walking a shoot through its life,
// with progress on stdout. It holds the running shoot until Ctrl-C, then
// deletes it and checks that nothing leaked (or does so at once with -hold=false).
package main
