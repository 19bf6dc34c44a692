package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/store"
)

// TestStore_Cells: cells are stored once (a second release of a key keeps
// the first value) and read back by granularity, period and subject; the
// videos a report covers come with their creation times.
func TestStore_Cells(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		mia := MustAccount(t, s, "mia")
		MustVideo(t, s, "v1", mia)
		MustVideo(t, s, "v2", mia)
		cell := func(subject string, period, value int64) store.Cell {
			return store.Cell{Subject: subject, Granularity: "day", Period: period, Metric: "views", Value: value,
				Mechanism: "discrete-laplace", EpsNum: 1, EpsDen: 2, Sensitivity: 5, KID: 1, Schema: 1, ReleasedAt: 7}
		}
		if err := s.InsertCells(ctx, []store.Cell{cell("video:v1", 10, 100), cell("video:v1", 11, 110), cell("video:v2", 11, 5)}); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertCells(ctx, []store.Cell{cell("video:v1", 10, 999)}); err != nil {
			t.Fatal(err)
		}
		got := map[[2]any]int64{}
		err := s.ReadCells(ctx, "day", 10, 11, []string{"video:v1", "video:v2"}, func(c store.CellValue) {
			got[[2]any{c.Subject, c.Period}] = c.Value
		})
		if err != nil || len(got) != 3 || got[[2]any{"video:v1", int64(10)}] != 100 || got[[2]any{"video:v2", int64(11)}] != 5 {
			t.Fatalf("cells %v, %v", got, err)
		}
		var days []int64
		if err := s.ReleasedDays(ctx, 11, 12, []string{"video:v1"}, func(_ string, d int64) { days = append(days, d) }); err != nil || !slices.Equal(days, []int64{11}) {
			t.Fatalf("released days %v, %v", days, err)
		}
		vs, err := s.CreatorVideosCreated(ctx, mia.ID)
		if err != nil || len(vs) != 2 || !vs[0].Created.Equal(t0) {
			t.Fatalf("creator's videos %v, %v", vs, err)
		}
		if vs, err := s.VideoCreated(ctx, "nope"); err != nil || len(vs) != 0 {
			t.Fatalf("unknown video %v, %v", vs, err)
		}
		vs, err = s.VideosCreatedBefore(ctx, "v1", t0.Add(time.Second), 500)
		if err != nil || len(vs) != 1 || vs[0].ID != "v2" {
			t.Fatalf("videos after v1 %v, %v", vs, err)
		}
		if vs, err := s.VideosCreatedBefore(ctx, "", t0, 500); err != nil || len(vs) != 0 {
			t.Fatalf("videos created before t0 %v, %v", vs, err)
		}
	})
}

// TestStore_RollupRows: a batch transaction's rows add up, and the report
// reads return them.
func TestStore_RollupRows(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		mia := MustAccount(t, s, "mia")
		MustVideo(t, s, "v1", mia)
		type row struct {
			id      string
			t       int64
			views   int64
			viewers int64
		}
		args := func(r row, a []any) []any {
			a = append(a, r.id, r.t)
			for _, m := range store.VideoDayTable.Measures() {
				switch m {
				case store.MeasureViews, store.MeasurePViews:
					a = append(a, r.views)
				case store.MeasureViewers:
					a = append(a, r.viewers)
				default:
					a = append(a, int64(0))
				}
			}
			return a
		}
		// 250 days: a full 200-row statement (prepared) and a short one,
		// twice, so every row is added to.
		var rows []row
		for d := range int64(250) {
			rows = append(rows, row{"v1", 1000 + d, 2, 1})
		}
		for range 2 {
			tx, err := s.BeginRollup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			w := tx.RowWriter(ctx)
			if err := store.AddRows(w, store.VideoDayTable, rows, args); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			tx.Rollback()
		}
		var sum store.RollupCounters
		n := 0
		err := s.DailyRollups(ctx, store.RollupScope{VideoID: "v1"}, 1000, 1249, func(_ int64, c store.RollupCounters) {
			n++
			sum.Views += c.Views
			sum.Viewers += c.Viewers
		})
		if err != nil || n != 250 || sum.Views != 1000 || sum.Viewers != 500 {
			t.Fatalf("%d days, %+v, %v", n, sum, err)
		}
		var bounded int64
		if err := s.BoundedDays(ctx, 1000, 1000, []string{"v1"}, func(d store.BoundedDay) { bounded += d.Views }); err != nil || bounded != 4 {
			t.Fatalf("bounded views %d, %v", bounded, err)
		}
		ids, err := s.CreatorVideoIDs(ctx, mia.ID)
		if err != nil || len(ids) != 1 || ids[0] != "v1" {
			t.Fatalf("creator's videos %v, %v", ids, err)
		}
		var window, baseline int64
		err = s.VideoDayViews(ctx, ids, 1000, 1000, 1001, 1010, func(_ string, w, b int64) { window, baseline = w, b })
		if err != nil || window != 4 || baseline != 40 {
			t.Fatalf("trend %d, %d, %v", window, baseline, err)
		}
	})
}

// TestStore_MoveCheckpoints: a compare-and-set moves only the checkpoints
// still where the caller says they are.
func TestStore_MoveCheckpoints(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for p, seq := range []int64{5, 5, 7} {
			if _, err := s.DB().ExecContext(ctx, s.Rebind(`INSERT INTO rollup_checkpoint (name, seq) VALUES (?, ?)`), store.CheckpointName(p), seq); err != nil {
				t.Fatal(err)
			}
		}
		tx, err := s.BeginRollup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		moved, err := tx.MoveCheckpoints(ctx, 9, map[uint64][]int{5: {0, 1}, 6: {2}})
		if err != nil || moved != 2 {
			t.Fatalf("moved %d, %v", moved, err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		cps, err := s.Checkpoints(ctx, 4)
		if err != nil || !slices.Equal(cps, []uint64{9, 9, 7, 0}) {
			t.Fatalf("checkpoints %v, %v", cps, err)
		}
	})
}
