package store

import (
	"context"
	"database/sql"
	"slices"
	"time"
)

// The disclosure layer's queries (internal/disclosure): released cells,
// the bounded numbers cells are computed from, and the videos whose cells
// are read. Reads run on the read pool, one statement each, without a
// transaction: a cell never changes once stored, and the rollups of a
// closed period no longer change either.

// cellChunk is how many subjects or videos one statement of the cell
// queries names: well inside every dialect's parameter limit.
const cellChunk = 200

// Cell is a released cell: its key, its noisy value and how that value was
// made.
type Cell struct {
	Subject     string // "video:<id>"
	Granularity string // "day" or "hour"
	Period      int64  // a period.Day or period.Hour number, by Granularity
	Metric      string
	Dim         string // "" for a total
	Bucket      string // "" for a total
	Value       int64
	Mechanism   string
	EpsNum      uint64
	EpsDen      uint64
	Sensitivity uint64
	KID         uint32
	Schema      int
	ReleasedAt  int64 // Unix microseconds
}

// CellValue is a stored cell's key and value, as ReadCells returns it.
type CellValue struct {
	Subject, Metric, Dim, Bucket string
	Period, Value                int64
}

// ReadCells calls fn with every stored cell of granularity gran, of the
// subjects, in the periods from..to.
func (s *Store) ReadCells(ctx context.Context, gran string, from, to int64, subjects []string, fn func(CellValue)) error {
	return s.scanIn(ctx, `SELECT subject, period, metric, dim, bucket, value FROM cells
WHERE granularity = ? AND period BETWEEN ? AND ? AND subject`, "", []any{gran, from, to}, subjects, cellChunk, func(rows *sql.Rows) error {
		var c CellValue
		if err := rows.Scan(&c.Subject, &c.Period, &c.Metric, &c.Dim, &c.Bucket, &c.Value); err != nil {
			return err
		}
		fn(c)
		return nil
	})
}

// InsertCells stores cells, cellChunk to a statement, each unless a cell
// of its key is stored already (INSERT … ON CONFLICT DO NOTHING): of two
// concurrent releases of one cell, the first stored wins, and every later
// read returns it.
func (s *Store) InsertCells(ctx context.Context, cells []Cell) error {
	const cols = 14
	args := make([]any, 0, cols*min(len(cells), cellChunk))
	for i := 0; i < len(cells); i += cellChunk {
		chunk := cells[i:min(i+cellChunk, len(cells))]
		args = args[:0]
		for _, c := range chunk {
			args = append(args, c.Subject, c.Granularity, c.Period, c.Metric, c.Dim, c.Bucket, c.Value,
				c.Mechanism, c.EpsNum, c.EpsDen, c.Sensitivity, c.KID, c.Schema, c.ReleasedAt)
		}
		if _, err := s.write.ExecContext(ctx, s.Rebind(`INSERT INTO cells (subject, granularity, period, metric, dim, bucket, value, mechanism, eps_num, eps_den, sensitivity, kid, schema_version, released_at) VALUES `+
			rowsOf(len(chunk), cols)+` ON CONFLICT DO NOTHING`), args...); err != nil {
			return err
		}
	}
	return nil
}

// ReleasedDays calls fn with each (subject, day) of the subjects and the
// days from..to that has a released daily cell, once each.
func (s *Store) ReleasedDays(ctx context.Context, from, to int64, subjects []string, fn func(subject string, day int64)) error {
	return s.scanIn(ctx, `SELECT DISTINCT subject, period FROM cells
WHERE granularity = 'day' AND period BETWEEN ? AND ? AND subject`, "", []any{from, to}, subjects, cellChunk, func(rows *sql.Rows) error {
		var subject string
		var day int64
		if err := rows.Scan(&subject, &day); err != nil {
			return err
		}
		fn(subject, day)
		return nil
	})
}

// BoundedDay is a video's day of bounded (protected-mode) measures, from
// which its daily cells are computed.
type BoundedDay struct {
	VideoID                              string
	Day                                  int64
	Viewers, Views, Completions, WatchMS int64
	Sharers, Savers                      int64
}

// BoundedDays calls fn with the bounded measures of every day from..to of
// the videos that has a row.
func (s *Store) BoundedDays(ctx context.Context, from, to int64, videos []string, fn func(BoundedDay)) error {
	return s.videoRows(ctx, `SELECT video_id, day, viewers, p_views, p_completions, p_watch_ms, sharers, savers FROM video_day WHERE day BETWEEN ? AND ? AND video_id`,
		from, to, videos, func(rows *sql.Rows) error {
			var d BoundedDay
			if err := rows.Scan(&d.VideoID, &d.Day, &d.Viewers, &d.Views, &d.Completions, &d.WatchMS, &d.Sharers, &d.Savers); err != nil {
				return err
			}
			fn(d)
			return nil
		})
}

// BoundedHours calls fn with the bounded views of every hour from..to of
// the videos that has a row.
func (s *Store) BoundedHours(ctx context.Context, from, to int64, videos []string, fn func(videoID string, hour, views int64)) error {
	return s.videoRows(ctx, `SELECT video_id, hour, p_views FROM video_hour WHERE hour BETWEEN ? AND ? AND video_id`,
		from, to, videos, func(rows *sql.Rows) error {
			var video string
			var hour, views int64
			if err := rows.Scan(&video, &hour, &views); err != nil {
				return err
			}
			fn(video, hour, views)
			return nil
		})
}

// videoRows runs q (ending in "video_id", its two parameters a range of
// periods) over the videos, cellChunk at a time, calling scan for each row.
func (s *Store) videoRows(ctx context.Context, q string, from, to int64, videos []string, scan func(*sql.Rows) error) error {
	return s.scanIn(ctx, q, "", []any{from, to}, videos, cellChunk, scan)
}

// scanIn runs q+" IN (…)"+tail on the read pool with the parameters lead
// and then the ids, at most chunk ids to a statement, and calls scan for
// each row.
func (s *Store) scanIn(ctx context.Context, q, tail string, lead []any, ids []string, chunk int, scan func(*sql.Rows) error) error {
	args := make([]any, 0, len(lead)+min(len(ids), chunk))
	for c := range slices.Chunk(ids, chunk) {
		args = append(args[:0], lead...)
		for _, id := range c {
			args = append(args, id)
		}
		if err := s.scanRows(ctx, q+` IN (`+placeholders(len(c))+`)`+tail, args, scan); err != nil {
			return err
		}
	}
	return nil
}

// scanRows runs q on the read pool and calls scan for each row.
func (s *Store) scanRows(ctx context.Context, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := s.queryRead(ctx, q, args...)
	return eachRow(rows, err, scan)
}

// eachRow calls scan for each of rows, the result of a query that failed
// with err if it is not nil, and closes them.
func eachRow(rows *sql.Rows, err error, scan func(*sql.Rows) error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// int64Rows returns the first column of every row of a query (rows, err)
// of one integer column.
func int64Rows(rows *sql.Rows, err error) ([]int64, error) {
	var out []int64
	err = eachRow(rows, err, func(rows *sql.Rows) error {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// VideoCreation is a video's id and creation time.
type VideoCreation struct {
	ID      string
	Created time.Time
}

// VideoCreated returns the video's id and creation time (none if there is
// no such video).
func (s *Store) VideoCreated(ctx context.Context, videoID string) ([]VideoCreation, error) {
	return s.videoCreations(ctx, `SELECT id, created_at FROM videos WHERE id = ?`, videoID)
}

// CreatorVideosCreated returns the id and creation time of every video the
// account created or co-created.
func (s *Store) CreatorVideosCreated(ctx context.Context, accountID string) ([]VideoCreation, error) {
	return s.videoCreations(ctx, `SELECT v.id, v.created_at FROM videos v JOIN video_creators c ON c.video_id = v.id WHERE c.account_id = ?`, accountID)
}

// VideosCreatedBefore returns, in id order, up to limit videos created
// before the instant before whose ids sort after after.
func (s *Store) VideosCreatedBefore(ctx context.Context, after string, before time.Time, limit int) ([]VideoCreation, error) {
	return s.videoCreations(ctx, `SELECT id, created_at FROM videos WHERE id > ? AND created_at < ? ORDER BY id LIMIT ?`, after, before.UnixMicro(), limit)
}

func (s *Store) videoCreations(ctx context.Context, q string, args ...any) ([]VideoCreation, error) {
	var out []VideoCreation
	err := s.scanRows(ctx, q, args, func(rows *sql.Rows) error {
		var v VideoCreation
		var us int64
		if err := rows.Scan(&v.ID, &us); err != nil {
			return err
		}
		v.Created = time.UnixMicro(us).UTC()
		out = append(out, v)
		return nil
	})
	return out, err
}
