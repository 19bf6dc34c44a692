package store

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/crowd-dev/crowd/internal/platform"
)

// Bulk sync of the platform's own accounts and videos, with ids the
// platform chose. Each method takes a batch, applies it in one transaction
// with multi-row statements, and reports the lines it could not apply by
// their index in the batch, applying the rest.

// syncRows is how many rows one multi-row statement carries.
const syncRows = 200

// AccountSync is one line of an account sync: the account's id and the
// fields the line gave. A nil field was absent (or null) and is left as
// stored; for a new account it takes its default. Values are validated and
// normalized by the caller ("" in Gender, Type or DisplayName already
// replaced by the default).
type AccountSync struct {
	ID                                                    string
	Handle, DisplayName, BirthDate, Gender, Country, Type *string
	// PasswordHash, when not empty, becomes the account's password only if
	// it has none: a sync never replaces a Crowd password.
	PasswordHash string
	// CreatedAt is the creation time of a new account.
	CreatedAt time.Time
}

// UpsertAccounts inserts or updates accounts by id. An update changes only
// the fields its line gave; passwords and creation times of existing
// accounts are kept. A handle held by another account is a conflict for
// that line only, and so is a new account without a handle.
func (s *Store) UpsertAccounts(ctx context.Context, as []AccountSync) (map[int]error, error) {
	bad := map[int]error{}
	var change AccountsChange
	err := s.update(ctx, func(t *tx) error {
		clear(bad)
		change = AccountsChange{}
		ids := make([]string, len(as))
		for i := range as {
			ids[i] = as[i].ID
		}
		stored, err := storedAccounts(ctx, t, dedupeStrings(ids))
		if err != nil {
			return err
		}
		// Merge each line into what is stored, or what an earlier line of
		// the batch made of it: a later line for the same id wins.
		merged := make([]platform.Account, len(as))
		last := map[string]int{}
		for i := range as {
			l := &as[i]
			a, exists := stored[l.ID]
			if j, ok := last[l.ID]; ok {
				a, exists = merged[j], true
			}
			if !exists {
				if l.Handle == nil {
					bad[i] = platform.Errorf(platform.EINVALID, "handle is required for a new account")
					continue
				}
				a = platform.Account{ID: l.ID, Gender: platform.GenderUndisclosed, Type: platform.TypePersonal, DMPolicy: platform.DMEveryone, CreatedAt: l.CreatedAt}
			}
			set := func(dst *string, v *string) {
				if v != nil {
					*dst = *v
				}
			}
			set(&a.Handle, l.Handle)
			set(&a.DisplayName, l.DisplayName)
			set(&a.BirthDate, l.BirthDate)
			set(&a.Gender, l.Gender)
			set(&a.Country, l.Country)
			set(&a.Type, l.Type)
			if a.DisplayName == "" {
				a.DisplayName = a.Handle
			}
			if a.PasswordHash == "" {
				a.PasswordHash = l.PasswordHash
			}
			merged[i] = a
			last[l.ID] = i
		}
		// Handles: a handle stored for another account, or claimed by
		// another id earlier in the batch, is a conflict for this line.
		var handles []string
		for i := range merged {
			if bad[i] == nil {
				handles = append(handles, merged[i].Handle)
			}
		}
		owner := map[string]string{}
		err = chunked(dedupeStrings(handles), func(chunk []any) error {
			rows, err := t.query(ctx, `SELECT handle, id FROM accounts WHERE handle IN (`+placeholders(len(chunk))+`)`, chunk...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var h, id string
				if err := rows.Scan(&h, &id); err != nil {
					return err
				}
				owner[h] = id
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		skip := map[int]bool{}
		final := map[string]int{}
		for i := range merged {
			if bad[i] != nil {
				continue
			}
			a := &merged[i]
			if o, ok := owner[a.Handle]; ok && o != a.ID {
				bad[i] = platform.Errorf(platform.ECONFLICT, "handle %q belongs to another account", a.Handle)
				continue
			}
			owner[a.Handle] = a.ID
			if j, ok := final[a.ID]; ok {
				skip[j] = true // superseded by the later line: its upsert wins
			}
			final[a.ID] = i
		}
		var ok []*platform.Account
		for i := range merged {
			if bad[i] == nil && !skip[i] {
				ok = append(ok, &merged[i])
			}
		}
		if len(ok) == 0 {
			return nil
		}
		// Every row written takes the transaction's change number, for
		// the directories of other processes (accountchanges.go).
		if change.Seq, err = nextAccountSeq(ctx, t); err != nil {
			return err
		}
		change.Upserted = make([]AccountRef, 0, len(ok))
		for _, a := range ok {
			change.Upserted = append(change.Upserted, AccountRef{ID: a.ID, BirthDate: a.BirthDate, Gender: a.Gender, Country: a.Country})
		}
		for len(ok) > 0 {
			n := min(len(ok), syncRows)
			args := make([]any, 0, n*10)
			for _, a := range ok[:n] {
				args = append(args, a.ID, a.Handle, a.DisplayName, a.BirthDate, a.Gender, a.Country, a.Type, micros(a.CreatedAt), a.PasswordHash, change.Seq)
			}
			// A password is set only where there is none: an existing one
			// is never replaced or cleared by a sync.
			_, err := t.exec(ctx, `INSERT INTO accounts (id, handle, display_name, birth_date, gender, country, type, created_at, password_hash, seq) VALUES `+
				rowsOf(n, 10)+` ON CONFLICT (id) DO UPDATE SET handle = excluded.handle, display_name = excluded.display_name,
				birth_date = excluded.birth_date, gender = excluded.gender, country = excluded.country, type = excluded.type,
				password_hash = CASE WHEN accounts.password_hash = '' THEN excluded.password_hash ELSE accounts.password_hash END,
				seq = excluded.seq`, args...)
			if err != nil {
				return err
			}
			ok = ok[n:]
		}
		return nil
	})
	if err == nil && change.Seq != 0 {
		s.accountsChanged(change)
	}
	for i := range bad {
		if bad[i] == nil {
			delete(bad, i)
		}
	}
	return bad, err
}

// storedAccounts returns the stored accounts among ids, by id.
func storedAccounts(ctx context.Context, t *tx, ids []string) (map[string]platform.Account, error) {
	out := make(map[string]platform.Account, len(ids))
	err := chunked(ids, func(chunk []any) error {
		rows, err := t.query(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id IN (`+placeholders(len(chunk))+`)`, chunk...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAccount(rows)
			if err != nil {
				return err
			}
			out[a.ID] = *a
		}
		return rows.Err()
	})
	return out, err
}

// AccountsWithPassword reports which of ids are accounts with a Crowd
// password, so a sync need not hash passwords it would not store.
func (s *Store) AccountsWithPassword(ctx context.Context, ids []string) (map[string]bool, error) {
	var out map[string]bool
	err := s.view(ctx, func(t *tx) (err error) {
		out, err = present(ctx, t, `SELECT id FROM accounts WHERE password_hash <> '' AND id IN `, dedupeStrings(ids))
		return err
	})
	return out, err
}

// UpsertVideos inserts or updates videos by id with their creators (owner
// first). v.CreatorIDs are the owner and the co-creators the platform
// collected consent from (accepted); v.InvitedIDs the co-creators invited,
// pending until they accept through Crowd. A co-creator who already accepted
// stays accepted; one no longer listed is removed. Owners and collaborators
// must exist; a line naming an unknown one is rejected alone.
func (s *Store) UpsertVideos(ctx context.Context, vs []platform.Video) (map[int]error, error) {
	bad := map[int]error{}
	err := s.update(ctx, func(t *tx) error {
		clear(bad)
		var ids []string
		for i := range vs {
			ids = append(ids, vs[i].CreatorIDs...)
			ids = append(ids, vs[i].InvitedIDs...)
		}
		exists, err := present(ctx, t, `SELECT id FROM accounts WHERE id IN `, dedupeStrings(ids))
		if err != nil {
			return err
		}
		last := map[string]int{}
		skip := map[int]bool{}
		for i := range vs {
			for _, c := range append(slices.Clip(vs[i].CreatorIDs), vs[i].InvitedIDs...) {
				if !exists[c] {
					bad[i] = platform.Errorf(platform.ENOTFOUND, "account %q does not exist", c)
					break
				}
			}
			if bad[i] != nil {
				continue
			}
			if j, ok := last[vs[i].ID]; ok {
				skip[j] = true // superseded by the later line: its upsert wins
			}
			last[vs[i].ID] = i
		}
		var ok []*platform.Video
		for i := range vs {
			if bad[i] == nil && !skip[i] {
				ok = append(ok, &vs[i])
			}
		}
		for len(ok) > 0 {
			n := min(len(ok), syncRows)
			args := make([]any, 0, n*7)
			vids := make([]string, 0, n)
			for _, v := range ok[:n] {
				tags, _ := json.Marshal(v.Hashtags)
				args = append(args, v.ID, v.OwnerID, v.Title, v.Caption, string(tags), v.Sound, micros(v.CreatedAt))
				vids = append(vids, v.ID)
			}
			if _, err := t.exec(ctx, `INSERT INTO videos (id, owner_id, title, caption, hashtags, sound, created_at) VALUES `+rowsOf(n, 7)+
				` ON CONFLICT (id) DO UPDATE SET owner_id = excluded.owner_id, title = excluded.title`, args...); err != nil {
				return err
			}
			prev, err := priorCoCreators(ctx, t, vids)
			if err != nil {
				return err
			}
			for _, table := range []string{"video_creators", "video_invitations"} {
				if err := chunked(vids, func(chunk []any) error {
					_, err := t.exec(ctx, `DELETE FROM `+table+` WHERE video_id IN (`+placeholders(len(chunk))+`)`, chunk...)
					return err
				}); err != nil {
					return err
				}
			}
			now := micros(s.now())
			var cargs, iargs []any
			for _, v := range ok[:n] {
				pos := 0
				accept := func(c string) {
					p, was := prev[[2]string{v.ID, c}]
					if !was || p.pending {
						p.at = now
					}
					cargs = append(cargs, v.ID, c, pos, p.at)
					pos++
				}
				for _, c := range v.CreatorIDs {
					accept(c)
				}
				for _, c := range v.InvitedIDs {
					p, was := prev[[2]string{v.ID, c}]
					if was && !p.pending {
						accept(c) // consent given through Crowd stays
						continue
					}
					if !was {
						p.at = now
					}
					iargs = append(iargs, v.ID, c, pos, p.at)
					pos++
				}
			}
			if err := insertRows(ctx, t, `INSERT INTO video_creators (video_id, account_id, position, accepted_at) VALUES `, cargs, 4); err != nil {
				return err
			}
			if err := insertRows(ctx, t, `INSERT INTO video_invitations (video_id, account_id, position, invited_at) VALUES `, iargs, 4); err != nil {
				return err
			}
			ok = ok[n:]
		}
		return nil
	})
	for i := range bad {
		if bad[i] == nil {
			delete(bad, i)
		}
	}
	return bad, err
}

// priorState is a co-creator's state before a sync: pending (invited at
// at) or accepted (at at).
type priorState struct {
	pending bool
	at      int64
}

// priorCoCreators returns the creators and invitations of videos, keyed by
// video and account.
func priorCoCreators(ctx context.Context, t *tx, vids []string) (map[[2]string]priorState, error) {
	out := map[[2]string]priorState{}
	err := chunked(vids, func(chunk []any) error {
		args := append(slices.Clone(chunk), chunk...)
		rows, err := t.query(ctx, `SELECT video_id, account_id, 0, accepted_at FROM video_creators WHERE video_id IN (`+placeholders(len(chunk))+`)
UNION ALL SELECT video_id, account_id, 1, invited_at FROM video_invitations WHERE video_id IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v, a string
			var pending, at int64
			if err := rows.Scan(&v, &a, &pending, &at); err != nil {
				return err
			}
			out[[2]string{v, a}] = priorState{pending: pending != 0, at: at}
		}
		return rows.Err()
	})
	return out, err
}

// insertRows inserts args, k per row, with multi-row statements.
func insertRows(ctx context.Context, t *tx, q string, args []any, k int) error {
	for len(args) > 0 {
		m := min(len(args)/k, syncRows)
		if _, err := t.exec(ctx, q+rowsOf(m, k), args[:m*k]...); err != nil {
			return err
		}
		args = args[m*k:]
	}
	return nil
}

// rowsOf returns n parenthesized groups of k placeholders.
func rowsOf(n, k int) string {
	row := "(" + placeholders(k) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

func dedupeStrings(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
