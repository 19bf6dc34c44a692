package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/crowd-dev/crowd/internal/platform"
)

// Tokens are stored as hashes only (the caller hashes them); a database dump
// holds no usable credential.

// CreateSession stores a session for the account.
func (s *Store) CreateSession(ctx context.Context, tokenHash, accountID string, created, expires time.Time) error {
	return s.update(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			tokenHash, accountID, micros(created), micros(expires))
		return err
	})
}

// SessionAccount returns the account of an unexpired session.
func (s *Store) SessionAccount(ctx context.Context, tokenHash string, now time.Time) (*platform.Account, error) {
	var a *platform.Account
	err := s.view(ctx, func(t *tx) (err error) {
		a, err = scanAccount(t.queryRow(ctx, `SELECT `+prefixed("a.", accountColumns)+` FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = ? AND s.expires_at > ?`,
			tokenHash, micros(now)))
		return err
	})
	if platform.ErrorCode(err) == platform.ENOTFOUND {
		return nil, platform.Errorf(platform.EUNAUTHORIZED, "invalid or expired token")
	}
	return a, err
}

// DeleteSession deletes a session (log out).
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	return s.update(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash)
		return err
	})
}

// DeleteExpiredSessions removes sessions that expired before now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.update(ctx, func(t *tx) error {
		res, err := t.exec(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, micros(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// CreateServiceToken stores a service token for the platform's own servers.
func (s *Store) CreateServiceToken(ctx context.Context, id, tokenHash, name string, created time.Time) error {
	return s.update(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `INSERT INTO service_tokens (id, token_hash, name, created_at) VALUES (?, ?, ?, ?)`, id, tokenHash, name, micros(created))
		return err
	})
}

// ServiceTokenInfo describes a service token; the token itself is never
// stored, only its hash, and ID is not a secret.
type ServiceTokenInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// LastUsedAt is when the token last authenticated a request, to within
	// TokenUseGranularity; zero if never.
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// TokenUseGranularity is how stale a service token's LastUsedAt may be:
// it is written at most once per this period per token, not on every
// request.
const TokenUseGranularity = time.Minute

// ServiceToken returns the service token with this hash, or EUNAUTHORIZED.
// It records the use at now when the stored last use is older than
// TokenUseGranularity, so a busy token costs one write a minute.
func (s *Store) ServiceToken(ctx context.Context, tokenHash string, now time.Time) (*ServiceTokenInfo, error) {
	var tok ServiceTokenInfo
	var created, used int64
	err := s.view(ctx, func(t *tx) error {
		return t.queryRow(ctx, `SELECT id, name, created_at, last_used_at FROM service_tokens WHERE token_hash = ?`, tokenHash).Scan(&tok.ID, &tok.Name, &created, &used)
	})
	if platform.ErrorCode(err) == platform.ENOTFOUND {
		return nil, platform.Errorf(platform.EUNAUTHORIZED, "invalid token")
	}
	if err != nil {
		return nil, err
	}
	tok.CreatedAt = fromMicros(created)
	if used != 0 {
		tok.LastUsedAt = fromMicros(used)
	}
	if now.Sub(tok.LastUsedAt) >= TokenUseGranularity {
		// The condition in SQL keeps concurrent requests (and processes)
		// from moving it back.
		err := s.update(ctx, func(t *tx) error {
			_, err := t.exec(ctx, `UPDATE service_tokens SET last_used_at = ? WHERE id = ? AND last_used_at < ?`, micros(now), tok.ID, micros(now))
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("record service token use: %w", err)
		}
		tok.LastUsedAt = now
	}
	return &tok, nil
}

// ServiceTokens lists the service tokens, oldest first.
func (s *Store) ServiceTokens(ctx context.Context) ([]ServiceTokenInfo, error) {
	out := []ServiceTokenInfo{}
	err := s.view(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT id, name, created_at, last_used_at FROM service_tokens ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var tok ServiceTokenInfo
			var created, used int64
			if err := rows.Scan(&tok.ID, &tok.Name, &created, &used); err != nil {
				return err
			}
			tok.CreatedAt = fromMicros(created)
			if used != 0 {
				tok.LastUsedAt = fromMicros(used)
			}
			out = append(out, tok)
		}
		return rows.Err()
	})
	return out, err
}

// DeleteServiceToken revokes a service token by id; ENOTFOUND if there is
// none. The next request with it is refused.
func (s *Store) DeleteServiceToken(ctx context.Context, id string) error {
	return s.update(ctx, func(t *tx) error {
		res, err := t.exec(ctx, `DELETE FROM service_tokens WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return platform.Errorf(platform.ENOTFOUND, "service token not found")
		}
		return nil
	})
}

// CreateApp stores an app token of an account.
func (s *Store) CreateApp(ctx context.Context, a *platform.App, tokenHash string) error {
	return s.update(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `INSERT INTO apps (id, account_id, name, scopes, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			a.ID, a.AccountID, a.Name, strings.Join(a.Scopes, " "), tokenHash, micros(a.CreatedAt))
		return err
	})
}

func scanApp(row interface{ Scan(...any) error }) (*platform.App, error) {
	var a platform.App
	var scopes string
	var created int64
	if err := row.Scan(&a.ID, &a.AccountID, &a.Name, &scopes, &created); err != nil {
		if err == sql.ErrNoRows {
			return nil, platform.Errorf(platform.ENOTFOUND, "app not found")
		}
		return nil, err
	}
	a.Scopes = strings.Fields(scopes)
	a.CreatedAt = fromMicros(created)
	return &a, nil
}

// AppByToken returns the app of a token, or EUNAUTHORIZED.
func (s *Store) AppByToken(ctx context.Context, tokenHash string) (*platform.App, error) {
	var a *platform.App
	err := s.view(ctx, func(t *tx) (err error) {
		a, err = scanApp(t.queryRow(ctx, `SELECT id, account_id, name, scopes, created_at FROM apps WHERE token_hash = ?`, tokenHash))
		return err
	})
	if platform.ErrorCode(err) == platform.ENOTFOUND {
		return nil, platform.Errorf(platform.EUNAUTHORIZED, "invalid or revoked token")
	}
	return a, err
}

// Apps lists an account's app tokens, newest first.
func (s *Store) Apps(ctx context.Context, accountID string) ([]platform.App, error) {
	out := []platform.App{}
	err := s.view(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT id, account_id, name, scopes, created_at FROM apps WHERE account_id = ? ORDER BY created_at DESC, id`, accountID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanApp(rows)
			if err != nil {
				return err
			}
			out = append(out, *a)
		}
		return rows.Err()
	})
	return out, err
}

// DeleteApp revokes an app token of the account. Another account's app is
// ENOTFOUND, so ids of others' apps cannot be probed.
func (s *Store) DeleteApp(ctx context.Context, accountID, appID string) error {
	return s.update(ctx, func(t *tx) error {
		res, err := t.exec(ctx, `DELETE FROM apps WHERE id = ? AND account_id = ?`, appID, accountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return platform.Errorf(platform.ENOTFOUND, "app not found")
		}
		return nil
	})
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}
