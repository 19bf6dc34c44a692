package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
)

// The spill tier of aggregation's state (internal/rollup/spill.go) keeps
// entries in runs: a row of rollup_spill_runs holds up to spillRunLen(t)
// entries of one table and one period (an event id's arrival hour, a
// viewer-day's day), in key order, packed in a blob of fixed-width
// entries that a lookup searches in place. A spill step of
// thousands of entries therefore writes a few dozen rows, appended at the
// end of the table's B-tree (its key is an increasing id), where a row per
// entry was an upsert at a random place in a B-tree that grows with every
// entry: the spill cost aggregation a B-tree insert per event at the state
// limit, which is where a busy deployment lives.
//
// Looking a key up finds the runs whose key range holds it. A run's range
// [first_key, last_key] is short where entries are dense; its level is the
// bit length of its span rounded up to a multiple of spillLevelStep, so
// that a run of level L holding k has its last key in [k, k+2^L]: the
// lookup scans that window of the index (tbl, lvl, last_key) for each
// level present, a few levels in practice. A key spilled again (a
// viewer-day a batch changed after reading it back) is in a newer run too:
// the newest run (the greatest id) holds its value.
//
// Compaction deletes whole runs by period, so what is dropped is exactly
// what the row per entry dropped. Like those rows, runs are a cache of the
// journal: written in their own transactions, rebuilt at the next start if
// lost.

// spillRunBytes bounds the entries of a run: with its other columns a row
// of at most this many bytes of entries is one cell that fills a 4 KiB
// page of SQLite's B-tree (at most 4,061 bytes of payload stay in the
// page), so runs of 495 event ids or 330 viewer-days leave little of a
// page unused; finding a key in one is nine comparisons. (Runs of 256
// entries, 2–3 KiB, as runs were before, took a page each and left up to
// half of it empty, the second never fitting beside the first: 39% of
// the table's pages unused after a realistic run. Stored, they still
// read: 256 entries are within both tables' bounds.)
const spillRunBytes = 3960

// spillRunLen returns the most entries a run of table t holds.
func spillRunLen(t SpillTable) int { return spillRunBytes / spillEntryBytes(t) }

// spillLevelStep rounds the runs' levels, so that few levels exist.
const spillLevelStep = 4

// spillRunLevel returns the level of a run from first to last.
func spillRunLevel(first, last int64) int {
	l := bits.Len64(uint64(last) - uint64(first))
	return (l + spillLevelStep - 1) / spillLevelStep * spillLevelStep
}

// spillWindowEnd returns the greatest last key a run of level lvl holding
// key can have: key+2^lvl, or the greatest key where that overflows.
func spillWindowEnd(key int64, lvl int) int64 {
	if lvl >= 63 {
		return math.MaxInt64
	}
	if key > math.MaxInt64-int64(1)<<lvl {
		return math.MaxInt64
	}
	return key + int64(1)<<lvl
}

// spillEntryBytes returns the bytes of an entry of table t: its key, 8
// bytes big-endian, and for viewer-days its value, 4 more. Fixed widths
// let a lookup search a run in place, without decoding it.
func spillEntryBytes(t SpillTable) int {
	if t == ViewerSpill {
		return 12
	}
	return 8
}

// appendSpillRun appends the encoding of entries (sorted by key, distinct)
// to b.
func appendSpillRun(b []byte, t SpillTable, entries []SpillRow) []byte {
	for _, e := range entries {
		b = binary.BigEndian.AppendUint64(b, e.Key)
		if t == ViewerSpill {
			b = binary.BigEndian.AppendUint32(b, e.Val)
		}
	}
	return b
}

var errSpillRun = errors.New("malformed spill run")

// checkSpillRun reports whether b is a run of table t of n entries whose
// keys (signed) increase strictly from first to last.
func checkSpillRun(t SpillTable, first, last int64, n int, b []byte) error {
	w := spillEntryBytes(t)
	if n <= 0 || n > spillRunLen(t) || len(b) != n*w {
		return errSpillRun
	}
	prev := first
	for i := range n {
		k := int64(binary.BigEndian.Uint64(b[i*w:]))
		if (i == 0 && k != first) || (i > 0 && k <= prev) {
			return errSpillRun
		}
		prev = k
	}
	if prev != last {
		return errSpillRun
	}
	return nil
}

// decodeSpillRun checks a run (checkSpillRun) and calls fn with each of
// its keys (as stored: signed) and values, in key order.
func decodeSpillRun(t SpillTable, first, last int64, n int, b []byte, fn func(key int64, val uint32)) error {
	if err := checkSpillRun(t, first, last, n, b); err != nil {
		return err
	}
	w := spillEntryBytes(t)
	for i := range n {
		var v uint32
		if t == ViewerSpill {
			v = binary.BigEndian.Uint32(b[i*w+8:])
		}
		fn(int64(binary.BigEndian.Uint64(b[i*w:])), v)
	}
	return nil
}

// findInSpillRun returns the value of key in run b of table t, which
// checkSpillRun accepted, by binary search.
func findInSpillRun(t SpillTable, b []byte, key int64) (uint32, bool) {
	w := spillEntryBytes(t)
	n := len(b) / w
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int64(binary.BigEndian.Uint64(b[m*w:])) < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == n || int64(binary.BigEndian.Uint64(b[lo*w:])) != key {
		return 0, false
	}
	if t == ViewerSpill {
		return binary.BigEndian.Uint32(b[lo*w+8:]), true
	}
	return 0, true
}

// spillRun is a row of rollup_spill_runs to write.
type spillRun struct {
	lvl                 int
	first, last, period int64
	n                   int
	entries             []byte
}

// spillRuns cuts rows into runs: by period, then key, at most
// spillRunLen(t) entries each. rows is sorted in place. A key given twice
// in one period keeps its last row; in two periods, the later period's run
// is written after the other, so it is the newer.
func spillRuns(t SpillTable, rows []SpillRow) []spillRun {
	slices.SortStableFunc(rows, func(x, y SpillRow) int {
		return cmp.Or(cmp.Compare(x.Period, y.Period), cmp.Compare(int64(x.Key), int64(y.Key)))
	})
	n := 0
	for i := range rows {
		if n > 0 && rows[n-1].Period == rows[i].Period && rows[n-1].Key == rows[i].Key {
			n-- // the stable sort kept their order: the later one replaces it
		}
		rows[n] = rows[i]
		n++
	}
	rows = rows[:n]
	var runs []spillRun
	buf := make([]byte, 0, len(rows)*spillEntryBytes(t)) // the runs' entries, one array
	most := spillRunLen(t)
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && j-i < most && rows[j].Period == rows[i].Period {
			j++
		}
		first, last := int64(rows[i].Key), int64(rows[j-1].Key)
		start := len(buf)
		buf = appendSpillRun(buf, t, rows[i:j])
		runs = append(runs, spillRun{
			lvl: spillRunLevel(first, last), first: first, last: last, period: rows[i].Period,
			n: j - i, entries: buf[start:len(buf):len(buf)],
		})
		i = j
	}
	return runs
}

// execer runs a statement: a transaction of the store's, or of a
// migration's.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// spillInsertRuns bounds the runs one INSERT names.
const spillInsertRuns = 64

// insertSpillRuns writes runs of table t, in their order (so a later run
// gets the greater id).
func insertSpillRuns(ctx context.Context, e execer, d Dialect, t SpillTable, runs []spillRun) error {
	args := make([]any, 0, 7*min(len(runs), spillInsertRuns))
	for chunk := range slices.Chunk(runs, spillInsertRuns) {
		args = args[:0]
		for _, r := range chunk {
			args = append(args, int(t), r.lvl, r.first, r.last, r.period, r.n, r.entries)
		}
		q := `INSERT INTO rollup_spill_runs (tbl, lvl, first_key, last_key, period, n, entries) VALUES ` + rowsOf(len(chunk), 7)
		if _, err := e.ExecContext(ctx, Rebind(d, q), args...); err != nil {
			return err
		}
	}
	return nil
}

// Spill writes the rows to spill table t in one transaction whose commit
// need not survive a power failure: the spill tables are rebuilt from the
// journal. rows is sorted in place.
func (s *Store) Spill(ctx context.Context, t SpillTable, rows []SpillRow) error {
	runs := spillRuns(t, rows)
	if len(runs) == 0 {
		return nil
	}
	tx, done, err := s.BeginRebuildable(ctx)
	if err != nil {
		return err
	}
	defer done()
	defer tx.Rollback()
	if err := insertSpillRuns(ctx, tx, s.dialect, t, runs); err != nil {
		return err
	}
	return tx.Commit()
}

// SpilledCount returns the entries of spill table t (a key spilled twice
// counts twice).
func (s *Store) SpilledCount(ctx context.Context, t SpillTable) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, s.Rebind(`SELECT COALESCE(SUM(n), 0) FROM rollup_spill_runs WHERE tbl = ?`), int(t)).Scan(&n)
	return n, err
}

// SpilledKeys calls fn with every key of spill table t (a key spilled
// twice, twice).
func (s *Store) SpilledKeys(ctx context.Context, t SpillTable, fn func(key uint64)) error {
	return s.scanRows(ctx, `SELECT first_key, last_key, n, entries FROM rollup_spill_runs WHERE tbl = ?`, []any{int(t)}, func(rows *sql.Rows) error {
		var first, last int64
		var n int
		var b []byte
		if err := rows.Scan(&first, &last, &n, &b); err != nil {
			return err
		}
		return decodeSpillRun(t, first, last, n, b, func(k int64, _ uint32) { fn(uint64(k)) })
	})
}

// SpilledIDs calls fn with the arrival hour (Unix hours) of each of keys
// that the spill table of event ids holds.
func (s *Store) SpilledIDs(ctx context.Context, keys []uint64, fn func(key uint64, hour int64)) error {
	return spilledIDs(ctx, s.read, s.dialect, keys, fn)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// spillLookupChunk is how many keys one lookup in a spill table names.
const spillLookupChunk = 250

// spillLevelsQuery lists the levels of a table's runs, one index probe
// each (a loose index scan).
const spillLevelsQuery = `WITH RECURSIVE l(v) AS (
	SELECT MIN(lvl) FROM rollup_spill_runs WHERE tbl = ?
	UNION ALL
	SELECT (SELECT MIN(lvl) FROM rollup_spill_runs WHERE tbl = ? AND lvl > l.v) FROM l WHERE l.v IS NOT NULL
) SELECT v FROM l WHERE v IS NOT NULL`

// spilledEntries calls fn with the period and value of each of keys that
// spill table t holds, from its newest run holding it.
func spilledEntries(ctx context.Context, q querier, d Dialect, t SpillTable, keys []uint64, fn func(key uint64, period int64, val uint32)) error {
	if len(keys) == 0 {
		return nil
	}
	var levels []int
	rows, err := q.QueryContext(ctx, Rebind(d, spillLevelsQuery), int(t), int(t))
	if err := eachRow(rows, err, func(rows *sql.Rows) error {
		var l int
		if err := rows.Scan(&l); err != nil {
			return err
		}
		levels = append(levels, l)
		return nil
	}); err != nil {
		return fmt.Errorf("read %s: %w", t, err)
	}
	if len(levels) == 0 {
		return nil
	}
	sorted := make([]int64, len(keys))
	for i, k := range keys {
		sorted[i] = int64(k)
	}
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)

	type found struct {
		id, period int64
		val        uint32
	}
	best := map[int64]found{}
	for _, lvl := range levels {
		for chunk := range slices.Chunk(sorted, spillLookupChunk) {
			args := make([]any, 0, 2*len(chunk)+2)
			var sb strings.Builder
			sb.WriteString(`WITH k(key, hi) AS (VALUES `)
			for i, k := range chunk {
				if i == 0 {
					sb.WriteString(`(CAST(? AS BIGINT), CAST(? AS BIGINT))`)
				} else {
					sb.WriteString(`, (?, ?)`)
				}
				args = append(args, k, spillWindowEnd(k, lvl))
			}
			sb.WriteString(`)
SELECT id, first_key, last_key, period, n, entries FROM rollup_spill_runs WHERE id IN (
	SELECT r.id FROM k CROSS JOIN rollup_spill_runs r
	WHERE r.tbl = ? AND r.lvl = ? AND r.last_key >= k.key AND r.last_key <= k.hi AND r.first_key <= k.key)`)
			args = append(args, int(t), lvl)
			rows, err := q.QueryContext(ctx, Rebind(d, sb.String()), args...)
			err = eachRow(rows, err, func(rows *sql.Rows) error {
				var id, first, last, period int64
				var n int
				var b []byte
				if err := rows.Scan(&id, &first, &last, &period, &n, &b); err != nil {
					return err
				}
				if err := checkSpillRun(t, first, last, n, b); err != nil {
					return fmt.Errorf("run %d: %w", id, err)
				}
				// The chunk's keys within the run's range.
				i, _ := slices.BinarySearch(chunk, first)
				for ; i < len(chunk) && chunk[i] <= last; i++ {
					v, ok := findInSpillRun(t, b, chunk[i])
					if !ok {
						continue
					}
					if f, ok := best[chunk[i]]; !ok || f.id < id {
						best[chunk[i]] = found{id: id, period: period, val: v}
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("read %s: %w", t, err)
			}
		}
	}
	for k, f := range best {
		fn(uint64(k), f.period, f.val)
	}
	return nil
}

func spilledIDs(ctx context.Context, q querier, d Dialect, keys []uint64, fn func(key uint64, hour int64)) error {
	return spilledEntries(ctx, q, d, SeenSpill, keys, func(k uint64, hour int64, _ uint32) { fn(k, hour) })
}

func spilledViewers(ctx context.Context, q querier, d Dialect, keys []uint64, fn func(key uint64, day int64, val uint32)) error {
	return spilledEntries(ctx, q, d, ViewerSpill, keys, fn)
}

// moveSpillRows moves the rows of the spill tables of one row per entry
// (0001_schema.sql) into runs, a page at a time in (period, key) order, and
// drops those tables.
func moveSpillRows(ctx context.Context, t *tx) error {
	for _, m := range []struct {
		table, period, cols string
		to                  SpillTable
	}{
		{"rollup_seen_spill", "hour", "key, hour", SeenSpill},
		{"rollup_viewer_spill", "day", "key, day, val", ViewerSpill},
	} {
		q := `SELECT ` + m.cols + ` FROM ` + m.table
		order := ` ORDER BY ` + m.period + `, key LIMIT ` + fmt.Sprint(movePage)
		var after SpillRow
		for first := true; ; first = false {
			var rows *sql.Rows
			var err error
			if first {
				rows, err = t.query(ctx, q+order)
			} else {
				rows, err = t.query(ctx, q+` WHERE (`+m.period+`, key) > (?, ?)`+order, after.Period, int64(after.Key))
			}
			var page []SpillRow
			err = eachRow(rows, err, func(rows *sql.Rows) error {
				var k, p, v int64
				dest := []any{&k, &p}
				if m.to == ViewerSpill {
					dest = append(dest, &v)
				}
				if err := rows.Scan(dest...); err != nil {
					return err
				}
				page = append(page, SpillRow{Key: uint64(k), Period: p, Val: uint32(v)})
				return nil
			})
			if err != nil {
				return fmt.Errorf("move %s: %w", m.table, err)
			}
			if len(page) == 0 {
				break
			}
			after = page[len(page)-1]
			if err := insertSpillRuns(ctx, t, t.d, m.to, spillRuns(m.to, page)); err != nil {
				return fmt.Errorf("move %s: %w", m.table, err)
			}
			if len(page) < movePage {
				break
			}
		}
		if _, err := t.exec(ctx, `DROP TABLE `+m.table); err != nil {
			return err
		}
	}
	return nil
}
