package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/platform"
)

// diskGuard keeps writes off a full disk. It watches the free space of
// the data dir's filesystem; below the reserve (--disk-reserve-mib), or
// after any write failed for want of space (SQLITE_FULL, ENOSPC from the
// event log's files), the disk is full: every write of the store and the
// event log is refused before it starts (so a refused request applies
// nothing), /readyz reports it, and the relay and aggregation retry with
// backoff. Once the space is back (above the reserve, and a probe file can
// be written and synced), it says so, re-enables the embedded event log's
// JetStream if it had disabled itself, and writes resume by themselves.
type diskGuard struct {
	dir     string
	reserve uint64
	fault   func() error
	lg      *slog.Logger
	log     atomic.Pointer[eventlog.Log]

	isFull atomic.Bool
	mu     sync.Mutex
	reason string
	wake   chan struct{}
}

// minFree is the least free space that does not count as a full disk,
// whatever the reserve.
const minFree = 1 << 20

// diskCheckEvery is how often the guard looks at the free space.
const diskCheckEvery = 250 * time.Millisecond

func newDiskGuard(dir string, reserve uint64, fault func() error, lg *slog.Logger) *diskGuard {
	return &diskGuard{dir: dir, reserve: reserve, fault: fault, lg: lg, wake: make(chan struct{}, 1)}
}

// check refuses a write while the disk is full.
func (g *diskGuard) check() error {
	if g.isFull.Load() {
		return fmt.Errorf("refuse write: %w", platform.ErrDiskFull)
	}
	return nil
}

// full returns the reason the disk is full, or "".
func (g *diskGuard) full() string {
	if !g.isFull.Load() {
		return ""
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reason
}

// report is told of a write that failed for want of space.
func (g *diskGuard) report(err error) {
	g.setFull("disk full: a write failed for want of space")
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

func (g *diskGuard) setFull(reason string) {
	g.mu.Lock()
	g.reason = reason
	g.mu.Unlock()
	if g.isFull.CompareAndSwap(false, true) {
		g.lg.Error("disk full: refusing writes until space is freed", slog.String("reason", reason), slog.String("data", g.dir))
	}
}

// run watches the free space until ctx is done.
func (g *diskGuard) run(ctx context.Context) error {
	t := time.NewTicker(diskCheckEvery)
	defer t.Stop()
	for {
		g.look(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-g.wake:
		}
	}
}

// look compares the free space with the reserve and, when the disk was
// full and has room again, probes it before letting writes resume.
func (g *diskGuard) look(ctx context.Context) {
	free, err := freeBytes(g.dir)
	if err == nil && (free < g.reserve || free < minFree) {
		g.setFull(fmt.Sprintf("disk full: %d MiB free, %d MiB reserved", free>>20, g.reserve>>20))
		return
	}
	if !g.isFull.Load() {
		return
	}
	if err := g.probe(); err != nil {
		return
	}
	if l := g.log.Load(); l != nil {
		if err := l.Recover(ctx); err != nil {
			g.lg.Warn("disk has space again but the event log does not answer yet", slog.Any("err", err))
			return
		}
	}
	g.isFull.Store(false)
	g.lg.Info("disk has space again: writes resume", slog.String("data", g.dir))
}

// probe writes and syncs a small file in the data dir.
func (g *diskGuard) probe() error {
	if g.fault != nil {
		if err := g.fault(); err != nil {
			return err
		}
	}
	path := filepath.Join(g.dir, ".space-probe")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	_, err = f.Write(make([]byte, 64<<10))
	err = errors.Join(err, f.Sync(), f.Close())
	return err
}

// freeBytes returns the bytes available to this process on dir's
// filesystem.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
