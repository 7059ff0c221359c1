// Package helper looks things up in metalkube's provider documents: the
// backend image of a machine image version, the size and server labels of a
// machine type, the partition of a zone.
package helper
