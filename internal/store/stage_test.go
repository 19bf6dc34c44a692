package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crowd-dev/crowd/internal/testutil"
)

// dayRow is a video_day row of a test: its key and its views.
type dayRow struct {
	id    string
	day   int64
	views int64
}

func dayArgs(r dayRow, a []any) []any {
	a = append(a, r.id, r.day)
	for _, m := range VideoDayTable.measures {
		v := int64(0)
		if m == MeasureViews || m == MeasureViewers {
			v = r.views
		}
		a = append(a, v)
	}
	return a
}

// dayRows returns n rows of views, over ids whose byte order is not their
// order in most collations (upper case first), in key order.
func dayRows(n int, views int64) []dayRow {
	rows := make([]dayRow, n)
	for i := range rows {
		id := fmt.Sprintf("v%03d", i%97)
		if i%2 == 0 {
			id = strings.ToUpper(id)
		}
		rows[i] = dayRow{id, int64(i / 97), views}
	}
	slices.SortFunc(rows, func(x, y dayRow) int {
		if c := strings.Compare(x.id, y.id); c != 0 {
			return c
		}
		return int(x.day - y.day)
	})
	return rows
}

func openPostgres(t testing.TB) *Store {
	return openStore(t, Options{PostgresURL: testutil.PostgresURL(t)})
}

// addDayRows adds rows to video_day in a transaction of their own.
func addDayRows(ctx context.Context, s *Store, rows []dayRow) error {
	tx, err := s.BeginRollup(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := AddRows(tx.RowWriter(ctx), VideoDayTable, rows, dayArgs); err != nil {
		return err
	}
	return tx.Commit()
}

// videoDayViews returns video_day's rows and their views summed.
func videoDayViews(t *testing.T, s *Store) (rows, views int64) {
	t.Helper()
	err := s.write.QueryRowContext(t.Context(), `SELECT COUNT(*), COALESCE(SUM(views), 0) FROM video_day`).Scan(&rows, &views)
	if err != nil {
		t.Fatal(err)
	}
	return rows, views
}

// TestUpsert_CopyRolledBack: on PostgreSQL a large write goes by COPY
// into a staging table in the batch's transaction, so a rollback leaves
// nothing of it, in the table or the staging table.
func TestUpsert_CopyRolledBack(t *testing.T) {
	s := openPostgres(t)
	ctx := t.Context()
	rows := dayRows(copyMinRows+5, 3)
	tx, err := s.BeginRollup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := AddRows(tx.RowWriter(ctx), VideoDayTable, rows, dayArgs); err != nil {
		t.Fatal(err)
	}
	var staged, merged int
	if err := tx.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_temp.crowd_stage_video_day`).Scan(&staged); err != nil {
		t.Fatalf("the rows were not staged: %v", err)
	}
	if err := tx.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM video_day`).Scan(&merged); err != nil {
		t.Fatal(err)
	}
	if staged != len(rows) || merged != len(rows) {
		t.Fatalf("in the transaction: %d rows staged and %d merged, want %d", staged, merged, len(rows))
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n, views := videoDayViews(t, s); n != 0 || views != 0 {
		t.Fatalf("after the rollback: %d rows, %d views", n, views)
	}
	// The next transactions, on whichever connection, stage and merge
	// again, and a commit leaves the staging table empty.
	for range 2 {
		if err := addDayRows(ctx, s, rows); err != nil {
			t.Fatal(err)
		}
	}
	if n, views := videoDayViews(t, s); n != int64(len(rows)) || views != 6*int64(len(rows)) {
		t.Fatalf("after two commits: %d rows, %d views; want %d, %d", n, views, len(rows), 6*len(rows))
	}
	tx, err = s.BeginRollup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := tx.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_temp.crowd_stage_video_day`).Scan(&staged); err == nil && staged != 0 {
		t.Fatalf("%d rows left staged after a commit", staged)
	}
}

// TestUpsert_StageRecreated: a connection remembers its staging tables
// once a transaction that made them commits; if one is gone all the same,
// the transaction fails, and the next on that connection makes it again.
// The staging tables have no TOAST table (stageQuery).
func TestUpsert_StageRecreated(t *testing.T) {
	s := openPostgres(t)
	s.write.SetMaxOpenConns(1) // one connection: every transaction on it
	ctx := t.Context()
	rows := dayRows(copyMinRows, 1)
	add := func() error { return addDayRows(ctx, s, rows) }
	if err := add(); err != nil {
		t.Fatal(err)
	}
	var toast int64
	if err := s.write.QueryRowContext(ctx, `SELECT reltoastrelid::bigint FROM pg_class WHERE oid = 'pg_temp.crowd_stage_video_day'::regclass`).Scan(&toast); err != nil || toast != 0 {
		t.Fatalf("the staging table's TOAST table: %d, %v", toast, err)
	}
	if _, err := s.write.ExecContext(ctx, `DROP TABLE pg_temp.crowd_stage_video_day`); err != nil {
		t.Fatal(err)
	}
	if err := add(); err == nil {
		t.Fatal("a write to a dropped staging table the connection knew succeeded")
	}
	if err := add(); err != nil {
		t.Fatalf("after the failure: %v", err)
	}
	if n, views := videoDayViews(t, s); n != int64(len(rows)) || views != 2*int64(len(rows)) {
		t.Fatalf("%d rows, %d views; want %d, %d", n, views, len(rows), 2*len(rows))
	}
}

// TestUpsert_LandsExactly: rows written below and above copyMinRows, and
// twice to one table in one transaction (the staging table emptied in
// between), add exactly what they carry; returning viewers and viewers'
// gaps (and viewers' history, always by statements) are written as given
// on both ways; an error of a row's values fails the write.
func TestUpsert_LandsExactly(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		small, large := dayRows(copyMinRows-1, 1), dayRows(copyMinRows+300, 10)
		tx, err := s.BeginRollup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w := tx.RowWriter(ctx)
		for _, rows := range [][]dayRow{small, large, large} {
			if err := AddRows(w, VideoDayTable, rows, dayArgs); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		tx.Rollback()
		if n, views := videoDayViews(t, s); n != int64(len(large)) || views != int64(len(small))+20*int64(len(large)) {
			t.Fatalf("%d rows, %d views; want %d, %d", n, views, len(large), len(small)+20*len(large))
		}
		// Every row's own views too: 21 where the small write reached.
		want := map[dayRow]int64{}
		for _, r := range large {
			want[dayRow{r.id, r.day, 0}] += 20
		}
		for _, r := range small {
			want[dayRow{r.id, r.day, 0}]++
		}
		rows, err := s.write.QueryContext(ctx, `SELECT video_id, day, views FROM video_day`)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var r dayRow
			if err := rows.Scan(&r.id, &r.day, &r.views); err != nil {
				return err
			}
			if want[dayRow{r.id, r.day, 0}] != r.views {
				return fmt.Errorf("%s %d: %d views, want %d", r.id, r.day, r.views, want[dayRow{r.id, r.day, 0}])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		var wantBack int64
		for _, n := range []int{3, max(copyMinRows, 4)} {
			keys := make([]VideoDayKey, n)
			histories := make([]ViewerHistory, n)
			for i := range keys {
				keys[i] = VideoDayKey{"w", int64(i)}
				actor := fmt.Sprintf("a%05d", i)
				histories[i] = ViewerHistory{Key: ViewerHistoryKey("w", actor), VideoTag: VideoTag("w"), Days: []byte(actor)}
			}
			slices.SortFunc(histories, func(x, y ViewerHistory) int { return cmp.Compare(x.Key, y.Key) })
			tx, err := s.BeginRollup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.SetViewerHistories(ctx, histories); err != nil {
				t.Fatal(err)
			}
			if err := tx.AddViewersBack(ctx, keys, func(k VideoDayKey) int64 { return k.Day }); err != nil {
				t.Fatal(err)
			}
			if err := tx.SetViewerGaps(ctx, keys, func(k VideoDayKey) ([]byte, error) { return []byte{byte(k.Day)}, nil }); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			tx.Rollback()
			var stored, back, gaps int64
			rows, err := s.write.QueryContext(ctx, Rebind(s.dialect, `SELECT key, days FROM viewer_history WHERE video_tag = ?`), VideoTag("w"))
			err = eachRow(rows, err, func(rows *sql.Rows) error {
				var key int64
				var days []byte
				if err := rows.Scan(&key, &days); err != nil {
					return err
				}
				if ViewerHistoryKey("w", string(days)) != key {
					return fmt.Errorf("key %d holds the days %q", key, days)
				}
				stored++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.write.QueryRowContext(ctx, `SELECT COALESCE(SUM(viewers_back), 0) FROM video_day WHERE video_id = 'w'`).Scan(&back); err != nil {
				t.Fatal(err)
			}
			if err := s.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM video_viewer_gaps WHERE video_id = 'w'`).Scan(&gaps); err != nil {
				t.Fatal(err)
			}
			// Days 0..n-1 added to what the rounds before added (the
			// first: 0+1+2).
			wantBack += int64(n * (n - 1) / 2)
			if stored != int64(n) || gaps != int64(n) || back != wantBack {
				t.Fatalf("n=%d: %d histories, %d gaps, %d viewers back (want %d)", n, stored, gaps, back, wantBack)
			}
		}

		boom := errors.New("boom")
		for _, n := range []int{3, copyMinRows + 1} {
			keys := make([]VideoDayKey, n)
			for i := range keys {
				keys[i] = VideoDayKey{"x", int64(i)}
			}
			tx, err := s.BeginRollup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			err = tx.SetViewerGaps(ctx, keys, func(k VideoDayKey) ([]byte, error) {
				if k.Day == int64(n-1) {
					return nil, boom
				}
				return []byte{1}, nil
			})
			tx.Rollback()
			if !errors.Is(err, boom) {
				t.Fatalf("n=%d: the row's error came back as %v", n, err)
			}
		}
	})
}

// TestUpsert_ConcurrentWriters: aggregators writing the same rows at once,
// by COPY and by statements, take the row locks in one order: none
// deadlocks (no retry here) and nothing is lost.
func TestUpsert_ConcurrentWriters(t *testing.T) {
	s := openPostgres(t)
	ctx := t.Context()
	const writers, rounds = 3, 6
	small := dayRows(copyMinRows-1, 1) // by a statement
	large := dayRows(copyMinRows+500, 1)
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				rows := large
				if (w+r)%2 == 1 {
					rows = small
				}
				errs <- func() error {
					tx, err := s.BeginRollup(ctx)
					if err != nil {
						return err
					}
					defer tx.Rollback()
					rw := tx.RowWriter(ctx)
					if err := AddRows(rw, VideoDayTable, rows, dayArgs); err != nil {
						return err
					}
					if err := AddRows(rw, VideoHourTable, rows, func(r dayRow, a []any) []any {
						a = append(a, r.id, r.day)
						for range VideoHourTable.measures {
							a = append(a, r.views)
						}
						return a
					}); err != nil {
						return err
					}
					return tx.Commit()
				}()
			}
		})
	}
	wg.Wait()
	close(errs)
	var wantViews int64
	for w := range writers {
		for r := range rounds {
			if (w+r)%2 == 1 {
				wantViews += int64(len(small))
			} else {
				wantViews += int64(len(large))
			}
		}
	}
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n, views := videoDayViews(t, s); n != int64(len(large)) || views != wantViews {
		t.Fatalf("%d rows, %d views; want %d, %d", n, views, len(large), wantViews)
	}
	var hourViews int64
	if err := s.write.QueryRowContext(ctx, `SELECT SUM(views) FROM video_hour`).Scan(&hourViews); err != nil || hourViews != wantViews {
		t.Fatalf("video_hour: %d views, want %d (%v)", hourViews, wantViews, err)
	}
}

// BenchmarkUpsert measures writing n rows to video_day (15 columns) in a
// transaction of their own on PostgreSQL, by statements and by COPY: a
// half of them new rows, a half added to stored ones. It chose
// copyMinRows.
func BenchmarkUpsert(b *testing.B) {
	for _, n := range []int{1, 5, 20, 50, 100, 200, 1000, 10_000, 100_000} {
		for _, way := range []string{"values", "copy"} {
			b.Run(fmt.Sprintf("%s/n=%d", way, n), func(b *testing.B) {
				defer func(m int) { copyMinRows = m }(copyMinRows)
				copyMinRows = 1 << 62
				if way == "copy" {
					copyMinRows = 1
				}
				s := openPostgres(b)
				ctx := b.Context()
				rows := make([]dayRow, n)
				for i := range rows {
					rows[i] = dayRow{fmt.Sprintf("v%07d", i), 0, 1}
				}
				for i := 0; b.Loop(); i++ {
					// Half the rows move to a new day each time.
					for j := range rows[:n/2] {
						rows[j].day = int64(i)
					}
					if err := addDayRows(ctx, s, rows); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/row")
			})
		}
	}
}
