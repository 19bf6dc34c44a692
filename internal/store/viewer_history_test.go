package store

import (
	"database/sql"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

// TestViewerHistory_MoveRows: migration 0003 moves the rows of 0001's
// viewer_history (keyed by video and actor, four-byte days) into rows keyed
// by ViewerHistoryKey, across pages, and drops the former table; of rows
// whose keys collide the first in (video, actor) order stays.
func TestViewerHistory_MoveRows(t *testing.T) {
	defer func(n int, f func(string, string) int64) { movePage, historyKeyOf = n, f }(movePage, historyKeyOf)
	movePage = 3 // five pages, a collision across two of them
	historyKeyOf = func(video, actor string) int64 {
		if strings.HasPrefix(actor, "c") {
			return 42 // the collisions below
		}
		return ViewerHistoryKey(video, actor)
	}
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		// The database as 0002 left it, with rows.
		if _, err := s.write.ExecContext(ctx, `DROP TABLE viewer_history`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.write.ExecContext(ctx, `CREATE TABLE viewer_history (video_id TEXT NOT NULL, actor TEXT NOT NULL, days `+map[Dialect]string{SQLite: "BLOB", Postgres: "BYTEA"}[s.dialect]+` NOT NULL, PRIMARY KEY (video_id, actor))`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.write.ExecContext(ctx, `DELETE FROM schema_migrations WHERE name = '0003_viewer_history_key.sql'`); err != nil {
			t.Fatal(err)
		}
		fixed := func(days ...int64) []byte {
			b := []byte{}
			for _, d := range days {
				b = binary.LittleEndian.AppendUint32(b, uint32(d))
			}
			return b
		}
		old := []struct {
			video, actor string
			days         []byte
			want         []int64
		}{
			{"v", "a1", fixed(20400), []int64{20400}},
			{"v", "a2", fixed(19000, 20400, 20401), []int64{19000, 20400, 20401}},
			{"v", "a3", fixed(20402, 20400, 20402), []int64{20400, 20402}}, // out of order: sorted
			{"v", "c1", fixed(100), []int64{100}},                          // stays: first of key 42
			{"v", "c2", fixed(200), nil},
			{"w", "a1", append(fixed(0, 1), 7), []int64{0, 1}}, // a partial record ignored
			{"w", "a2", fixed(20500), []int64{20500}},
			{"w", "c3", fixed(300), nil},
			{"x", "a1", fixed(1 << 20), []int64{1 << 20}},
			{"x", "a2", fixed(), nil},             // no days: not moved
			{"x", "a3", fixed(-5, 3), []int64{3}}, // a day before 1970 dropped
			{"y", "a1", fixed(20400), []int64{20400}},
		}
		for _, r := range old {
			if _, err := s.write.ExecContext(ctx, s.Rebind(`INSERT INTO viewer_history (video_id, actor, days) VALUES (?, ?, ?)`), r.video, r.actor, r.days); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.write.ExecContext(ctx, `SELECT 1 FROM viewer_history_0001`); err == nil {
			t.Fatal("viewer_history_0001 is still there after migration 0003")
		}
		var n int
		if err := s.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM viewer_history`).Scan(&n); err != nil || n != 9 {
			t.Fatalf("%d rows (%v), want 9", n, err)
		}
		got := readHistories(t, s)
		for _, r := range old {
			if r.want == nil {
				continue
			}
			h, ok := got[historyKeyOf(r.video, r.actor)]
			days, err := DecodeDays(nil, h.Days)
			if !ok || err != nil || h.VideoTag != VideoTag(r.video) || !slices.Equal(days, r.want) {
				t.Errorf("%s/%s: %v, tag %d, days %v (%v); want tag %d, days %v", r.video, r.actor, ok, h.VideoTag, days, err, VideoTag(r.video), r.want)
			}
		}
	})
}

func readHistories(t *testing.T, s *Store) map[int64]ViewerHistory {
	t.Helper()
	var keys []int64
	rows, err := s.write.QueryContext(t.Context(), `SELECT key FROM viewer_history ORDER BY key`)
	if err := eachRow(rows, err, func(rows *sql.Rows) error {
		keys = append(keys, 0)
		return rows.Scan(&keys[len(keys)-1])
	}); err != nil {
		t.Fatal(err)
	}
	got := map[int64]ViewerHistory{}
	tx, err := s.BeginRollup(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := tx.ViewerHistories(t.Context(), keys, func(h ViewerHistory) { got[h.Key] = h }); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestViewerHistory_OtherVideoStays: a row is replaced only by a row of its
// video's tag; one of another video under the same key (a collision)
// leaves it as it is.
func TestViewerHistory_OtherVideoStays(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		set := func(rows ...ViewerHistory) {
			t.Helper()
			tx, err := s.BeginRollup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if err := tx.SetViewerHistories(ctx, rows); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		days := func(d ...int64) []byte { return AppendDays(nil, d) }
		set(ViewerHistory{Key: -1 << 63, VideoTag: 7, Days: days(1)}, ViewerHistory{Key: 5, VideoTag: -7, Days: days(2)}, ViewerHistory{Key: 1<<63 - 1, VideoTag: 7, Days: days(3)})
		set(ViewerHistory{Key: -1 << 63, VideoTag: 8, Days: days(9)}, ViewerHistory{Key: 5, VideoTag: -7, Days: days(2, 4)})
		got := readHistories(t, s)
		want := map[int64]ViewerHistory{-1 << 63: {-1 << 63, 7, days(1)}, 5: {5, -7, days(2, 4)}, 1<<63 - 1: {1<<63 - 1, 7, days(3)}}
		if len(got) != len(want) {
			t.Fatalf("rows %v, want %v", got, want)
		}
		for k, w := range want {
			if g := got[k]; g.VideoTag != w.VideoTag || !slices.Equal(g.Days, w.Days) {
				t.Errorf("key %d: %v, want %v", k, g, w)
			}
		}
	})
}

func TestViewerHistory_Days(t *testing.T) {
	for _, days := range [][]int64{nil, {0}, {historyEpoch}, {historyEpoch - 1, historyEpoch, historyEpoch + 1}, {20400, 20401, 20765, 40000}, {maxHistoryDay - 1, maxHistoryDay}, {0, maxHistoryDay}} {
		b := AppendDays(nil, days)
		got, err := DecodeDays(nil, b)
		if err != nil || !slices.Equal(got, days) && len(days) > 0 {
			t.Errorf("%v: %x decodes to %v, %v", days, b, got, err)
		}
	}
	if b := AppendDays(nil, []int64{20400}); len(b) != 2 {
		t.Errorf("a day of 2025 takes %d bytes, want 2", len(b))
	}
	if b := AppendDays(nil, []int64{20400, 20401, 20403}); len(b) != 4 {
		t.Errorf("three days of 2025 take %d bytes, want 4", len(b))
	}
	for _, bad := range [][]byte{
		{0x80},       // truncated first day
		{0x00, 0x80}, // truncated distance
		binary.AppendVarint(nil, -historyEpoch-1),              // before 1970
		binary.AppendVarint(nil, maxHistoryDay-historyEpoch+1), // too late
		binary.AppendUvarint(AppendDays(nil, []int64{maxHistoryDay}), 0),
		binary.AppendUvarint(AppendDays(nil, []int64{0}), 1<<63),
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // overflow
	} {
		if days, err := DecodeDays(nil, bad); err == nil {
			t.Errorf("%x decodes to %v", bad, days)
		}
	}
}

// FuzzDecodeDays: any bytes decode without panicking to strictly
// increasing days in range, which encode to bytes decoding to the same.
func FuzzDecodeDays(f *testing.F) {
	f.Add(AppendDays(nil, []int64{20400, 20401, 20800}))
	f.Add([]byte{0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		days, err := DecodeDays(nil, b)
		for i, d := range days {
			if d < 0 || d > maxHistoryDay || i > 0 && d <= days[i-1] {
				t.Fatalf("%x: days %v", b, days)
			}
		}
		if err != nil {
			return
		}
		again, err := DecodeDays(nil, AppendDays(nil, days))
		if err != nil || !slices.Equal(again, days) {
			t.Fatalf("%x: %v re-encoded decodes to %v, %v", b, days, again, err)
		}
	})
}
