// Package app builds `metalkube ccm`: k8s.io/cloud-provider/app's
// cloud-controller-manager command with metalkube's provider (package cloud)
// and, besides the upstream cloud-node, cloud-node-lifecycle and service
// controllers, metalkube's own: metalkube-node-labels, metalkube-pod-cidr,
// metalkube-lb-announce and metalkube-backend-health (switched with
// --controllers like the upstream ones).
//
// Flags: every upstream cloud-controller-manager flag (--cloud-provider
// defaults to "metal"; --cloud-config names a YAML file whose keys are the
// metalkube flag names below, for values not given on the command line), the
// backend flags of shared/options, --metal-cluster (the cluster's name in the
// backend), --machine-cache-ttl, --node-label-prefix, --node-label-resync,
// --pod-cidr-node-network / --pod-cidr-cluster-cidr / --pod-cidr-mask-size-ipv4
// / --pod-cidr-mask-size-ipv6, --backend-health-interval, and the load
// balancer flags of components/lb/app.
//
// The upstream controller manager logs through klog; when run by the root
// command, klog is bridged to the root's logger (component-base's
// --logging-format is set to shared/component's KlogFormat and --v to the
// root's --log-level), so --log-level and --log-format work here as in every
// other component.
package app
