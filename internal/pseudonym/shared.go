package pseudonym

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"syscall"
)

// LockFile is the name of the file in the secrets directory that processes
// sharing the directory lock while they change the secrets files.
const LockFile = "secrets.lock"

// Several processes may share one secrets directory (scale-out: every
// process must compute the same viewer-day pseudonyms, or one viewer seen
// by two processes counts twice). Every change of the files — creating the
// key at first start, creating a day's salt, recording its use, closing
// days — therefore happens under an exclusive lock on LockFile, after
// reading the salts file again and merging what other processes wrote:
// the first salt written for a day is the day's salt for everyone, a day
// closed by anyone is closed for everyone, and the latest use counts.
// Reads of salts already in memory take no lock and touch no file.

// withDirLock runs fn holding the exclusive lock of dir's LockFile.
func withDirLock(dir string, fn func() error) error {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock secrets: %w", err)
	}
	defer f.Close() // closing the descriptor releases the lock
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("lock secrets: %w", err)
	}
	return fn()
}

// syncLocked merges the salts file into p's salts and closed days. p.mu
// must be held for writing and the directory lock held.
func (p *Pseudonymizer) syncLocked() error {
	fileSalts, fileClosed, _, err := loadSalts(p.dir)
	if err != nil {
		return err
	}
	salts := maps.Clone(p.salts)
	closed := maps.Clone(p.closed)
	var wipe []*daySalt
	for dayKey := range fileClosed {
		closed[dayKey] = true
		if ds := salts[dayKey]; ds != nil {
			wipe = append(wipe, ds)
			delete(salts, dayKey)
		}
	}
	for dayKey, fds := range fileSalts {
		ds := salts[dayKey]
		switch {
		case ds == nil:
			salts[dayKey] = fds
		case !bytes.Equal(*ds.salt, *fds.salt):
			// Another process wrote the day first; its salt is the day's.
			wipe = append(wipe, ds)
			fds.used.Store(max(fds.used.Load(), ds.used.Load()))
			salts[dayKey] = fds
		default:
			if u := fds.used.Load(); u > ds.used.Load() {
				ds.used.Store(u)
			}
		}
	}
	p.salts, p.closed = salts, closed
	for _, ds := range wipe {
		// No reader holds it: p.mu is held for writing.
		clear(*ds.salt)
		ds.mac.wipe()
	}
	return nil
}
