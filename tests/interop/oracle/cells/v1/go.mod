module opstack.conductor/oracle/cells/v1

go 1.22

require (
	github.com/boltdb/bolt v1.3.1
	github.com/hashicorp/go-msgpack v0.5.5
	github.com/hashicorp/raft v1.6.0
	github.com/hashicorp/raft-boltdb v0.0.0-20231211162105-6c830fa4535e
	opstack.conductor/oracle/boltv1engine v0.0.0
	opstack.conductor/oracle/core v0.0.0
)

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

replace (
	opstack.conductor/oracle/boltv1engine => ../../boltv1engine
	opstack.conductor/oracle/core => ../../core
)
