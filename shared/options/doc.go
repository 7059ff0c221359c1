// Package options holds the bare-metal backend flags every metalkube
// component that talks to the backend shares: the backend selection and its
// connection settings (Backend). Backend binds its flags with AddFlags,
// checks them with Validate and builds the client with NewClient; components
// build it through shared/component's NewBackend, which adds the retry
// policy. The runtime and logging flags are shared/component's.
//
// Backends: --backend=ironcore (metal-operator; --metal-kubeconfig,
// --metal-namespace, --ip-pool) and --backend=metalstack (metal-api;
// --metal-api-url, credentials from --metal-api-hmac-file or
// --metal-api-token-file or the environment, --metal-project,
// --metal-partition). NewClient checks that the backend answers and fails with
// an error naming the URL when it does not.
package options
