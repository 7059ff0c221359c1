// Package scheme builds the runtime schemes of the extension (seed side) and
// of the admission webhooks (garden side).
package scheme
