// Package codec decodes metalkube's provider documents strictly: an unknown
// field, a duplicate field, a missing or unknown apiVersion/kind, or a
// document of another kind than expected is an error that says which. Decoded
// documents are defaulted. An absent document (nil RawExtension) decodes to
// the defaulted empty document.
package codec
