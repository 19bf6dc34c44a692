package store

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"modernc.org/sqlite"
)

// Audience rows are packed: one row per video (or creator) and day (or
// month) holds the views and viewers of every audience bucket of that
// period, instead of one row per bucket. The buckets were two thirds of
// the rollup rows and each row is a B-tree write on the one writer
// (docs/PERFORMANCE.md, "Audience rows packed"); a packed row is read,
// merged in Go and written once per batch.
//
// A packed value is a sequence of entries in (dimension, bucket) order:
//
//	dimension  1 byte, an index in AudienceDimensions
//	bucket     uvarint length, then its bytes
//	views      zig-zag varint
//	viewers    zig-zag varint

// AudienceDimensions are the audience dimensions, in the order of their
// indexes in a packed row.
var AudienceDimensions = [...]string{"source", "age", "gender", "country"}

// The audience dimensions' indexes.
const (
	AudienceSource uint8 = iota
	AudienceAge
	AudienceGender
	AudienceCountry
)

// AudienceCount is one audience bucket's views and viewers.
type AudienceCount struct {
	Dim     uint8 // an index in AudienceDimensions
	Bucket  string
	Views   int64
	Viewers int64
}

// AudienceRow is what a batch adds to one packed row: a video's or a
// creator's (ID) in one day or month (Period).
type AudienceRow struct {
	ID     string
	Period int64
	Counts []AudienceCount // in (Dim, Bucket) order, each bucket once
	// Packed is the counts packed (AppendAudience), in place of Counts
	// where not nil.
	Packed []byte
}

// appendPacked appends the row's packed counts to b.
func (r *AudienceRow) appendPacked(b []byte) []byte {
	if r.Packed != nil {
		return append(b, r.Packed...)
	}
	return AppendAudience(b, r.Counts)
}

// AudienceTable is a table of packed audience rows.
type AudienceTable struct {
	name, id, period string
	// days is the rollup table of the same key whose rows hold the packed
	// values on SQLite (see audienceIn), or "".
	days string
}

// Name returns the table's name.
func (t AudienceTable) Name() string { return t.name }

// The packed audience tables: a video's or a creator's buckets by day, and
// a creator's sums by month (month numbers: year*12 + month-1). A video's
// audience is kept by day only (migration 0008 on SQLite, 0005 on
// PostgreSQL): its monthly rows cost the writer a row per video and month
// in every batch that touched the video, and a video's year is at most
// 365 days to sum.
var (
	VideoAudienceDayTable     = AudienceTable{"video_audience_day", "video_id", "day", "video_day"}
	AccountAudienceDayTable   = AudienceTable{"account_audience_day", "account_id", "day", "account_day"}
	AccountAudienceMonthTable = AudienceTable{"account_audience_month", "account_id", "month", ""}

	// videoAudienceMonthTable held a video's sums by month until the
	// migration above; migration 0002 still moves rows into it.
	videoAudienceMonthTable = AudienceTable{"video_audience_month", "video_id", "month", ""}
)

// audienceIn is where a packed table's values are stored in a dialect:
// the table, its key columns and the column of the packed value.
//
// On SQLite a day's packed audience is a column of that day's rollup row,
// video_day.audience and account_day.audience (migration 0007), NULL where
// the day has no audience: a batch writes each video-day and creator-day
// once, counters and buckets in one upsert (AddDayRows), where two tables
// of the same key took two B-tree writes on the one writer, about a third
// of a batch's rollup rows (docs/PERFORMANCE.md, "A day's audience in its
// day row"). On PostgreSQL the day rows of creators are added to by
// several aggregators with additive upserts, while a packed value is read
// under a row lock and merged in Go (addAudiencePostgres): the two stay in
// tables of their own there.
func (t AudienceTable) audienceIn(d Dialect) (table, id, period, counts string) {
	if d == SQLite && t.days != "" {
		return t.days, t.id, t.period, "audience"
	}
	return t.name, t.id, t.period, "counts"
}

// mergeSet is the SET clause of an upsert adding excluded's packed value
// to the stored one in column c of table: SQLite's merge function is
// called only where both hold buckets.
func mergeSet(table, c string) string {
	return c + ` = CASE WHEN excluded.` + c + ` IS NULL THEN ` + table + `.` + c + ` WHEN ` + table + `.` + c + ` IS NULL THEN excluded.` + c +
		` ELSE ` + mergeFunction + `(` + table + `.` + c + `, excluded.` + c + `) END`
}

// AppendAudience appends the packed entries of counts (in (Dim, Bucket)
// order, each bucket once) to b, as AudienceRow.Packed holds them.
func AppendAudience(b []byte, counts []AudienceCount) []byte {
	for _, c := range counts {
		b = appendAudienceEntry(b, c.Dim, c.Bucket, c.Views, c.Viewers)
	}
	return b
}

func appendAudienceEntry[S string | []byte](b []byte, dim uint8, bucket S, views, viewers int64) []byte {
	b = append(b, dim)
	b = binary.AppendUvarint(b, uint64(len(bucket)))
	b = append(b, bucket...)
	b = binary.AppendVarint(b, views)
	return binary.AppendVarint(b, viewers)
}

var errAudience = errors.New("malformed packed audience row")

// audienceReader reads the entries of a packed value in turn.
type audienceReader struct {
	b []byte
	// The current entry.
	dim            uint8
	bucket         []byte
	views, viewers int64
}

// next reads the next entry; it returns false at the end or on a malformed
// value (err tells which).
func (r *audienceReader) next() (bool, error) {
	if len(r.b) == 0 {
		return false, nil
	}
	r.dim = r.b[0]
	n, k := binary.Uvarint(r.b[1:])
	if k <= 0 || n > uint64(len(r.b)-1-k) || int(r.dim) >= len(AudienceDimensions) {
		return false, errAudience
	}
	r.b = r.b[1+k:]
	r.bucket, r.b = r.b[:n], r.b[n:]
	var ok bool
	if r.views, ok = r.varint(); !ok {
		return false, errAudience
	}
	if r.viewers, ok = r.varint(); !ok {
		return false, errAudience
	}
	return true, nil
}

func (r *audienceReader) varint() (int64, bool) {
	v, k := binary.Varint(r.b)
	if k <= 0 {
		return 0, false
	}
	r.b = r.b[k:]
	return v, true
}

// eachAudience calls fn with every entry of a packed value.
func eachAudience(b []byte, fn func(dim uint8, bucket []byte, views, viewers int64)) error {
	r := audienceReader{b: b}
	for {
		ok, err := r.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		fn(r.dim, r.bucket, r.views, r.viewers)
	}
}

// MergeAudience appends to dst the packed value of x plus y, two packed
// values; it fails on a malformed value.
func MergeAudience(dst, x, y []byte) ([]byte, error) {
	rx, ry := audienceReader{b: x}, audienceReader{b: y}
	okx, err := rx.next()
	if err != nil {
		return dst, err
	}
	oky, err := ry.next()
	for err == nil && (okx || oky) {
		c := 1 // which comes first: -1 x's entry, 1 y's, 0 both
		switch {
		case !okx:
		case !oky:
			c = -1
		default:
			c = cmp.Or(cmp.Compare(rx.dim, ry.dim), bytes.Compare(rx.bucket, ry.bucket))
		}
		switch {
		case c < 0:
			dst = appendAudienceEntry(dst, rx.dim, rx.bucket, rx.views, rx.viewers)
			okx, err = rx.next()
		case c > 0:
			dst = appendAudienceEntry(dst, ry.dim, ry.bucket, ry.views, ry.viewers)
			oky, err = ry.next()
		default:
			dst = appendAudienceEntry(dst, rx.dim, rx.bucket, rx.views+ry.views, rx.viewers+ry.viewers)
			if okx, err = rx.next(); err == nil {
				oky, err = ry.next()
			}
		}
	}
	return dst, err
}

// mergeFunction is SQLite's crowd_audience_merge(x, y): the packed value
// of x plus y, so that SQLite merges a packed row in its upsert.
const mergeFunction = "crowd_audience_merge"

func init() {
	registerMerge(mergeFunction, func(x, y []byte) ([]byte, error) {
		return MergeAudience(make([]byte, 0, len(x)+len(y)), x, y)
	})
}

// registerMerge registers name as SQLite's deterministic function of two
// packed values (NULL read as empty) that merge returns the merge of.
func registerMerge(name string, merge func(x, y []byte) ([]byte, error)) {
	sqlite.MustRegisterDeterministicScalarFunction(name, 2, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		x, _ := args[0].([]byte)
		y, _ := args[1].([]byte)
		return merge(x, y)
	})
}

// AddAudience adds rows, in (ID, Period) order, to the packed table t:
// each row's counts are merged into the stored ones. SQLite merges them in
// its upsert (crowd_audience_merge); PostgreSQL in addAudiencePostgres.
func (w *RowWriter) AddAudience(t AudienceTable, rows []AudienceRow) error {
	if w.d == Postgres {
		return w.addAudiencePostgres(t, rows)
	}
	table, id, period, counts := t.audienceIn(w.d)
	var buf []byte
	for chunk := range rollupChunks(w.d, rows) {
		var args []any
		buf, args = packedArgs(buf[:0], chunk)
		if _, err := w.rtx.exec(w.ctx, `INSERT INTO `+table+` (`+id+`, `+period+`, `+counts+`) VALUES `+rowsOf(len(chunk), 3)+
			` ON CONFLICT (`+id+`, `+period+`) DO UPDATE SET `+mergeSet(table, counts), args...); err != nil {
			return fmt.Errorf("add %s: %w", t.name, err)
		}
	}
	return nil
}

// packedArgs packs the rows' counts into buf and returns it and the rows'
// parameters: id, period, packed value.
func packedArgs(buf []byte, rows []AudienceRow) ([]byte, []any) {
	ends := make([]int, len(rows))
	for i, r := range rows {
		buf = r.appendPacked(buf)
		ends[i] = len(buf)
	}
	args := make([]any, 0, 3*len(rows))
	start := 0
	for i, r := range rows {
		args = append(args, r.ID, r.Period, buf[start:ends[i]:ends[i]])
		start = ends[i]
	}
	return buf, args
}

// addAudiencePostgres adds rows on PostgreSQL, where aggregators share
// creators' rows: the missing rows are inserted first, then the others
// read under a row lock, both in key order, merged here and written.
func (w *RowWriter) addAudiencePostgres(t AudienceTable, rows []AudienceRow) error {
	type key struct {
		id     string
		period int64
	}
	inserted := map[key]bool{}
	var buf []byte
	for chunk := range slices.Chunk(rows, rollupChunk) {
		var args []any
		buf, args = packedArgs(buf[:0], chunk)
		rows, err := w.rtx.query(w.ctx, `INSERT INTO `+t.name+` (`+t.id+`, `+t.period+`, counts) VALUES `+rowsOf(len(chunk), 3)+
			` ON CONFLICT DO NOTHING RETURNING `+t.id+`, `+t.period, args...)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var k key
			err := rows.Scan(&k.id, &k.period)
			inserted[k] = true
			return err
		})
		if err != nil {
			return fmt.Errorf("add %s: %w", t.name, err)
		}
	}
	pending := slices.DeleteFunc(slices.Clone(rows), func(r AudienceRow) bool { return inserted[key{r.ID, r.Period}] })
	for chunk := range slices.Chunk(pending, rollupChunk) {
		args := make([]any, 0, 2*len(chunk))
		for _, r := range chunk {
			args = append(args, r.ID, r.Period)
		}
		stored := make(map[key][]byte, len(chunk))
		rows, err := w.rtx.query(w.ctx, `SELECT `+t.id+`, `+t.period+`, counts FROM `+t.name+
			` WHERE (`+t.id+`, `+t.period+`) IN (VALUES `+periodKeys(len(chunk))+`) ORDER BY `+t.id+`, `+t.period+` FOR UPDATE`, args...)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var k key
			var b []byte
			err := rows.Scan(&k.id, &k.period, &b)
			stored[k] = b
			return err
		})
		if err != nil {
			return fmt.Errorf("add %s: %w", t.name, err)
		}
		buf = buf[:0]
		merged := make([]any, 0, 3*len(chunk))
		for _, r := range chunk {
			start := len(buf)
			if buf, err = MergeAudience(buf, stored[key{r.ID, r.Period}], r.appendPacked(nil)); err != nil {
				return fmt.Errorf("add %s (%s, %d): %w", t.name, r.ID, r.Period, err)
			}
			merged = append(merged, r.ID, r.Period, buf[start:len(buf):len(buf)])
		}
		if _, err := w.rtx.exec(w.ctx, `INSERT INTO `+t.name+` (`+t.id+`, `+t.period+`, counts) VALUES `+rowsOf(len(chunk), 3)+
			` ON CONFLICT (`+t.id+`, `+t.period+`) DO UPDATE SET counts = excluded.counts`, merged...); err != nil {
			return fmt.Errorf("add %s: %w", t.name, err)
		}
	}
	return nil
}

// AudienceSums calls fn with the scope's views and viewers of each audience
// bucket, summed over the days from..to, or with months over the months
// from..to (month numbers: year*12 + month-1; a creator's scope only: a
// video's audience is kept by day), in (dimension name, bucket) order.
func (s *Store) AudienceSums(ctx context.Context, sc RollupScope, months bool, from, to int64, fn func(dim, bucket string, views, viewers int64)) error {
	t := VideoAudienceDayTable
	switch {
	case sc.VideoID != "" && months:
		return errors.New("a video's audience is kept by day, not by month")
	case months:
		t = AccountAudienceMonthTable
	case sc.VideoID == "":
		t = AccountAudienceDayTable
	}
	table, idCol, period, counts := t.audienceIn(s.dialect)
	id := cmp.Or(sc.VideoID, sc.AccountID)
	// Each row's entries are added to the sums as they come, a walk of two
	// lists in (dimension, bucket) order: a hot video's year of days is
	// tens of thousands of entries, most of them of buckets already seen,
	// where a map hashed each one.
	type bucketSum struct {
		dim            uint8
		bucket         []byte
		views, viewers int64
	}
	var sums []bucketSum
	add := func(b []byte) error {
		i := 0
		return eachAudience(b, func(dim uint8, bucket []byte, views, viewers int64) {
			c := 1
			for ; i < len(sums); i++ {
				if c = cmp.Or(cmp.Compare(sums[i].dim, dim), bytes.Compare(sums[i].bucket, bucket)); c >= 0 {
					break
				}
			}
			if c != 0 { // a bucket not seen before; b is the driver's, so copied
				sums = slices.Insert(sums, i, bucketSum{dim: dim, bucket: bytes.Clone(bucket)})
			}
			sums[i].views += views
			sums[i].viewers += viewers
			i++
		})
	}
	q := `SELECT ` + counts + ` FROM ` + table + ` WHERE ` + idCol + ` = ? AND ` + period + ` BETWEEN ? AND ? AND ` + counts + ` IS NOT NULL`
	scan := func(rows *sql.Rows) error {
		var b sql.RawBytes
		if err := rows.Scan(&b); err != nil {
			return err
		}
		return add(b)
	}
	var err error
	if sc.VideoID != "" || s.dialect != SQLite {
		err = s.scanRows(ctx, q, []any{id, from, to}, scan)
	} else {
		// A creator's: with the rows deferred in the same snapshot
		// (deferred_overlay.go).
		section := DeferredDims
		if months {
			section = DeferredMonths
		}
		err = s.view(ctx, func(t *tx) error {
			rows, err := t.query(ctx, q, id, from, to)
			if err := eachRow(rows, err, scan); err != nil {
				return err
			}
			var addErr error
			err = s.deferredRows(ctx, t, id, section, func(r *DeferredRow) {
				if r.Period >= from && r.Period <= to && addErr == nil {
					addErr = add(r.Packed)
				}
			})
			return cmp.Or(err, addErr)
		})
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", t.name, err)
	}
	slices.SortFunc(sums, func(x, y bucketSum) int {
		return cmp.Or(strings.Compare(AudienceDimensions[x.dim], AudienceDimensions[y.dim]), bytes.Compare(x.bucket, y.bucket))
	})
	for _, b := range sums {
		fn(AudienceDimensions[b.dim], string(b.bucket), b.views, b.viewers)
	}
	return nil
}

// AudienceDays calls fn with the viewers of every audience bucket of every
// day from..to of the videos that has a row.
func (s *Store) AudienceDays(ctx context.Context, from, to int64, videos []string, fn func(videoID string, day int64, dim, bucket string, viewers int64)) error {
	table, _, _, counts := VideoAudienceDayTable.audienceIn(s.dialect)
	return s.videoRows(ctx, `SELECT video_id, day, `+counts+` FROM `+table+` WHERE day BETWEEN ? AND ? AND `+counts+` IS NOT NULL AND video_id`,
		from, to, videos, func(rows *sql.Rows) error {
			var video string
			var day int64
			var b sql.RawBytes
			if err := rows.Scan(&video, &day, &b); err != nil {
				return err
			}
			return eachAudience(b, func(dim uint8, bucket []byte, _, viewers int64) {
				fn(video, day, AudienceDimensions[dim], string(bucket), viewers)
			})
		})
}

// AddAudience adds rows to the packed table t in a transaction of its own,
// as a batch of aggregation's would (tests and benchmarks build worlds with
// it). The rows and their counts may come in any order, a key or a bucket
// more than once.
func (s *Store) AddAudience(ctx context.Context, t AudienceTable, rows []AudienceRow) error {
	tx, err := s.BeginRollup(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	w := tx.RowWriter(ctx)
	if err := w.AddAudience(t, normalAudience(rows)); err != nil {
		return err
	}
	return tx.Commit()
}

// AudienceDimension returns the index of the audience dimension named dim.
func AudienceDimension(dim string) (uint8, bool) {
	i := slices.Index(AudienceDimensions[:], dim)
	return uint8(i), i >= 0
}

// normalAudience returns rows merged by key, in key order, each row's
// counts merged by bucket, in bucket order.
func normalAudience(rows []AudienceRow) []AudienceRow {
	type key struct {
		id     string
		period int64
	}
	index := map[key]int{}
	var out []AudienceRow
	for _, r := range rows {
		i, ok := index[key{r.ID, r.Period}]
		if !ok {
			i = len(out)
			index[key{r.ID, r.Period}] = i
			out = append(out, AudienceRow{ID: r.ID, Period: r.Period})
		}
		out[i].Counts = append(out[i].Counts, r.Counts...)
	}
	slices.SortFunc(out, func(x, y AudienceRow) int {
		return cmp.Or(strings.Compare(x.ID, y.ID), cmp.Compare(x.Period, y.Period))
	})
	for i := range out {
		counts := out[i].Counts
		sortCounts(counts)
		merged := counts[:0]
		for _, c := range counts {
			if n := len(merged); n > 0 && merged[n-1].Dim == c.Dim && merged[n-1].Bucket == c.Bucket {
				merged[n-1].Views += c.Views
				merged[n-1].Viewers += c.Viewers
				continue
			}
			merged = append(merged, c)
		}
		out[i].Counts = merged
	}
	return out
}
