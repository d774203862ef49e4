package main

// cluster: several real Raft nodes with op-conductor's FSM, each on its own node directory.
//
//	cluster --node ID=DIR@ADDR ... [--apply FILE] [--snapshot-after K] [--trailing-logs N] [--timeout S]
//
// Starts every node (NewRaft on its directory, the TCP transport bound to ADDR, which must be its address in the
// configuration the directory holds), waits until exactly one leads, applies the envelopes of FILE through it
// (a user snapshot on every node after the K-th), waits until every node applied the leader's last index, and
// reports the leader and, per node, its FSM head, configuration and log position; then shuts all down.

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum-optimism/optimism/op-conductor/consensus"
	"github.com/ethereum/go-ethereum/log"
	"github.com/hashicorp/raft"
)

type member struct {
	id, dir, addr string
	stores        *stores
	trans         *raft.NetworkTransport
	r             *raft.Raft
	fsm           headReader
}

type memberFlags []member

func (m *memberFlags) String() string { return fmt.Sprint(len(*m)) }

func (m *memberFlags) Set(value string) error {
	id, rest, ok := strings.Cut(value, "=")
	dir, addr, ok2 := strings.Cut(rest, "@")
	if !ok || !ok2 {
		return fmt.Errorf("--node %q: want ID=DIR@ADDR", value)
	}
	*m = append(*m, member{id: id, dir: dir, addr: addr})
	return nil
}

func (n *member) start(trail uint64) error {
	var err error
	if n.stores, err = open(n.dir); err != nil {
		return fmt.Errorf("%s: %w", n.id, err)
	}
	if n.trans, err = transport(n.addr); err != nil {
		return fmt.Errorf("%s: %w", n.id, err)
	}
	rc := config(n.id)
	rc.TrailingLogs = trail
	rc.SnapshotThreshold = 1 << 40
	tracker := consensus.NewUnsafeHeadTracker(log.NewLogger(log.DiscardHandler()))
	n.fsm = tracker
	n.r, err = raft.NewRaft(rc, tracker, n.stores.Logs, n.stores.Stable, n.stores.Snaps, n.trans)
	return err
}

func (n *member) stop() {
	if n.r != nil {
		n.r.Shutdown().Error()
	}
	if n.trans != nil {
		n.trans.Close()
	}
	if n.stores != nil {
		n.stores.Close()
	}
}

func leaderOf(members []member, timeout time.Duration) (*member, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var leaders []*member
		for i := range members {
			if members[i].r.State() == raft.Leader {
				leaders = append(leaders, &members[i])
			}
		}
		if len(leaders) == 1 && leaders[0].r.Barrier(timeout).Error() == nil {
			return leaders[0], nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("no single leader within %s", timeout)
}

func caughtUp(members []member, index uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for i := range members {
		for members[i].r.AppliedIndex() < index {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s applied %d of %d", members[i].id, members[i].r.AppliedIndex(), index)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

func report(n *member) map[string]any {
	out := map[string]any{"id": n.id, "state": n.r.State().String(), "last_index": n.r.LastIndex(),
		"applied_index": n.r.AppliedIndex(), "head": nil}
	if head := n.fsm.UnsafeHead(); head != nil {
		out["head"] = map[string]any{"block_number": uint64(head.ExecutionPayload.BlockNumber), "block_hash": head.ExecutionPayload.BlockHash.Hex()}
	}
	return out
}

func runCluster(args []string) (any, error) {
	var members memberFlags
	var o electOpts
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.Var(&members, "node", "ID=DIR@ADDR (repeat)")
	fs.StringVar(&o.apply, "apply", "", "JSON list of base64 envelopes to apply")
	fs.Uint64Var(&o.snapshotAfter, "snapshot-after", 0, "a user snapshot on every node after this many applies")
	fs.Uint64Var(&o.trail, "trailing-logs", 10240, "raft TrailingLogs")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "bound on every wait")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	payloads, err := envelopes(o.apply)
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	defer func() {
		for i := range members {
			members[i].stop()
		}
	}()
	for i := range members {
		if err := members[i].start(o.trail); err != nil {
			return nil, err
		}
	}
	return drive(members, &o, payloads)
}

func drive(members []member, o *electOpts, payloads [][]byte) (any, error) {
	leader, err := leaderOf(members, o.timeout)
	if err != nil {
		return nil, err
	}
	for i, data := range payloads {
		if err := leader.r.Apply(data, o.timeout).Error(); err != nil {
			return nil, fmt.Errorf("apply %d: %w", i+1, err)
		}
		if o.snapshotAfter > 0 && uint64(i+1) == o.snapshotAfter {
			if err := caughtUp(members, leader.r.LastIndex(), o.timeout); err != nil {
				return nil, err
			}
			for j := range members {
				if err := members[j].r.Snapshot().Error(); err != nil {
					return nil, fmt.Errorf("%s: snapshot: %w", members[j].id, err)
				}
			}
		}
	}
	if err := caughtUp(members, leader.r.LastIndex(), o.timeout); err != nil {
		return nil, err
	}
	nodes := []map[string]any{}
	for i := range members {
		nodes = append(nodes, report(&members[i]))
	}
	return map[string]any{"leader": leader.id, "nodes": nodes}, nil
}
