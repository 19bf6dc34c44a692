package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"
)

// readCompiles is how many read statements were prepared to be kept.
func readCompiles(s *Store) int64 { return s.readStmts.cache.compiles.Load() }

// waitCompiles waits until the read statements compiled reach want.
func waitCompiles(t *testing.T, s *Store, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for readCompiles(s) < want {
		if time.Now().After(deadline) {
			t.Fatalf("read statements compiled: %d, want %d", readCompiles(s), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReadStmts checks that the read pool's queries, through scanRows and
// through read transactions, are prepared once, in the background, and
// then run from the kept statement with the right answers.
func TestReadStmts(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, Options{Dir: t.TempDir()})
	if err := s.update(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `INSERT INTO instance_settings (name, value, updated_at) VALUES ('a', '1', 0), ('b', '2', 0)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT value FROM instance_settings WHERE name = ?`
	scan := func(name string) string {
		t.Helper()
		var got string
		if err := s.scanRows(ctx, q, []any{name}, func(r *sql.Rows) error { return r.Scan(&got) }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	inView := func(name string) string {
		t.Helper()
		var got string
		if err := s.view(ctx, func(t *tx) error { return t.queryRow(ctx, q, name).Scan(&got) }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	before := readCompiles(s)
	if got := scan("a"); got != "1" {
		t.Fatalf("first read: %q, want 1", got)
	}
	waitCompiles(t, s, before+1)
	for i := range 50 {
		name, want := "a", "1"
		if i%2 == 1 {
			name, want = "b", "2"
		}
		if got := scan(name); got != want {
			t.Fatalf("scanRows(%s) = %q, want %q", name, got, want)
		}
		if got := inView(name); got != want {
			t.Fatalf("queryRow(%s) in a view = %q, want %q", name, got, want)
		}
	}
	if got := readCompiles(s); got != before+1 {
		t.Errorf("compiled %d statements for one query, want 1", got-before)
	}
	if s.readStmts.cache.get(Rebind(s.dialect, q)) == nil {
		t.Error("the query is not kept")
	}
}

// TestReadStmts_PoolHeld checks that a reader whose query is not kept yet
// does not wait for a connection to prepare it: with every connection of
// the read pool held by a read transaction, each runs a new query, and
// the statements are prepared once the connections are given back.
func TestReadStmts_PoolHeld(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, Options{Dir: t.TempDir()})
	const conns = 8 // the read pool's size (Open)
	var held, done sync.WaitGroup
	held.Add(conns)
	release := make(chan struct{})
	errs := make(chan error, conns)
	before := readCompiles(s)
	for i := range conns {
		done.Go(func() {
			errs <- s.view(ctx, func(t *tx) error {
				held.Done()
				held.Wait() // every connection is held now
				var n int
				if err := t.queryRow(ctx, fmt.Sprintf(`SELECT %d + COUNT(*) FROM instance_settings`, i)).Scan(&n); err != nil {
					return err
				}
				<-release
				return nil
			})
		})
	}
	held.Wait()
	// Every reader has noted its query; none may be prepared while the
	// connections are held, and every reader must still finish.
	finished := make(chan struct{})
	go func() {
		close(release)
		done.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("readers holding every connection did not finish: preparing waited for a connection")
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	waitCompiles(t, s, before+conns)
}

// TestReadStmts_Bounded checks that the kept statements stay within their
// bytes, the least recently used dropped, and that a statement dropped
// while a query iterates it still gives every row.
func TestReadStmts_Bounded(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, Options{Dir: t.TempDir()})
	s.readStmts.close()
	s.readStmts = newReadStmts(s.read, 200)
	query := func(i int) string {
		return fmt.Sprintf(`SELECT %d + value FROM (SELECT 1 AS value UNION ALL SELECT 2)`, i)
	}
	sum := func(i int) (rows *sql.Rows) {
		t.Helper()
		rows, err := s.queryRead(ctx, query(i))
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	// Keep query 0, open an iteration over it, then push it out.
	sum(0).Close()
	waitCompiles(t, s, 1)
	open := sum(0)
	for i := 1; i <= 10; i++ {
		sum(i).Close()
		waitCompiles(t, s, int64(i)+1)
	}
	c := s.readStmts.cache
	c.mu.Lock()
	kept, first := c.bytes, c.byQ[query(0)] != nil
	c.mu.Unlock()
	if kept > 200 || first {
		t.Errorf("kept %d bytes of statements (bound 200), query 0 kept: %v", kept, first)
	}
	var got []int
	for open.Next() {
		var n int
		if err := open.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if err := open.Err(); err != nil {
		t.Fatal(err)
	}
	open.Close()
	if fmt.Sprint(got) != "[1 2]" {
		t.Errorf("rows of the evicted statement: %v, want [1 2]", got)
	}
}

// TestReadPoolKeepsConnections checks that every connection of the read
// pool stays open once opened: one closed when it is put back takes its
// page cache and its prepared statements with it, and the next read on a
// new one reads the working set from the file again.
func TestReadPoolKeepsConnections(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, Options{Dir: t.TempDir()})
	// readConns read transactions at once, each waiting inside until all
	// are open, so that the pool opens all its connections.
	holdAll := func() {
		var inside, release sync.WaitGroup
		inside.Add(readConns)
		release.Add(1)
		errs := make(chan error, readConns)
		for range readConns {
			go func() {
				errs <- s.view(ctx, func(t *tx) error {
					var n int
					err := t.queryRow(ctx, `SELECT count(*) FROM instance_settings`).Scan(&n)
					inside.Done()
					release.Wait()
					return err
				})
			}()
		}
		inside.Wait()
		release.Done()
		for range readConns {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	holdAll()
	holdAll()
	st := s.read.Stats()
	if st.OpenConnections != readConns || st.MaxIdleClosed != 0 || st.Idle != readConns {
		t.Errorf("read pool after two bursts of %d: %d open, %d idle, %d closed for lack of idle room; want all %d kept open",
			readConns, st.OpenConnections, st.Idle, st.MaxIdleClosed, readConns)
	}
}
