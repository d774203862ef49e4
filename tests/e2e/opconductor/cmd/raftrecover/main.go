// raftrecover: the real raft.RecoverCluster, and real Raft nodes, with op-conductor's own FSM
// (consensus.NewUnsafeHeadTracker from the pinned optimism module) and its stores as it opens them
// (optimism op-conductor/consensus/raft.go: raft-boltdb v2 for raft-log.db and raft-stable.db,
// raft.NewFileSnapshotStore(dir, 1, ...) retaining one snapshot, the TCP transport).
//
// The differential tests of raft_recover (tests/interop/test_recover_differential.py) run it on
// copies of the same node directories as the Python module. Every verb prints one JSON object on
// stdout and exits 0; an error goes to stderr with exit 1; a Go panic (RecoverCluster on an empty
// FSM: Persist dereferences the missing head) is caught and printed as {"panic": ...} with exit 2.
//
//	recover --dir DIR --id ID --config FILE   raft.RecoverCluster(configuration from FILE:
//	                                          [{"id","address","suffrage":"voter"|"nonvoter"}])
//	elect   --dir DIR --id ID --bind ADDR     start one node (NewRaft) on DIR, wait until it leads,
//	        [--apply FILE] [--snapshot-after K] [--trailing-logs N] [--timeout S]
//	                                          apply the base64 envelopes of FILE (one JSON list) as
//	                                          LogCommand entries, take a snapshot after the K-th,
//	                                          report the FSM head, the configuration and the log
//	                                          position, shut down cleanly.
//	cluster --node ID=DIR@ADDR ...             several such nodes together (cluster.go).
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/ethereum-optimism/optimism/op-conductor/consensus"
	"github.com/ethereum-optimism/optimism/op-service/eth"
	"github.com/ethereum/go-ethereum/log"
	"github.com/hashicorp/raft"

	"example.invalid/opstack-conductor-e2e/internal/nodestore"
)

type server struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"`
}

type stores = nodestore.Stores

// open opens a node directory exactly as op-conductor does (internal/nodestore).
func open(dir string) (*stores, error) {
	return nodestore.Open(dir, os.Stderr)
}

func config(id string) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(id)
	rc.LogOutput = os.Stderr
	rc.LogLevel = "WARN"
	return rc
}

func readConfiguration(path string) (raft.Configuration, error) {
	var list []server
	raw, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(raw, &list)
	}
	if err != nil {
		return raft.Configuration{}, err
	}
	var c raft.Configuration
	for _, s := range list {
		suffrage := raft.Voter
		if s.Suffrage == "nonvoter" {
			suffrage = raft.Nonvoter
		}
		c.Servers = append(c.Servers, raft.Server{Suffrage: suffrage, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Address)})
	}
	return c, nil
}

func fsm() raft.FSM {
	return consensus.NewUnsafeHeadTracker(log.NewLogger(log.DiscardHandler()))
}

// transport is the TCP transport op-conductor uses (its EncodePeer writes the address bytes that
// go into a snapshot's Peers); for recover it listens on a free loopback port and is never dialled.
func transport(bind string) (*raft.NetworkTransport, error) {
	addr, err := net.ResolveTCPAddr("tcp", bind)
	if err != nil {
		return nil, err
	}
	if !addr.IP.IsLoopback() {
		return nil, fmt.Errorf("%s: tests bind loopback addresses only", bind)
	}
	return raft.NewTCPTransport(bind, addr, 3, 5*time.Second, io.Discard)
}

func runRecover(args []string) (any, error) {
	fs := flag.NewFlagSet("recover", flag.ContinueOnError)
	dir := fs.String("dir", "", "node directory")
	id := fs.String("id", "", "server ID")
	configPath := fs.String("config", "", "JSON configuration file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	configuration, err := readConfiguration(*configPath)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	s, err := open(*dir)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	trans, err := transport("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer trans.Close()
	if err := raft.RecoverCluster(config(*id), fsm(), s.Logs, s.Stable, s.Snaps, trans, configuration); err != nil {
		return nil, err
	}
	return map[string]any{"recovered": true}, nil
}

type electOpts struct {
	dir, id, bind, apply string
	snapshotAfter, trail uint64
	timeout              time.Duration
}

func (o *electOpts) parse(args []string) error {
	fs := flag.NewFlagSet("elect", flag.ContinueOnError)
	fs.StringVar(&o.dir, "dir", "", "node directory")
	fs.StringVar(&o.id, "id", "", "server ID")
	fs.StringVar(&o.bind, "bind", "", "this node's address in its configuration (loopback)")
	fs.StringVar(&o.apply, "apply", "", "JSON list of base64 envelopes to apply")
	fs.Uint64Var(&o.snapshotAfter, "snapshot-after", 0, "take a user snapshot after this many applies (0: none)")
	fs.Uint64Var(&o.trail, "trailing-logs", 10240, "raft TrailingLogs (entries kept after a snapshot)")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "bound on every wait")
	return fs.Parse(args)
}

func envelopes(path string) ([][]byte, error) {
	if path == "" {
		return nil, nil
	}
	var list []string
	raw, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(raw, &list)
	}
	out := make([][]byte, 0, len(list))
	for _, item := range list {
		if err != nil {
			break
		}
		var data []byte
		data, err = base64.StdEncoding.DecodeString(item)
		out = append(out, data)
	}
	return out, err
}

func waitLeader(r *raft.Raft, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for r.State() != raft.Leader {
		if time.Now().After(deadline) {
			return fmt.Errorf("not the leader after %s (state %s)", timeout, r.State())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r.Barrier(timeout).Error()
}

func applyAll(r *raft.Raft, o *electOpts, payloads [][]byte) error {
	for i, data := range payloads {
		if err := r.Apply(data, o.timeout).Error(); err != nil {
			return fmt.Errorf("apply %d: %w", i+1, err)
		}
		if o.snapshotAfter > 0 && uint64(i+1) == o.snapshotAfter {
			if err := r.Snapshot().Error(); err != nil {
				return fmt.Errorf("snapshot after %d: %w", i+1, err)
			}
		}
	}
	return nil
}

func runElect(args []string) (any, error) {
	var o electOpts
	if err := o.parse(args); err != nil {
		return nil, err
	}
	payloads, err := envelopes(o.apply)
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	s, err := open(o.dir)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	trans, err := transport(o.bind)
	if err != nil {
		return nil, err
	}
	defer trans.Close()
	rc := config(o.id)
	rc.TrailingLogs = o.trail
	rc.SnapshotThreshold = 1 << 40 // snapshots only when asked: the tests decide where the log is cut
	tracker := consensus.NewUnsafeHeadTracker(log.NewLogger(log.DiscardHandler()))
	r, err := raft.NewRaft(rc, tracker, s.Logs, s.Stable, s.Snaps, trans)
	if err != nil {
		return nil, err
	}
	out, runErr := elected(r, &o, payloads, tracker)
	if err := r.Shutdown().Error(); err != nil && runErr == nil {
		runErr = err
	}
	return out, runErr
}

type headReader interface {
	UnsafeHead() *eth.ExecutionPayloadEnvelope
}

func elected(r *raft.Raft, o *electOpts, payloads [][]byte, tracker headReader) (map[string]any, error) {
	out := map[string]any{}
	if err := waitLeader(r, o.timeout); err != nil {
		return out, err
	}
	out["leader"], out["term_at_election"] = string(rc(r)), r.Stats()["term"]
	if err := applyAll(r, o, payloads); err != nil {
		return out, err
	}
	future := r.GetConfiguration()
	if err := future.Error(); err != nil {
		return out, err
	}
	var servers []server
	for _, s := range future.Configuration().Servers {
		suffrage := "voter"
		if s.Suffrage == raft.Nonvoter {
			suffrage = "nonvoter"
		}
		servers = append(servers, server{string(s.ID), string(s.Address), suffrage})
	}
	out["servers"], out["last_index"], out["applied_index"] = servers, r.LastIndex(), r.AppliedIndex()
	out["head"] = nil
	if head := tracker.UnsafeHead(); head != nil {
		out["head"] = map[string]any{"block_number": uint64(head.ExecutionPayload.BlockNumber), "block_hash": head.ExecutionPayload.BlockHash.Hex()}
	}
	return out, nil
}

func rc(r *raft.Raft) raft.ServerID {
	_, id := r.LeaderWithID()
	return id
}

func main() {
	verbs := map[string]func([]string) (any, error){"recover": runRecover, "elect": runElect, "cluster": runCluster}
	if len(os.Args) < 2 || verbs[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: raftrecover recover|elect|cluster [flags]")
		os.Exit(1)
	}
	defer func() {
		if p := recover(); p != nil {
			json.NewEncoder(os.Stdout).Encode(map[string]any{"panic": fmt.Sprint(p)})
			os.Exit(2)
		}
	}()
	out, err := verbs[os.Args[1]](os.Args[2:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "raftrecover %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
