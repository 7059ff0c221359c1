package v1alpha1

// Condition types. Ready summarises the others; Paused follows the Cluster
// API contract (the Cluster or the object is paused).
const (
	ConditionReady  = "Ready"
	ConditionPaused = "Paused"
	// ConditionControlPlaneEndpointReady: the MetalCluster's endpoint is known.
	ConditionControlPlaneEndpointReady = "ControlPlaneEndpointReady"
	// ConditionFailureDomainsReady: the backend's partitions were read.
	ConditionFailureDomainsReady = "FailureDomainsReady"
	// ConditionBootstrapDataReady: the Machine's bootstrap Secret was read.
	ConditionBootstrapDataReady = "BootstrapDataReady"
	// ConditionServerReady: the backend runs the machine on a server.
	ConditionServerReady = "ServerReady"
)

// Condition reasons.
const (
	ReasonReady     = "Ready"
	ReasonNotReady  = "NotReady"
	ReasonPaused    = "Paused"
	ReasonNotPaused = "NotPaused"
	ReasonDeleting  = "Deleting"
	// ReasonWaitingForCluster: the owning Cluster is not there or its
	// infrastructure is not provisioned yet.
	ReasonWaitingForCluster = "WaitingForCluster"
	// ReasonWaitingForOwner: no Cluster API Machine owns the MetalMachine yet.
	ReasonWaitingForOwner = "WaitingForOwner"
	// ReasonWaitingForBootstrapData: the Machine names no bootstrap Secret yet.
	ReasonWaitingForBootstrapData = "WaitingForBootstrapData"
	// ReasonBootstrapSecretNotFound: the Machine names a Secret that is not there.
	ReasonBootstrapSecretNotFound = "BootstrapSecretNotFound"
	// ReasonBootstrapDataInvalid: the Secret lacks the value key or has an
	// unknown format.
	ReasonBootstrapDataInvalid = "BootstrapDataInvalid"
	// ReasonNoMatchingServer: no free server matches the selector, size and
	// partition; the provider tries again later.
	ReasonNoMatchingServer = "NoMatchingServer"
	// ReasonInvalidSpec: the backend refused the request as invalid.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonBackendUnavailable: the backend did not answer.
	ReasonBackendUnavailable = "BackendUnavailable"
	// ReasonOwnershipConflict: the backend machine belongs to someone else.
	ReasonOwnershipConflict = "OwnershipConflict"
	// ReasonAllocating: the backend has the request; a server is not yet
	// bound or powered on.
	ReasonAllocating = "Allocating"
	// ReasonMachineLost: the server the machine was bound to is gone.
	ReasonMachineLost = "MachineLost"
	// ReasonEndpointAllocating: the control-plane endpoint IP is being allocated.
	ReasonEndpointAllocating = "EndpointAllocating"
	// ReasonBackendError: another backend error; the message says which.
	ReasonBackendError = "BackendError"
)

// Labels.
const (
	// LabelMove marks objects `clusterctl move` carries along that have no
	// owner reference chain to a Cluster (clusterctl's own label key).
	LabelMove = "clusterctl.cluster.x-k8s.io/move"
)
