// Package nodestore opens an op-conductor node directory exactly as op-conductor's NewRaftConsensus does
// (optimism op-conductor/consensus/raft.go): raft-boltdb v2 for raft-log.db and raft-stable.db, and a
// raft.FileSnapshotStore under the same directory that retains one snapshot. The Go helpers under cmd/
// share it so that every one of them reads and writes a node the way op-conductor would.
package nodestore

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/hashicorp/raft"
	boltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Stores are the three stores of one node directory.
type Stores struct {
	Logs   *boltdb.BoltStore
	Stable *boltdb.BoltStore
	Snaps  *raft.FileSnapshotStore
}

// Open opens dir's stores; snapshotLog receives the snapshot store's log lines.
func Open(dir string, snapshotLog io.Writer) (*Stores, error) {
	logs, err := boltdb.NewBoltStore(filepath.Join(dir, "raft-log.db"))
	if err != nil {
		return nil, fmt.Errorf("raft-log.db: %w", err)
	}
	stable, err := boltdb.NewBoltStore(filepath.Join(dir, "raft-stable.db"))
	if err != nil {
		logs.Close()
		return nil, fmt.Errorf("raft-stable.db: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStore(dir, 1, snapshotLog) // retain = 1, as op-conductor
	if err != nil {
		logs.Close()
		stable.Close()
		return nil, err
	}
	return &Stores{logs, stable, snaps}, nil
}

// Close closes both bbolt files (the snapshot store holds no open file).
func (s *Stores) Close() {
	s.Logs.Close()
	s.Stable.Close()
}
