// fsmoracle: op-conductor's FSM and op-service's SSZ envelope code, from the pinned optimism module, as an oracle
// for the collection's pure-Python reader (plugins/module_utils/_payload.py, _fsm.py; issue 16 item 1).
//
// Everything is the real code: eth.ExecutionPayloadEnvelope's MarshalSSZ/UnmarshalSSZ, op-conductor's
// consensus.NewUnsafeHeadTracker (Apply, Restore, Snapshot+Persist), raft-boltdb v2 and raft's FileSnapshotStore
// opened as op-conductor opens them (consensus/raft.go: NewBoltStore for both databases, retain=1).
// Every verb reads JSON on stdin (unless said otherwise) and prints one JSON object on stdout; exit 1 is a usage
// or input error (message on stderr). Byte strings are hex without 0x.
//
//	envelope      stdin: [spec]  -> {"results": [{"ssz": hex} | {"error": msg}]}: MarshalSSZ of each spec
//	              (spec: the envelope's fields, see type spec; which optional fields are present picks V1..V4
//	              exactly as op-service infers it).
//	decode        stdin: [hex]   -> {"results": [{"versions": {"1".."4": null | error}, "apply": null | error,
//	              "restore": null | error, "head": spec | null, "persisted": hex | null}]}: UnmarshalSSZ as each
//	              version; a fresh FSM's Apply of a LogCommand with these bytes, then its head and the bytes its
//	              Snapshot().Persist writes; a fresh FSM's Restore from these bytes.
//	head DIR      (no stdin) the FSM raft replays from DIR, as RecoverCluster replays it: the snapshots List()
//	              returns, newest first, Open + FSM.Restore until one restores (an error when some are listed and
//	              none does), then GetLog for every index after the snapshot up to LastIndex, Apply for each
//	              LogCommand -> {"head": {block_number, block_hash, index, term, source} | null, "last_index",
//	              "last_term", "snapshot": id | null, "skipped": [index], "error": null | msg}. DIR is opened
//	              read-write by raft-boltdb (it creates missing buckets): run it on a copy.
//	              With --recover, then raft.RecoverCluster itself runs on DIR with a fresh FSM and a one-voter
//	              configuration, and "recover" reports that FSM's head {block_number, block_hash} | error | panic.
//	node DIR      stdin: {"entries": [{"index","term","type","data": hex}], "snapshot": null | {"index","term",
//	              "state": hex}, "servers": [{"id","address"}]} -> {"ok": true}: writes a node directory with the
//	              real stores (StoreLogs; FileSnapshotStore.Create+Write+Close with the servers as voters).
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/ethereum-optimism/optimism/op-conductor/consensus"
	"github.com/ethereum-optimism/optimism/op-service/eth"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/log"
	"github.com/hashicorp/raft"

	"example.invalid/opstack-conductor-e2e/internal/nodestore"
	"github.com/holiman/uint256"
)

type withdrawal struct {
	Index     uint64 `json:"index"`
	Validator uint64 `json:"validator"`
	Address   string `json:"address"`
	Amount    uint64 `json:"amount"`
}

// spec: every field of an ExecutionPayloadEnvelope. base_fee is big-endian hex (a uint256).
type spec struct {
	BeaconRoot      string        `json:"beacon_root"`
	ParentHash      string        `json:"parent_hash"`
	FeeRecipient    string        `json:"fee_recipient"`
	StateRoot       string        `json:"state_root"`
	ReceiptsRoot    string        `json:"receipts_root"`
	LogsBloom       string        `json:"logs_bloom"`
	PrevRandao      string        `json:"prev_randao"`
	BlockNumber     uint64        `json:"block_number"`
	GasLimit        uint64        `json:"gas_limit"`
	GasUsed         uint64        `json:"gas_used"`
	Timestamp       uint64        `json:"timestamp"`
	ExtraData       string        `json:"extra_data"`
	BaseFee         string        `json:"base_fee"`
	BlockHash       string        `json:"block_hash"`
	Transactions    []string      `json:"transactions"`
	Withdrawals     *[]withdrawal `json:"withdrawals"`
	BlobGasUsed     *uint64       `json:"blob_gas_used"`
	ExcessBlobGas   *uint64       `json:"excess_blob_gas"`
	WithdrawalsRoot *string       `json:"withdrawals_root"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "fsmoracle: "+format+"\n", args...)
	os.Exit(1)
}

func emit(value any) {
	out, err := json.Marshal(value)
	if err != nil {
		fail("encoding the result: %v", err)
	}
	os.Stdout.Write(append(out, '\n'))
}

func readInput(into any) {
	if err := json.NewDecoder(os.Stdin).Decode(into); err != nil {
		fail("reading stdin: %v", err)
	}
}

func unhex(field, text string, size int) ([]byte, error) {
	raw, err := hex.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if size >= 0 && len(raw) != size {
		return nil, fmt.Errorf("%s: %d bytes, expected %d", field, len(raw), size)
	}
	return raw, nil
}

func errText(err error) any {
	if err == nil {
		return nil
	}
	return err.Error()
}

// ----------------------------------------------------------------------------------------------------------------
// spec <-> eth.ExecutionPayloadEnvelope
// ----------------------------------------------------------------------------------------------------------------

type fixedField struct {
	name string
	text string
	dest []byte
}

func fromSpec(s spec) (*eth.ExecutionPayloadEnvelope, error) {
	p := &eth.ExecutionPayload{
		BlockNumber: eth.Uint64Quantity(s.BlockNumber), GasLimit: eth.Uint64Quantity(s.GasLimit),
		GasUsed: eth.Uint64Quantity(s.GasUsed), Timestamp: eth.Uint64Quantity(s.Timestamp),
	}
	beacon := common.Hash{}
	for _, f := range []fixedField{
		{"beacon_root", s.BeaconRoot, beacon[:]}, {"parent_hash", s.ParentHash, p.ParentHash[:]},
		{"fee_recipient", s.FeeRecipient, p.FeeRecipient[:]}, {"state_root", s.StateRoot, p.StateRoot[:]},
		{"receipts_root", s.ReceiptsRoot, p.ReceiptsRoot[:]}, {"logs_bloom", s.LogsBloom, p.LogsBloom[:]},
		{"prev_randao", s.PrevRandao, p.PrevRandao[:]}, {"block_hash", s.BlockHash, p.BlockHash[:]},
	} {
		raw, err := unhex(f.name, f.text, len(f.dest))
		if err != nil {
			return nil, err
		}
		copy(f.dest, raw)
	}
	extra, err := unhex("extra_data", s.ExtraData, -1)
	if err != nil {
		return nil, err
	}
	p.ExtraData = extra
	fee, err := unhex("base_fee", s.BaseFee, 32)
	if err != nil {
		return nil, err
	}
	p.BaseFeePerGas = eth.Uint256Quantity(*new(uint256.Int).SetBytes32(fee))
	p.Transactions = make([]eth.Data, 0, len(s.Transactions))
	for i, tx := range s.Transactions {
		raw, err := unhex("transaction "+strconv.Itoa(i), tx, -1)
		if err != nil {
			return nil, err
		}
		p.Transactions = append(p.Transactions, raw)
	}
	if s.Withdrawals != nil {
		list := types.Withdrawals{}
		for i, w := range *s.Withdrawals {
			address, err := unhex("withdrawal "+strconv.Itoa(i)+" address", w.Address, 20)
			if err != nil {
				return nil, err
			}
			list = append(list, &types.Withdrawal{Index: w.Index, Validator: w.Validator,
				Address: common.BytesToAddress(address), Amount: w.Amount})
		}
		p.Withdrawals = &list
	}
	if s.BlobGasUsed != nil {
		value := eth.Uint64Quantity(*s.BlobGasUsed)
		p.BlobGasUsed = &value
	}
	if s.ExcessBlobGas != nil {
		value := eth.Uint64Quantity(*s.ExcessBlobGas)
		p.ExcessBlobGas = &value
	}
	if s.WithdrawalsRoot != nil {
		raw, err := unhex("withdrawals_root", *s.WithdrawalsRoot, 32)
		if err != nil {
			return nil, err
		}
		root := common.BytesToHash(raw)
		p.WithdrawalsRoot = &root
	}
	return &eth.ExecutionPayloadEnvelope{ParentBeaconBlockRoot: &beacon, ExecutionPayload: p}, nil
}

func toSpec(e *eth.ExecutionPayloadEnvelope) spec {
	p := e.ExecutionPayload
	fee := (*uint256.Int)(&p.BaseFeePerGas).Bytes32()
	s := spec{
		BeaconRoot: hex.EncodeToString(e.ParentBeaconBlockRoot[:]), ParentHash: hex.EncodeToString(p.ParentHash[:]),
		FeeRecipient: hex.EncodeToString(p.FeeRecipient[:]), StateRoot: hex.EncodeToString(p.StateRoot[:]),
		ReceiptsRoot: hex.EncodeToString(p.ReceiptsRoot[:]), LogsBloom: hex.EncodeToString(p.LogsBloom[:]),
		PrevRandao: hex.EncodeToString(p.PrevRandao[:]), BlockNumber: uint64(p.BlockNumber),
		GasLimit: uint64(p.GasLimit), GasUsed: uint64(p.GasUsed), Timestamp: uint64(p.Timestamp),
		ExtraData: hex.EncodeToString(p.ExtraData), BaseFee: hex.EncodeToString(fee[:]),
		BlockHash: hex.EncodeToString(p.BlockHash[:]), Transactions: []string{},
	}
	for _, tx := range p.Transactions {
		s.Transactions = append(s.Transactions, hex.EncodeToString(tx))
	}
	if p.Withdrawals != nil {
		list := []withdrawal{}
		for _, w := range *p.Withdrawals {
			list = append(list, withdrawal{w.Index, w.Validator, hex.EncodeToString(w.Address[:]), w.Amount})
		}
		s.Withdrawals = &list
	}
	if p.BlobGasUsed != nil {
		value := uint64(*p.BlobGasUsed)
		s.BlobGasUsed = &value
	}
	if p.ExcessBlobGas != nil {
		value := uint64(*p.ExcessBlobGas)
		s.ExcessBlobGas = &value
	}
	if p.WithdrawalsRoot != nil {
		root := hex.EncodeToString(p.WithdrawalsRoot[:])
		s.WithdrawalsRoot = &root
	}
	return s
}

// ----------------------------------------------------------------------------------------------------------------
// envelope, decode
// ----------------------------------------------------------------------------------------------------------------

func cmdEnvelope() {
	var specs []spec
	readInput(&specs)
	results := []map[string]any{}
	for _, s := range specs {
		envelope, err := fromSpec(s)
		if err != nil {
			fail("%v", err)
		}
		var buf bytes.Buffer
		if _, err := envelope.MarshalSSZ(&buf); err != nil {
			results = append(results, map[string]any{"error": err.Error()})
			continue
		}
		results = append(results, map[string]any{"ssz": hex.EncodeToString(buf.Bytes())})
	}
	emit(map[string]any{"results": results})
}

// memorySink is a raft.SnapshotSink keeping what Persist writes.
type memorySink struct {
	bytes.Buffer
	cancelled bool
}

func (m *memorySink) ID() string     { return "memory" }
func (m *memorySink) Cancel() error  { m.cancelled = true; return nil }
func (m *memorySink) Close() error   { return nil }
func (m *memorySink) String() string { return "memory sink" }

func newFSM() raft.FSM {
	return consensus.NewUnsafeHeadTracker(log.NewLogger(log.DiscardHandler()))
}

type headTracker interface {
	raft.FSM
	UnsafeHead() *eth.ExecutionPayloadEnvelope
}

func persisted(fsm raft.FSM) (string, error) {
	snapshot, err := fsm.Snapshot()
	if err != nil {
		return "", err
	}
	sink := &memorySink{}
	if err := snapshot.Persist(sink); err != nil {
		return "", err
	}
	return hex.EncodeToString(sink.Bytes()), nil
}

func decodeOne(data []byte) map[string]any {
	versions := map[string]any{}
	for number, version := range []eth.BlockVersion{eth.BlockV1, eth.BlockV2, eth.BlockV3, eth.BlockV4} {
		envelope := &eth.ExecutionPayloadEnvelope{}
		err := envelope.UnmarshalSSZ(version, uint32(len(data)), bytes.NewReader(data))
		versions[strconv.Itoa(number+1)] = errText(err)
	}
	result := map[string]any{"versions": versions, "head": nil, "persisted": nil}
	fsm := newFSM()
	result["apply"] = errText(asError(fsm.Apply(&raft.Log{Index: 1, Term: 1, Type: raft.LogCommand, Data: data})))
	if head := fsm.(headTracker).UnsafeHead(); head != nil {
		result["head"] = toSpec(head)
		bytesOut, err := persisted(fsm)
		if err != nil {
			result["persist_error"] = err.Error()
		} else {
			result["persisted"] = bytesOut
		}
	}
	result["restore"] = errText(newFSM().Restore(io.NopCloser(bytes.NewReader(data))))
	return result
}

func asError(value any) error {
	if err, ok := value.(error); ok {
		return err
	}
	return nil
}

func cmdDecode() {
	var inputs []string
	readInput(&inputs)
	results := []map[string]any{}
	for i, text := range inputs {
		data, err := unhex("input "+strconv.Itoa(i), text, -1)
		if err != nil {
			fail("%v", err)
		}
		results = append(results, decodeOne(data))
	}
	emit(map[string]any{"results": results})
}

// ----------------------------------------------------------------------------------------------------------------
// head, node
// ----------------------------------------------------------------------------------------------------------------

type stores = nodestore.Stores

// openStores opens a node directory exactly as op-conductor does (internal/nodestore).
func openStores(dir string) (*stores, error) {
	return nodestore.Open(dir, io.Discard)
}

type replay struct {
	Head      map[string]any `json:"head"`
	LastIndex uint64         `json:"last_index"`
	LastTerm  uint64         `json:"last_term"`
	Snapshot  any            `json:"snapshot"`
	Skipped   []uint64       `json:"skipped"`
	Error     any            `json:"error"`
	Recover   any            `json:"recover,omitempty"`
}

func headOf(envelope *eth.ExecutionPayloadEnvelope, index, term uint64, source string) map[string]any {
	return map[string]any{"block_number": uint64(envelope.ExecutionPayload.BlockNumber),
		"block_hash": envelope.ExecutionPayload.BlockHash.Hex(), "index": index, "term": term, "source": source}
}

// restoreNewest is RecoverCluster's snapshot loop (raft api.go), with the FSM's head recorded.
func restoreNewest(s *stores, fsm headTracker, out *replay) (uint64, uint64, error) {
	snapshots, err := s.Snaps.List()
	if err != nil {
		return 0, 0, fmt.Errorf("failed to list snapshots: %v", err)
	}
	for _, snapshot := range snapshots {
		_, source, err := s.Snaps.Open(snapshot.ID)
		if err != nil {
			continue
		}
		err = fsm.Restore(source)
		source.Close()
		if err != nil {
			continue
		}
		out.Snapshot = snapshot.ID
		out.Head = headOf(fsm.UnsafeHead(), snapshot.Index, snapshot.Term, "snapshot")
		return snapshot.Index, snapshot.Term, nil
	}
	if len(snapshots) > 0 {
		return 0, 0, errors.New("failed to restore any of the available snapshots")
	}
	return 0, 0, nil
}

// applyLog is RecoverCluster's log loop: every index after the snapshot up to LastIndex.
func applyLog(s *stores, fsm headTracker, out *replay) error {
	lastLogIndex, err := s.Logs.LastIndex()
	if err != nil {
		return fmt.Errorf("failed to find last log: %v", err)
	}
	for index := out.LastIndex + 1; index <= lastLogIndex; index++ {
		var entry raft.Log
		if err := s.Logs.GetLog(index, &entry); err != nil {
			return fmt.Errorf("failed to get log at index %d: %v", index, err)
		}
		if entry.Type == raft.LogCommand {
			before := fsm.UnsafeHead()
			if asError(fsm.Apply(&entry)) != nil {
				out.Skipped = append(out.Skipped, entry.Index)
			} else if after := fsm.UnsafeHead(); after != before {
				out.Head = headOf(after, entry.Index, entry.Term, "log")
			}
		}
		out.LastIndex, out.LastTerm = entry.Index, entry.Term
	}
	return nil
}

func cmdHead(dir string, recoverToo bool) {
	s, err := openStores(dir)
	if err != nil {
		fail("%v", err)
	}
	out := &replay{Skipped: []uint64{}}
	fsm := newFSM().(headTracker)
	index, term, err := restoreNewest(s, fsm, out)
	out.LastIndex, out.LastTerm = index, term
	if err == nil {
		err = applyLog(s, fsm, out)
	}
	out.Error = errText(err)
	if recoverToo {
		out.Recover = runRecover(s)
	}
	s.Close()
	emit(out)
}

// runRecover runs raft.RecoverCluster itself with a fresh FSM; it panics in Persist on an empty FSM.
func runRecover(s *stores) (result map[string]any) {
	fsm := newFSM().(headTracker)
	defer func() {
		if r := recover(); r != nil {
			result = map[string]any{"panic": fmt.Sprint(r)}
		}
	}()
	conf := raft.DefaultConfig()
	conf.LocalID = "fsmoracle"
	conf.LogOutput = io.Discard
	_, trans := raft.NewInmemTransport("127.0.0.1:1")
	configuration := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: "fsmoracle",
		Address: "127.0.0.1:1"}}}
	if err := raft.RecoverCluster(conf, fsm, s.Logs, s.Stable, s.Snaps, trans, configuration); err != nil {
		return map[string]any{"error": err.Error()}
	}
	head := fsm.UnsafeHead()
	return map[string]any{"block_number": uint64(head.ExecutionPayload.BlockNumber),
		"block_hash": head.ExecutionPayload.BlockHash.Hex()}
}

type nodeSpec struct {
	Entries []struct {
		Index uint64 `json:"index"`
		Term  uint64 `json:"term"`
		Type  uint8  `json:"type"`
		Data  string `json:"data"`
	} `json:"entries"`
	Snapshot *struct {
		Index uint64 `json:"index"`
		Term  uint64 `json:"term"`
		State string `json:"state"`
	} `json:"snapshot"`
	Servers []struct {
		ID      string `json:"id"`
		Address string `json:"address"`
	} `json:"servers"`
}

func cmdNode(dir string) {
	var n nodeSpec
	readInput(&n)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail("%v", err)
	}
	s, err := openStores(dir)
	if err != nil {
		fail("%v", err)
	}
	defer s.Close()
	logs := []*raft.Log{}
	for _, e := range n.Entries {
		data, err := unhex("entry "+strconv.FormatUint(e.Index, 10), e.Data, -1)
		if err != nil {
			fail("%v", err)
		}
		logs = append(logs, &raft.Log{Index: e.Index, Term: e.Term, Type: raft.LogType(e.Type), Data: data})
	}
	if len(logs) > 0 {
		if err := s.Logs.StoreLogs(logs); err != nil {
			fail("StoreLogs: %v", err)
		}
	}
	if n.Snapshot != nil {
		writeSnapshot(s, n)
	}
	emit(map[string]any{"ok": true})
}

func writeSnapshot(s *stores, n nodeSpec) {
	configuration := raft.Configuration{}
	for _, server := range n.Servers {
		configuration.Servers = append(configuration.Servers, raft.Server{Suffrage: raft.Voter,
			ID: raft.ServerID(server.ID), Address: raft.ServerAddress(server.Address)})
	}
	state, err := unhex("snapshot state", n.Snapshot.State, -1)
	if err != nil {
		fail("%v", err)
	}
	_, trans := raft.NewInmemTransport("127.0.0.1:1")
	sink, err := s.Snaps.Create(1, n.Snapshot.Index, n.Snapshot.Term, configuration, 1, trans)
	if err != nil {
		fail("snapshot: %v", err)
	}
	if _, err := sink.Write(state); err != nil {
		fail("snapshot: %v", err)
	}
	if err := sink.Close(); err != nil {
		fail("snapshot: %v", err)
	}
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: fsmoracle envelope|decode|head DIR [--recover]|node DIR")
	}
	switch os.Args[1] {
	case "envelope":
		cmdEnvelope()
	case "decode":
		cmdDecode()
	case "head":
		if len(os.Args) < 3 {
			fail("usage: fsmoracle head DIR [--recover]")
		}
		cmdHead(os.Args[2], len(os.Args) > 3 && os.Args[3] == "--recover")
	case "node":
		if len(os.Args) != 3 {
			fail("usage: fsmoracle node DIR")
		}
		cmdNode(os.Args[2])
	default:
		fail("unknown verb %q", os.Args[1])
	}
}
