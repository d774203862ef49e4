module opstack.conductor/oracle/core

// Requires the OLDEST raft of the matrix (v1.6.0) so that this shared package never
// raises the raft version a cell pins: MVS takes the maximum, and every cell asks for >= v1.6.0.
go 1.22

require github.com/hashicorp/raft v1.6.0

require (
	github.com/armon/go-metrics v0.4.1 // indirect
	github.com/fatih/color v1.13.0 // indirect
	github.com/hashicorp/go-hclog v1.5.0 // indirect
	github.com/hashicorp/go-immutable-radix v1.0.0 // indirect
	github.com/hashicorp/go-msgpack/v2 v2.1.1 // indirect
	github.com/hashicorp/golang-lru v0.5.0 // indirect
	github.com/mattn/go-colorable v0.1.12 // indirect
	github.com/mattn/go-isatty v0.0.14 // indirect
	golang.org/x/sys v0.13.0 // indirect
)
