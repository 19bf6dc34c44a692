package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
)

// DisclosureMode returns the disclosure mode the data was last served in,
// and false when none is recorded (a new database). The mode is stored as
// its name; a name that is not a mode is an error (only SetDisclosureMode
// writes it).
func (s *Store) DisclosureMode(ctx context.Context) (mode config.Mode, ok bool, err error) {
	var name string
	err = s.read.QueryRowContext(ctx, s.Rebind(`SELECT value FROM instance_settings WHERE name = ?`), "disclosure").Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, mapErr(err)
	}
	if mode, err = config.ParseMode(name); err != nil {
		return "", false, fmt.Errorf("recorded %w", err)
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
func (s *Store) SetDisclosureMode(ctx context.Context, from, mode config.Mode, forced bool, at time.Time) error {
	return s.update(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO instance_settings (name, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, "disclosure", string(mode), micros(at)); err != nil {
			return err
		}
		f := 0
		if forced {
			f = 1
		}
		_, err := t.exec(ctx, `INSERT INTO disclosure_changes (changed_at, from_mode, to_mode, forced) VALUES (?, ?, ?, ?)`, micros(at), string(from), string(mode), f)
		return err
	})
}

// DisclosureChange is one recorded change of the disclosure mode. From is
// "" for the first mode recorded.
type DisclosureChange struct {
	At       time.Time
	From, To config.Mode
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
			var from, to string
			var forced int
			if err := rows.Scan(&at, &from, &to, &forced); err != nil {
				return err
			}
			c.At, c.From, c.To, c.Forced = fromMicros(at), config.Mode(from), config.Mode(to), forced != 0
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
