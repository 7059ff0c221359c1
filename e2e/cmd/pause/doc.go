// Command pause is the pod sandbox's process in the real node test bed's
// pause image: it holds the pod's namespaces, reaps the children that the
// kernel hands it (it is PID 1 where the pod shares its PID namespace) and
// exits 0 on SIGTERM or SIGINT.
package main
