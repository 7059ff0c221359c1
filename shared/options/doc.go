// Package options holds the flags every metalkube component shares: the
// bare-metal backend selection and its connection settings (Backend) and
// logging (Logging). Each struct binds its flags with AddFlags, checks them with
// Validate and builds what it configures (Backend.NewClient, Logging.Logger).
package options
