package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// On SQLite, the frames a commit appends to the write-ahead log are copied
// into the database file by checkpoints. SQLite's own (wal_autocheckpoint)
// runs inside the commit that takes the log past its threshold, on the
// committing connection: on aggregation's one writer, a checkpoint after
// nearly every batch, 6% of aggregation's time in the realistic world. The
// checkpointer runs them on a connection of its own instead, on another
// core, after commits that write rollups (at most four times a second) and
// every second: PASSIVE checkpoints, which neither wait for nor block the
// writer or readers.
//
// The log restarts from its beginning only when a write begins with every
// frame copied, which a checkpointer running beside a busy writer rarely
// sees; so the writer keeps SQLite's own checkpoint at a higher threshold
// (walAutoCheckpointPages), where it copies what is left (most frames are
// copied by then) and the log restarts. The log is therefore bounded by
// that threshold plus one transaction, as before by the default's.

// walAutoCheckpointPages is the writer's own checkpoint threshold: 64 MiB
// of 4 KiB pages (SQLite's default is 1,000 pages).
const walAutoCheckpointPages = 16384

// checkpointEvery is how often the checkpointer runs without being asked,
// and checkpointGap the least time between two checkpoints: a checkpoint
// syncs the database file, and single events commit small batches many
// times a second.
const (
	checkpointEvery = time.Second
	checkpointGap   = 250 * time.Millisecond
)

type checkpointer struct {
	db   *sql.DB
	kick chan struct{}
	stop context.CancelFunc
	wg   sync.WaitGroup
	// mu is held through each checkpoint, by the checkpointer and by
	// Store.Purge: SQLite runs one checkpoint at a time and answers a
	// second, at once, with SQLITE_BUSY (no busy handler waits for it), so
	// Purge's TRUNCATE checkpoint beside the checkpointer's failed.
	mu sync.Mutex
	// durable is told, after a checkpoint that copied every frame, the
	// highest of aggregation's checkpoints committed before it: the
	// database file, synced by that checkpoint, holds it through a power
	// failure (history_db.go).
	durable func(seq uint64)
}

// startCheckpointer opens a connection to the database at dsn and starts
// checkpointing through it.
func startCheckpointer(dsn string, durable func(seq uint64)) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	ctx, stop := context.WithCancel(context.Background())
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), stop: stop, durable: durable}
	c.wg.Add(1)
	go c.run(ctx)
	return c, nil
}

func (c *checkpointer) run(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-t.C:
		}
		if wait := checkpointGap - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		// A failure (the disk full, the database closing) is retried at
		// the next turn; the writer's own checkpoint remains meanwhile.
		_ = c.checkpoint(ctx)
	}
}

// checkpoint runs one PASSIVE checkpoint.
func (c *checkpointer) checkpoint(ctx context.Context) error {
	return c.exclusive(func() error {
		// Where aggregation's commits are before the checkpoint (an error:
		// the table is not made yet, or the database is closing).
		var seq int64
		seqErr := c.db.QueryRowContext(ctx, highestCheckpoint).Scan(&seq)
		var busy, frames, copied int
		if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
			return err
		}
		if seqErr == nil && busy == 0 && frames == copied && c.durable != nil {
			c.durable(uint64(seq))
		}
		return nil
	})
}

// exclusive runs fn while no other checkpoint of the checkpointer's or
// Purge's runs.
func (c *checkpointer) exclusive(fn func() error) error {
	if c == nil {
		return fn()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return fn()
}

// poke asks for a checkpoint soon, without waiting for it.
func (c *checkpointer) poke() {
	if c == nil {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() error {
	if c == nil {
		return nil
	}
	c.stop()
	c.wg.Wait()
	return c.db.Close()
}
