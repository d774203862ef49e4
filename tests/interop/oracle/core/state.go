package core

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// File names inside a node directory, as op-conductor lays them out.
const (
	logDB    = "raft-log.db"
	stableDB = "raft-stable.db"
)

// Stable-store keys used by hashicorp/raft.
var (
	keyCurrentTerm  = []byte("CurrentTerm")
	keyLastVoteTerm = []byte("LastVoteTerm")
	keyLastVoteCand = []byte("LastVoteCand")
)

// ---------------------------------------------------------------- helpers

// recovered turns a panic inside f into an error: raft.DecodeConfiguration
// panics on bad msgpack, and raft-boltdb dereferences a missing bucket.
func recovered(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

func decodeConfiguration(data []byte) (cfg raft.Configuration, err error) {
	err = recovered(func() error { cfg = raft.DecodeConfiguration(data); return nil })
	return cfg, err
}

// logEntry is the JSON form of a raft.Log as read back through raft-boltdb.
type logEntry struct {
	Index              uint64
	Term               uint64
	Type               raft.LogType
	Data               []byte // base64, null when nil
	Extensions         []byte
	AppendedAt         string
	AppendedAtZero     bool
	Configuration      *raft.Configuration `json:",omitempty"`
	ConfigurationError string              `json:"configuration_error,omitempty"`
}

func newLogEntry(l *raft.Log) *logEntry {
	e := &logEntry{
		Index: l.Index, Term: l.Term, Type: l.Type, Data: l.Data, Extensions: l.Extensions,
		AppendedAt: l.AppendedAt.Format(time.RFC3339Nano), AppendedAtZero: l.AppendedAt.IsZero(),
	}
	if l.Type == raft.LogConfiguration {
		cfg, err := decodeConfiguration(l.Data)
		if err != nil {
			e.ConfigurationError = err.Error()
		} else {
			e.Configuration = &cfg
		}
	}
	return e
}

type logError struct {
	Index uint64
	Error string `json:"error"`
}

// stableUint64 reads a uint64 key; absent keys are reported as nil.
func stableUint64(s raft.StableStore, key []byte) (*uint64, error) {
	var v uint64
	err := recovered(func() (err error) { v, err = s.GetUint64(key); return err })
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("GetUint64(%s): %w", key, err)
	}
	return &v, nil
}

func stableBytes(s raft.StableStore, key []byte) ([]byte, error) {
	var v []byte
	err := recovered(func() (err error) { v, err = s.Get(key); return err })
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("Get(%s): %w", key, err)
	}
	return v, nil
}

// logRange is the log's first and last index; a panic inside raft-boltdb (a
// missing bucket) is returned as an error.
func logRange(logs raft.LogStore) (first, last uint64, err error) {
	err = recovered(func() (err error) {
		if first, err = logs.FirstIndex(); err != nil {
			return err
		}
		last, err = logs.LastIndex()
		return err
	})
	return first, last, err
}

// isNotFound matches raft-boltdb's ErrKeyNotFound in both modules (they are
// distinct error values with the same text; hashicorp/raft also compares text).
func isNotFound(err error) bool {
	return err != nil && err.Error() == "not found"
}

// payload is a deterministic pseudo-random byte string (splitmix64 stream
// seeded by seed and index): incompressible, reproducible, no dependencies.
func payload(seed string, index uint64, size int) []byte {
	x := index
	for _, c := range []byte(seed) {
		x = x*131 + uint64(c)
	}
	buf := make([]byte, size+8)
	for i := 0; i < size; i += 8 {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		binary.LittleEndian.PutUint64(buf[i:], z^(z>>31))
	}
	return buf[:size]
}

// latestConfiguration is what raft itself would consider the node's latest
// configuration: the newest LogConfiguration entry, else the newest snapshot's.
func latestConfiguration(logs raft.LogStore, snaps raft.SnapshotStore) (cfg raft.Configuration, index uint64, source string, err error) {
	first, err := logs.FirstIndex()
	if err != nil {
		return cfg, 0, "", err
	}
	last, err := logs.LastIndex()
	if err != nil {
		return cfg, 0, "", err
	}
	for i := last; i >= first && i > 0; i-- {
		var l raft.Log
		if logs.GetLog(i, &l) != nil || l.Type != raft.LogConfiguration {
			continue // a hole is reported elsewhere; keep looking further back
		}
		cfg, err = decodeConfiguration(l.Data)
		return cfg, i, "log", err
	}
	if snaps != nil {
		metas, err := snaps.List()
		if err != nil {
			return cfg, 0, "", err
		}
		if len(metas) > 0 {
			return metas[0].Configuration, metas[0].ConfigurationIndex, "snapshot", nil
		}
	}
	return cfg, 0, "", errors.New("no configuration in log or snapshots")
}

// ---------------------------------------------------------------- read

type snapshotInfo struct {
	ID                 string
	Index              uint64
	Term               uint64
	Size               int64
	ConfigurationIndex uint64
	Configuration      raft.Configuration
	CRCOK              bool   `json:"crc_ok"`
	Error              string `json:"error,omitempty"`
}

func runRead(e Engine, _ string, args []string) error {
	fs := flag.NewFlagSet("read", flag.ContinueOnError)
	summary := fs.Bool("summary", false, "no entries list; last entry and newest configuration only")
	pos, err := parseVerb(fs, args, 1)
	if err != nil {
		return err
	}
	dir := pos[0]
	for _, f := range []string{logDB, stableDB} {
		if err := mustExist(filepath.Join(dir, f), false); err != nil {
			return err
		}
	}
	stable, err := e.OpenStoreReadOnly(filepath.Join(dir, stableDB))
	if err != nil {
		return fmt.Errorf("%s: %w", stableDB, err)
	}
	defer stable.Close()
	logs, err := e.OpenStoreReadOnly(filepath.Join(dir, logDB))
	if err != nil {
		return fmt.Errorf("%s: %w", logDB, err)
	}
	defer logs.Close()

	out := map[string]any{}
	term, err := stableUint64(stable, keyCurrentTerm)
	if err != nil {
		return err
	}
	voteTerm, err := stableUint64(stable, keyLastVoteTerm)
	if err != nil {
		return err
	}
	cand, err := stableBytes(stable, keyLastVoteCand)
	if err != nil {
		return err
	}
	out["stable"] = map[string]any{"CurrentTerm": term, "LastVoteTerm": voteTerm, "LastVoteCand": cand}

	first, last, err := logRange(logs)
	if err != nil {
		return fmt.Errorf("%s: %w", logDB, err)
	}
	getLog := func(i uint64) any {
		var l raft.Log
		if err := recovered(func() error { return logs.GetLog(i, &l) }); err != nil {
			return logError{Index: i, Error: err.Error()}
		}
		return newLogEntry(&l)
	}
	logOut := map[string]any{"first_index": first, "last_index": last}
	out["log"] = logOut

	snaps, err := readSnapshots(dir)
	if err != nil {
		return err
	}
	out["snapshots"] = snaps

	if !*summary {
		entries := []any{}
		for i := first; i <= last && last > 0; i++ {
			entries = append(entries, getLog(i))
		}
		logOut["entries"] = entries
		return emit(out)
	}

	// Summary: what a Go tool would do to answer "where is this node at".
	if last > 0 {
		logOut["last_entry"] = getLog(last)
	} else {
		logOut["last_entry"] = nil
	}
	var newest any
	for i := last; i >= first && i > 0; i-- {
		if entry, ok := getLog(i).(*logEntry); ok && entry.Type == raft.LogConfiguration {
			newest = map[string]any{"source": "log", "Index": i, "Configuration": entry.Configuration}
			break
		}
	}
	if newest == nil && len(snaps) > 0 {
		newest = map[string]any{"source": "snapshot", "Index": snaps[0].ConfigurationIndex, "Configuration": snaps[0].Configuration}
	}
	out["newest_configuration"] = newest
	return emit(out)
}

// readSnapshots lists the node's snapshots through raft's FileSnapshotStore
// (retain 1, as op-conductor) and opens each one, which verifies its CRC.
// NewFileSnapshotStore creates the snapshots directory and probes it with a
// temporary file, so it is only used when that directory already exists.
func readSnapshots(dir string) ([]snapshotInfo, error) {
	out := []snapshotInfo{}
	if _, err := os.Stat(filepath.Join(dir, "snapshots")); errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	store, err := raft.NewFileSnapshotStore(dir, 1, io.Discard)
	if err != nil {
		return nil, err
	}
	metas, err := store.List()
	if err != nil {
		return nil, err
	}
	for _, m := range metas {
		info := snapshotInfo{ID: m.ID, Index: m.Index, Term: m.Term, Size: m.Size,
			ConfigurationIndex: m.ConfigurationIndex, Configuration: m.Configuration}
		_, rc, err := store.Open(m.ID)
		if err == nil {
			rc.Close()
			info.CRCOK = true
		} else {
			info.Error = err.Error()
		}
		out = append(out, info)
	}
	return out, nil
}

// ---------------------------------------------------------------- encode

type encodeLog struct {
	Index, Term uint64
	Type        raft.LogType
	Data        []byte  // base64; null => nil slice, "" => empty slice (they encode differently)
	Extensions  []byte  // likewise
	AppendedAt  *string // RFC3339Nano; null => zero time
}

// runEncode produces the bytes the real libraries write, as test vectors:
// log values are taken raw from the "logs" bucket after StoreLog through
// raft-boltdb, configurations come from raft.EncodeConfiguration.
func runEncode(e Engine, _ string, args []string) error {
	if _, err := parseVerb(nil, args, 0); err != nil {
		return err
	}
	var in struct {
		Logs           []encodeLog
		Configurations []raft.Configuration
	}
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("stdin: %w", err)
	}
	logs := make([]*raft.Log, len(in.Logs))
	for i, l := range in.Logs {
		rl := &raft.Log{Index: l.Index, Term: l.Term, Type: l.Type, Data: l.Data, Extensions: l.Extensions}
		if l.AppendedAt != nil {
			at, err := time.Parse(time.RFC3339Nano, *l.AppendedAt)
			if err != nil {
				return fmt.Errorf("logs[%d].AppendedAt: %w", i, err)
			}
			rl.AppendedAt = at
		}
		logs[i] = rl
	}
	tmp, err := os.MkdirTemp("", "oracle-encode-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// A store holds one value per index, so logs sharing an index go to
	// different temporary stores: group k holds the k-th log of each index.
	var groups [][]int
	seen := map[uint64]int{}
	for i, l := range logs {
		g := seen[l.Index]
		seen[l.Index]++
		if g == len(groups) {
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	hexLogs := make([]string, len(logs))
	for g, members := range groups {
		path := filepath.Join(tmp, fmt.Sprintf("group-%d.db", g))
		store, err := e.NewStore(path)
		if err != nil {
			return err
		}
		keys := make([][]byte, len(members))
		for k, i := range members {
			if err := store.StoreLog(logs[i]); err != nil {
				store.Close()
				return fmt.Errorf("StoreLog(logs[%d]): %w", i, err)
			}
			keys[k] = binary.BigEndian.AppendUint64(nil, logs[i].Index)
		}
		if err := store.Close(); err != nil {
			return err
		}
		vals, err := e.RawGet(path, []byte("logs"), keys)
		if err != nil {
			return err
		}
		for k, i := range members {
			if vals[k] == nil {
				return fmt.Errorf("logs[%d]: value missing after StoreLog", i)
			}
			hexLogs[i] = fmt.Sprintf("%x", vals[k])
		}
	}
	hexCfgs := make([]string, len(in.Configurations))
	for i, c := range in.Configurations {
		hexCfgs[i] = fmt.Sprintf("%x", raft.EncodeConfiguration(c))
	}
	return emit(map[string]any{"logs": hexLogs, "configurations": hexCfgs})
}

// ---------------------------------------------------------------- write

type writeSpec struct {
	Servers []struct {
		ID       string `json:"id"`
		Address  string `json:"address"`
		Suffrage string `json:"suffrage"`
	} `json:"servers"`
	InitialLeader string `json:"initial_leader"`
	Term          uint64 `json:"term"`
}

// runWrite reproduces op-conductor-init's code path: per server, NewBoltStore
// on both files, StoreLog of the bootstrap configuration entry, then
// CurrentTerm, and on the initial leader LastVoteTerm and LastVoteCand (each
// call its own bolt transaction, in this order).
func runWrite(e Engine, _ string, args []string) error {
	fs := flag.NewFlagSet("write", flag.ContinueOnError)
	specPath := fs.String("spec", "", "spec JSON file")
	outDir := fs.String("out", "", "output directory (node directories are created under it)")
	if _, err := parseVerb(fs, args, 0); err != nil {
		return err
	}
	if *specPath == "" || *outDir == "" {
		return fmt.Errorf("%w: --spec and --out are required", errUsage)
	}
	raw, err := os.ReadFile(*specPath)
	if err != nil {
		return err
	}
	var spec writeSpec
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	var cfg raft.Configuration
	leaderFound := spec.InitialLeader == ""
	for _, s := range spec.Servers {
		var suf raft.ServerSuffrage
		switch s.Suffrage {
		case "voter":
			suf = raft.Voter
		case "nonvoter":
			suf = raft.Nonvoter
		default:
			return fmt.Errorf("spec: server %q: bad suffrage %q", s.ID, s.Suffrage)
		}
		if s.ID == "" || strings.ContainsAny(s.ID, "/\\") || s.ID == "." || s.ID == ".." {
			return fmt.Errorf("spec: bad server id %q", s.ID)
		}
		leaderFound = leaderFound || s.ID == spec.InitialLeader
		cfg.Servers = append(cfg.Servers, raft.Server{Suffrage: suf, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Address)})
	}
	if !leaderFound {
		return fmt.Errorf("spec: initial_leader %q is not a server", spec.InitialLeader)
	}
	data := raft.EncodeConfiguration(cfg)
	nodes := map[string]string{}
	for _, s := range spec.Servers {
		dir := filepath.Join(*outDir, s.ID)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for _, f := range []string{logDB, stableDB} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				return fmt.Errorf("%s already exists; refusing to add to existing state", filepath.Join(dir, f))
			}
		}
		if err := writeNode(e, dir, spec.Term, data, s.ID == spec.InitialLeader, s.ID); err != nil {
			return fmt.Errorf("%s: %w", s.ID, err)
		}
		nodes[s.ID] = dir
	}
	return emit(map[string]any{"nodes": nodes})
}

func writeNode(e Engine, dir string, term uint64, cfg []byte, leader bool, id string) error {
	logs, err := e.NewStore(filepath.Join(dir, logDB))
	if err != nil {
		return err
	}
	err = logs.StoreLog(&raft.Log{Index: 1, Term: term, Type: raft.LogConfiguration, Data: cfg})
	if cerr := logs.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	stable, err := e.NewStore(filepath.Join(dir, stableDB))
	if err != nil {
		return err
	}
	err = stable.SetUint64(keyCurrentTerm, term)
	if err == nil && leader {
		err = stable.SetUint64(keyLastVoteTerm, term)
		if err == nil {
			err = stable.Set(keyLastVoteCand, []byte(id))
		}
	}
	if cerr := stable.Close(); err == nil {
		err = cerr
	}
	return err
}

// ---------------------------------------------------------------- append

// runAppend opens a node's state read-write the way op-conductor does and
// appends LogCommand entries in the current term (one StoreLogs transaction).
func runAppend(e Engine, _ string, args []string) error {
	fs := flag.NewFlagSet("append", flag.ContinueOnError)
	count := fs.Int("count", 0, "number of entries")
	size := fs.Int("size", 64, "payload bytes per entry")
	pos, err := parseVerb(fs, args, 1)
	if err != nil {
		return err
	}
	if *count <= 0 || *size < 0 {
		return fmt.Errorf("%w: --count must be > 0 and --size >= 0", errUsage)
	}
	dir := pos[0]
	for _, f := range []string{logDB, stableDB} {
		if err := mustExist(filepath.Join(dir, f), false); err != nil {
			return err
		}
	}
	stable, err := e.NewStore(filepath.Join(dir, stableDB))
	if err != nil {
		return err
	}
	defer stable.Close()
	term, err := stable.GetUint64(keyCurrentTerm)
	if err != nil {
		return fmt.Errorf("CurrentTerm: %w", err)
	}
	logs, err := e.NewStore(filepath.Join(dir, logDB))
	if err != nil {
		return err
	}
	last, err := logs.LastIndex()
	if err != nil {
		logs.Close()
		return err
	}
	batch := make([]*raft.Log, *count)
	now := time.Now()
	for i := range batch {
		idx := last + 1 + uint64(i)
		batch[i] = &raft.Log{Index: idx, Term: term, Type: raft.LogCommand, Data: payload("append", idx, *size), AppendedAt: now}
	}
	err = logs.StoreLogs(batch)
	if cerr := logs.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return emit(map[string]any{"first_index": last + 1, "last_index": last + uint64(*count)})
}
