// Oracle cell v1: the first op-conductor releases (optimism 14bd9fbee3, 2023-12, up to op-conductor/v0.0.1-rc.4): raft-boltdb v1 module + boltdb/bolt.
// The pinned library versions are in go.mod; `oracle info` reports what was linked.
package main

import (
	// Imported here (blank) so that go.mod lists the libraries under test as direct,
	// exact requirements of this cell; the engine package is what uses them.
	_ "github.com/boltdb/bolt"
	_ "github.com/hashicorp/go-msgpack/codec"
	_ "github.com/hashicorp/raft"
	_ "github.com/hashicorp/raft-boltdb"

	"opstack.conductor/oracle/boltv1engine"
	"opstack.conductor/oracle/core"
)

func main() { core.Main("v1", boltv1engine.Engine{}) }
