package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"time"
)

// Account changes: what ingestion reads of accounts (AccountRef) is held in
// memory by internal/directory, which must learn of every change, made by
// this process or another on the same database:
//
//   - every transaction that creates, syncs or deletes accounts takes the
//     next change number (nextAccountSeq) and stamps it on the rows it
//     writes (accounts.seq) or on a tombstone per deleted id;
//   - after it commits, the watchers of this process are told of the
//     change with its number (WatchAccounts);
//   - other processes read the changes after the last number they applied
//     (AccountChanges); a deletion leaves a tombstone with the account's id
//     for them, pruned after a while (PruneAccountTombstones).
//
// On SQLite the database has one process (the data dir is locked), whose
// directory is told of every change by WatchAccounts: no tombstone is
// written there, so AccountChanges reports no deletions, and a deleted
// account's id leaves the file with the account (docs/SECURITY.md,
// Deletion).
//
// Fields ingestion does not read (display name, type, DM policy, password,
// notifications) take no number.

// AccountsChange is what one committed transaction changed of accounts'
// directory fields.
type AccountsChange struct {
	// Seq is the transaction's change number.
	Seq int64
	// Upserted are the accounts created or synced, as they are now.
	Upserted []AccountRef
	// Deleted are the ids of the accounts deleted.
	Deleted []string
}

// AccountChange is one account's change read back by AccountChanges: its
// state as of the read (Ref), or its deletion.
type AccountChange struct {
	Seq     int64
	Ref     AccountRef // Ref.ID is set for deletions too
	Deleted bool
}

// ErrChangesPruned says that tombstones after the number asked for were
// pruned: the reader cannot know every deletion since and must reload.
var ErrChangesPruned = errors.New("account changes pruned: reload")

// watchers are the functions told of committed account changes.
type watchers struct {
	mu   sync.Mutex
	next int
	fns  map[int]func(AccountsChange)
}

// WatchAccounts calls fn after every committed transaction that changed
// accounts' directory fields, in the committing goroutine, with the
// transaction's change number. Calls may come concurrently and out of
// order. stop ends the watch.
func (s *Store) WatchAccounts(fn func(AccountsChange)) (stop func()) {
	w := &s.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fns == nil {
		w.fns = map[int]func(AccountsChange){}
	}
	id := w.next
	w.next++
	w.fns[id] = fn
	return func() {
		w.mu.Lock()
		delete(w.fns, id)
		w.mu.Unlock()
	}
}

// accountsChanged tells the watchers of a committed change.
func (s *Store) accountsChanged(c AccountsChange) {
	w := &s.watch
	w.mu.Lock()
	fns := make([]func(AccountsChange), 0, len(w.fns))
	for _, fn := range w.fns {
		fns = append(fns, fn)
	}
	w.mu.Unlock()
	for _, fn := range fns {
		fn(c)
	}
}

// nextAccountSeq takes the transaction's account change number. The
// counter row stays locked until the transaction ends, so transactions
// that change accounts commit in the order of their numbers (on SQLite
// writers are serial anyway): whoever sees number n committed sees every
// change numbered up to n. Take it late in the transaction: it serializes
// account writers from here to the commit.
func nextAccountSeq(ctx context.Context, t *tx) (int64, error) {
	var n int64
	err := t.queryRow(ctx, `UPDATE account_changes SET value = value + 1 WHERE name = 'seq' RETURNING value`).Scan(&n)
	return n, err
}

// AccountSeq returns the last committed account change number and the
// highest change number of a pruned tombstone.
func (s *Store) AccountSeq(ctx context.Context) (seq, pruned int64, err error) {
	err = s.view(ctx, func(t *tx) error {
		seq, pruned, err = accountSeq(ctx, t)
		return err
	})
	return seq, pruned, err
}

func accountSeq(ctx context.Context, t *tx) (seq, pruned int64, err error) {
	rows, err := t.query(ctx, `SELECT name, value FROM account_changes`)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return 0, 0, err
		}
		switch name {
		case "seq":
			seq = v
		case "pruned":
			pruned = v
		}
	}
	return seq, pruned, rows.Err()
}

// AccountChanges returns the changes numbered in (after, upTo], where upTo
// is the last committed number or after+limit if that is lower, ordered by
// number: each account written in that range as it is at upTo, and each
// account deleted in it. It reads one snapshot, so the changes are exactly
// the state at upTo of the accounts they name; last is the last committed
// number (read on while upTo < last). It fails with ErrChangesPruned when
// a tombstone after `after` was pruned.
func (s *Store) AccountChanges(ctx context.Context, after, limit int64) (changes []AccountChange, upTo, last int64, err error) {
	var out []AccountChange
	err = s.snapshot(ctx, func(t *tx) error {
		out = out[:0]
		var pruned int64
		if last, pruned, err = accountSeq(ctx, t); err != nil {
			return err
		}
		if pruned > after {
			return ErrChangesPruned
		}
		upTo = min(last, after+limit)
		if upTo <= after {
			return nil
		}
		rows, err := t.query(ctx, `SELECT seq, id FROM account_tombstones WHERE seq > ? AND seq <= ?`, after, upTo)
		if err != nil {
			return err
		}
		for rows.Next() {
			c := AccountChange{Deleted: true}
			if err := rows.Scan(&c.Seq, &c.Ref.ID); err != nil {
				rows.Close()
				return err
			}
			out = append(out, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = t.query(ctx, `SELECT seq, id, birth_date, gender, country FROM accounts WHERE seq > ? AND seq <= ?`, after, upTo)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c AccountChange
			if err := rows.Scan(&c.Seq, &c.Ref.ID, &c.Ref.BirthDate, &c.Ref.Gender, &c.Ref.Country); err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, 0, err
	}
	// An account deleted and created again: the deletion comes first.
	slices.SortStableFunc(out, func(a, b AccountChange) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return out, upTo, last, nil
}

// ScanAccounts calls size with the number of accounts and the bytes of
// their ids, then fn with every account's id and directory fields (the
// slices are valid only during the call), all from one snapshot, and
// returns the change number of that snapshot: the scan is exactly the
// state after the changes numbered up to it.
func (s *Store) ScanAccounts(ctx context.Context, size func(n, idBytes int), fn func(id, birthDate, gender, country []byte) error) (seq int64, err error) {
	err = s.snapshot(ctx, func(t *tx) error {
		if seq, _, err = accountSeq(ctx, t); err != nil {
			return err
		}
		var n, idBytes int64
		if err := t.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(LENGTH(id)), 0) FROM accounts`).Scan(&n, &idBytes); err != nil {
			return err
		}
		size(int(n), int(idBytes))
		rows, err := t.query(ctx, `SELECT id, birth_date, gender, country FROM accounts`)
		if err != nil {
			return err
		}
		defer rows.Close()
		var id, birth, gender, country sql.RawBytes
		for rows.Next() {
			if err := rows.Scan(&id, &birth, &gender, &country); err != nil {
				return err
			}
			if err := fn(id, birth, gender, country); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return seq, err
}

// snapshot runs fn in a read-only transaction that sees one snapshot of
// the database throughout: SQLite's read transactions do; PostgreSQL's
// need REPEATABLE READ (READ COMMITTED, its default, takes a snapshot per
// statement).
func (s *Store) snapshot(ctx context.Context, fn func(*tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	t, err := s.read.BeginTx(ctx, opts)
	if err != nil {
		return mapErr(err)
	}
	defer t.Rollback()
	return mapErr(fn(&tx{Tx: t, d: s.dialect, rs: s.readStmts}))
}

// PruneAccountTombstones deletes the tombstones recorded before `before`
// and returns how many it deleted. A deleted account's id lives on in its
// tombstone until then (docs/SECURITY.md, Deletion).
func (s *Store) PruneAccountTombstones(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.update(ctx, func(t *tx) error {
		var top sql.NullInt64
		if err := t.queryRow(ctx, `SELECT MAX(seq) FROM account_tombstones WHERE at < ?`, micros(before)).Scan(&top); err != nil {
			return err
		}
		if !top.Valid {
			return nil
		}
		res, err := t.exec(ctx, `DELETE FROM account_tombstones WHERE seq <= ?`, top.Int64)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		_, err = t.exec(ctx, `UPDATE account_changes SET value = ? WHERE name = 'pruned' AND value < ?`, top.Int64, top.Int64)
		return err
	})
	return n, err
}
