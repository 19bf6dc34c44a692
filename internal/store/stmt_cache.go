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
// dropped once the kept queries' text passes maxBytes. A transaction
// takes a kept statement with Tx.StmtContext, which reuses what the
// connection compiled. PostgreSQL needs none of this: its driver caches
// statements per connection.
type stmtCache struct {
	db       *sql.DB
	maxBytes int

	mu     sync.Mutex
	bytes  int        // of the kept queries' text
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

// stmtCacheBytes bounds the statements kept by the length of their text,
// which their compiled size follows: SQLite's compiled multi-row upserts
// take about 35 bytes of memory per byte of SQL (200 statements of 1 to
// 200 rows of video_day, 1.1 MB of text, took 38 MB), so 512 KiB of text
// is about 18 MiB. A statement comes in nine sizes (rollupChunks), about
// 20 KiB of text in all for a table's upsert: the two dozen statements a
// batch runs fit.
const stmtCacheBytes = 512 << 10

func newStmtCache(db *sql.DB, maxBytes int) *stmtCache {
	return &stmtCache{db: db, maxBytes: maxBytes, lru: list.New(), byQ: map[string]*list.Element{}, wanted: map[string]bool{}}
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
		c.bytes += len(q)
		var evicted []*sql.Stmt
		for c.bytes > c.maxBytes && c.lru.Len() > 0 {
			e := c.lru.Back()
			cs := c.lru.Remove(e).(*cachedStmt)
			delete(c.byQ, cs.query)
			c.bytes -= len(cs.query)
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
	c.bytes = 0
	clear(c.byQ)
	clear(c.wanted)
}
