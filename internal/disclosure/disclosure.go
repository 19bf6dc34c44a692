// Package disclosure is the one place every number Crowd releases is read
// from. In exact mode it releases exact aggregate counts; in protected mode
// (the default) it releases only what the protected policy allows.
package disclosure

import (
	"context"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/store"
)

// Layer is the disclosure layer.
type Layer struct {
	mode  string
	store *store.Store
}

// New returns the disclosure layer for mode (config.Protected or config.Exact).
func New(mode string, s *store.Store) *Layer { return &Layer{mode: mode, store: s} }

// Mode returns the disclosure mode.
func (l *Layer) Mode() string { return l.mode }

// VideoCounts returns the public counters of videos.
//
// Likes and comments are public actions (their authors are shown), so both
// modes release them exactly. Views, shares and saves are private-identity
// metrics: exact mode releases exact totals; protected mode releases only
// published noisy cells. Until the cell release job publishes a video's
// cells, its protected views, shares and saves read 0 — never the exact
// value.
func (l *Layer) VideoCounts(ctx context.Context, ids []string) (map[string]platform.Counts, error) {
	out := make(map[string]platform.Counts, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	ph := make([]byte, 0, 3*len(ids))
	for i, id := range ids {
		args[i] = id
		if i > 0 {
			ph = append(ph, ", "...)
		}
		ph = append(ph, '?')
	}
	rows, err := l.store.ReadDB().QueryContext(ctx, l.store.Rebind(`SELECT video_id, views, likes, comments, shares, saves FROM video_totals WHERE video_id IN (`+string(ph)+`)`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var c platform.Counts
		if err := rows.Scan(&id, &c.Views, &c.Likes, &c.Comments, &c.Shares, &c.Saves); err != nil {
			return nil, err
		}
		if l.mode != config.Exact {
			c.Views, c.Shares, c.Saves = 0, 0, 0
		}
		out[id] = c
	}
	return out, rows.Err()
}
