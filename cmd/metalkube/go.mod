module github.com/metalkube/metalkube/cmd/metalkube

go 1.26.5

require (
	github.com/metalkube/metalkube/shared v0.0.0
	github.com/spf13/cobra v1.10.2
)

replace github.com/metalkube/metalkube/shared => ../../shared
