package store

import (
	"context"
	"database/sql"
	"sync"
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
	// kick wakes the preparing goroutine; it holds at most one wake-up,
	// so a query noted while one is pending is prepared by that one.
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once // close may be called again (Store.Close twice)
}

// readStmtBytes bounds the kept read statements by their text: each is
// compiled on up to the pool's readConns connections, at about 35 bytes of
// memory per byte of text (stmtCacheBytes), so 64 KiB of text is at most
// about 18 MiB. A report's queries are a few hundred bytes each, the
// longest (200 ids in a list) about 1 KiB: every route's fit.
const readStmtBytes = 64 << 10

// readConns is the SQLite read pool's size; all of them stay open once
// opened, so their page caches and prepared statements are kept.
const readConns = 8

func newReadStmts(db *sql.DB, maxBytes int) *readStmts {
	r := &readStmts{cache: newStmtCache(db, maxBytes), kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
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
	select {
	case r.kick <- struct{}{}:
	default: // a wake-up is pending; it prepares q too
	}
	return nil
}

// run prepares the noted queries each time it is woken, until close.
func (r *readStmts) run() {
	defer close(r.done)
	for {
		select {
		case <-r.stop:
			return
		case <-r.kick:
			r.cache.prepareWanted(context.Background())
		}
	}
}

// close stops the preparing goroutine and closes the kept statements.
func (r *readStmts) close() {
	if r == nil {
		return
	}
	r.once.Do(func() {
		close(r.stop)
		<-r.done
		r.cache.close()
	})
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
