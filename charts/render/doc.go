// Package render renders the metalkube umbrella chart the way `helm install`
// does (dependency conditions, the values schema, the templates, install
// order), without a cluster: the chart's tests check what it renders, and
// the end-to-end suite installs and runs exactly that.
package render
