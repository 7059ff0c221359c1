// Package provider holds the names metalkube's Gardener extension is known by:
// the provider type, label and tag keys it sets on backend objects, and the
// names of the objects it creates in a shoot's seed namespace.
package provider
