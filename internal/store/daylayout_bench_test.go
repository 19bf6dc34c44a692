package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/testutil"
)

// BenchmarkDayLayout weighs a redesign of the videos' day rows before it
// is built: what SQLite's one writer spends on a stream of views in the
// realistic world's shape (videos of Zipf popularity, exponent 1.1, days
// spread over 30), applied in batches, when a video's day is a row of its
// own (video_day today: 13 counters and a packed audience, merged by
// crowd_audience_merge; a video's audience has no month rows since
// migration 0008) against when a video's month is one row holding its
// days packed (a day, its counters and its audience each), merged by a
// function of the same kind; and a hybrid of the two, the busiest videos
// (layoutHot) in day rows, the others in packed months. Only the writer's
// work is timed: the batch's rows, already summed and in key order,
// written and committed.
// docs/PERFORMANCE.md, "What a packed month of days would cost the
// writer". CROWD_LAYOUT_SORTED=1: the views in video order, as crowd
// import publishes them.
//
//	CROWD_LAYOUT_EVENTS=2000000 CROWD_LAYOUT_BATCH=300000 go test -run '^$' -bench BenchmarkDayLayout -benchtime 1x ./internal/store/
func BenchmarkDayLayout(b *testing.B) {
	events := testutil.EnvInt("CROWD_LAYOUT_EVENTS", 1_000_000)
	batch := testutil.EnvInt("CROWD_LAYOUT_BATCH", 300_000)
	batches := layoutWorld(events, batch, os.Getenv("CROWD_LAYOUT_SORTED") != "")
	views := map[string]int64{} // by video: what every layout must read back
	for _, cells := range batches {
		for _, c := range cells {
			views[c.video] += c.counters[0]
		}
	}
	for _, layout := range []string{"day-rows", "month-rows", "hybrid", "runs"} {
		b.Run(layout, func(b *testing.B) {
			var rows int
			var spent time.Duration
			var size int64
			var reads []time.Duration
			for b.Loop() {
				b.StopTimer()
				s := openStore(b, Options{Dir: b.TempDir()})
				write := layoutWriter(b, s, layout)
				rows, spent, runsMerging = 0, 0, 0
				for _, cells := range batches {
					start := time.Now()
					rows += write(cells)
					spent += time.Since(start)
				}
				if err := s.write.QueryRowContext(b.Context(), `SELECT SUM(pgsize) FROM dbstat WHERE name IN ('t', 'p', 'r')`).Scan(&size); err != nil {
					b.Fatal(err)
				}
				reads = layoutReads(b, s, layout, views)
				b.StartTimer()
			}
			b.ReportMetric(float64(spent.Microseconds())/float64(events), "writer-µs/event")
			b.ReportMetric(float64(rows)/float64(events), "rows/event")
			b.ReportMetric(float64(size)/float64(events), "bytes/event")
			if layout == "runs" {
				b.ReportMetric(float64(runsMerging.Microseconds())/float64(events), "merging-µs/event")
			}
			slices.Sort(reads)
			b.ReportMetric(float64(reads[len(reads)/2].Nanoseconds())/1000, "read-p50-µs")
			b.ReportMetric(float64(reads[len(reads)*99/100].Nanoseconds())/1000, "read-p99-µs")
		})
	}
}

// layoutReads reads, as a report does, every cell of 30 videos (the ten
// busiest and twenty of Zipf ranks spread over the rest), twenty times
// each, on the store's readers: the video's days summed and their
// audiences merged. Each must read its video's views in want. It returns
// each read's time.
func layoutReads(b *testing.B, s *Store, layout string, want map[string]int64) []time.Duration {
	ctx := b.Context()
	var videos []string
	for i := range 10 {
		videos = append(videos, fmt.Sprintf("v%07d", i))
	}
	for i := range 20 {
		videos = append(videos, fmt.Sprintf("v%07d", 10+i*i*97))
	}
	type run struct {
		level int
		run   int64
	}
	var runs []run
	if layout == "runs" {
		rows, err := s.read.QueryContext(ctx, `SELECT DISTINCT level, run FROM r`)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var r run
			if err := rows.Scan(&r.level, &r.run); err != nil {
				return err
			}
			runs = append(runs, r)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	var out []time.Duration
	for range 20 {
		for _, v := range videos {
			start := time.Now()
			var views int64
			var audience []byte
			add := func(d layoutDay) {
				views += d.counters[0]
				var err error
				if audience, err = MergeAudience(nil, audience, d.audience); err != nil {
					b.Fatal(err)
				}
			}
			addDays := func(days []byte) error { // packed
				r := dayReader{b: days}
				for err := r.next(); r.ok; err = r.next() {
					if err != nil {
						return err
					}
					add(r.d)
				}
				return nil
			}
			each := func(q string, args []any, fn func(*sql.Rows) error) {
				rows, err := s.read.QueryContext(ctx, q, args...)
				if err := eachRow(rows, err, fn); err != nil {
					b.Fatal(err)
				}
			}
			if layout != "runs" && layout != "month-rows" {
				each(`SELECT day, c0, a FROM t WHERE id = ?`, []any{v}, func(rows *sql.Rows) error {
					var d layoutDay
					err := rows.Scan(&d.day, &d.counters[0], &d.audience)
					add(d)
					return err
				})
			}
			if layout == "month-rows" || layout == "hybrid" {
				each(`SELECT days FROM p WHERE id = ?`, []any{v}, func(rows *sql.Rows) error {
					var days []byte
					if err := rows.Scan(&days); err != nil {
						return err
					}
					return addDays(days)
				})
			}
			for _, r := range runs {
				each(`SELECT data FROM r WHERE level = ? AND run = ? AND first <= ? ORDER BY first DESC LIMIT 1`, []any{r.level, r.run, v}, func(rows *sql.Rows) error {
					var data []byte
					if err := rows.Scan(&data); err != nil {
						return err
					}
					days, err := blockDays(data, v)
					if err != nil {
						return err
					}
					return addDays(days)
				})
			}
			out = append(out, time.Since(start))
			if views != want[v] {
				b.Fatalf("%s: %s read %d views, want %d", layout, v, views, want[v])
			}
		}
	}
	return out
}

// layoutDay is what a batch adds to one video's day: its counters and its
// packed audience.
type layoutDay struct {
	video    string
	day      int64
	counters [13]int64
	audience []byte
}

// layoutWorld returns the batches of a stream of views: each batch's
// video-days, summed, in (video, day) order. Sorted, the views come in
// video order within runs of a million, as crowd import publishes them.
func layoutWorld(events, batch int, sorted bool) [][]layoutDay {
	rng := rand.New(rand.NewPCG(3, 4))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(5, 6)), 1.1, 1, 100_000-1)
	sources := []string{"for_you", "following", "search", "profile"}
	ages := []string{"13-17", "18-24", "25-34", "35-44", "45-54", "55+"}
	genders := []string{"female", "male", "other"}
	type view struct {
		video   string
		day     int64
		buckets [4]string
	}
	views := make([]view, events)
	for i := range views {
		views[i] = view{fmt.Sprintf("v%07d", zipf.Uint64()), int64(20_000 + rng.IntN(30)),
			[4]string{sources[rng.IntN(4)], ages[rng.IntN(6)], genders[rng.IntN(3)], fmt.Sprintf("C%02d", rng.IntN(20))}}
	}
	if sorted {
		for i := 0; i < len(views); i += 1_000_000 {
			slices.SortStableFunc(views[i:min(i+1_000_000, len(views))], func(x, y view) int { return strings.Compare(x.video, y.video) })
		}
	}
	var out [][]layoutDay
	for done := 0; done < events; done += batch {
		type key struct {
			video string
			day   int64
		}
		sums := map[key]*layoutDay{}
		counts := map[key]map[[2]string]int64{}
		for _, v := range views[done:min(done+batch, events)] {
			k := key{v.video, v.day}
			d := sums[k]
			if d == nil {
				d = &layoutDay{video: k.video, day: k.day}
				sums[k], counts[k] = d, map[[2]string]int64{}
			}
			d.counters[0]++                          // views
			d.counters[1] += int64(rng.IntN(30_000)) // watch time
			d.counters[2] += int64(rng.IntN(2))      // completions
			d.counters[3]++                          // viewer-days
			for dim, b := range v.buckets {
				counts[k][[2]string{strconv.Itoa(dim), b}]++
			}
		}
		cells := make([]layoutDay, 0, len(sums))
		for k, d := range sums {
			var ac []AudienceCount
			for db, n := range counts[k] {
				dim, _ := strconv.Atoi(db[0])
				ac = append(ac, AudienceCount{Dim: uint8(dim), Bucket: db[1], Views: n, Viewers: n})
			}
			slices.SortFunc(ac, func(x, y AudienceCount) int {
				return cmp.Or(cmp.Compare(x.Dim, y.Dim), strings.Compare(x.Bucket, y.Bucket))
			})
			d.audience = AppendAudience(nil, ac)
			cells = append(cells, *d)
		}
		slices.SortFunc(cells, func(x, y layoutDay) int {
			return cmp.Or(strings.Compare(x.video, y.video), cmp.Compare(x.day, y.day))
		})
		out = append(out, cells)
	}
	return out
}

// layoutMonth is the month a day is in, in this benchmark's calendar
// (months of 30 days, so that the 30 days span two).
func layoutMonth(day int64) int64 { return (day - 19_985) / 30 }

// layoutHot is the hybrid layout's cut: videos of a Zipf rank below it
// (the busiest, whose packed months would grow large and be written again
// every batch) keep a row a day.
const layoutHot = 1_000

// layoutWriter creates the layouts' tables and returns what writes a
// batch's cells in one transaction, returning how many rows it wrote:
// day-rows, every video-day a row of t; month-rows, every video-month a
// row of p; hybrid, the videos below
// layoutHot as day-rows, the others as month-rows.
func layoutWriter(b *testing.B, s *Store, layout string) func([]layoutDay) int {
	ctx := b.Context()
	var defs, cols, set []string
	for i := range 13 {
		defs = append(defs, fmt.Sprintf("c%d BIGINT NOT NULL DEFAULT 0", i))
		cols = append(cols, fmt.Sprintf("c%d", i))
		set = append(set, fmt.Sprintf("c%d = t.c%d + excluded.c%d", i, i, i))
	}
	if layout == "runs" {
		return runsWriter(b, s)
	}
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE t (id TEXT NOT NULL, day BIGINT NOT NULL, `+strings.Join(defs, ", ")+`, a BLOB, PRIMARY KEY (id, day)) WITHOUT ROWID;
CREATE TABLE p (id TEXT NOT NULL, month BIGINT NOT NULL, days BLOB NOT NULL, PRIMARY KEY (id, month)) WITHOUT ROWID`); err != nil {
		b.Fatal(err)
	}
	tables := []struct {
		width int
		q     string // with rowsOf(200, width)
	}{
		{2 + 13 + 1, `INSERT INTO t (id, day, ` + strings.Join(cols, ", ") + `, a) VALUES ` + rowsOf(200, 16) +
			` ON CONFLICT (id, day) DO UPDATE SET ` + strings.Join(set, ", ") + `, a = ` + mergeFunction + `(t.a, excluded.a)`},
		{3, `INSERT INTO p (id, month, days) VALUES ` + rowsOf(200, 3) + ` ON CONFLICT (id, month) DO UPDATE SET days = ` + daysMergeFunction + `(p.days, excluded.days)`},
	}
	dayRows := func(video string) bool {
		switch layout {
		case "day-rows":
			return true
		case "hybrid":
			rank, _ := strconv.Atoi(video[1:])
			return rank < layoutHot
		}
		return false
	}
	return func(cells []layoutDay) int {
		rows := make([][][]any, len(tables))
		// A video's month at a time: its days as rows, or packed.
		for i := 0; i < len(cells); {
			j, m := i, layoutMonth(cells[i].day)
			for j < len(cells) && cells[j].video == cells[i].video && layoutMonth(cells[j].day) == m {
				j++
			}
			if dayRows(cells[i].video) {
				for _, c := range cells[i:j] {
					r := []any{c.video, c.day}
					for _, n := range c.counters {
						r = append(r, n)
					}
					rows[0] = append(rows[0], append(r, c.audience))
				}
			} else {
				var packed []byte
				for k := i; k < j; k++ {
					packed = appendPackedDay(packed, &cells[k])
				}
				rows[1] = append(rows[1], []any{cells[i].video, m, packed})
			}
			i = j
		}
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer tx.Rollback()
		n := 0
		for t, table := range tables {
			n += len(rows[t])
			if len(rows[t]) == 0 {
				continue
			}
			st, err := tx.PrepareContext(ctx, table.q)
			if err != nil {
				b.Fatal(err)
			}
			var args []any
			for i := 0; i < len(rows[t]); i += 200 {
				chunk := rows[t][i:min(i+200, len(rows[t]))]
				args = args[:0]
				for _, r := range chunk {
					args = append(args, r...)
				}
				if len(chunk) == 200 {
					_, err = st.ExecContext(ctx, args...)
				} else {
					_, err = tx.ExecContext(ctx, strings.Replace(table.q, rowsOf(200, table.width), rowsOf(len(chunk), table.width), 1), args...)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		return n
	}
}

// runsBlockBytes is how large the runs layout's blocks grow before the
// next cell starts a block of its own.
const runsBlockBytes = 16 << 10

// runsFanIn is how many runs of a level the runs layout merges into one
// of the next.
const runsFanIn = 4

// runsMerging is the time the runs layout's writer spent merging runs in
// the current benchmark.
var runsMerging time.Duration

// runsWriter is the runs layout: a batch appends its cells as one sorted
// run (blocks of runsBlockBytes, each a row keyed by its level, its run
// and its first video) and never updates a row; once a level holds
// runsFanIn runs they are merged into one run of the next level, in the
// same transaction (the writer pays for it), and deleted. A report would
// read a video's block in each run (a few runs per level alive).
func runsWriter(b *testing.B, s *Store) func([]layoutDay) int {
	ctx := b.Context()
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE r (level INTEGER NOT NULL, run INTEGER NOT NULL, first TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (level, run, first)) WITHOUT ROWID`); err != nil {
		b.Fatal(err)
	}
	runs := map[int][]int64{} // level → its runs, oldest first
	next := int64(0)
	return func(cells []layoutDay) int {
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer tx.Rollback()
		rows := 0
		write := func(level int, cells []layoutDay) {
			next++
			start, size := 0, 0
			flush := func(end int) {
				if end == start {
					return
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO r (level, run, first, data) VALUES (?, ?, ?, ?)`, level, next, cells[start].video, encodeBlock(cells[start:end])); err != nil {
					b.Fatal(err)
				}
				rows++
				start, size = end, 0
			}
			for i := range cells {
				// A video's cells stay in one block.
				if size >= runsBlockBytes && cells[i].video != cells[i-1].video {
					flush(i)
				}
				size += 48 + len(cells[i].audience) // about its encoding
			}
			flush(len(cells))
			runs[level] = append(runs[level], next)
		}
		write(0, cells)
		start := time.Now()
		for level := 0; len(runs[level]) >= runsFanIn; level++ {
			var merged []layoutDay
			for _, run := range runs[level] {
				got, err := readRun(ctx, tx, level, run)
				if err != nil {
					b.Fatal(err)
				}
				merged = mergeCells(b, merged, got)
				if _, err := tx.ExecContext(ctx, `DELETE FROM r WHERE level = ? AND run = ?`, level, run); err != nil {
					b.Fatal(err)
				}
			}
			runs[level] = nil
			write(level+1, merged)
		}
		runsMerging += time.Since(start)
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		return rows
	}
}

// readRun reads a run's cells, in order.
func readRun(ctx context.Context, tx *sql.Tx, level int, run int64) ([]layoutDay, error) {
	rows, err := tx.QueryContext(ctx, `SELECT data FROM r WHERE level = ? AND run = ? ORDER BY first`, level, run)
	var out []layoutDay
	err = eachRow(rows, err, func(rows *sql.Rows) error {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return err
		}
		return decodeBlock(data, func(video, days []byte) error {
			v := string(video)
			r := dayReader{b: days}
			for err := r.next(); r.ok; err = r.next() {
				if err != nil {
					return err
				}
				d := r.d
				d.video, d.audience = v, slices.Clone(d.audience)
				out = append(out, d)
			}
			return nil
		})
	})
	return out, err
}

// A block of the runs layout: an index (the count of its videos, then for
// each its id, length and bytes, and the length of its days), then each
// video's days packed (appendPackedDay), in the index's order. A read
// finds its video's days from the index without decoding the others.
func encodeBlock(cells []layoutDay) []byte {
	var index, days []byte
	videos := 0
	for i := 0; i < len(cells); {
		j := i
		n := len(days)
		for ; j < len(cells) && cells[j].video == cells[i].video; j++ {
			days = appendPackedDay(days, &cells[j])
		}
		index = binary.AppendUvarint(index, uint64(len(cells[i].video)))
		index = append(index, cells[i].video...)
		index = binary.AppendUvarint(index, uint64(len(days)-n))
		videos++
		i = j
	}
	out := binary.AppendUvarint(nil, uint64(videos))
	return append(append(out, index...), days...)
}

// decodeBlock calls fn with each video of a block and its packed days.
func decodeBlock(data []byte, fn func(video, days []byte) error) error {
	n, k := binary.Uvarint(data)
	if k <= 0 {
		return errPackedDays
	}
	data = data[k:]
	type entry struct {
		video []byte
		size  uint64
	}
	index := make([]entry, 0, n)
	for range n {
		l, k := binary.Uvarint(data)
		if k <= 0 || l > uint64(len(data)-k) {
			return errPackedDays
		}
		e := entry{video: data[k : k+int(l)]}
		data = data[k+int(l):]
		if e.size, k = binary.Uvarint(data); k <= 0 {
			return errPackedDays
		}
		data = data[k:]
		index = append(index, e)
	}
	for _, e := range index {
		if e.size > uint64(len(data)) {
			return errPackedDays
		}
		if err := fn(e.video, data[:e.size]); err != nil {
			return err
		}
		data = data[e.size:]
	}
	return nil
}

// blockDays returns the packed days of video in a block, or nil, reading
// only the block's index.
func blockDays(data []byte, video string) ([]byte, error) {
	n, k := binary.Uvarint(data)
	if k <= 0 {
		return nil, errPackedDays
	}
	data = data[k:]
	var at, found, size uint64
	ok := false
	for range n {
		l, k := binary.Uvarint(data)
		if k <= 0 || l > uint64(len(data)-k) {
			return nil, errPackedDays
		}
		match := string(data[k:k+int(l)]) == video // compared without a copy
		data = data[k+int(l):]
		s, k2 := binary.Uvarint(data)
		if k2 <= 0 {
			return nil, errPackedDays
		}
		data = data[k2:]
		if match {
			found, size, ok = at, s, true
		}
		at += s
	}
	if !ok {
		return nil, nil
	}
	if found+size > uint64(len(data)) {
		return nil, errPackedDays
	}
	return data[found : found+size], nil
}

// mergeCells merges two runs of cells in (video, day) order, adding the
// cells of one key.
func mergeCells(b *testing.B, x, y []layoutDay) []layoutDay {
	out := make([]layoutDay, 0, len(x)+len(y))
	for len(x) > 0 || len(y) > 0 {
		c := 1
		switch {
		case len(x) == 0:
		case len(y) == 0:
			c = -1
		default:
			c = cmp.Or(strings.Compare(x[0].video, y[0].video), cmp.Compare(x[0].day, y[0].day))
		}
		switch {
		case c < 0:
			out, x = append(out, x[0]), x[1:]
		case c > 0:
			out, y = append(out, y[0]), y[1:]
		default:
			d, err := sumDays(&x[0], &y[0])
			if err != nil {
				b.Fatal(err)
			}
			out, x, y = append(out, d), x[1:], y[1:]
		}
	}
	return out
}

// A packed month of days: for each day, in day order, the day (varint),
// its 13 counters (varints) and its packed audience (length, bytes).
func appendPackedDay(b []byte, d *layoutDay) []byte {
	b = binary.AppendVarint(b, d.day)
	for _, n := range d.counters {
		b = binary.AppendVarint(b, n)
	}
	b = binary.AppendUvarint(b, uint64(len(d.audience)))
	return append(b, d.audience...)
}

var errPackedDays = errors.New("malformed packed days")

// readPackedDay reads a day of a packed month (its video left empty); its
// audience is b's.
func readPackedDay(b []byte) (layoutDay, []byte, error) {
	var d layoutDay
	var n int
	if d.day, n = binary.Varint(b); n <= 0 {
		return d, nil, errPackedDays
	}
	b = b[n:]
	for i := range d.counters {
		if d.counters[i], n = binary.Varint(b); n <= 0 {
			return d, nil, errPackedDays
		}
		b = b[n:]
	}
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return d, nil, errPackedDays
	}
	d.audience = b[n : n+int(l)]
	return d, b[n+int(l):], nil
}

// dayReader reads a packed month of days a day at a time: d is the day
// read, ok whether there was one.
type dayReader struct {
	b  []byte
	d  layoutDay
	ok bool
}

func (r *dayReader) next() error {
	if r.ok = len(r.b) > 0; !r.ok {
		return nil
	}
	var err error
	r.d, r.b, err = readPackedDay(r.b)
	return err
}

// sumDays returns x's key with the counters of x and y added and their
// audiences merged.
func sumDays(x, y *layoutDay) (layoutDay, error) {
	d := *x
	for i := range d.counters {
		d.counters[i] += y.counters[i]
	}
	var err error
	d.audience, err = MergeAudience(nil, x.audience, y.audience)
	return d, err
}

// mergePackedDays merges two packed months of days: a day in both has its
// counters added and its audiences merged.
func mergePackedDays(x, y []byte) ([]byte, error) {
	out := make([]byte, 0, len(x)+len(y))
	rx, ry := dayReader{b: x}, dayReader{b: y}
	err := errors.Join(rx.next(), ry.next())
	for err == nil && (rx.ok || ry.ok) {
		var d layoutDay
		switch {
		case rx.ok && (!ry.ok || rx.d.day < ry.d.day):
			d = rx.d
			err = rx.next()
		case ry.ok && (!rx.ok || ry.d.day < rx.d.day):
			d = ry.d
			err = ry.next()
		default:
			if d, err = sumDays(&rx.d, &ry.d); err == nil {
				err = errors.Join(rx.next(), ry.next())
			}
		}
		out = appendPackedDay(out, &d)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// daysMergeFunction is the benchmark's SQLite function merging packed
// months of days.
const daysMergeFunction = "crowd_bench_days_merge"

func init() { registerMerge(daysMergeFunction, mergePackedDays) }

// TestMergePackedDays: the benchmark's merge adds what both sides hold.
func TestMergePackedDays(t *testing.T) {
	a1 := AppendAudience(nil, []AudienceCount{{Dim: 0, Bucket: "for_you", Views: 1, Viewers: 1}})
	a2 := AppendAudience(nil, []AudienceCount{{Dim: 0, Bucket: "for_you", Views: 2, Viewers: 1}, {Dim: 1, Bucket: "18-24", Views: 2, Viewers: 2}})
	x := appendPackedDay(appendPackedDay(nil, &layoutDay{day: 3, counters: [13]int64{1}, audience: a1}), &layoutDay{day: 5, counters: [13]int64{2}, audience: a1})
	y := appendPackedDay(appendPackedDay(nil, &layoutDay{day: 4, counters: [13]int64{7}, audience: a2}), &layoutDay{day: 5, counters: [13]int64{1, 1}, audience: a2})
	got, err := mergePackedDays(x, y)
	if err != nil {
		t.Fatal(err)
	}
	var days []int64
	var views []int64
	for len(got) > 0 {
		var d layoutDay
		if d, got, err = readPackedDay(got); err != nil {
			t.Fatal(err)
		}
		days, views = append(days, d.day), append(views, d.counters[0])
		if d.day == 5 {
			want, _ := MergeAudience(nil, a1, a2)
			if string(d.audience) != string(want) || d.counters[1] != 1 {
				t.Errorf("day 5: %+v", d)
			}
		}
	}
	if !slices.Equal(days, []int64{3, 4, 5}) || !slices.Equal(views, []int64{1, 7, 3}) {
		t.Fatalf("days %v views %v", days, views)
	}
}
