package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// forEachDialect runs fn on a SQLite store and on a PostgreSQL one (when
// reachable; always in CI).
func forEachDialect(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openStore(t, Options{Dir: t.TempDir()})) })
	t.Run("postgres", func(t *testing.T) { fn(t, openPostgres(t)) })
}

// openStore opens a store, closed when the test ends.
func openStore(tb testing.TB, o Options) *Store {
	s, err := Open(context.Background(), o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// decodeAll returns a packed value's entries.
func decodeAll(t testing.TB, b []byte) []AudienceCount {
	t.Helper()
	var out []AudienceCount
	if err := eachAudience(b, func(dim uint8, bucket []byte, views, viewers int64) {
		out = append(out, AudienceCount{dim, string(bucket), views, viewers})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMergeAudience(t *testing.T) {
	old := AppendAudience(nil, []AudienceCount{
		{AudienceSource, "for_you", 5, 4}, {AudienceAge, "18-24", 3, 3}, {AudienceCountry, "DE", 7, 2},
	})
	got, err := MergeAudience(nil, old, AppendAudience(nil, []AudienceCount{
		{AudienceSource, "following", 1, 1}, {AudienceSource, "for_you", 2, 0}, {AudienceGender, "female", 1, 1}, {AudienceCountry, "US", 1, 1},
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []AudienceCount{
		{AudienceSource, "following", 1, 1}, {AudienceSource, "for_you", 7, 4}, {AudienceAge, "18-24", 3, 3},
		{AudienceGender, "female", 1, 1}, {AudienceCountry, "DE", 7, 2}, {AudienceCountry, "US", 1, 1},
	}
	if d := decodeAll(t, got); !reflect.DeepEqual(d, want) {
		t.Fatalf("merged %v, want %v", d, want)
	}
	// Nothing stored: the additions alone; nothing added: the stored value.
	if got, _ := MergeAudience(nil, nil, AppendAudience(nil, want)); !reflect.DeepEqual(decodeAll(t, got), want) {
		t.Fatal("merge into nothing")
	}
	if got, _ := MergeAudience(nil, old, nil); !slices.Equal(got, old) {
		t.Fatal("merge of nothing")
	}
	for _, bad := range [][]byte{{9, 0, 0, 0}, {0, 5, 'a'}, {0, 1, 'a'}, {0, 1, 'a', 2}, {0, 0xff}} {
		if err := eachAudience(bad, func(uint8, []byte, int64, int64) {}); err == nil {
			t.Errorf("%v decoded", bad)
		}
		if _, err := MergeAudience(nil, bad, AppendAudience(nil, []AudienceCount{{AudienceAge, "x", 1, 1}})); err == nil {
			t.Errorf("%v merged", bad)
		}
	}
}

// FuzzAudience: a packed value that decodes re-encodes to itself, merging
// never panics, and a merge with it adds what the entries say.
func FuzzAudience(f *testing.F) {
	f.Add(AppendAudience(nil, []AudienceCount{{AudienceSource, "for_you", 5, 4}, {AudienceCountry, "DE", -1, 1 << 40}}))
	f.Add([]byte{0, 0xff, 0xff})
	f.Add([]byte{3, 2, 'U', 'S', 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var entries []AudienceCount
		err := eachAudience(b, func(dim uint8, bucket []byte, views, viewers int64) {
			entries = append(entries, AudienceCount{dim, string(bucket), views, viewers})
		})
		merged, merr := MergeAudience(nil, b, AppendAudience(nil, []AudienceCount{{AudienceGender, "x", 1, 1}}))
		if err != nil {
			if merr == nil {
				t.Fatalf("%x merged though it does not decode", b)
			}
			return
		}
		if merr != nil {
			t.Fatalf("%x decodes but does not merge: %v", b, merr)
		}
		if enc := AppendAudience(nil, entries); !slices.Equal(enc, b) && len(b) > 0 {
			// Varints have more than one encoding: the decoded entries must
			// decode again from their canonical form.
			var again []AudienceCount
			if err := eachAudience(enc, func(dim uint8, bucket []byte, views, viewers int64) {
				again = append(again, AudienceCount{dim, string(bucket), views, viewers})
			}); err != nil || !reflect.DeepEqual(again, entries) {
				t.Fatalf("%x: re-encoded entries differ", b)
			}
		}
		var total int64
		if err := eachAudience(merged, func(_ uint8, _ []byte, views, _ int64) { total += views }); err != nil {
			t.Fatal(err)
		}
		var want int64 = 1
		for _, e := range entries {
			want += e.Views
		}
		if total != want {
			t.Fatalf("%x: merged views %d, want %d", b, total, want)
		}
	})
}

// TestAddAudience: batches merge into the packed rows, and the sums read
// back are those of every bucket added, on both dialects.
func TestAddAudience(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		rng := rand.New(rand.NewPCG(1, 2))
		buckets := []string{"DE", "FR", "US", "unknown"}
		want := map[[2]string][2]int64{}
		for range 5 {
			var rows []AudienceRow
			for range 300 {
				d := uint8(rng.IntN(len(AudienceDimensions)))
				b := buckets[rng.IntN(len(buckets))]
				v, w := int64(rng.IntN(10)), int64(rng.IntN(3))
				day := int64(20000 + rng.IntN(40))
				rows = append(rows, AudienceRow{ID: fmt.Sprint("v", rng.IntN(3)), Period: day, Counts: []AudienceCount{{d, b, v, w}}})
				if rows[len(rows)-1].ID == "v1" && day <= 20020 {
					k := [2]string{AudienceDimensions[d], b}
					want[k] = [2]int64{want[k][0] + v, want[k][1] + w}
				}
			}
			if err := s.AddAudience(ctx, VideoAudienceDayTable, rows); err != nil {
				t.Fatal(err)
			}
		}
		got := map[[2]string][2]int64{}
		var order [][2]string
		if err := s.AudienceSums(ctx, RollupScope{VideoID: "v1"}, false, 0, 20020, func(dim, bucket string, views, viewers int64) {
			got[[2]string{dim, bucket}] = [2]int64{views, viewers}
			order = append(order, [2]string{dim, bucket})
		}); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if v == [2]int64{} {
				delete(want, k)
			}
		}
		for k, v := range got {
			if v == [2]int64{} {
				delete(got, k)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("sums %v, want %v", got, want)
		}
		if !slices.IsSortedFunc(order, func(x, y [2]string) int {
			if x[0] != y[0] {
				return cmpStrings(x[0], y[0])
			}
			return cmpStrings(x[1], y[1])
		}) {
			t.Fatalf("sums not in (dimension, bucket) order: %v", order)
		}
	})
}

func cmpStrings(x, y string) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// TestAddAudience_ConcurrentCreators: aggregators adding to the same
// creators' rows at once lose nothing (PostgreSQL's row locks; SQLite's
// one writer).
func TestAddAudience_ConcurrentCreators(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		const writers, rounds = 4, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*rounds)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range rounds {
					errs <- retryRaced(ctx, func() error {
						return s.AddAudience(ctx, AccountAudienceMonthTable, []AudienceRow{
							{ID: "mia", Period: 24311, Counts: []AudienceCount{{AudienceCountry, "DE", 1, 1}}},
							{ID: "zed", Period: 24311, Counts: []AudienceCount{{AudienceAge, "18-24", 2, 1}}},
						})
					})
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var views int64
		for _, a := range []string{"mia", "zed"} {
			if err := s.AudienceSums(ctx, RollupScope{AccountID: a}, true, 24311, 24311, func(_, _ string, v, _ int64) { views += v }); err != nil {
				t.Fatal(err)
			}
		}
		if views != writers*rounds*3 {
			t.Fatalf("views %d, want %d", views, writers*rounds*3)
		}
	})
}

// retryRaced retries fn while PostgreSQL aborts it for a deadlock or a
// serialization failure, as aggregation retries a batch.
func retryRaced(ctx context.Context, fn func() error) error {
	for i := 0; ; i++ {
		err := fn()
		if err == nil || i == 20 || ctx.Err() != nil {
			return err
		}
	}
}

// TestMoveAudienceRows: migration 0002 moves the rows of the audience
// tables of one row per bucket into packed rows and drops those tables;
// on SQLite, 0007 then moves the packed days into the day rows, keeping
// their counters; and a video's monthly rows, which 0008 (SQLite) or 0005
// (PostgreSQL) drops, are not needed for its sums.
func TestMoveAudienceRows(t *testing.T) {
	defer func(n int) { movePage = n }(movePage)
	movePage = 4 // a key's rows across two pages
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		for _, name := range []string{"video_dim_day", "video_dim_month", "account_dim_day", "account_dim_month"} {
			var n int
			err := s.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+name).Scan(&n)
			if err == nil {
				t.Fatalf("%s is still there after migration 0002", name)
			}
		}
		// video_audience_month as 0002 made it, before its drop.
		blob := map[Dialect]string{SQLite: "BLOB", Postgres: "BYTEA"}[s.dialect]
		if _, err := s.write.ExecContext(ctx, `CREATE TABLE video_audience_month (video_id TEXT NOT NULL, month BIGINT NOT NULL, counts `+blob+` NOT NULL, PRIMARY KEY (video_id, month))`); err != nil {
			t.Fatal(err)
		}
		// The tables of 0001, with rows, as a database of that schema has
		// them.
		old := []struct{ table, id, period string }{
			{"video_dim_day", "video_id", "day"}, {"video_dim_month", "video_id", "month"},
			{"account_dim_day", "account_id", "day"}, {"account_dim_month", "account_id", "month"},
		}
		for _, o := range old {
			if _, err := s.write.ExecContext(ctx, `CREATE TABLE `+o.table+` (`+o.id+` TEXT NOT NULL, `+o.period+` BIGINT NOT NULL, dim TEXT NOT NULL, bucket TEXT NOT NULL,
views BIGINT NOT NULL DEFAULT 0, viewers BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (`+o.id+`, `+o.period+`, dim, bucket))`); err != nil {
				t.Fatal(err)
			}
			for _, r := range []struct {
				id          string
				period      int64
				dim, bucket string
				views       int64
			}{{"v", 20000, "source", "for_you", 3}, {"v", 20000, "country", "DE", 2}, {"v", 20000, "age", "18-24", 1}, {"v", 20001, "gender", "male", 4}, {"w", 20000, "country", "US", 9}} {
				if _, err := s.write.ExecContext(ctx, s.Rebind(`INSERT INTO `+o.table+` VALUES (?, ?, ?, ?, ?, 1)`), r.id, r.period, r.dim, r.bucket, r.views); err != nil {
					t.Fatal(err)
				}
			}
		}
		if s.dialect == SQLite {
			// The day tables and packed tables of 0002, before 0007.
			for _, q := range []string{
				`ALTER TABLE video_day DROP COLUMN audience`, `ALTER TABLE account_day DROP COLUMN audience`,
				`CREATE TABLE video_audience_day (video_id TEXT NOT NULL, day BIGINT NOT NULL, counts BLOB NOT NULL, PRIMARY KEY (video_id, day)) WITHOUT ROWID`,
				`CREATE TABLE account_audience_day (account_id TEXT NOT NULL, day BIGINT NOT NULL, counts BLOB NOT NULL, PRIMARY KEY (account_id, day)) WITHOUT ROWID`,
				// A day row with counters: 0007 keeps them.
				`INSERT INTO video_day (video_id, day, views, likes) VALUES ('v', 20000, 7, 2)`,
			} {
				if _, err := s.write.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.update(ctx, func(t *tx) error { return moveAudienceRows(ctx, t) }); err != nil {
			t.Fatal(err)
		}
		if s.dialect == SQLite {
			body, err := migrations.ReadFile("migrations/sqlite/0007_audience_in_day_rows.sql")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.write.ExecContext(ctx, string(body)); err != nil {
				t.Fatal(err)
			}
			var views, likes int64
			var n int
			if err := s.write.QueryRowContext(ctx, `SELECT views, likes FROM video_day WHERE video_id = 'v' AND day = 20000`).Scan(&views, &likes); err != nil || views != 7 || likes != 2 {
				t.Fatalf("the day row's counters after 0007: %d views, %d likes (%v), want 7 and 2", views, likes, err)
			}
			if err := s.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM video_day WHERE audience IS NOT NULL`).Scan(&n); err != nil || n != 3 {
				t.Fatalf("%d video days with an audience after 0007 (%v), want 3", n, err)
			}
		}
		var drop string
		if s.dialect == SQLite {
			drop = "migrations/sqlite/0008_video_audience_by_day.sql"
		} else {
			drop = "migrations/postgres/0005_video_audience_by_day.sql"
		}
		var moved int
		if err := s.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM video_audience_month`).Scan(&moved); err != nil || moved != 3 {
			t.Fatalf("%d rows moved into video_audience_month (%v), want 3", moved, err)
		}
		body, err := migrations.ReadFile(drop)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.write.ExecContext(ctx, string(body)); err != nil {
			t.Fatal(err)
		}
		if err := s.AudienceSums(ctx, RollupScope{VideoID: "v"}, true, 20000, 20001, func(string, string, int64, int64) {}); err == nil {
			t.Fatal("a video's sums by month read without an error")
		}
		for _, sc := range []RollupScope{{VideoID: "v"}, {AccountID: "v"}} {
			for _, months := range []bool{false, true} {
				if months && sc.VideoID != "" {
					continue // by day only
				}
				got := map[string]int64{}
				if err := s.AudienceSums(ctx, sc, months, 20000, 20001, func(dim, bucket string, views, viewers int64) {
					got[dim+"/"+bucket] = views*10 + viewers
				}); err != nil {
					t.Fatal(err)
				}
				want := map[string]int64{"source/for_you": 31, "country/DE": 21, "age/18-24": 11, "gender/male": 41}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%+v months=%v: %v, want %v", sc, months, got, want)
				}
			}
		}
		var day []string
		if err := s.AudienceDays(ctx, 20000, 20000, []string{"v", "w"}, func(video string, d int64, dim, bucket string, viewers int64) {
			day = append(day, fmt.Sprint(video, d, dim, bucket, viewers))
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(day)
		if want := []string{"v20000age18-241", "v20000countryDE1", "v20000sourcefor_you1", "w20000countryUS1"}; !slices.Equal(day, want) {
			t.Fatalf("days %v, want %v", day, want)
		}
	})
}

// TestAddDayRows: a day's counters and its audience written together read
// back as each alone would (SQLite keeps them in one row, PostgreSQL in
// two tables), an audience row without a day row among the rows
// included, and a second batch adds to both.
func TestAddDayRows(t *testing.T) {
	type row struct {
		id    string
		day   int64
		views int64
	}
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		days := []row{{"a", 20000, 5}, {"a", 20001, 1}, {"c", 20000, 2}}
		audience := []AudienceRow{
			{ID: "a", Period: 20000, Counts: []AudienceCount{{AudienceCountry, "DE", 3, 2}, {AudienceCountry, "FR", 2, 1}}},
			// No day row of b's among the rows: added on its own.
			{ID: "b", Period: 20000, Counts: []AudienceCount{{AudienceAge, "18-24", 4, 4}}},
			{ID: "c", Period: 20000, Counts: []AudienceCount{{AudienceGender, "male", 2, 1}}},
			// After the last day row.
			{ID: "d", Period: 20005, Counts: []AudienceCount{{AudienceSource, "search", 1, 1}}},
		}
		write := func() {
			tx, err := s.BeginRollup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			args := func(r row, a []any) []any {
				a = append(a, r.id, r.day)
				for _, m := range VideoDayTable.Measures() {
					if m == MeasureViews {
						a = append(a, r.views)
					} else {
						a = append(a, int64(0))
					}
				}
				return a
			}
			key := func(r row) (string, int64) { return r.id, r.day }
			if err := AddDayRows(tx.RowWriter(ctx), VideoDayTable, days, args, key, VideoAudienceDayTable, audience); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		write()
		write()
		for _, c := range []struct {
			id   string
			want map[string]int64
		}{
			{"a", map[string]int64{"country/DE": 64, "country/FR": 42}},
			{"b", map[string]int64{"age/18-24": 88}},
			{"c", map[string]int64{"gender/male": 42}},
			{"d", map[string]int64{"source/search": 22}},
		} {
			got := map[string]int64{}
			if err := s.AudienceSums(ctx, RollupScope{VideoID: c.id}, false, 20000, 20010, func(dim, bucket string, views, viewers int64) {
				got[dim+"/"+bucket] = views*10 + viewers
			}); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s: %v, want %v", c.id, got, c.want)
			}
		}
		views := map[string]int64{}
		rows, err := s.read.QueryContext(ctx, `SELECT video_id, SUM(views) FROM video_day GROUP BY video_id`)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var id string
			var n int64
			err := rows.Scan(&id, &n)
			views[id] = n
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		// On SQLite b's and d's audience made day rows of no views.
		for id, n := range views {
			if n == 0 {
				delete(views, id)
			}
		}
		if want := map[string]int64{"a": 12, "c": 4}; !reflect.DeepEqual(views, want) {
			t.Errorf("views by video %v, want %v", views, want)
		}
		var day []string
		if err := s.AudienceDays(ctx, 20000, 20000, []string{"a", "b", "c", "d"}, func(video string, d int64, dim, bucket string, viewers int64) {
			day = append(day, fmt.Sprint(video, " ", dim, " ", bucket, " ", viewers))
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(day)
		if want := []string{"a country DE 4", "a country FR 2", "b age 18-24 8", "c gender male 2"}; !slices.Equal(day, want) {
			t.Errorf("audience days %v, want %v", day, want)
		}
	})
}

// TestAddDayRows_Measures: rows of views alone and rows adding other
// measures, interleaved in key order with their audience, written twice:
// every column reads back as twice what the rows add, and every audience
// as twice its counts.
func TestAddDayRows_Measures(t *testing.T) {
	type row struct {
		id  string
		day int64
		m   map[Measure]int64
	}
	rows := []row{
		{"a", 20000, map[Measure]int64{MeasureViews: 3, MeasureViewers: 2, MeasureWatchMS: 900, MeasurePViews: 3}},
		{"a", 20001, map[Measure]int64{MeasureLikes: 1}},
		{"a", 20002, map[Measure]int64{MeasureViews: 1, MeasureShares: 1, MeasureSharers: 1}},
		{"b", 20000, map[Measure]int64{MeasureViews: 1, MeasureCompletions: 1, MeasurePCompletions: 1, MeasurePWatchMS: 500}},
		{"b", 20003, map[Measure]int64{MeasureSaves: 2, MeasureSavers: 1, MeasureComments: 4}},
		{"c", 20000, map[Measure]int64{MeasureViews: 7}},
	}
	audience := []AudienceRow{
		{ID: "a", Period: 20000, Counts: []AudienceCount{{AudienceCountry, "DE", 3, 2}}},
		{ID: "a", Period: 20002, Counts: []AudienceCount{{AudienceAge, "18-24", 1, 1}}},
		{ID: "b", Period: 20000, Counts: []AudienceCount{{AudienceSource, "search", 1, 1}}},
		{ID: "c", Period: 20000, Counts: []AudienceCount{{AudienceGender, "male", 7, 3}}},
	}
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		for range 2 {
			tx, err := s.BeginRollup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			args := func(r row, a []any) []any {
				a = append(a, r.id, r.day)
				for _, m := range VideoDayTable.Measures() {
					a = append(a, r.m[m])
				}
				return a
			}
			key := func(r row) (string, int64) { return r.id, r.day }
			if err := AddDayRows(tx.RowWriter(ctx), VideoDayTable, rows, args, key, VideoAudienceDayTable, audience); err != nil {
				tx.Rollback()
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		cols := make([]string, 0, NumMeasures)
		for _, m := range VideoDayTable.Measures() {
			cols = append(cols, measureColumns[m])
		}
		for _, r := range rows {
			vals := make([]int64, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			q := `SELECT ` + strings.Join(cols, ", ") + ` FROM video_day WHERE video_id = ? AND day = ?`
			if err := s.queryReadRow(ctx, q, r.id, r.day).Scan(ptrs...); err != nil {
				t.Fatalf("%s %d: %v", r.id, r.day, err)
			}
			for i, m := range VideoDayTable.Measures() {
				if vals[i] != 2*r.m[m] {
					t.Errorf("%s %d %s = %d, want %d", r.id, r.day, cols[i], vals[i], 2*r.m[m])
				}
			}
		}
		for _, a := range audience {
			got := map[string]int64{}
			if err := s.AudienceSums(ctx, RollupScope{VideoID: a.ID}, false, a.Period, a.Period, func(dim, bucket string, views, viewers int64) {
				got[dim+"/"+bucket] = views*100 + viewers
			}); err != nil {
				t.Fatal(err)
			}
			c := a.Counts[0]
			want := map[string]int64{AudienceDimensions[c.Dim] + "/" + c.Bucket: 2*c.Views*100 + 2*c.Viewers}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %d: audience %v, want %v", a.ID, a.Period, got, want)
			}
		}
	})
}
