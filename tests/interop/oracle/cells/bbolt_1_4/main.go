// Oracle cell bbolt_1_4: forward-compatibility: raft-boltdb/v2 v2.3.1 with the newest bbolt 1.4.x, raft v1.7.3.
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

func main() { core.Main("bbolt_1_4", bboltengine.Engine{}) }
