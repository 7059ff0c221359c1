module github.com/metalkube/metalkube/charts

go 1.26.5

require github.com/metalkube/metalkube/shared v0.0.0

replace github.com/metalkube/metalkube/shared => ../shared
