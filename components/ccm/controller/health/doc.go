// Package health holds the ccm's health checks beyond the upstream ones:
//
//   - backend-health (Poller): polls the backend and reports it on the
//     controller manager's /healthz under its own name, so that liveness
//     leaves it out (`/healthz?exclude=metalkube-backend-health`) and an
//     outage turns readiness red instead of crash-looping the process.
//   - Running: the health of metalkube's own controllers; their /healthz
//     checks fail once the manager running them stopped.
//
// Backend calls: Health.Healthy.
package health
