package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// migrationSteps are the steps in Go that run after a migration's SQL, in
// its transaction.
var migrationSteps = map[string]func(context.Context, *tx) error{
	"0002_packed_audience.sql":    moveAudienceRows,
	"0003_viewer_history_key.sql": moveViewerHistory,
	"0004_spill_runs.sql":         moveSpillRows,
}

// moveAudienceRows moves the rows of the audience tables of one row per
// bucket (0001_schema.sql) into the packed tables 0002 creates, and drops
// the former.
func moveAudienceRows(ctx context.Context, t *tx) error {
	for _, m := range []struct {
		from string
		to   AudienceTable
	}{
		{"video_dim_day", VideoAudienceDayTable},
		{"video_dim_month", videoAudienceMonthTable},
		{"account_dim_day", AccountAudienceDayTable},
		{"account_dim_month", AccountAudienceMonthTable},
	} {
		if err := moveAudienceTable(ctx, t, m.from, m.to); err != nil {
			return fmt.Errorf("move %s: %w", m.from, err)
		}
		if _, err := t.exec(ctx, `DROP TABLE `+m.from); err != nil {
			return err
		}
	}
	return nil
}

// movePage is how many rows of an old audience table one read takes (a
// variable for tests).
var movePage = 50_000

// moveAudienceTable moves the rows of an old audience table into packed
// rows, a page of rows at a time in key order: a page's last key may have
// rows on the next page, so it is left to the next read.
func moveAudienceTable(ctx context.Context, t *tx, from string, to AudienceTable) error {
	q := `SELECT ` + to.id + `, ` + to.period + `, dim, bucket, views, viewers FROM ` + from
	order := ` ORDER BY ` + to.id + `, ` + to.period + `, dim, bucket LIMIT ` + fmt.Sprint(movePage)
	var after *AudienceRow
	for {
		var rows *sql.Rows
		var err error
		if after == nil {
			rows, err = t.query(ctx, q+order)
		} else {
			rows, err = t.query(ctx, q+` WHERE (`+to.id+`, `+to.period+`) > (?, ?)`+order, after.ID, after.Period)
		}
		var packed []AudienceRow
		n := 0
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			n++
			var id, dim string
			var c AudienceCount
			var p int64
			if err := rows.Scan(&id, &p, &dim, &c.Bucket, &c.Views, &c.Viewers); err != nil {
				return err
			}
			d, ok := AudienceDimension(dim)
			if !ok {
				return fmt.Errorf("unknown audience dimension %q", dim)
			}
			c.Dim = d
			if k := len(packed); k == 0 || packed[k-1].ID != id || packed[k-1].Period != p {
				packed = append(packed, AudienceRow{ID: id, Period: p})
			}
			r := &packed[len(packed)-1]
			r.Counts = append(r.Counts, c)
			return nil
		})
		if err != nil {
			return err
		}
		if n == movePage {
			if len(packed) == 1 {
				return fmt.Errorf("%s: more than %d buckets in one row", from, movePage)
			}
			packed = packed[:len(packed)-1] // its rows may go on
		}
		for chunk := range slices.Chunk(packed, rollupChunk) {
			args := make([]any, 0, 3*len(chunk))
			for _, r := range chunk {
				sortCounts(r.Counts)
				args = append(args, r.ID, r.Period, AppendAudience(nil, r.Counts))
			}
			if _, err := t.exec(ctx, `INSERT INTO `+to.name+` (`+to.id+`, `+to.period+`, counts) VALUES `+rowsOf(len(chunk), 3), args...); err != nil {
				return err
			}
		}
		if n < movePage {
			return nil
		}
		after = &packed[len(packed)-1]
	}
}

// sortCounts puts counts in (dimension, bucket) order, a packed row's.
func sortCounts(counts []AudienceCount) {
	slices.SortFunc(counts, func(x, y AudienceCount) int {
		return cmp.Or(cmp.Compare(x.Dim, y.Dim), strings.Compare(x.Bucket, y.Bucket))
	})
}
