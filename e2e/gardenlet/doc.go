// Package gardenlet checks metalkube's Gardener registration
// (charts/gardener/controller-registration.yaml) the way a landscape uses
// it: Load decodes the shipped ControllerRegistration and ControllerDeployment
// (e2e/webhook creates them in the real gardener-apiserver), and the test
// renders the umbrella chart with Gardener's own chart renderer and the values
// gardenlet adds when it installs an extension into a seed.
package gardenlet
