// The oracle CLI: `oracle <verb> [flags]`. Each verb prints exactly one JSON
// object on stdout and exits 0 when it ran; operational errors (missing file,
// lock held by another process, bad arguments) go to stderr with exit 1. A Go
// panic exits 2, the memory watchdog exits 3. []byte fields are base64.
//
//	info                        linked raft / raft-boltdb / bolt / msgpack versions
//	check FILE                  bolt tx.Check, read-only: {ok, errors, page_size, txid}
//	dump FILE                   every bucket, hex keys and values, read-only
//	read NODEDIR [--summary]    stable keys, log entries and snapshots via raft-boltdb (read-only)
//	encode < JSON               raw log values as stored by raft-boltdb, EncodeConfiguration bytes (hex)
//	write --spec F --out DIR    op-conductor-init's writes, one directory per server
//	append NODEDIR --count K    K LogCommand entries through a read-write NewBoltStore
//	cluster --node ID=DIR ...   real raft nodes on the state; elect, apply, verify (--restart, --hold)
//	grow --node ID=DIR ...      real cluster driven to large, compacted state files
//	checkmany < CASES           check + compact read of many files, one JSON line each (checkmany.go)

package core

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"time"
)

// stdout is buffered; every verb writes exactly one JSON object (two lines for
// `cluster --hold`) and flushes it explicitly.
var stdout = bufio.NewWriter(os.Stdout)

// errUsage marks command-line mistakes.
var errUsage = errors.New("usage")

type verb struct {
	run   func(e Engine, cell string, args []string) error
	usage string
}

var verbs = map[string]verb{
	"info":      {runInfo, "info"},
	"check":     {runCheck, "check FILE"},
	"dump":      {runDump, "dump FILE"},
	"read":      {runRead, "read NODEDIR [--summary]"},
	"verify":    {runVerify, "verify NODEDIR"},
	"encode":    {runEncode, "encode < {\"logs\": [...], \"configurations\": [...]}"},
	"write":     {runWrite, "write --spec SPEC.json --out DIR"},
	"append":    {runAppend, "append NODEDIR --count K [--size BYTES]"},
	"cluster":   {runCluster, "cluster --node ID=DIR ... [--apply K] [--restart] [--timeout S] [--hold S] [--snapshot-threshold N] [--snapshot-interval DUR] [--trailing-logs N] [--log-level L]"},
	"checkmany": {runCheckMany, "checkmany < lines of FILE[<TAB>NODEDIR]"},
	"grow":      {runGrow, "grow --node ID=DIR ... --entries N --size BYTES [--snapshot-every N] [--snapshot-threshold N] [--trailing-logs N] [--timeout S] [--log-level L]"},
}

// Main runs the oracle CLI for one matrix cell and exits.
func Main(cell string, e Engine) {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	v, ok := verbs[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "oracle: unknown verb %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	memoryWatchdog()
	err := v.run(e, cell, os.Args[2:])
	if ferr := stdout.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "oracle %s: %v\n", os.Args[1], err)
		if errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "usage: oracle %s\n", v.usage)
		}
		os.Exit(1)
	}
}

// memoryWatchdog aborts the process (exit 3, message on stderr) when the heap
// outgrows ORACLE_MEMORY_LIMIT_MB (default 1024). Needed because the engines'
// Check does not survive every corruption gracefully: a page header claiming
// overflow=0xFFFFFFFF makes boltdb 1.3.1 and bbolt 1.3.5 fill a map with ~4e9
// page ids until the machine runs out of memory.
func memoryWatchdog() {
	limitMB := uint64(1024)
	if v, err := strconv.ParseUint(os.Getenv("ORACLE_MEMORY_LIMIT_MB"), 10, 64); err == nil && v > 0 {
		limitMB = v
	}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		for range time.Tick(20 * time.Millisecond) {
			metrics.Read(sample)
			if used := sample[0].Value.Uint64(); used > limitMB<<20 {
				fmt.Fprintf(os.Stderr, "oracle %s: aborted: heap of %d MiB exceeds ORACLE_MEMORY_LIMIT_MB=%d\n", os.Args[1], used>>20, limitMB)
				os.Exit(3)
			}
		}
	}()
}

// maxErrors bounds the error list of `check`; a badly damaged file can yield
// an error per page id.
const maxErrors = 1000

// CollectErrors drains a bolt Check channel (to its end, so the check
// finishes) and keeps the first maxErrors messages.
func CollectErrors(ch <-chan error) []string {
	out := []string{}
	n := 0
	for err := range ch {
		if n++; n <= maxErrors {
			out = append(out, err.Error())
		}
	}
	if n > maxErrors {
		out = append(out, fmt.Sprintf("... and %d more errors", n-maxErrors))
	}
	return out
}

func usage() {
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(os.Stderr, "usage: oracle <verb> [flags]")
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  oracle %s\n", verbs[n].usage)
	}
}

// emit writes one JSON object as one line and flushes, so that a reader can
// consume line by line (needed for `cluster --hold`).
func emit(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	stdout.Write(b)
	stdout.WriteByte('\n')
	return stdout.Flush()
}

// parseVerb parses a verb's arguments and returns its positional ones, of
// which there must be exactly n. The flags declared on fs (nil: the verb has
// none) may stand before or after the positionals (Go's flag package stops at
// the first positional); every mistake is an errUsage.
func parseVerb(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	if fs == nil {
		fs = flag.NewFlagSet("", flag.ContinueOnError)
	}
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != n {
		return nil, fmt.Errorf("%w: want %d positional argument(s), got %d", errUsage, n, len(pos))
	}
	return pos, nil
}

// mustExist refuses to let a library create a file that should already exist.
func mustExist(path string, dir bool) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() != dir {
		return fmt.Errorf("%s: unexpected file type %v", path, st.Mode().Type())
	}
	return nil
}

func runInfo(_ Engine, cell string, args []string) error {
	if _, err := parseVerb(nil, args, 0); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return errors.New("no build info in binary")
	}
	mods := map[string]string{}
	for _, d := range bi.Deps {
		if strings.HasPrefix(d.Path, "opstack.conductor/") ||
			!strings.Contains(d.Path, "raft") && !strings.Contains(d.Path, "bolt") && !strings.Contains(d.Path, "msgpack") {
			continue
		}
		if d.Replace != nil { // never expected for the libraries under test
			mods[d.Path] = d.Version + " => " + d.Replace.Path + " " + d.Replace.Version
			continue
		}
		mods[d.Path] = d.Version
	}
	return emit(map[string]any{"cell": cell, "go": bi.GoVersion, "modules": mods})
}

func runCheck(e Engine, _ string, args []string) error {
	pos, err := parseVerb(nil, args, 1)
	if err != nil {
		return err
	}
	if err := mustExist(pos[0], false); err != nil {
		return err
	}
	res, err := e.Check(pos[0])
	if err != nil {
		return err
	}
	if res.Errors == nil {
		res.Errors = []string{}
	}
	return emit(res)
}

func runDump(e Engine, _ string, args []string) error {
	pos, err := parseVerb(nil, args, 1)
	if err != nil {
		return err
	}
	if err := mustExist(pos[0], false); err != nil {
		return err
	}
	res, err := e.Dump(pos[0])
	if err != nil {
		return err
	}
	return emit(res)
}
