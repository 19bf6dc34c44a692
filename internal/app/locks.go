package app

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/dirlock"
)

// Locks are the directories a process holds: the data dir, for itself,
// and the secrets dir when it lies outside the data dir. Every command
// that writes to a data dir takes them before it opens anything else, so a
// second process on the same data dir stops at once and touches nothing:
// two servers on one SQLite database and one embedded event log each
// acknowledged events the other one lost.
//
// A secrets dir outside the data dir is shared by the processes of a
// scale-out deployment on purpose (one pseudonym key everywhere), so they
// hold it shared; crowd keys rotate holds it alone, and is refused while
// any process uses it (stop the servers, rotate, start them: a running
// server reads the keyring only at start).
type Locks struct {
	data, secrets *dirlock.Lock
}

// LockDirs takes the data dir, and shares the secrets dir when it is
// elsewhere. When another process holds either it fails at once with an
// error naming that process's pid.
func LockDirs(c config.Config) (*Locks, error) { return lockDirs(c, false) }

// LockDirsToRotate takes the data dir and the secrets dir, both for this
// process alone: for rotating keys.
func LockDirsToRotate(c config.Config) (*Locks, error) { return lockDirs(c, true) }

func lockDirs(c config.Config, rotate bool) (*Locks, error) {
	l, err := LockDataDir(c)
	if err != nil {
		return nil, err
	}
	if secrets := c.Secrets(); !within(secrets, c.Data) {
		acquire := dirlock.AcquireShared
		if rotate {
			acquire = dirlock.Acquire
		}
		if l.secrets, err = acquire(secrets); err != nil {
			l.Release()
			return nil, inUse("secrets dir", err)
		}
	}
	return l, nil
}

// LockDataDir takes the data dir only (for commands that use no secrets).
func LockDataDir(c config.Config) (*Locks, error) {
	data, err := dirlock.Acquire(c.Data)
	if err != nil {
		return nil, inUse("data dir", err)
	}
	return &Locks{data: data}, nil
}

// Release gives the directories up.
func (l *Locks) Release() error {
	if l == nil {
		return nil
	}
	return errors.Join(l.secrets.Release(), l.data.Release())
}

func inUse(what string, err error) error {
	var held *dirlock.HeldError
	if errors.As(err, &held) {
		return fmt.Errorf("%s %w: stop that crowd process first (one process at a time per %s)", what, err, what)
	}
	return err
}

// within reports whether dir is base or lies under it.
func within(dir, base string) bool {
	d, err1 := filepath.Abs(dir)
	b, err2 := filepath.Abs(base)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(b, d)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
