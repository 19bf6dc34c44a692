// Package dirlock gives a directory to one process at a time: an exclusive
// flock(2) on a lock file in it, which holds the holder's pid. The kernel
// releases the lock when the holder exits, however it exits (a crashed or
// killed server leaves no stale lock behind); the pid in the file only
// names the holder in the refusal.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// FileName is the lock file's name in a locked directory.
const FileName = "crowd.lock"

// HeldError reports a directory another process holds.
type HeldError struct {
	Dir string
	// PID is the holder's process id, 0 if it could not be read.
	PID int
}

func (e *HeldError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("%s is in use by %s (it holds %s)", e.Dir, holder, filepath.Join(e.Dir, FileName))
}

// Lock is a held directory.
type Lock struct {
	f         *os.File
	exclusive bool
}

// Acquire takes dir (creating it, mode 0700, if needed) for this process
// alone, or fails at once with a *HeldError naming the holder when another
// process has it, exclusively or shared. It never waits. Nothing else in
// dir is touched.
func Acquire(dir string) (*Lock, error) { return acquire(dir, true) }

// AcquireShared takes dir together with other shared holders: it fails
// only while a process holds dir exclusively. A shared holder writes no
// pid (there may be several).
func AcquireShared(dir string) (*Lock, error) { return acquire(dir, false) }

func acquire(dir string, exclusive bool) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, FileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b := make([]byte, 32)
			n, _ := f.ReadAt(b, 0)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
			return nil, &HeldError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if !exclusive {
		return &Lock{f: f}, nil
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: write pid: %w", dir, err)
	}
	return &Lock{f: f, exclusive: true}, nil
}

// Release gives the directory up. The lock file stays (removing it would
// let two processes lock two different files of one name).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	if l.exclusive {
		_ = l.f.Truncate(0)
	}
	err := l.f.Close()
	l.f = nil
	return err
}
