package core

import (
	"path/filepath"

	"github.com/hashicorp/raft"
)

// runVerify is the Go side of a full verify, the baseline for our own: the
// bolt engine's Check on both files, every log entry from FirstIndex to
// LastIndex decoded through raft-boltdb (configurations through raft), the
// stable keys, and every snapshot opened (which checks its CRC). It prints
// counts only, so that output encoding does not weigh on the timing.
func runVerify(e Engine, _ string, args []string) error {
	pos, err := parseVerb(nil, args, 1)
	if err != nil {
		return err
	}
	dir := pos[0]
	problems := []string{}
	for _, f := range []string{logDB, stableDB} {
		if err := mustExist(filepath.Join(dir, f), false); err != nil {
			return err
		}
		res, err := e.Check(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		problems = append(problems, res.Errors...)
	}
	stable, err := e.OpenStoreReadOnly(filepath.Join(dir, stableDB))
	if err != nil {
		return err
	}
	defer stable.Close()
	if _, err := stableUint64(stable, keyCurrentTerm); err != nil {
		problems = append(problems, err.Error())
	}
	logs, err := e.OpenStoreReadOnly(filepath.Join(dir, logDB))
	if err != nil {
		return err
	}
	defer logs.Close()
	first, err := logs.FirstIndex()
	if err != nil {
		return err
	}
	last, err := logs.LastIndex()
	if err != nil {
		return err
	}
	entries := 0
	for i := first; i <= last && last > 0; i++ {
		var l raft.Log
		if err := recovered(func() error { return logs.GetLog(i, &l) }); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		entries++
		if l.Type == raft.LogConfiguration {
			if _, err := decodeConfiguration(l.Data); err != nil {
				problems = append(problems, err.Error())
			}
		}
	}
	snaps, err := readSnapshots(dir)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if s.Error != "" {
			problems = append(problems, s.Error)
		}
	}
	return emit(map[string]any{"ok": len(problems) == 0, "problems": problems, "entries": entries,
		"first_index": first, "last_index": last, "snapshots": len(snaps)})
}
