package core

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// ---------------------------------------------------------------- FSM

// countFSM stands in for op-conductor's FSM: it counts applied commands and
// remembers the hash of the last payload. Snapshot/Restore are real so that
// log compaction and snapshot restore on start-up are exercised.
type countFSM struct {
	mu    sync.Mutex
	count uint64
	last  []byte
}

type fsmState struct {
	Count uint64 `json:"count"`
	Last  []byte `json:"last"`
}

func (f *countFSM) Apply(l *raft.Log) any {
	h := sha256.Sum256(l.Data)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count++
	f.last = h[:]
	return nil
}

func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &fsmState{Count: f.count, Last: f.last}, nil
}

func (f *countFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s fsmState
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count, f.last = s.Count, s.Last
	return nil
}

func (f *countFSM) applied() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

func (s *fsmState) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmState) Release() {}

// ---------------------------------------------------------------- options

type nodeSpec struct{ id, dir string }

type nodeFlag []nodeSpec

func (n *nodeFlag) String() string { return fmt.Sprint(*n) }
func (n *nodeFlag) Set(v string) error {
	id, dir, ok := strings.Cut(v, "=")
	if !ok || id == "" || dir == "" {
		return fmt.Errorf("want ID=DIR, got %q", v)
	}
	*n = append(*n, nodeSpec{id, dir})
	return nil
}

type clusterOpts struct {
	nodes             nodeFlag
	timeout           time.Duration
	snapshotThreshold uint64
	snapshotInterval  time.Duration
	trailingLogs      uint64
	logLevel          string
}

func (o *clusterOpts) register(fs *flag.FlagSet) {
	fs.Var(&o.nodes, "node", "ID=DIR of a node (repeatable)")
	fs.Func("timeout", "seconds for each wait (default 60)", func(s string) (err error) {
		o.timeout, err = seconds(s)
		return err
	})
	fs.Uint64Var(&o.snapshotThreshold, "snapshot-threshold", 0, "raft SnapshotThreshold (0: DefaultConfig)")
	fs.DurationVar(&o.snapshotInterval, "snapshot-interval", 0, "raft SnapshotInterval (0: DefaultConfig)")
	fs.Uint64Var(&o.trailingLogs, "trailing-logs", 0, "raft TrailingLogs (0: DefaultConfig)")
	fs.StringVar(&o.logLevel, "log-level", "WARN", "hclog level for raft's own logging on stderr")
	o.timeout = 60 * time.Second
}

func (o *clusterOpts) validate() error {
	if len(o.nodes) == 0 {
		return fmt.Errorf("%w: at least one --node is required", errUsage)
	}
	seen := map[string]bool{}
	for _, n := range o.nodes {
		if seen[n.id] {
			return fmt.Errorf("%w: node %q given twice", errUsage, n.id)
		}
		seen[n.id] = true
	}
	return nil
}

func seconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad seconds %q", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// levelFilter drops hclog lines below WARN from the chatty components whose
// level cannot be set through raft's API (transport, snapshot store).
type levelFilter struct {
	w       io.Writer
	verbose bool
}

func (l levelFilter) Write(p []byte) (int, error) {
	if !l.verbose && (bytes.Contains(p, []byte("[INFO]")) || bytes.Contains(p, []byte("[DEBUG]")) || bytes.Contains(p, []byte("[TRACE]"))) {
		return len(p), nil
	}
	return l.w.Write(p)
}

// ---------------------------------------------------------------- nodes

type node struct {
	id, dir      string
	logs, stable Store
	snaps        *raft.FileSnapshotStore
	trans        *raft.NetworkTransport
	fsm          *countFSM
	r            *raft.Raft
	openMS       float64    // time the opens of both files took (information only: a busy machine slows it)
	lockWaits    []LockWait // open attempts that found a file's flock held (each then retried after 50 ms)
}

// loopbackOnly refuses addresses this test tool must not bind or dial.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.To4() != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("address %q is not on 127.0.0.0/8 or localhost; refusing", addr)
}

// bindAddress finds the node's own address in its latest configuration, using
// read-only opens so that a refused configuration leaves the files untouched.
func bindAddress(e Engine, spec nodeSpec) (string, error) {
	logs, err := e.OpenStoreReadOnly(filepath.Join(spec.dir, logDB))
	if err != nil {
		return "", err
	}
	defer logs.Close()
	var snaps raft.SnapshotStore
	if _, err := os.Stat(filepath.Join(spec.dir, "snapshots")); err == nil {
		if snaps, err = raft.NewFileSnapshotStore(spec.dir, 1, io.Discard); err != nil {
			return "", err
		}
	}
	var cfg raft.Configuration
	if err := recovered(func() (err error) { cfg, _, _, err = latestConfiguration(logs, snaps); return err }); err != nil {
		return "", err
	}
	bind := ""
	for _, s := range cfg.Servers {
		if err := loopbackOnly(string(s.Address)); err != nil {
			return "", fmt.Errorf("configuration server %q: %w", s.ID, err)
		}
		if string(s.ID) == spec.id {
			bind = string(s.Address)
		}
	}
	if bind == "" {
		return "", fmt.Errorf("node %q is not in its own latest configuration", spec.id)
	}
	return bind, nil
}

// startNode opens a node's existing state the way op-conductor does and starts
// raft on it, without BootstrapCluster.
func startNode(e Engine, o *clusterOpts, spec nodeSpec, bind string) (*node, error) {
	var err error
	n := &node{id: spec.id, dir: spec.dir, fsm: &countFSM{}}
	started := false
	defer func() {
		if !started {
			n.close()
		}
	}()
	opening := time.Now()
	var waits []LockWait
	if n.logs, waits, err = openStore(e, filepath.Join(spec.dir, logDB), o.timeout); err != nil {
		return nil, err
	}
	n.lockWaits = append([]LockWait{}, waits...) // [] rather than null in the JSON
	if n.stable, waits, err = openStore(e, filepath.Join(spec.dir, stableDB), o.timeout); err != nil {
		return nil, err
	}
	n.lockWaits = append(n.lockWaits, waits...)
	n.openMS = float64(time.Since(opening).Microseconds()) / 1000
	verbose := strings.EqualFold(o.logLevel, "INFO") || strings.EqualFold(o.logLevel, "DEBUG") || strings.EqualFold(o.logLevel, "TRACE")
	logw := levelFilter{os.Stderr, verbose}
	if n.snaps, err = raft.NewFileSnapshotStore(spec.dir, 1, logw); err != nil {
		return nil, err
	}
	if n.trans, err = raft.NewTCPTransport(bind, nil, 3, 10*time.Second, logw); err != nil {
		return nil, err
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(spec.id)
	rc.LogOutput = os.Stderr
	rc.LogLevel = o.logLevel
	if o.snapshotThreshold > 0 {
		rc.SnapshotThreshold = o.snapshotThreshold
	}
	if o.snapshotInterval > 0 {
		rc.SnapshotInterval = o.snapshotInterval
	}
	if o.trailingLogs > 0 {
		rc.TrailingLogs = o.trailingLogs
	}
	// NewRaft panics when a log between the snapshot and LastIndex is missing
	// or a configuration entry does not decode: report that as an error.
	err = recovered(func() (err error) {
		n.r, err = raft.NewRaft(rc, n.fsm, n.logs, n.stable, n.snaps, n.trans)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("NewRaft: %w", err)
	}
	started = true
	return n, nil
}

// shutdown stops raft and the transport; the stores stay open for inspection.
func (n *node) shutdown() error {
	var err error
	if n.r != nil {
		err = n.r.Shutdown().Error()
		n.r = nil
	}
	if n.trans != nil {
		n.trans.Close()
		n.trans = nil
	}
	return err
}

func (n *node) close() {
	n.shutdown()
	for _, s := range []Store{n.logs, n.stable} {
		if s != nil {
			s.Close()
		}
	}
	n.logs, n.stable = nil, nil
}

// startAll validates every node (files present, loopback addresses) before
// opening any of them read-write, then starts them.
func startAll(e Engine, o *clusterOpts) ([]*node, error) {
	binds := make([]string, len(o.nodes))
	for i, spec := range o.nodes {
		for _, f := range []string{logDB, stableDB} {
			if err := mustExist(filepath.Join(spec.dir, f), false); err != nil {
				return nil, fmt.Errorf("node %s: %w", spec.id, err)
			}
		}
		bind, err := bindAddress(e, spec)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", spec.id, err)
		}
		binds[i] = bind
	}
	var nodes []*node
	for i, spec := range o.nodes {
		n, err := startNode(e, o, spec, binds[i])
		if err != nil {
			closeAll(nodes)
			return nil, fmt.Errorf("node %s: %w", spec.id, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

func closeAll(nodes []*node) {
	for _, n := range nodes {
		n.close()
	}
}

// waitLeader waits for exactly one node in Leader state that every node names
// as its leader.
func waitLeader(nodes []*node, timeout time.Duration) (*node, error) {
	deadline := time.Now().Add(timeout)
	for {
		var leaders []*node
		for _, n := range nodes {
			if n.r.State() == raft.Leader {
				leaders = append(leaders, n)
			}
		}
		status := []string{}
		agreed := len(leaders) == 1
		for _, n := range nodes {
			_, id := n.r.LeaderWithID()
			status = append(status, fmt.Sprintf("%s:%v->%q", n.id, n.r.State(), id))
			agreed = agreed && string(id) == leaders[0].id
		}
		if agreed {
			return leaders[0], nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no agreed leader within %v (%s)", timeout, strings.Join(status, ", "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// applyBatch applies count commands on the leader with all futures in flight,
// then waits for them; it returns the raft index of the last one.
func applyBatch(leader *node, seed string, start, count uint64, size int, timeout time.Duration) (uint64, error) {
	futures := make([]raft.ApplyFuture, 0, count)
	for i := start; i < start+count; i++ {
		futures = append(futures, leader.r.Apply(payload(seed, i, size), timeout))
	}
	var last uint64
	for _, f := range futures {
		if err := f.Error(); err != nil {
			return 0, fmt.Errorf("apply on %s: %w", leader.id, err)
		}
		last = max(last, f.Index())
	}
	return last, nil
}

// applyOnLeader is applyBatch that survives a change of leader: on a loaded
// machine (2 cores shared with other tests) a stall past the 1 s heartbeat
// timeout starts an election mid-batch. The batch is then re-applied on the
// new leader, so some commands may be applied twice; callers count ">=".
func applyOnLeader(nodes []*node, leader *node, seed string, start, count uint64, size int, timeout time.Duration) (*node, uint64, error) {
	const attempts = 5
	for attempt := 1; ; attempt++ {
		last, err := applyBatch(leader, seed, start, count, size, timeout)
		if err == nil || attempt == attempts || !leadershipChanged(err) {
			return leader, last, err
		}
		if leader, err = waitLeader(nodes, timeout); err != nil {
			return nil, 0, err
		}
	}
}

func leadershipChanged(err error) bool {
	return errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrNotLeader) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress)
}

// waitApplied waits until every FSM has applied as many commands as the leader's.
func waitApplied(nodes []*node, target uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		behind := []string{}
		for _, n := range nodes {
			if a := n.fsm.applied(); a < target {
				behind = append(behind, fmt.Sprintf("%s at %d", n.id, a))
			}
		}
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("FSMs not at %d applied commands within %v: %s", target, timeout, strings.Join(behind, ", "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// verifyLogs checks, on stopped nodes, that every index first..last is
// readable and that the log reaches at least minLast.
func verifyLogs(n *node, minLast uint64) (first, last uint64, problems []string) {
	first, err1 := n.logs.FirstIndex()
	last, err2 := n.logs.LastIndex()
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, []string{fmt.Sprintf("%s: %v", n.id, err)}
	}
	missing := 0
	for i := first; i <= last && last > 0; i++ {
		var l raft.Log
		if err := n.logs.GetLog(i, &l); err != nil {
			if missing++; missing <= 3 {
				problems = append(problems, fmt.Sprintf("%s: GetLog(%d): %v", n.id, i, err))
			}
		}
	}
	if missing > 3 {
		problems = append(problems, fmt.Sprintf("%s: %d indexes missing in total", n.id, missing))
	}
	if last < minLast {
		problems = append(problems, fmt.Sprintf("%s: last index %d < committed index %d", n.id, last, minLast))
	}
	return first, last, problems
}

func leaderTerm(n *node) uint64 {
	t, _ := strconv.ParseUint(n.r.Stats()["term"], 10, 64)
	return t
}

// ---------------------------------------------------------------- cluster

type nodeResult struct {
	ID           string     `json:"id"`
	LastIndex    uint64     `json:"last_index"`
	Applied      uint64     `json:"applied"`       // commands applied by this node's FSM (restored snapshot included)
	AppliedIndex uint64     `json:"applied_index"` // raft's AppliedIndex()
	OpenMS       float64    `json:"open_ms"`       // opening both files, retries included (information, not a verdict)
	LockWaits    []LockWait `json:"lock_waits"`    // every open attempt that found a file locked by another process
}

type phaseResult struct {
	Leader string       `json:"leader"`
	Term   uint64       `json:"term"`
	Nodes  []nodeResult `json:"nodes"`
}

// waitHold blocks until d passes or stdin reaches EOF (the caller closing it).
func waitHold(d time.Duration) {
	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case <-eof:
	case <-time.After(d):
	}
}

// clusterPhase starts every node, waits for a leader, applies k commands,
// waits for all FSMs, optionally holds, shuts down and checks the log stores.
// err is for failures to start at all; problems for what went wrong after.
func clusterPhase(e Engine, o *clusterOpts, k uint64, seed string, hold time.Duration) (*phaseResult, []string, error) {
	nodes, err := startAll(e, o)
	if err != nil {
		return nil, nil, err
	}
	defer closeAll(nodes)
	res := &phaseResult{Nodes: []nodeResult{}}
	var problems []string
	var committed uint64
	leader, err := waitLeader(nodes, o.timeout)
	if err == nil {
		res.Leader, res.Term = leader.id, leaderTerm(leader)
		if leader, committed, err = applyOnLeader(nodes, leader, seed, 0, k, 64, o.timeout); err == nil {
			res.Leader, res.Term = leader.id, leaderTerm(leader)
			err = waitApplied(nodes, leader.fsm.applied(), o.timeout)
		}
	}
	if err != nil {
		problems = append(problems, err.Error())
	}
	for _, n := range nodes {
		// LastIndex is raft's view here (for the --hold ready line); it is
		// replaced by the log store's own LastIndex after shutdown.
		res.Nodes = append(res.Nodes, nodeResult{ID: n.id, LastIndex: n.r.LastIndex(), Applied: n.fsm.applied(), AppliedIndex: n.r.AppliedIndex(), OpenMS: n.openMS, LockWaits: n.lockWaits})
	}
	if hold > 0 {
		if err := emit(map[string]any{"ready": err == nil, "leader": res.Leader, "term": res.Term, "nodes": res.Nodes}); err != nil {
			return nil, nil, err
		}
		waitHold(hold)
	}
	for i, n := range nodes {
		if err := n.shutdown(); err != nil {
			problems = append(problems, fmt.Sprintf("%s: shutdown: %v", n.id, err))
		}
		_, last, p := verifyLogs(n, committed)
		res.Nodes[i].LastIndex = last
		problems = append(problems, p...)
	}
	return res, problems, nil
}

func runCluster(e Engine, _ string, args []string) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	var o clusterOpts
	o.register(fs)
	apply := fs.Uint64("apply", 10, "commands to apply per phase")
	restart := fs.Bool("restart", false, "stop, reopen everything and run a second phase")
	var hold time.Duration
	fs.Func("hold", "seconds to keep the formed cluster running (ends early on stdin EOF)", func(s string) (err error) {
		hold, err = seconds(s)
		return err
	})
	if _, err := parseVerb(fs, args, 0); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	firstHold := hold
	if *restart {
		firstHold = 0 // hold in the last phase only
	}
	first, problems, err := clusterPhase(e, &o, *apply, "cluster-1", firstHold)
	if err != nil {
		return err
	}
	out := map[string]any{"leader": first.Leader, "term": first.Term, "nodes": first.Nodes, "restart": nil}
	if *restart && len(problems) == 0 {
		second, p, err := clusterPhase(e, &o, *apply, "cluster-2", hold)
		if err != nil {
			problems = append(problems, "restart: "+err.Error())
		} else {
			out["restart"] = second
			for _, s := range p {
				problems = append(problems, "restart: "+s)
			}
		}
	}
	out["ok"] = len(problems) == 0
	out["problems"] = append([]string{}, problems...)
	return emit(out)
}

// ---------------------------------------------------------------- grow

type growNode struct {
	ID          string   `json:"id"`
	LogSize     int64    `json:"log_size"`
	StableSize  int64    `json:"stable_size"`
	FirstIndex  uint64   `json:"first_index"`
	LastIndex   uint64   `json:"last_index"`
	Applied     uint64   `json:"applied"`
	SnapshotIDs []string `json:"snapshots"`
}

// runGrow drives a real cluster to produce large, compacted state files:
// many applies (batched), user snapshots on every node every --snapshot-every
// applies (so raft compacts logs with DeleteRange, leaving a big freelist),
// payloads above the page size (overflow pages).
func runGrow(e Engine, _ string, args []string) error {
	fs := flag.NewFlagSet("grow", flag.ContinueOnError)
	var o clusterOpts
	o.register(fs)
	entries := fs.Uint64("entries", 0, "commands to apply")
	size := fs.Int("size", 0, "payload bytes per command")
	every := fs.Uint64("snapshot-every", 0, "take a snapshot on every node after this many applies (0: never)")
	if _, err := parseVerb(fs, args, 0); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	if *entries == 0 || *size <= 0 {
		return fmt.Errorf("%w: --entries and --size must be > 0", errUsage)
	}
	nodes, err := startAll(e, &o)
	if err != nil {
		return err
	}
	defer closeAll(nodes)

	var problems []string
	start := time.Now()
	leader, err := waitLeader(nodes, o.timeout)
	var committed uint64
	snapshots := 0
	const window = 512 // futures in flight; raft batches them into AppendEntries
	for done := uint64(0); err == nil && done < *entries; {
		n := min(window, *entries-done)
		if *every > 0 {
			n = min(n, *every-done%*every)
		}
		if leader, committed, err = applyOnLeader(nodes, leader, "grow", done, n, *size, o.timeout); err != nil {
			break
		}
		done += n
		if *every > 0 && done%*every == 0 {
			for _, nd := range nodes {
				if serr := nd.r.Snapshot().Error(); serr != nil && !errors.Is(serr, raft.ErrNothingNewToSnapshot) {
					problems = append(problems, fmt.Sprintf("%s: snapshot after %d applies: %v", nd.id, done, serr))
				}
			}
			snapshots++
		}
	}
	if err == nil {
		err = waitApplied(nodes, leader.fsm.applied(), o.timeout)
	}
	if err != nil {
		problems = append(problems, err.Error())
	}
	out := map[string]any{"leader": "", "term": uint64(0)}
	if leader != nil {
		out["leader"], out["term"] = leader.id, leaderTerm(leader)
	}
	res := []growNode{}
	for _, n := range nodes {
		applied := n.fsm.applied()
		if err := n.shutdown(); err != nil {
			problems = append(problems, fmt.Sprintf("%s: shutdown: %v", n.id, err))
		}
		first, last, p := verifyLogs(n, committed)
		problems = append(problems, p...)
		g := growNode{ID: n.id, FirstIndex: first, LastIndex: last, Applied: applied, SnapshotIDs: []string{}}
		if metas, err := n.snaps.List(); err == nil {
			for _, m := range metas {
				g.SnapshotIDs = append(g.SnapshotIDs, m.ID)
			}
		}
		n.close() // close the bolt files before measuring them
		if st, err := os.Stat(filepath.Join(n.dir, logDB)); err == nil {
			g.LogSize = st.Size()
		}
		if st, err := os.Stat(filepath.Join(n.dir, stableDB)); err == nil {
			g.StableSize = st.Size()
		}
		res = append(res, g)
	}
	out["nodes"] = res
	out["snapshot_rounds"] = snapshots
	out["seconds"] = time.Since(start).Seconds()
	out["ok"] = len(problems) == 0
	out["problems"] = append([]string{}, problems...)
	return emit(out)
}
