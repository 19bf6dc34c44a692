package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// DisclosureMode returns the disclosure mode the data was last served in,
// and false when none is recorded (a new database, or one from before the
// mode was recorded).
func (s *Store) DisclosureMode(ctx context.Context) (mode string, ok bool, err error) {
	err = s.read.QueryRowContext(ctx, s.Rebind(`SELECT value FROM instance_settings WHERE name = ?`), "disclosure").Scan(&mode)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, mapErr(err)
	}
	return mode, true, nil
}

// HasReleasedCells reports whether any protected (noisy) cell has been
// released.
func (s *Store) HasReleasedCells(ctx context.Context) (bool, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM cells LIMIT 1) AS c`).Scan(&n)
	return n > 0, mapErr(err)
}

// SetDisclosureMode records mode as the disclosure mode, and the change
// from the one recorded before ("" for none); forced marks a switch the
// operator allowed explicitly.
func (s *Store) SetDisclosureMode(ctx context.Context, from, mode string, forced bool, at time.Time) error {
	return s.update(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO instance_settings (name, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, "disclosure", mode, micros(at)); err != nil {
			return err
		}
		f := 0
		if forced {
			f = 1
		}
		_, err := t.exec(ctx, `INSERT INTO disclosure_changes (changed_at, from_mode, to_mode, forced) VALUES (?, ?, ?, ?)`, micros(at), from, mode, f)
		return err
	})
}

// DisclosureChange is one recorded change of the disclosure mode.
type DisclosureChange struct {
	At       time.Time
	From, To string
	Forced   bool
}

// DisclosureChanges returns the recorded changes of the disclosure mode,
// oldest first.
func (s *Store) DisclosureChanges(ctx context.Context) ([]DisclosureChange, error) {
	var out []DisclosureChange
	err := s.view(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT changed_at, from_mode, to_mode, forced FROM disclosure_changes ORDER BY seq`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c DisclosureChange
			var at int64
			var forced int
			if err := rows.Scan(&at, &c.From, &c.To, &forced); err != nil {
				return err
			}
			c.At, c.Forced = fromMicros(at), forced != 0
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// Setting returns the value of the instance setting name, and false when
// it is not set.
func (s *Store) Setting(ctx context.Context, name string) (value string, ok bool, err error) {
	err = s.read.QueryRowContext(ctx, s.Rebind(`SELECT value FROM instance_settings WHERE name = ?`), name).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, mapErr(err)
	}
	return value, true, nil
}

// SetSetting sets the instance setting name to value.
func (s *Store) SetSetting(ctx context.Context, name, value string, at time.Time) error {
	return s.update(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `INSERT INTO instance_settings (name, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, name, value, micros(at))
		return err
	})
}
