module opstack.conductor/oracle/bboltengine

// Pins the OLDEST versions of the bbolt cells (raft-boltdb/v2 v2.3.0, bbolt v1.3.5):
// a cell that requires newer ones wins under MVS; nothing here can raise them.
go 1.22

require (
	github.com/hashicorp/raft-boltdb/v2 v2.3.0
	go.etcd.io/bbolt v1.3.5
	opstack.conductor/oracle/core v0.0.0
)

require (
	github.com/armon/go-metrics v0.4.1 // indirect
	github.com/boltdb/bolt v1.3.1 // indirect
	github.com/fatih/color v1.13.0 // indirect
	github.com/hashicorp/go-hclog v1.5.0 // indirect
	github.com/hashicorp/go-immutable-radix v1.0.0 // indirect
	github.com/hashicorp/go-msgpack/v2 v2.1.1 // indirect
	github.com/hashicorp/golang-lru v0.5.0 // indirect
	github.com/hashicorp/raft v1.6.0 // indirect
	github.com/mattn/go-colorable v0.1.12 // indirect
	github.com/mattn/go-isatty v0.0.14 // indirect
	golang.org/x/sys v0.13.0 // indirect
)

replace opstack.conductor/oracle/core => ../core
