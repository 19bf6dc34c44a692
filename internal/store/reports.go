package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
)

// The exact rollups the disclosure layer reads (internal/disclosure):
// daily and hourly rows of a video or a creator, audience sums, trends and
// public totals. Reads run on the read pool, one statement each.

// RollupScope selects whose rollup rows are read: a video's, or (VideoID
// empty) a creator account's.
type RollupScope struct {
	VideoID   string
	AccountID string
}

// table returns the scope's table of kind (day or hour) and its key
// column.
func (s RollupScope) table(kind string) (table, col string) {
	if s.VideoID != "" {
		return "video_" + kind, "video_id"
	}
	return "account_" + kind, "account_id"
}

// RollupCounters are the exact measures of a rollup row. A row has those
// of its table: hourly rows have no watch time, completions or followers,
// video rows no followers.
type RollupCounters struct {
	Views           int64
	Viewers         int64
	WatchMS         int64
	Completions     int64
	Likes           int64
	Comments        int64
	Shares          int64
	Saves           int64
	FollowersGained int64
	FollowersLost   int64
}

// DailyRollups calls fn with the scope's daily row of every day from..to
// that has one, in day order; a creator's with the rows deferred added
// (deferred_overlay.go).
func (s *Store) DailyRollups(ctx context.Context, sc RollupScope, from, to int64, fn func(day int64, c RollupCounters)) error {
	table, col := sc.table("day")
	cols := "views, viewers, watch_ms, completions, likes, comments, shares, saves, 0, 0"
	if sc.VideoID == "" {
		cols = "views, viewers, watch_ms, completions, likes, comments, shares, saves, followers_gained, followers_lost"
	}
	q := `SELECT day, ` + cols + ` FROM ` + table + ` WHERE ` + col + ` = ? AND day BETWEEN ? AND ? ORDER BY day`
	return s.periodRows(ctx, sc, DeferredDays, q, from, to, func(rows *sql.Rows, r *periodCounters) error {
		c := &r.c
		return rows.Scan(&r.period, &c.Views, &c.Viewers, &c.WatchMS, &c.Completions, &c.Likes, &c.Comments, &c.Shares, &c.Saves, &c.FollowersGained, &c.FollowersLost)
	}, fn)
}

// HourlyRollups calls fn with the scope's hourly row of every hour
// from..to that has one, in hour order; a creator's with the rows deferred
// added.
func (s *Store) HourlyRollups(ctx context.Context, sc RollupScope, from, to int64, fn func(hour int64, c RollupCounters)) error {
	table, col := sc.table("hour")
	q := `SELECT hour, views, viewers, likes, comments, shares, saves FROM ` + table + ` WHERE ` + col + ` = ? AND hour BETWEEN ? AND ? ORDER BY hour`
	return s.periodRows(ctx, sc, DeferredHours, q, from, to, func(rows *sql.Rows, r *periodCounters) error {
		c := &r.c
		return rows.Scan(&r.period, &c.Views, &c.Viewers, &c.Likes, &c.Comments, &c.Shares, &c.Saves)
	}, fn)
}

// periodRows calls fn with the rows of q (args: sc's video or creator,
// from, to), each read by scan, in period order. A creator's (on SQLite)
// are read in one snapshot with the rows of section deferred in it, and
// summed with them.
func (s *Store) periodRows(ctx context.Context, sc RollupScope, section int, q string, from, to int64, scan func(*sql.Rows, *periodCounters) error, fn func(int64, RollupCounters)) error {
	id := cmp.Or(sc.VideoID, sc.AccountID)
	args := []any{id, from, to}
	if sc.VideoID != "" || s.dialect != SQLite {
		// One row's counters, reused: scan is called through a func
		// value, so a row's own would escape, an allocation a row.
		var r periodCounters
		return s.scanRows(ctx, q, args, func(rows *sql.Rows) error {
			r = periodCounters{}
			if err := scan(rows, &r); err != nil {
				return err
			}
			fn(r.period, r.c)
			return nil
		})
	}
	var out []periodCounters
	err := s.view(ctx, func(t *tx) error {
		rows, err := t.query(ctx, q, args...)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			out = append(out, periodCounters{})
			return scan(rows, &out[len(out)-1])
		})
		if err != nil {
			return err
		}
		out, err = s.addDeferred(ctx, t, id, section, from, to, out)
		return err
	})
	if err != nil {
		return err
	}
	for _, r := range out {
		fn(r.period, r.c)
	}
	return nil
}

// trendChunk is how many videos one statement of a creator's trends reads.
const trendChunk = 500

// CreatorVideoIDs returns the ids of the videos the account created or
// co-created, in id order.
func (s *Store) CreatorVideoIDs(ctx context.Context, accountID string) ([]string, error) {
	var ids []string
	err := s.scanRows(ctx, `SELECT video_id FROM video_creators WHERE account_id = ? ORDER BY video_id`, []any{accountID}, func(rows *sql.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	return ids, err
}

// VideoDayViews calls fn with each of the videos that has daily rows in
// the days w0..w1 or b0..b1: its views over w0..w1 and over b0..b1, 500
// videos to a statement.
func (s *Store) VideoDayViews(ctx context.Context, videos []string, w0, w1, b0, b1 int64, fn func(videoID string, window, baseline int64)) error {
	return s.scanIn(ctx, `SELECT video_id,
	SUM(CASE WHEN day BETWEEN ? AND ? THEN views ELSE 0 END), SUM(CASE WHEN day BETWEEN ? AND ? THEN views ELSE 0 END)
FROM video_day WHERE day BETWEEN ? AND ? AND video_id`, ` GROUP BY video_id`, []any{w0, w1, b0, b1, min(w0, b0), max(w1, b1)}, videos, trendChunk, func(rows *sql.Rows) error {
		var id string
		var window, baseline int64
		if err := rows.Scan(&id, &window, &baseline); err != nil {
			return err
		}
		fn(id, window, baseline)
		return nil
	})
}

// HourlyViews calls fn with each of the videos' views summed over the
// hours h0..h1 (videos without hourly rows there are left out), 500
// videos to a statement.
func (s *Store) HourlyViews(ctx context.Context, videos []string, h0, h1 int64, fn func(videoID string, views int64)) error {
	return s.scanIn(ctx, `SELECT video_id, SUM(views) FROM video_hour
WHERE hour BETWEEN ? AND ? AND video_id`, ` GROUP BY video_id`, []any{h0, h1}, videos, trendChunk, func(rows *sql.Rows) error {
		var id string
		var v int64
		if err := rows.Scan(&id, &v); err != nil {
			return err
		}
		fn(id, v)
		return nil
	})
}

// VideoTotals calls fn with the lifetime totals of each of the videos that
// has them (views, likes, comments, shares and saves).
func (s *Store) VideoTotals(ctx context.Context, ids []string, fn func(videoID string, c RollupCounters)) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return s.scanRows(ctx, `SELECT video_id, views, likes, comments, shares, saves FROM video_totals WHERE video_id IN (`+placeholders(len(ids))+`)`, args, func(rows *sql.Rows) error {
		var id string
		var c RollupCounters
		if err := rows.Scan(&id, &c.Views, &c.Likes, &c.Comments, &c.Shares, &c.Saves); err != nil {
			return err
		}
		fn(id, c)
		return nil
	})
}

// ViewersBack returns the sum of video_day.viewers_back of the video over
// the days a..b: the pairs of a viewer's consecutive days that start in
// them (internal/rollup/viewers.go).
func (s *Store) ViewersBack(ctx context.Context, videoID string, a, b int64) (int64, error) {
	var pairs int64
	if err := s.queryReadRow(ctx, `SELECT COALESCE(SUM(viewers_back), 0) FROM video_day WHERE video_id = ? AND day BETWEEN ? AND ?`, videoID, a, b).Scan(&pairs); err != nil {
		return 0, fmt.Errorf("read returning viewers: %w", err)
	}
	return pairs, nil
}

// ViewerGaps calls fn with the video's gaps row (video_viewer_gaps) of
// every day strictly between after and before that has one.
func (s *Store) ViewerGaps(ctx context.Context, videoID string, after, before int64, fn func(day int64, gaps []byte)) error {
	err := s.scanRows(ctx, `SELECT day, gaps FROM video_viewer_gaps WHERE video_id = ? AND day > ? AND day < ?`, []any{videoID, after, before}, func(rows *sql.Rows) error {
		var d int64
		var gaps []byte
		if err := rows.Scan(&d, &gaps); err != nil {
			return err
		}
		fn(d, gaps)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read returning viewers: %w", err)
	}
	return nil
}
