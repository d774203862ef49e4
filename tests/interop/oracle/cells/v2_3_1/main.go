// Oracle cell v2_3_1: op-conductor-init and the base/okx forks: raft-boltdb/v2 v2.3.1 + bbolt v1.3.9, raft v1.7.3.
// The pinned library versions are in go.mod; `oracle info` reports what was linked.
package main

import (
	// Imported here (blank) so that go.mod lists the libraries under test as direct,
	// exact requirements of this cell; the engine package is what uses them.
	_ "github.com/hashicorp/raft"
	_ "github.com/hashicorp/raft-boltdb/v2"
	_ "go.etcd.io/bbolt"

	"opstack.conductor/oracle/bboltengine"
	"opstack.conductor/oracle/core"
)

func main() { core.Main("v2_3_1", bboltengine.Engine{}) }
