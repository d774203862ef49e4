// Oracle cell v2_3_0: upstream op-conductor from 2024-08 (optimism 9ff9b98961, op-conductor/v0.0.1, v0.1.0-rc.1): raft-boltdb/v2 v2.3.0 + bbolt v1.3.5.
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

func main() { core.Main("v2_3_0", bboltengine.Engine{}) }
