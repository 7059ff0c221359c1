// Package options holds the load-balancing flags (--lb-network, --announce,
// --bgp-*, ...) and their validation, shared by `metalkube lb` and the ccm,
// which serves the same Services through the cloud provider's LoadBalancer
// interface. Keeping them out of package app lets the ccm use them without
// importing another component's app.
package options
