package core

// checkmany: the batch form of `check` + `read` for the differential fuzzer
// (tests/reliability/). Starting a Go process per mutant and per cell would be
// most of the fuzzer's run time, so one process takes a list of cases.
//
// stdin: one case per line, "FILE" or "FILE<TAB>NODEDIR" (FILE may be empty
// when only NODEDIR is read). stdout: one JSON line per case, flushed at once:
//
//	{"i": n, "check": {ok, errors (first 5), nerrors, page_size, txid} | null,
//	 "read": {open_error} | {stable, stable_error, snapshots, snapshots_error, log_error,
//	          first, last, entries, digest, errors (first 20), nerrors, max_error_index}}
//
// Crash isolation: an engine that panics inside its own check goroutine, dies
// of SIGBUS on a short mmap, or trips the memory watchdog kills this process.
// Before each part of a case a marker line {"i": n, "begin": "check"|"read"}
// is written, so the caller knows which case and part was in flight; it
// confirms the attribution by re-running that case alone, and restarts
// checkmany on the remaining cases. Panics in this goroutine (decoders, short
// stable values) are recovered and reported per case, as `read` does.

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/raft"
)

// maxLogRange bounds the GetLog loop: a damaged key can make LastIndex huge,
// and raft itself would panic at the first missing index of such a range.
const maxLogRange = 1 << 20

// maxReadErrors bounds the per-index error list (nerrors has the full count).
const maxReadErrors = 20

type readError struct {
	Index uint64 `json:"index"`
	Error string `json:"error"`
}

func runCheckMany(e Engine, _ string, args []string) error {
	if _, err := parseVerb(nil, args, 0); err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	for i := 0; in.Scan(); i++ {
		file, dir, _ := strings.Cut(in.Text(), "\t")
		out := map[string]any{"i": i, "check": nil, "read": nil}
		if file != "" {
			if err := emit(map[string]any{"i": i, "begin": "check"}); err != nil {
				return err
			}
			out["check"] = checkOne(e, file)
		}
		if dir != "" {
			if err := emit(map[string]any{"i": i, "begin": "read"}); err != nil {
				return err
			}
			out["read"] = readCompact(e, dir)
		}
		if err := emit(out); err != nil {
			return err
		}
	}
	return in.Err()
}

func checkOne(e Engine, path string) map[string]any {
	res, err := e.Check(path)
	if err != nil { // lock timeout or a vanished file: not a verdict on the bytes
		return map[string]any{"ok": false, "operational": err.Error()}
	}
	errs := res.Errors
	if len(errs) > 5 {
		errs = errs[:5]
	}
	if errs == nil {
		errs = []string{}
	}
	return map[string]any{"ok": res.OK, "errors": errs, "nerrors": len(res.Errors), "page_size": res.PageSize, "txid": res.TxID}
}

// readCompact reads a node directory through raft-boltdb, read-only, like
// `read`, but returns a digest of the entries instead of the entries: SHA-256
// over, per readable index in order, Index and Term (8 bytes BE), Type (1),
// then len+bytes of Data and of Extensions (4-byte BE lengths). The Python
// side computes the same digest over what our reader decodes.
func readCompact(e Engine, dir string) map[string]any {
	out := map[string]any{}
	stable, err := e.OpenStoreReadOnly(filepath.Join(dir, stableDB))
	if err != nil {
		return map[string]any{"open_error": stableDB + ": " + err.Error()}
	}
	defer stable.Close()
	logs, err := e.OpenStoreReadOnly(filepath.Join(dir, logDB))
	if err != nil {
		return map[string]any{"open_error": logDB + ": " + err.Error()}
	}
	defer logs.Close()

	var stableErrs []string
	term, err := stableUint64(stable, keyCurrentTerm)
	if err != nil {
		stableErrs = append(stableErrs, err.Error())
	}
	voteTerm, err := stableUint64(stable, keyLastVoteTerm)
	if err != nil {
		stableErrs = append(stableErrs, err.Error())
	}
	cand, err := stableBytes(stable, keyLastVoteCand)
	if err != nil {
		stableErrs = append(stableErrs, err.Error())
	}
	out["stable"] = map[string]any{"CurrentTerm": term, "LastVoteTerm": voteTerm, "LastVoteCand": cand}
	out["stable_error"] = strings.Join(stableErrs, "; ")

	snaps, err := readSnapshots(dir)
	if err != nil {
		out["snapshots_error"] = err.Error()
		snaps = nil
	}
	out["snapshots"] = snaps

	first, last, err := logRange(logs)
	if err != nil {
		out["log_error"] = err.Error()
		return out
	}
	out["first"], out["last"] = first, last
	if last >= first && last-first >= maxLogRange {
		out["log_error"] = fmt.Sprintf("log range %d..%d is too large to read", first, last)
		return out
	}
	h := sha256.New()
	var buf [8]byte
	errs := []readError{}
	nerrs, entries := 0, 0
	var maxErrIndex uint64
	for i := first; i <= last && last > 0; i++ {
		var l raft.Log
		err := recovered(func() error { return logs.GetLog(i, &l) })
		if err == nil && l.Type == raft.LogConfiguration {
			if _, cerr := decodeConfiguration(l.Data); cerr != nil {
				err = fmt.Errorf("configuration: %w", cerr)
			}
		}
		if err != nil {
			maxErrIndex = i
			if nerrs++; nerrs <= maxReadErrors {
				errs = append(errs, readError{i, err.Error()})
			}
			continue
		}
		entries++
		h.Write(binary.BigEndian.AppendUint64(buf[:0], l.Index))
		h.Write(binary.BigEndian.AppendUint64(buf[:0], l.Term))
		h.Write([]byte{byte(l.Type)})
		for _, b := range [][]byte{l.Data, l.Extensions} {
			h.Write(binary.BigEndian.AppendUint32(buf[:0], uint32(len(b))))
			h.Write(b)
		}
	}
	out["entries"], out["digest"] = entries, hex.EncodeToString(h.Sum(nil))
	out["errors"], out["nerrors"], out["max_error_index"] = errs, nerrs, maxErrIndex
	return out
}
