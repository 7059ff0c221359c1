// Command metalkube is the multicall binary of every metalkube component.
//
// It dispatches by subcommand (metalkube ccm ...) or by the name it is called
// under: a link named metalkube-ccm runs metalkube ccm.
package main
