package store

import (
	"context"
	"database/sql"
	"errors"
)

// Snapshots of aggregation's in-memory state (internal/rollup/snapshot.go):
// one per partition set (the journal's partition bitmap, empty for all),
// a row (rollup_snapshot) pointing at the generation of chunks
// (rollup_snapshot_chunks) that makes it. Snapshots are rewritten
// wholesale, hold only 64-bit hashes and are rebuilt from the journal when
// lost, so their transactions are BeginScratch's.

// SnapshotRow is a partition set's snapshot row. Its fields are encoded by
// internal/rollup.
type SnapshotRow struct {
	Parts      []byte
	Gen        int64
	Format     int
	Seqs, Meta []byte
	Chunks     int
	Checksum   uint64
	At         int64 // Unix microseconds
}

// scratch runs fn in a BeginScratch transaction and commits it unless fn
// fails.
func (s *Store) scratch(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, done, err := s.BeginScratch(ctx)
	if err != nil {
		return err
	}
	defer done()
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// DeleteUnfinishedSnapshots deletes the chunks of the partition set's
// snapshots that never became its snapshot.
func (s *Store) DeleteUnfinishedSnapshots(ctx context.Context, parts []byte) error {
	return s.scratch(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.Rebind(`DELETE FROM rollup_snapshot_chunks WHERE parts = ? AND gen NOT IN (SELECT gen FROM rollup_snapshot WHERE parts = ?)`),
			parts, parts)
		return err
	})
}

// DeleteSnapshotChunks deletes the chunks numbered from on of the
// partition set's generation gen.
func (s *Store) DeleteSnapshotChunks(ctx context.Context, parts []byte, gen int64, from int) error {
	return s.scratch(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.Rebind(`DELETE FROM rollup_snapshot_chunks WHERE parts = ? AND gen = ? AND n >= ?`), parts, gen, int64(from))
		return err
	})
}

// WriteSnapshotChunk writes chunk n of the partition set's generation gen,
// with its checksum, replacing one written before.
func (s *Store) WriteSnapshotChunk(ctx context.Context, parts []byte, gen int64, n int, sum uint64, data []byte) error {
	return s.scratch(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.Rebind(`INSERT INTO rollup_snapshot_chunks (parts, gen, n, checksum, data) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (parts, gen, n) DO UPDATE SET checksum = excluded.checksum, data = excluded.data`), parts, gen, n, int64(sum), data)
		return err
	})
}

var errSnapshotIncomplete = errors.New("snapshot incomplete")

// FinishSnapshot makes row the partition set's snapshot and deletes the
// chunks of every other generation, in one transaction, if the generation
// has all its row.Chunks chunks. It returns the chunks the generation has:
// fewer (another process of the same partition set deleted some) changes
// nothing.
func (s *Store) FinishSnapshot(ctx context.Context, row SnapshotRow) (int, error) {
	have := row.Chunks
	err := s.scratch(ctx, func(tx *sql.Tx) error {
		// The row first: on PostgreSQL its lock orders two processes of
		// one partition set finishing at once, and the second then sees
		// its chunks deleted by the first.
		if _, err := tx.ExecContext(ctx, s.Rebind(`INSERT INTO rollup_snapshot (parts, gen, format, seqs, meta, chunks, checksum, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (parts) DO UPDATE SET gen = excluded.gen, format = excluded.format, seqs = excluded.seqs, meta = excluded.meta,
chunks = excluded.chunks, checksum = excluded.checksum, at = excluded.at`),
			row.Parts, row.Gen, row.Format, row.Seqs, row.Meta, row.Chunks, int64(row.Checksum), row.At); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, s.Rebind(`SELECT COUNT(*) FROM rollup_snapshot_chunks WHERE parts = ? AND gen = ?`), row.Parts, row.Gen).Scan(&have); err != nil {
			return err
		}
		if have != row.Chunks {
			return errSnapshotIncomplete
		}
		_, err := tx.ExecContext(ctx, s.Rebind(`DELETE FROM rollup_snapshot_chunks WHERE parts = ? AND gen <> ?`), row.Parts, row.Gen)
		return err
	})
	if err != nil && !errors.Is(err, errSnapshotIncomplete) {
		return have, err
	}
	return have, nil
}

// SnapshotView reads a snapshot in one read-only transaction.
type SnapshotView struct {
	tx *sql.Tx
	d  Dialect
}

// ViewSnapshot runs fn in a read-only transaction that sees one state of
// the database (repeatable read on PostgreSQL: a process of the same
// partition set may replace the row and its chunks meanwhile).
func (s *Store) ViewSnapshot(ctx context.Context, fn func(v *SnapshotView) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.read.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(&SnapshotView{tx: tx, d: s.dialect})
}

// Row returns the partition set's snapshot row; false if it has none.
func (v *SnapshotView) Row(ctx context.Context, parts []byte) (SnapshotRow, bool, error) {
	r := SnapshotRow{Parts: parts}
	var sum int64
	err := v.tx.QueryRowContext(ctx, Rebind(v.d, `SELECT gen, format, seqs, meta, chunks, checksum, at FROM rollup_snapshot WHERE parts = ?`), parts).
		Scan(&r.Gen, &r.Format, &r.Seqs, &r.Meta, &r.Chunks, &sum, &r.At)
	if errors.Is(err, sql.ErrNoRows) {
		return SnapshotRow{}, false, nil
	} else if err != nil {
		return SnapshotRow{}, false, err
	}
	r.Checksum = uint64(sum)
	return r, true, nil
}

// ChunkSums returns the checksums of the chunks of the partition set's
// generation gen, in order; a chunk missing ends them.
func (v *SnapshotView) ChunkSums(ctx context.Context, parts []byte, gen int64) ([]uint64, error) {
	rows, err := v.tx.QueryContext(ctx, Rebind(v.d, `SELECT n, checksum FROM rollup_snapshot_chunks WHERE parts = ? AND gen = ? ORDER BY n`), parts, gen)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var sums []uint64
	for rows.Next() {
		var n int
		var sum int64
		if err := rows.Scan(&n, &sum); err != nil {
			return nil, err
		}
		if n != len(sums) {
			break
		}
		sums = append(sums, uint64(sum))
	}
	return sums, rows.Err()
}

// Chunks calls fn with each chunk of the partition set's generation gen,
// in order: its number, checksum and data. data is the driver's buffer
// (sql.RawBytes), valid only until fn returns: not copying it per chunk
// saves a start's load of a large state a fifth of its time, the pages of
// hundreds of megabytes of fresh copies.
func (v *SnapshotView) Chunks(ctx context.Context, parts []byte, gen int64, fn func(n int, sum uint64, data []byte) error) error {
	rows, err := v.tx.QueryContext(ctx, Rebind(v.d, `SELECT n, checksum, data FROM rollup_snapshot_chunks WHERE parts = ? AND gen = ? ORDER BY n`), parts, gen)
	if err != nil {
		return err
	}
	defer rows.Close()
	var data sql.RawBytes
	for rows.Next() {
		var n int
		var sum int64
		if err := rows.Scan(&n, &sum, &data); err != nil {
			return err
		}
		if err := fn(n, uint64(sum), data); err != nil {
			return err
		}
	}
	return rows.Err()
}
