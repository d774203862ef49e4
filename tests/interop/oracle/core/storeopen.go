package core

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// ErrLocked is what Engine.NewStoreNoWait returns when another process holds
// the file's flock: the open gave up instead of waiting.
var ErrLocked = errors.New("database file is locked by another process")

// flockRetry is bbolt's (and bolt v1's) own pause between flock attempts.
const flockRetry = 50 * time.Millisecond

// LockWait is one open attempt that found the database file's flock held.
// Start and End are CLOCK_MONOTONIC seconds around the attempt, the clock
// Python's time.monotonic() reads, so a test can tell whose run held the lock.
type LockWait struct {
	File    string  `json:"file"`
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Holders []int   `json:"holders"` // PIDs /proc/locks names for the file right after the attempt
}

// monotonic is clock_gettime(CLOCK_MONOTONIC) in seconds. Go's own monotonic
// reading is not exposed as an absolute value, so ask the kernel directly.
func monotonic() float64 {
	var ts syscall.Timespec
	const clockMonotonic = 1
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		panic(fmt.Sprintf("clock_gettime(CLOCK_MONOTONIC): %v", errno))
	}
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}

// openStore opens path with raft-boltdb's default options, exactly as
// NewBoltStore does, except that a held flock is not waited for in silence:
// each attempt that finds the file locked is recorded, and the open is tried
// again after bbolt's own 50 ms pause, until timeout. A test can then count
// the waits (and see who caused them) instead of timing the open.
//
// bbolt opens the file once and retries the flock on that descriptor, so a
// rename of path while it waits does not change which file it ends up with;
// opening path again on every attempt would. So the file is opened (created,
// as bbolt would) once, and every attempt opens that same inode through
// /proc/self/fd: the file a waiting op-conductor would have kept.
func openStore(e Engine, path string, timeout time.Duration) (Store, []LockWait, error) {
	pin, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, err
	}
	defer pin.Close() // no lock is taken through pin, so closing it leaves bbolt's flock alone
	pinned := "/proc/self/fd/" + strconv.Itoa(int(pin.Fd()))
	var waits []LockWait
	deadline := time.Now().Add(timeout)
	for {
		start := monotonic()
		s, err := e.NewStoreNoWait(pinned)
		if !errors.Is(err, ErrLocked) {
			if err != nil {
				err = fmt.Errorf("%s: %w", path, err)
			}
			return s, waits, err
		}
		wait := LockWait{File: path, Start: start, End: monotonic(), Holders: flockHolders(pin)}
		waits = append(waits, wait)
		// One line per wait, so that a test holding the lock knows when to let go.
		fmt.Fprintf(os.Stderr, "lock wait: %s is locked (holders %v), retrying\n", path, wait.Holders)
		if time.Now().After(deadline) {
			return nil, waits, fmt.Errorf("%s: still locked after %d attempts: %w", path, len(waits), ErrLocked)
		}
		// bolt v1 has already paused once inside the attempt; keep bbolt's cadence either way.
		if spent := time.Duration((monotonic() - start) * float64(time.Second)); spent < flockRetry {
			time.Sleep(flockRetry - spent)
		}
	}
}

// flockHolders lists the PIDs /proc/locks shows holding a lock on f's inode
// (empty when that cannot be read: the list only explains a wait, it decides nothing).
func flockHolders(f *os.File) []int {
	var st syscall.Stat_t
	if syscall.Fstat(int(f.Fd()), &st) != nil {
		return []int{}
	}
	locks, err := os.Open("/proc/locks")
	if err != nil {
		return []int{}
	}
	defer locks.Close()
	// /proc/locks: "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (device in hex, inode in decimal);
	// blocked waiters are "1: -> FLOCK ..." and are not holders.
	suffix := ":" + strconv.FormatUint(st.Ino, 10)
	pids := []int{}
	scanner := bufio.NewScanner(locks)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 6 || fields[1] == "->" || !strings.HasSuffix(fields[5], suffix) {
			continue
		}
		if pid, err := strconv.Atoi(fields[4]); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
