// Package testosc builds OperatingSystemConfigs for tests and benchmarks: a
// realistic provision OSC shaped like the one gardenlet creates (the
// gardener-node-init unit and its files, a containerd CRI config with
// registries and plugins, units with drop-ins, files of every encoding, a
// metalkube providerConfig), and a large synthetic one of any size.
package testosc
