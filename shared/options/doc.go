// Package options holds the flags every metalkube component shares: the
// bare-metal backend selection and its connection settings (Backend) and
// logging (Logging). Each struct binds its flags with AddFlags, checks them with
// Validate and builds what it configures (Backend.NewClient, Logging.Logger).
//
// Backends: --backend=ironcore (metal-operator; --metal-kubeconfig,
// --metal-namespace, --ip-pool) and --backend=metalstack (metal-api;
// --metal-api-url, credentials from --metal-api-hmac-file or
// --metal-api-token-file or the environment, --metal-project,
// --metal-partition). NewClient checks that the backend answers and fails with
// an error naming the URL when it does not.
package options
