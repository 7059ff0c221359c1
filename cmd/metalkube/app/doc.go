// Package app builds the metalkube root command: the version and completion
// commands, the shared logging flags and one subcommand per component that
// works. Main dispatches by argv[0] as well: metalkube-<component> runs
// metalkube <component>.
package app
