package store

import (
	"container/list"
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// stmtCache keeps aggregation's statements prepared on SQLite's one write
// connection from one transaction to the next. Compiling a multi-row
// upsert costs about as much as running it once; a large batch runs each
// statement hundreds of times and compiles it once, but the small batches
// of single events run most statements once or twice, so that compiling
// them was about a quarter of their aggregation's CPU.
//
// A statement a transaction does not find here is prepared for that
// transaction alone, as before, and its query noted; once the transaction
// has given the connection back, the noted queries are prepared on the
// pool (so on that one connection) and kept, the least recently used
// dropped beyond max. A transaction takes a kept statement with
// Tx.StmtContext, which reuses what the connection compiled. PostgreSQL
// needs none of this: its driver caches statements per connection.
type stmtCache struct {
	db  *sql.DB
	max int

	mu     sync.Mutex
	lru    *list.List // of *cachedStmt, most recently used first
	byQ    map[string]*list.Element
	wanted map[string]bool

	// compiles counts the statements compiled for aggregation's
	// transactions, kept or not (for tests and the benchmark).
	compiles atomic.Int64
}

type cachedStmt struct {
	query string
	stmt  *sql.Stmt
}

// stmtCacheMax bounds the statements kept: a statement type's whole-chunk
// form and the sizes of its last chunks that recur, for the dozen tables
// a batch writes.
const stmtCacheMax = 256

func newStmtCache(db *sql.DB, max int) *stmtCache {
	return &stmtCache{db: db, max: max, lru: list.New(), byQ: map[string]*list.Element{}, wanted: map[string]bool{}}
}

// get returns the kept statement of q, or nil after noting q to be
// prepared once the connection is free (prepareWanted).
func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.byQ[q]; e != nil {
		c.lru.MoveToFront(e)
		return e.Value.(*cachedStmt).stmt
	}
	c.wanted[q] = true
	return nil
}

// prepareWanted prepares and keeps the queries noted since the last call.
// The caller must hold no connection of the pool: preparing takes one.
// A query that fails to prepare is left out; its transactions prepare it
// themselves, and report the error there.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	if len(c.wanted) == 0 {
		c.mu.Unlock()
		return
	}
	var qs []string
	for q := range c.wanted {
		if c.byQ[q] == nil {
			qs = append(qs, q)
		}
	}
	clear(c.wanted)
	c.mu.Unlock()
	for _, q := range qs {
		st, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		c.compiles.Add(1)
		c.mu.Lock()
		if c.byQ[q] != nil {
			c.mu.Unlock()
			st.Close()
			continue
		}
		c.byQ[q] = c.lru.PushFront(&cachedStmt{query: q, stmt: st})
		var evicted []*sql.Stmt
		for c.lru.Len() > c.max {
			e := c.lru.Back()
			cs := c.lru.Remove(e).(*cachedStmt)
			delete(c.byQ, cs.query)
			evicted = append(evicted, cs.stmt)
		}
		c.mu.Unlock()
		// A transaction still running an evicted statement keeps it:
		// database/sql closes it once that transaction is done.
		for _, st := range evicted {
			st.Close()
		}
	}
}

// close closes the kept statements.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.lru.Front(); e != nil; e = e.Next() {
		e.Value.(*cachedStmt).stmt.Close()
	}
	c.lru.Init()
	clear(c.byQ)
	clear(c.wanted)
}
