package store

import (
	"context"
)

// VideoRef is what ingestion needs to know of a video.
type VideoRef struct {
	ID      string
	OwnerID string
}

// AccountRef is what ingestion needs to know of an account: its audience
// buckets' inputs.
type AccountRef struct {
	ID        string
	BirthDate string
	Gender    string
	Country   string
}

// VideoRefs returns the videos among ids that exist.
func (s *Store) VideoRefs(ctx context.Context, ids []string) ([]VideoRef, error) {
	var out []VideoRef
	err := s.view(ctx, func(t *tx) error {
		return chunked(ids, func(chunk []any) error {
			rows, err := t.query(ctx, `SELECT id, owner_id FROM videos WHERE id IN (`+placeholders(len(chunk))+`)`, chunk...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var r VideoRef
				if err := rows.Scan(&r.ID, &r.OwnerID); err != nil {
					return err
				}
				out = append(out, r)
			}
			return rows.Err()
		})
	})
	return out, err
}

// AccountRefs returns the accounts among ids that exist.
func (s *Store) AccountRefs(ctx context.Context, ids []string) ([]AccountRef, error) {
	var out []AccountRef
	err := s.view(ctx, func(t *tx) error {
		return chunked(ids, func(chunk []any) error {
			rows, err := t.query(ctx, `SELECT id, birth_date, gender, country FROM accounts WHERE id IN (`+placeholders(len(chunk))+`)`, chunk...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var r AccountRef
				if err := rows.Scan(&r.ID, &r.BirthDate, &r.Gender, &r.Country); err != nil {
					return err
				}
				out = append(out, r)
			}
			return rows.Err()
		})
	})
	return out, err
}

// chunked calls fn with ids in chunks small enough for any dialect's
// parameter limit.
func chunked(ids []string, fn func([]any) error) error {
	const size = 500
	buf := make([]any, 0, size)
	for i := 0; i < len(ids); i += size {
		buf = buf[:0]
		for _, id := range ids[i:min(i+size, len(ids))] {
			buf = append(buf, id)
		}
		if err := fn(buf); err != nil {
			return err
		}
	}
	return nil
}

// present runs q (ending in "IN ") over ids in chunks and returns the ids
// it found.
func present(ctx context.Context, t *tx, q string, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := chunked(ids, func(chunk []any) error {
		rows, err := t.query(ctx, q+`(`+placeholders(len(chunk))+`)`, chunk...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			out[id] = true
		}
		return rows.Err()
	})
	return out, err
}
