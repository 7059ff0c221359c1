// Package scheme builds the runtime schemes metalkube's clients use.
package scheme
