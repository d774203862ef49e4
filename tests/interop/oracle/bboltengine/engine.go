// Package bboltengine adapts raft-boltdb/v2 and go.etcd.io/bbolt to core.Engine.
//
// Its go.mod pins the OLDEST versions of the matrix (raft-boltdb/v2 v2.3.0,
// bbolt v1.3.5); each cell module raises them to the versions it stands for.
// The bbolt calls used here have the same shape in bbolt 1.3.x and 1.4.x.
package bboltengine

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"opstack.conductor/oracle/core"
)

// Engine implements core.Engine.
type Engine struct{}

// readOnly is how the oracle opens files it only inspects: no writes, and a
// bounded wait when another process (a running raft) holds the file lock.
func readOnly() *bbolt.Options { return &bbolt.Options{ReadOnly: true, Timeout: time.Second} }

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
	opts := *bbolt.DefaultOptions
	opts.Timeout = time.Nanosecond
	s, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &opts})
	if errors.Is(err, bbolt.ErrTimeout) {
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

func view(path string, f func(db *bbolt.DB, tx *bbolt.Tx) error) error {
	db, err := bbolt.Open(path, 0o600, readOnly())
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bbolt.Tx) error { return f(db, tx) })
}

// Check reports a file the engine refuses to open as ok=false with an "open:"
// error (a verdict on the file); only a lock timeout is an operational error.
func (Engine) Check(path string) (*core.CheckResult, error) {
	db, err := bbolt.Open(path, 0o600, readOnly())
	if err == bbolt.ErrTimeout {
		return nil, err
	} else if err != nil {
		return &core.CheckResult{OK: false, Errors: []string{"open: " + err.Error()}}, nil
	}
	defer db.Close()
	res := &core.CheckResult{PageSize: db.Info().PageSize}
	err = db.View(func(tx *bbolt.Tx) error {
		res.TxID = tx.ID()
		res.Errors = core.CollectErrors(tx.Check())
		return nil
	})
	res.OK = len(res.Errors) == 0
	return res, err
}

func (Engine) Dump(path string) (*core.DumpResult, error) {
	res := &core.DumpResult{Buckets: map[string]map[string]any{}}
	err := view(path, func(db *bbolt.DB, tx *bbolt.Tx) error {
		res.PageSize, res.TxID = db.Info().PageSize, tx.ID()
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			res.Buckets[string(name)] = dumpBucket(b)
			return nil
		})
	})
	return res, err
}

func dumpBucket(b *bbolt.Bucket) map[string]any {
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
	err := view(path, func(_ *bbolt.DB, tx *bbolt.Tx) error {
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
