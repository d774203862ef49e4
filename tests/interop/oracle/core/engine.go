// Package core is the library-version-independent part of the interop oracle.
//
// Everything here is written against hashicorp/raft interfaces only. The pieces
// that differ per matrix cell (which raft-boltdb module, which bolt engine) are
// behind the small Engine interface that each cell's main package provides, so
// that one source tree can be compiled against several library versions: one Go
// module cannot hold two versions of the same library, hence one module per cell.
package core

import "github.com/hashicorp/raft"

// Store is what raft-boltdb's *BoltStore is, in both its v1 and v2 modules.
type Store interface {
	raft.LogStore
	raft.StableStore
	Close() error
}

// CheckResult is the outcome of the bolt engine's own consistency check.
type CheckResult struct {
	OK       bool     `json:"ok"`
	Errors   []string `json:"errors"`
	PageSize int      `json:"page_size"`
	TxID     int      `json:"txid"`
}

// DumpResult is every key/value of a bolt file, as the bolt engine reads it.
// Bucket contents map hex(key) to hex(value), or to {"bucket": {...}} for a
// nested bucket.
type DumpResult struct {
	PageSize int                       `json:"page_size"`
	TxID     int                       `json:"txid"`
	Buckets  map[string]map[string]any `json:"buckets"`
}

// Engine is the per-cell adapter around one raft-boltdb module and its bolt engine.
type Engine interface {
	// NewStore is raft-boltdb's NewBoltStore(path) with default options, exactly
	// what op-conductor and op-conductor-init call. It creates missing files and
	// runs a read-write initialize transaction.
	NewStore(path string) (Store, error)
	// NewStoreNoWait is NewStore with a flock timeout so short that a lock held
	// by another process fails the open (ErrLocked) instead of being waited
	// for: bbolt gives up at once, bolt v1 after its one 50 ms pause.
	NewStoreNoWait(path string) (Store, error)
	// OpenStoreReadOnly is raft-boltdb's New() with bolt ReadOnly and a 1s lock
	// timeout. raft-boltdb skips its initialize transaction for read-only opens,
	// so this never writes to the file.
	OpenStoreReadOnly(path string) (Store, error)
	// Check opens the file read-only (1s lock timeout) and runs tx.Check.
	Check(path string) (*CheckResult, error)
	// Dump opens the file read-only and returns every bucket's content.
	Dump(path string) (*DumpResult, error)
	// RawGet opens the file read-only and returns the raw value of each key in
	// bucket (nil where the key is absent).
	RawGet(path string, bucket []byte, keys [][]byte) ([][]byte, error)
}
