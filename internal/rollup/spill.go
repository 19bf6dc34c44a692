package rollup

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
)

// The spill tier bounds the memory of the state. When a table would hold
// more entries than its limit, its oldest entries (by arrival hour, or by
// the view's day) move to a database table (rollup_seen_spill,
// rollup_viewer_spill) and leave memory. Lookups that miss in memory then
// ask the database, in one statement per few hundred keys: slower, but
// exact, and memory stays bounded whatever the volume. The spill tables,
// like the tables in memory, are rebuilt from the journal: they are written
// in their own transactions, and a crash before one commits only means the
// next start spills again.

// spillLookup finds what the spill tables hold for the event ids (keys)
// and viewer-days (vkeys, 0 for events that are not a viewer's view) of evs
// that miss in memory and may have been spilled, and records it in d. The
// caller holds the state's read lock.
func (a *Aggregator) spillLookup(ctx context.Context, q queryer, d *delta, evs []event.Event, keys, vkeys []uint64) error {
	s := a.st
	if s.spilledSeen {
		var miss []uint64
		for _, k := range keys {
			if _, _, ok := s.seen.get(k); !ok && s.seenBloom.mayContain(k) {
				miss = append(miss, k)
			}
		}
		hours, err := a.spilledIDs(ctx, q, miss)
		if err != nil {
			return err
		}
		for k, hour := range hours {
			d.coldSeen[k] = uint16(hour)
		}
	}
	if s.spilledViewers {
		var miss []any
		for i, k := range vkeys {
			if k == 0 {
				continue
			}
			day := floorDiv(evs[i].TS.Unix(), 86400)
			if _, st, ok := s.viewers.get(k); (!ok || st != dayStamp(day)) && s.viewerBloom.mayContain(k) {
				miss = append(miss, int64(k))
			}
		}
		err := inChunks(ctx, q, a.store.Rebind, `SELECT key, day, val FROM rollup_viewer_spill WHERE key IN `, miss, func(rows *sql.Rows) error {
			var k, day, val int64
			if err := rows.Scan(&k, &day, &val); err != nil {
				return err
			}
			d.coldViewers[uint64(k)] = viewerEntry{val: viewerVal(val), day: dayStamp(day)}
			return nil
		})
		if err != nil {
			return fmt.Errorf("read spilled viewer-days: %w", err)
		}
	}
	return nil
}

// spilledIDs returns the arrival hour (Unix hours) of each of keys that
// the spill table of event ids holds.
func (a *Aggregator) spilledIDs(ctx context.Context, q queryer, keys []uint64) (map[uint64]int64, error) {
	out := map[uint64]int64{}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = int64(k)
	}
	err := inChunks(ctx, q, a.store.Rebind, `SELECT key, hour FROM rollup_seen_spill WHERE key IN `, args, func(rows *sql.Rows) error {
		var k, hour int64
		if err := rows.Scan(&k, &hour); err != nil {
			return err
		}
		out[uint64(k)] = hour
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read spilled event ids: %w", err)
	}
	return out, nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// inChunks runs q (ending in "IN ") over args, 500 at a time, calling fn
// for each row.
func inChunks(ctx context.Context, db queryer, rebind func(string) string, q string, args []any, fn func(*sql.Rows) error) error {
	for chunk := range slices.Chunk(args, 500) {
		rows, err := db.QueryContext(ctx, rebind(q+valueRows(1, len(chunk))), chunk...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := fn(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// spillIfFull moves the oldest entries of a table over its limit to the
// database, until it is at half its limit. The caller holds the state's
// write lock. now is the batch's time, which dates the stamps.
func (s *state) spillIfFull(ctx context.Context, db *sql.DB, rebind func(string) string, now time.Time, extraSeen, extraViewers int) error {
	if s.limit <= 0 {
		return nil
	}
	// Expired entries go first: they need no spilling.
	if s.seen.n+extraSeen > s.limit {
		s.seen.rebuild(seenLive(now), false)
	}
	if s.viewers.n+extraViewers > s.limit {
		s.viewers.rebuild(s.viewersLive(), false)
	}
	if s.seen.n+extraSeen > s.limit {
		hour := now.Unix() / 3600
		cut := oldestHalf(s.seen, hourStamp(now), s.limit/2)
		err := s.spillTable(ctx, db, rebind, s.seen, &s.seenBloom, "rollup_seen_spill", cut, hourStamp(now),
			`INSERT INTO rollup_seen_spill (key, hour) VALUES `, 2,
			`ON CONFLICT (key) DO UPDATE SET hour = excluded.hour`,
			func(k uint64, _ uint32, st uint16, args []any) []any {
				return append(args, int64(k), hour-stampAge(hourStamp(now), st))
			})
		if err != nil {
			return fmt.Errorf("spill event ids: %w", err)
		}
		s.spilledSeen = true
	}
	if s.viewers.n+extraViewers > s.limit {
		day := unixDay(now)
		cut := oldestHalf(s.viewers, dayStamp(day), s.limit/2)
		err := s.spillTable(ctx, db, rebind, s.viewers, &s.viewerBloom, "rollup_viewer_spill", cut, dayStamp(day),
			`INSERT INTO rollup_viewer_spill (key, day, val) VALUES `, 3,
			`ON CONFLICT (key) DO UPDATE SET day = excluded.day, val = excluded.val`,
			func(k uint64, v uint32, st uint16, args []any) []any {
				return append(args, int64(k), day-stampAge(dayStamp(day), st), int64(v))
			})
		if err != nil {
			return fmt.Errorf("spill viewer-days: %w", err)
		}
		s.spilledViewers = true
	}
	return nil
}

// oldestHalf returns the age from which entries move out of t so that at
// most keep stay, youngest first (if even the youngest age holds more than
// keep, everything moves).
func oldestHalf(t *table, now uint16, keep int) int64 {
	ages := map[int64]int{}
	for i, k := range t.keys {
		if k != 0 {
			ages[stampAge(now, t.stamps[i])]++
		}
	}
	sorted := slices.Sorted(func(yield func(int64) bool) {
		for a := range ages {
			if !yield(a) {
				return
			}
		}
	})
	// Keep the youngest ages while they fit.
	kept := 0
	for i, a := range sorted {
		if kept+ages[a] > keep {
			if i == 0 {
				return sorted[0] // even the youngest do not fit: move all
			}
			return a
		}
		kept += ages[a]
	}
	return sorted[len(sorted)-1] + 1 // everything fits: move nothing
}

// spillTable writes the entries of t aged cut or more with upsert, in one
// transaction, then drops them from t.
func (s *state) spillTable(ctx context.Context, db *sql.DB, rebind func(string) string, t *table, bf **bloom, name string, cut int64, now uint16,
	insert string, width int, conflict string, row func(k uint64, v uint32, st uint16, args []any) []any) error {
	old := func(st uint16) bool { return stampAge(now, st) >= cut }
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var args []any
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		n := len(args) / width
		_, err := tx.ExecContext(ctx, rebind(insert+valueRows(n, width)+" "+conflict), args...)
		args = args[:0]
		return err
	}
	// In key order (as signed integers, the column's order): the inserts
	// then walk the table's B-tree once instead of jumping about it.
	var idx []int
	for i, k := range t.keys {
		if k != 0 && old(t.stamps[i]) {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(x, y int) int { return cmp.Compare(int64(t.keys[x]), int64(t.keys[y])) })
	for _, i := range idx {
		var v uint32
		if !t.set {
			v = t.vals[i]
		}
		args = row(t.keys[i], v, t.stamps[i], args)
		if len(args) >= rowsPerStatement*width {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if *bf == nil {
		*bf = newBloom(max(s.limit, t.n))
	}
	for i, k := range t.keys {
		if k != 0 && old(t.stamps[i]) {
			(*bf).add(k)
		}
	}
	if (*bf).full() {
		b, err := loadBloom(ctx, db, name, 2*(*bf).n)
		if err != nil {
			return err
		}
		*bf = b
	}
	t.rebuild(func(st uint16) bool { return !old(st) }, false)
	return nil
}

// loadBloom builds a filter of the keys of spill table name, sized for at
// least n keys; nil if the table is empty.
func loadBloom(ctx context.Context, db *sql.DB, name string, n int) (*bloom, error) {
	var count int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+name).Scan(&count); err != nil {
		return nil, err
	}
	if count == 0 {
		return nil, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT key FROM `+name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	b := newBloom(max(n, count))
	for rows.Next() {
		var k int64
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		b.add(uint64(k))
	}
	return b, rows.Err()
}
