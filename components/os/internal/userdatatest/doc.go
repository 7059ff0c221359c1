// Package userdatatest checks rendered user data with the real validators —
// the Ignition project's own config parser and cloud-init's schema validator —
// and compares output with golden files under testdata/ (rewritten with
// -update).
package userdatatest
