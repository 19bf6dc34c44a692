package store

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// readStmts keeps the read pool's statements prepared (SQLite only). The
// driver compiles every query it is given afresh, and a video's report
// runs a dozen small ones: compiling them was about a third of the
// report's CPU in the realistic world (docs/PERFORMANCE.md, "Reads'
// statements kept prepared").
//
// A query not kept yet runs unprepared, as before, and is noted; a
// goroutine of its own then prepares the noted queries on the pool. It
// must not be the reader's goroutine: a reader may hold one of the pool's
// connections (a read transaction) while it queries, and preparing takes
// one, so with every connection held that way it would wait forever.
// database/sql prepares a kept statement again on each connection it runs
// on, once, and keeps it there; a statement evicted while a query runs it
// is closed once that query is done.
type readStmts struct {
	cache *stmtCache

	mu      sync.Mutex
	closed  bool
	running bool
	wg      sync.WaitGroup
	// again says more queries were noted while the goroutine ran.
	again atomic.Bool
}

// readStmtBytes bounds the kept read statements by their text: each is
// compiled on up to the pool's eight connections, at about 35 bytes of
// memory per byte of text (stmtCacheBytes), so 64 KiB of text is at most
// about 18 MiB. A report's queries are a few hundred bytes each, the
// longest (200 ids in a list) about 1 KiB: every route's fit.
const readStmtBytes = 64 << 10

func newReadStmts(db *sql.DB, maxBytes int) *readStmts {
	return &readStmts{cache: newStmtCache(db, maxBytes)}
}

// get returns q's kept statement, or nil after noting q to be prepared.
// It is safe on a nil *readStmts (PostgreSQL), which keeps nothing.
func (r *readStmts) get(q string) *sql.Stmt {
	if r == nil {
		return nil
	}
	if st := r.cache.get(q); st != nil {
		return st
	}
	r.again.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.running {
		return nil
	}
	r.running = true
	r.wg.Add(1)
	go r.prepare()
	return nil
}

// prepare prepares what was noted until nothing more was.
func (r *readStmts) prepare() {
	defer r.wg.Done()
	for {
		r.again.Store(false)
		r.cache.prepareWanted(context.Background())
		r.mu.Lock()
		if r.closed || !r.again.Load() {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
	}
}

// compiles is how many statements were prepared to be kept.
func (r *readStmts) compiles() int64 { return r.cache.compiles.Load() }

// close waits for the preparing goroutine and closes the kept statements.
func (r *readStmts) close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
	r.cache.close()
}

// queryRead runs q on the read pool, through its kept statement if it has
// one.
func (s *Store) queryRead(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = s.Rebind(q)
	if st := s.readStmts.get(q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.read.QueryContext(ctx, q, args...)
}

// queryReadRow is queryRead for one row.
func (s *Store) queryReadRow(ctx context.Context, q string, args ...any) *sql.Row {
	q = s.Rebind(q)
	if st := s.readStmts.get(q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.read.QueryRowContext(ctx, q, args...)
}
