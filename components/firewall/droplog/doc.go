// Package droplog turns packets the firewall drops into structured log lines.
// The ruleset's drop rules send new connections they refuse to an nflog
// group (compile.Config.LogGroup); a Logger subscribes to that group and logs
// each packet's prefix (which chain dropped it), interfaces, addresses,
// protocol and ports.
package droplog
