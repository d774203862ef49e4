// Package boltv1engine adapts the raft-boltdb v1 module and github.com/boltdb/bolt to core.Engine.
//
// This is the stack of the first op-conductor releases (optimism 14bd9fbee3 …
// op-conductor/v0.0.1-rc.4): raft-boltdb v1 pseudo-version 6c830fa4535e,
// boltdb/bolt v1.3.1, go-msgpack v0.5.5. Only the imports differ from
// bboltengine: bolt and bbolt share this API.
package boltv1engine

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/boltdb/bolt"
	raftboltdb "github.com/hashicorp/raft-boltdb"

	"opstack.conductor/oracle/core"
)

// Engine implements core.Engine.
type Engine struct{}

// readOnly is how the oracle opens files it only inspects: no writes, and a
// bounded wait when another process (a running raft) holds the file lock.
func readOnly() *bolt.Options { return &bolt.Options{ReadOnly: true, Timeout: time.Second} }

func (Engine) NewStore(path string) (core.Store, error) {
	s, err := raftboltdb.NewBoltStore(path)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// NewStoreNoWait is NewBoltStore(path) with a 1 ns flock timeout: the default
// options otherwise, so the open is op-conductor's own unless another process
// holds the file's lock, which is then core.ErrLocked instead of a wait.
func (Engine) NewStoreNoWait(path string) (core.Store, error) {
	opts := *bolt.DefaultOptions
	opts.Timeout = time.Nanosecond
	s, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &opts})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w", path, core.ErrLocked)
	} else if err != nil {
		return nil, err
	}
	return s, nil
}

func (Engine) OpenStoreReadOnly(path string) (core.Store, error) {
	s, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: readOnly()})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func view(path string, f func(db *bolt.DB, tx *bolt.Tx) error) error {
	db, err := bolt.Open(path, 0o600, readOnly())
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error { return f(db, tx) })
}

// Check reports a file the engine refuses to open as ok=false with an "open:"
// error (a verdict on the file); only a lock timeout is an operational error.
func (Engine) Check(path string) (*core.CheckResult, error) {
	db, err := bolt.Open(path, 0o600, readOnly())
	if err == bolt.ErrTimeout {
		return nil, err
	} else if err != nil {
		return &core.CheckResult{OK: false, Errors: []string{"open: " + err.Error()}}, nil
	}
	defer db.Close()
	res := &core.CheckResult{PageSize: db.Info().PageSize}
	err = db.View(func(tx *bolt.Tx) error {
		res.TxID = tx.ID()
		res.Errors = core.CollectErrors(tx.Check())
		return nil
	})
	res.OK = len(res.Errors) == 0
	return res, err
}

func (Engine) Dump(path string) (*core.DumpResult, error) {
	res := &core.DumpResult{Buckets: map[string]map[string]any{}}
	err := view(path, func(db *bolt.DB, tx *bolt.Tx) error {
		res.PageSize, res.TxID = db.Info().PageSize, tx.ID()
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			res.Buckets[string(name)] = dumpBucket(b)
			return nil
		})
	})
	return res, err
}

func dumpBucket(b *bolt.Bucket) map[string]any {
	out := map[string]any{}
	b.ForEach(func(k, v []byte) error {
		if nested := b.Bucket(k); v == nil && nested != nil {
			out[hex.EncodeToString(k)] = map[string]any{"bucket": dumpBucket(nested)}
		} else {
			out[hex.EncodeToString(k)] = hex.EncodeToString(v)
		}
		return nil
	})
	return out
}

func (Engine) RawGet(path string, bucket []byte, keys [][]byte) ([][]byte, error) {
	vals := make([][]byte, len(keys))
	err := view(path, func(_ *bolt.DB, tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return fmt.Errorf("no bucket %q", bucket)
		}
		for i, k := range keys {
			if v := b.Get(k); v != nil {
				vals[i] = append([]byte{}, v...) // copy: v points into the mmap
			}
		}
		return nil
	})
	return vals, err
}
