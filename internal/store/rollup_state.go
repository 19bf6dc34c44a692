package store

import (
	"context"
	"database/sql"
	"slices"
	"strconv"
	"strings"
)

// Aggregation's own bookkeeping (internal/rollup): the checkpoints of the
// log's partitions, the days whose state is held (rollup_days), the
// journal of its in-memory state, the spill tables that state overflows
// to, and compaction. Reads run on the read pool.

// EnsureCheckpoints creates the checkpoint rows named, at 0, where they
// do not exist.
func (s *Store) EnsureCheckpoints(ctx context.Context, names []string) error {
	return s.update(ctx, func(t *tx) error {
		for chunk := range slices.Chunk(names, 500) {
			args := make([]any, 0, 2*len(chunk))
			for _, n := range chunk {
				args = append(args, n, 0)
			}
			if _, err := t.exec(ctx, `INSERT INTO rollup_checkpoint (name, seq) VALUES `+rowsOf(len(chunk), 2)+` ON CONFLICT (name) DO NOTHING`, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// Checkpoints returns the checkpoint of each of the partitions 0..n-1,
// indexed by partition (0 for a partition without a row).
func (s *Store) Checkpoints(ctx context.Context, n int) ([]uint64, error) {
	out := make([]uint64, n)
	rows, err := s.read.QueryContext(ctx, `SELECT name, seq FROM rollup_checkpoint`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			return nil, err
		}
		if len(name) < 2 || name[0] != 'p' {
			continue
		}
		p, err := strconv.Atoi(name[1:])
		if err != nil || p < 0 || p >= n {
			continue
		}
		out[p] = uint64(seq)
	}
	return out, rows.Err()
}

// CloseDays records in rollup_days that the days are closed at the event
// log's sequence seq, at at (Unix microseconds). A day closed before keeps
// its sequence.
func (s *Store) CloseDays(ctx context.Context, days []int64, at int64, seq uint64) error {
	for chunk := range slices.Chunk(days, rollupChunk) {
		args := make([]any, 0, 3*len(chunk))
		for _, d := range chunk {
			args = append(args, d, at, int64(seq))
		}
		if _, err := s.write.ExecContext(ctx, s.Rebind(`INSERT INTO rollup_days (day, first_at, closed_seq) VALUES `+rowsOf(len(chunk), 3)+`
ON CONFLICT (day) DO UPDATE SET closed_seq = excluded.closed_seq WHERE rollup_days.closed_seq IS NULL`), args...); err != nil {
			return err
		}
	}
	return nil
}

// ClosedDays returns, in order, the days closed at a log sequence of seq
// or before.
func (s *Store) ClosedDays(ctx context.Context, seq uint64) ([]int64, error) {
	return int64Rows(s.queryRead(ctx, `SELECT day FROM rollup_days WHERE closed_seq IS NOT NULL AND closed_seq <= ? ORDER BY day`, int64(seq)))
}

// FirstHeldAt returns the earliest time (Unix microseconds) from which
// journal rows may hold state of a day in rollup_days other than the
// dropped ones; false if there is none.
func (s *Store) FirstHeldAt(ctx context.Context, dropped []int64) (int64, bool, error) {
	var first sql.NullInt64
	q := `SELECT MIN(first_at) FROM rollup_days`
	if len(dropped) > 0 {
		q += ` WHERE day NOT IN (` + dayList(dropped) + `)`
	}
	if err := s.write.QueryRowContext(ctx, q).Scan(&first); err != nil {
		return 0, false, err
	}
	return first.Int64, first.Valid, nil
}

// RollupCompaction is what CompactRollups deletes.
type RollupCompaction struct {
	JournalBefore   int64   // journal rows written before (Unix microseconds)
	HourBefore      int64   // hourly rows of hours before (Unix hours)
	SeenSpillBefore int64   // spilled event ids that arrived before (Unix hours)
	Days            []int64 // dropped days: their per-account counts and spilled viewer-days
}

// CompactRollups deletes what c names, one statement at a time, and
// returns how many spilled entries it deleted.
func (s *Store) CompactRollups(ctx context.Context, c RollupCompaction) (spillRemoved int64, err error) {
	for _, d := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM rollup_journal WHERE at < ?`, []any{c.JournalBefore}},
		{`DELETE FROM video_hour WHERE hour < ?`, []any{c.HourBefore}},
		{`DELETE FROM account_hour WHERE hour < ?`, []any{c.HourBefore}},
	} {
		if _, err := s.write.ExecContext(ctx, s.Rebind(d.sql), d.args...); err != nil {
			return 0, err
		}
	}
	spills := []struct {
		sql  string
		args []any
	}{{`DELETE FROM rollup_spill_runs WHERE tbl = ? AND period < ? RETURNING n`, []any{int(SeenSpill), c.SeenSpillBefore}}}
	if len(c.Days) > 0 {
		if _, err := s.write.ExecContext(ctx, `DELETE FROM creator_day_counts WHERE day IN (`+dayList(c.Days)+`)`); err != nil {
			return 0, err
		}
		spills = append(spills, struct {
			sql  string
			args []any
		}{`DELETE FROM rollup_spill_runs WHERE tbl = ? AND period IN (` + dayList(c.Days) + `) RETURNING n`, []any{int(ViewerSpill)}})
	}
	for _, d := range spills {
		rows, err := s.write.QueryContext(ctx, s.Rebind(d.sql), d.args...)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var n int64
			if err := rows.Scan(&n); err != nil {
				return err
			}
			spillRemoved += n
			return nil
		})
		if err != nil {
			return spillRemoved, err
		}
	}
	return spillRemoved, nil
}

// dayList renders days (integers, never input) for an IN list, which
// must not be empty.
func dayList(days []int64) string {
	var b strings.Builder
	for i, d := range days {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatInt(d, 10))
	}
	return b.String()
}

// JournalRow is a row of aggregation's journal: the state changes of the
// batch ending at Seq, of the partitions in the bitmap Parts (empty: all),
// written At (Unix microseconds), encoded by internal/rollup.
type JournalRow struct {
	Seq           uint64
	Parts         []byte
	At            int64
	Seen, Viewers []byte
}

// JournalRows calls fn with up to limit journal rows of sequences up to
// to, in key order (sequence, then partitions), from the first after the
// key (after, afterParts).
func (s *Store) JournalRows(ctx context.Context, after uint64, afterParts []byte, to uint64, limit int, fn func(JournalRow) error) error {
	// The range on seq alone is what the primary key's index scans.
	return s.scanRows(ctx, `SELECT seq, parts, at, seen, viewers FROM rollup_journal
WHERE seq >= ? AND seq <= ? AND (seq > ? OR parts > ?) ORDER BY seq, parts LIMIT ?`, []any{int64(after), int64(to), int64(after), afterParts, limit}, func(rows *sql.Rows) error {
		var r JournalRow
		var seq int64
		if err := rows.Scan(&seq, &r.Parts, &r.At, &r.Seen, &r.Viewers); err != nil {
			return err
		}
		r.Seq = uint64(seq)
		return fn(r)
	})
}

// SpillTable is one of the tables aggregation's in-memory state spills to.
type SpillTable int

// The spill tables.
const (
	SeenSpill   SpillTable = iota // event ids, by arrival hour (rollup_spill_runs.tbl 0)
	ViewerSpill                   // viewer-days, by day (rollup_spill_runs.tbl 1)
)

var spillTableNames = [2]string{SeenSpill: "spilled event ids", ViewerSpill: "spilled viewer-days"}

// String names the table.
func (t SpillTable) String() string { return spillTableNames[t] }

// SpillRow is an entry moved to a spill table: its key, its period (the
// arrival hour of an event id, the day of a viewer-day) and for a
// viewer-day its value.
type SpillRow struct {
	Key    uint64
	Period int64
	Val    uint32
}
