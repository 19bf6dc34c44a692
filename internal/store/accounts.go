package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
)

const accountColumns = `id, handle, display_name, password_hash, birth_date, gender, country, type, dm_policy, created_at, notifications_seen_at, read_receipts`

func scanAccount(row interface{ Scan(...any) error }) (*platform.Account, error) {
	var a platform.Account
	var created, seen, receipts int64
	if err := row.Scan(&a.ID, &a.Handle, &a.DisplayName, &a.PasswordHash, &a.BirthDate, &a.Gender, &a.Country, &a.Type, &a.DMPolicy, &created, &seen, &receipts); err != nil {
		if err == sql.ErrNoRows {
			return nil, platform.Errorf(platform.ENOTFOUND, "account not found")
		}
		return nil, err
	}
	a.CreatedAt, a.NotificationsSeenAt = fromMicros(created), fromMicros(seen)
	a.ReadReceipts = receipts != 0
	return &a, nil
}

// CreateAccount inserts a new account. A taken handle is ECONFLICT.
func (s *Store) CreateAccount(ctx context.Context, a *platform.Account) error {
	var seq int64
	err := s.update(ctx, func(t *tx) (err error) {
		if seq, err = nextAccountSeq(ctx, t); err != nil {
			return err
		}
		_, err = t.exec(ctx, `INSERT INTO accounts (`+accountColumns+`, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.Handle, a.DisplayName, a.PasswordHash, a.BirthDate, a.Gender, a.Country, a.Type, a.DMPolicy, micros(a.CreatedAt), micros(a.NotificationsSeenAt), boolInt(a.ReadReceipts), seq)
		return err
	})
	if platform.ErrorCode(err) == platform.ECONFLICT {
		return platform.Errorf(platform.ECONFLICT, "handle %q is taken", a.Handle)
	}
	if err == nil {
		s.accountsChanged(AccountsChange{Seq: seq, Upserted: []AccountRef{{ID: a.ID, BirthDate: a.BirthDate, Gender: a.Gender, Country: a.Country}}})
	}
	return err
}

// Account returns the account with the given id.
func (s *Store) Account(ctx context.Context, id string) (*platform.Account, error) {
	var a *platform.Account
	err := s.view(ctx, func(t *tx) (err error) {
		a, err = scanAccount(t.queryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id))
		return err
	})
	return a, err
}

// AccountByHandle returns the account with the given (normalized) handle.
func (s *Store) AccountByHandle(ctx context.Context, handle string) (*platform.Account, error) {
	var a *platform.Account
	err := s.view(ctx, func(t *tx) (err error) {
		a, err = accountByHandle(ctx, t, handle)
		return err
	})
	return a, err
}

func accountByHandle(ctx context.Context, t *tx, handle string) (*platform.Account, error) {
	return scanAccount(t.queryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE handle = ?`, handle))
}

// Profile returns the public profile of the account with the given handle,
// with its follower counts. Follows are public actions, so exact counts are
// fine to show.
func (s *Store) Profile(ctx context.Context, handle string) (*platform.Profile, error) {
	var p platform.Profile
	err := s.view(ctx, func(t *tx) error {
		a, err := accountByHandle(ctx, t, handle)
		if err != nil {
			return err
		}
		p = a.Profile()
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM follows WHERE followee_id = ?`, a.ID).Scan(&p.Followers); err != nil {
			return err
		}
		return t.queryRow(ctx, `SELECT COUNT(*) FROM follows WHERE follower_id = ?`, a.ID).Scan(&p.Following)
	})
	return &p, err
}

// AccountPatch holds the fields of an account that may change; nil means
// unchanged.
type AccountPatch struct {
	DisplayName  *string
	Type         *string
	DMPolicy     *string
	PasswordHash *string
	ReadReceipts *bool
}

// UpdateAccount applies p to the account and returns the result.
func (s *Store) UpdateAccount(ctx context.Context, id string, p AccountPatch) (*platform.Account, error) {
	var a *platform.Account
	err := s.update(ctx, func(t *tx) error {
		set := func(col string, v *string) error {
			if v == nil {
				return nil
			}
			_, err := t.exec(ctx, `UPDATE accounts SET `+col+` = ? WHERE id = ?`, *v, id)
			return err
		}
		for _, f := range []struct {
			col string
			v   *string
		}{{"display_name", p.DisplayName}, {"type", p.Type}, {"dm_policy", p.DMPolicy}, {"password_hash", p.PasswordHash}} {
			if err := set(f.col, f.v); err != nil {
				return err
			}
		}
		if p.ReadReceipts != nil {
			if _, err := t.exec(ctx, `UPDATE accounts SET read_receipts = ? WHERE id = ?`, boolInt(*p.ReadReceipts), id); err != nil {
				return err
			}
		}
		var err error
		a, err = scanAccount(t.queryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id))
		return err
	})
	return a, err
}

// boolInt stores a boolean as 0 or 1, the same in both dialects.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// MarkNotificationsSeen records that the account has seen its notifications up
// to at.
func (s *Store) MarkNotificationsSeen(ctx context.Context, id string, at time.Time) error {
	return s.update(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `UPDATE accounts SET notifications_seen_at = ? WHERE id = ?`, micros(at), id)
		return err
	})
}

// Footprint is what an account leaves in public engagement state: the videos
// it liked, its comments and the accounts it follows. Deleting the account
// removes them, and the analytics events returned by the caller keep public
// counters in step.
type Footprint struct {
	Likes     []string           // video ids
	Comments  []platform.Comment // with VideoID
	Followees []string           // account ids
	Videos    []string           // ids of videos it owns (deleted with it)
}

// DeleteAccount deletes the account and all its private data (sessions, app
// tokens, saves, messages, follows, likes, comments, its own videos). mk
// turns its public footprint into the analytics events that undo it in public
// counters; they are written to the outbox in the same transaction.
func (s *Store) DeleteAccount(ctx context.Context, id string, mk func(Footprint) []event.Event) error {
	seq, err := s.deleteAccount(ctx, id, mk)
	if err != nil {
		return err
	}
	s.accountsChanged(AccountsChange{Seq: seq, Deleted: []string{id}})
	// Deleted means gone from the files too (see Purge). The deletion
	// has committed: a purge that readers held up is finished by the next.
	_ = s.Purge(context.WithoutCancel(ctx))
	return nil
}

func (s *Store) deleteAccount(ctx context.Context, id string, mk func(Footprint) []event.Event) (seq int64, err error) {
	err = s.update(ctx, func(t *tx) error {
		var fp Footprint
		var err error
		if fp.Likes, err = strings1(ctx, t, `SELECT video_id FROM likes WHERE account_id = ? AND video_id NOT IN (SELECT id FROM videos WHERE owner_id = ?)`, id, id); err != nil {
			return err
		}
		if fp.Followees, err = strings1(ctx, t, `SELECT followee_id FROM follows WHERE follower_id = ?`, id); err != nil {
			return err
		}
		if fp.Videos, err = strings1(ctx, t, `SELECT id FROM videos WHERE owner_id = ?`, id); err != nil {
			return err
		}
		rows, err := t.query(ctx, `SELECT id, video_id FROM comments WHERE author_id = ? AND video_id NOT IN (SELECT id FROM videos WHERE owner_id = ?)`, id, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var c platform.Comment
			if err := rows.Scan(&c.ID, &c.VideoID); err != nil {
				rows.Close()
				return err
			}
			fp.Comments = append(fp.Comments, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if seq, err = nextAccountSeq(ctx, t); err != nil {
			return err
		}
		res, err := t.exec(ctx, `DELETE FROM accounts WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return platform.Errorf(platform.ENOTFOUND, "account not found")
		}
		// Other processes on the database drop the account from their
		// directories (accountchanges.go). A SQLite database has one
		// process, told by WatchAccounts: its file never holds the id
		// after the deletion.
		if s.dialect == Postgres {
			if _, err := t.exec(ctx, `INSERT INTO account_tombstones (seq, id, at) VALUES (?, ?, ?)`, seq, id, micros(s.now())); err != nil {
				return err
			}
		}
		return insertEvents(ctx, t, mk(fp)...)
	})
	return seq, err
}

// strings1 runs a query returning one string column.
func strings1(ctx context.Context, t *tx, q string, args ...any) ([]string, error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
