package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// historyRows returns viewers' history, key → days as stored.
func historyRows(t *testing.T, s *Store) map[int64]string {
	t.Helper()
	hs, err := s.HistoryEntries(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	for _, h := range hs {
		if h.VideoTag != 7 {
			t.Errorf("row %d: tag %d, want 7", h.Key, h.VideoTag)
		}
		got[h.Key] = string(h.Days)
	}
	return got
}

func openDir(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// setHistory writes rows (key → days) in a batch of history.db committed
// at seq.
func setHistory(t *testing.T, s *Store, seq uint64, rows map[int64]string) {
	t.Helper()
	tx, err := s.BeginHistory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var hs []ViewerHistory
	for _, k := range slices.Sorted(maps.Keys(rows)) {
		hs = append(hs, ViewerHistory{Key: k, VideoTag: 7, Days: []byte(rows[k])})
	}
	if err := tx.SetViewerHistories(t.Context(), hs); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitHistory(t.Context(), tx, seq); err != nil {
		t.Fatal(err)
	}
}

// mergeHistoryNow runs MergeHistory until no merge is left to build, each
// built one swapped in (unless a backup holds the runs).
func mergeHistoryNow(t *testing.T, s *Store) {
	t.Helper()
	for {
		if err := s.MergeHistory(t.Context()); err != nil {
			t.Fatal(err)
		}
		s.histMerge.Lock()
		done := s.histBuild.done
		s.histMerge.Unlock()
		if done == nil {
			return
		}
		<-done
		if s.runsHeld.Load() > 0 {
			return
		}
	}
}

// countRuns returns the runs of history.db's table and in memory.
func countRuns(t *testing.T, s *Store) (stored, held int) {
	t.Helper()
	if err := s.hist.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM history_runs`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	return stored, len(s.histRuns.list())
}

// TestRecoverHistory_UndoesBeyondCheckpoint: batches history.db committed
// beyond crowd.db's checkpoints (a crash between a batch's two commits; a
// backup's later copy, its merges held) are undone at Open: the entries
// they made go, those they changed are as before.
func TestRecoverHistory_UndoesBeyondCheckpoint(t *testing.T) {
	defer func(n int) { historyFanout = n }(historyFanout)
	historyFanout = 2 // two runs merge, where they may
	dir := t.TempDir()
	s := openDir(t, dir)
	ctx := t.Context()
	if _, err := s.write.ExecContext(ctx, `INSERT INTO rollup_checkpoint (name, seq) VALUES ('p0', 10)`); err != nil {
		t.Fatal(err)
	}
	setHistory(t, s, 9, map[int64]string{1: "-"})
	setHistory(t, s, 10, map[int64]string{1: "a", 2: "b"})
	// crowd.db's file holds checkpoint 10 synced (noteDurable): 9 and 10
	// merge; later batches' runs stay as they are until it holds theirs,
	// and while a backup holds them.
	s.noteDurable(10)
	mergeHistoryNow(t, s)
	if stored, held := countRuns(t, s); stored != 1 || held != 1 {
		t.Fatalf("after merging 9 and 10: %d runs stored, %d held, want 1", stored, held)
	}
	setHistory(t, s, 11, map[int64]string{2: "bb", 3: "c"})
	setHistory(t, s, 12, map[int64]string{2: "bbb", 3: "cc", 4: "d"})
	mergeHistoryNow(t, s)
	release := s.HoldHistoryRuns()
	s.noteDurable(12)
	mergeHistoryNow(t, s)
	release()
	if got := historyRows(t, s); len(got) != 4 || got[2] != "bbb" {
		t.Fatalf("before the crash: %v", got)
	}
	if stored, held := countRuns(t, s); stored != 3 || held != 3 {
		t.Fatalf("before the crash: %d runs stored, %d held, want 3 (no merge beyond the durable or while held)", stored, held)
	}
	s.Close()

	s = openDir(t, dir)
	defer s.Close()
	if got, want := historyRows(t, s), map[int64]string{1: "a", 2: "b"}; !maps.Equal(got, want) {
		t.Fatalf("reopened at checkpoint 10: %v, want %v", got, want)
	}
	var mark int64
	if err := s.hist.QueryRowContext(ctx, `SELECT seq FROM history_mark`).Scan(&mark); err != nil || mark != 10 {
		t.Fatalf("mark %d (%v), want 10", mark, err)
	}
	if stored, held := countRuns(t, s); stored != 1 || held != 1 {
		t.Fatalf("reopened: %d runs stored, %d held, want 1", stored, held)
	}
	var blocks int
	if err := s.hist.QueryRowContext(ctx, `SELECT COUNT(*) FROM history_blocks`).Scan(&blocks); err != nil || blocks != 1 {
		t.Fatalf("%d blocks (%v), want the merged run's 1", blocks, err)
	}
}

// TestHistoryRuns: many batches of entries over a shared set of keys,
// merged as crowd.db holds them synced: every look-up in a batch finds
// each key's newest entry, keys no batch wrote find nothing, the runs
// stay few, and a reopened store reads the same. Merges are either
// settled after each batch, or built beside the batches as aggregation
// has them (MergeHistory after each commit, swapped in whenever built;
// a block a transaction and a block of garbage a call).
func TestHistoryRuns(t *testing.T) {
	t.Run("settled", func(t *testing.T) { testHistoryRuns(t, true) })
	t.Run("beside", func(t *testing.T) { testHistoryRuns(t, false) })
}

func testHistoryRuns(t *testing.T, settle bool) {
	defer func(n, b, w, g int) {
		historyFanout, historyBlockBytes, mergeWriteBlocks, garbageBlocks = n, b, w, g
	}(historyFanout, historyBlockBytes, mergeWriteBlocks, garbageBlocks)
	historyFanout, historyBlockBytes = 3, 64 // merges at every level, and blocks of a few entries
	if !settle {
		mergeWriteBlocks, garbageBlocks = 1, 1
	}
	dir := t.TempDir()
	s := openDir(t, dir)
	ctx := t.Context()
	r := rand.New(rand.NewPCG(1, 2))
	want := map[int64]string{}
	pool := make([]int64, 4096) // keys over all of int64, as hashes are
	for i := range pool {
		pool[i] = int64(r.Uint64())
	}
	key := func() int64 { return pool[r.IntN(len(pool))] }
	check := func(seq uint64) {
		t.Helper()
		tx, err := s.BeginHistory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		keys := make([]int64, 0, 300)
		for range 300 {
			keys = append(keys, key())
		}
		slices.Sort(keys)
		keys = slices.Compact(keys)
		got := map[int64]string{}
		err = tx.ViewerHistories(ctx, keys, func(h ViewerHistory) {
			if _, dup := got[h.Key]; dup {
				t.Errorf("batch %d: key %d read twice", seq, h.Key)
			}
			got[h.Key] = string(h.Days)
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if w, ok := want[k]; got[k] != w || ok != (got[k] != "") {
				t.Fatalf("batch %d: key %d read %q, want %q", seq, k, got[k], w)
			}
		}
	}
	for seq := uint64(1); seq <= 60; seq++ {
		rows := map[int64]string{}
		if seq == 1 { // keys more than 2⁶³ apart, in one block
			pool[0], pool[1] = math.MinInt64+1, math.MaxInt64
			rows[pool[0]], rows[pool[1]] = "min", "max"
		}
		for range (1 + r.IntN(200)) * min(1, int(seq-1)) {
			rows[key()] = fmt.Sprintf("%d.%d", seq, r.IntN(1000))
		}
		setHistory(t, s, seq, rows)
		maps.Copy(want, rows)
		if seq%2 == 0 {
			s.noteDurable(seq - 1)
		}
		if settle {
			mergeHistoryNow(t, s)
		} else if err := s.MergeHistory(ctx); err != nil {
			t.Fatal(err)
		}
		check(seq)
	}
	mergeHistoryNow(t, s)
	for {
		var garbage int
		if err := s.hist.QueryRowContext(ctx, `SELECT COUNT(*) FROM history_garbage`).Scan(&garbage); err != nil {
			t.Fatal(err)
		}
		if garbage == 0 {
			break
		}
		mergeHistoryNow(t, s) // a block of garbage a call
	}
	var stray int
	err := s.hist.QueryRowContext(ctx, `SELECT COUNT(*) FROM history_blocks WHERE id >> 20 NOT IN (SELECT id FROM history_runs)`).Scan(&stray)
	if err != nil || stray != 0 {
		t.Fatalf("%d blocks of no run (%v), want every merged-away run's gone", stray, err)
	}
	if got := historyRows(t, s); !maps.Equal(got, want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	stored, held := countRuns(t, s)
	levels := map[int]int{}
	for _, r := range s.histRuns.list() {
		levels[r.level]++
	}
	// Below the last level fewer runs than merge (the newest one not
	// yet durable aside); the last level holds a run for every
	// historyFanout² batches.
	if stored != held || levels[0] > historyFanout || levels[1] >= historyFanout || levels[historyMaxLevel] != 60/(historyFanout*historyFanout) {
		t.Fatalf("%d runs stored, %d held after 60 batches, by level %v", stored, held, levels)
	}
	if _, err := s.write.ExecContext(ctx, `INSERT INTO rollup_checkpoint (name, seq) VALUES ('p0', 60)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openDir(t, dir)
	defer s.Close()
	if got := historyRows(t, s); !maps.Equal(got, want) {
		t.Fatalf("reopened: %d entries, want %d", len(got), len(want))
	}
	check(61)
}

// TestMergeHistory_Halfway: batches look up and commit while a merge is
// being built; a merge stopped halfway (the store closed, as by a crash)
// leaves blocks of no run, which the next Open deletes, and the entries
// read as before.
func TestMergeHistory_Halfway(t *testing.T) {
	defer func(n, b, w int, hook func(context.Context)) {
		historyFanout, historyBlockBytes, mergeWriteBlocks, mergeWritten = n, b, w, hook
	}(historyFanout, historyBlockBytes, mergeWriteBlocks, mergeWritten)
	historyFanout, historyBlockBytes, mergeWriteBlocks = 3, 64, 1
	dir := t.TempDir()
	s := openDir(t, dir)
	ctx := t.Context()
	if _, err := s.write.ExecContext(ctx, `INSERT INTO rollup_checkpoint (name, seq) VALUES ('p0', 10)`); err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{}
	for seq := uint64(1); seq <= 3; seq++ {
		rows := map[int64]string{}
		for k := range int64(40) {
			rows[k*int64(seq)] = fmt.Sprintf("%d.%d", seq, k)
		}
		setHistory(t, s, seq, rows)
		maps.Copy(want, rows)
	}
	s.noteDurable(3)
	halfway := make(chan struct{})
	mergeWritten = func(ctx context.Context) {
		close(halfway)
		mergeWritten = func(context.Context) {}
		<-ctx.Done() // until the store closes
	}
	if err := s.MergeHistory(ctx); err != nil {
		t.Fatal(err)
	}
	<-halfway
	var garbage, blocks int
	if err := s.hist.QueryRowContext(ctx, `SELECT COUNT(*) FROM history_garbage`).Scan(&garbage); err != nil || garbage != 1 {
		t.Fatalf("%d runs in history_garbage (%v) while the merge is built, want its own", garbage, err)
	}
	// A batch beside it.
	setHistory(t, s, 4, map[int64]string{1: "4.1", 1000: "4.1000"})
	want[1], want[1000] = "4.1", "4.1000"
	if got := historyRows(t, s); !maps.Equal(got, want) {
		t.Fatalf("beside the merge: %d entries, want %d", len(got), len(want))
	}
	if stored, held := countRuns(t, s); stored != 4 || held != 4 {
		t.Fatalf("beside the merge: %d runs stored, %d held, want 4", stored, held)
	}
	s.Close()

	s = openDir(t, dir)
	defer s.Close()
	if err := s.hist.QueryRowContext(ctx, `SELECT COUNT(*) FROM history_garbage`).Scan(&garbage); err != nil || garbage != 0 {
		t.Fatalf("reopened: %d runs in history_garbage (%v), want none", garbage, err)
	}
	if err := s.hist.QueryRowContext(ctx, `SELECT COUNT(*) FROM history_blocks WHERE id >> 20 NOT IN (SELECT id FROM history_runs)`).Scan(&blocks); err != nil || blocks != 0 {
		t.Fatalf("reopened: %d blocks of no run (%v), want none", blocks, err)
	}
	if got := historyRows(t, s); !maps.Equal(got, want) {
		t.Fatalf("reopened: %d entries, want %d", len(got), len(want))
	}
	// Merged once the store is open again.
	setHistory(t, s, 5, map[int64]string{2: "5.2"})
	want[2] = "5.2"
	s.noteDurable(5)
	mergeHistoryNow(t, s)
	if got := historyRows(t, s); !maps.Equal(got, want) {
		t.Fatalf("merged: %d entries, want %d", len(got), len(want))
	}
	if stored, _ := countRuns(t, s); stored != 3 {
		t.Fatalf("merged: %d runs stored, want 3 (three merged into one, two left)", stored)
	}
}

// TestRecoverHistory_ConvertsRows: history.db of an earlier version (rows,
// undo entries) has the batches beyond crowd.db's checkpoint undone, then
// its rows made one run, at Open.
func TestRecoverHistory_ConvertsRows(t *testing.T) {
	defer func(n int) { movePage = n }(movePage)
	movePage = 2 // the rows in two pages
	dir := t.TempDir()
	s := openDir(t, dir)
	ctx := t.Context()
	if _, err := s.write.ExecContext(ctx, `INSERT INTO rollup_checkpoint (name, seq) VALUES ('p0', 20)`); err != nil {
		t.Fatal(err)
	}
	// As an earlier version left it: batch 21 changed key 2 and made key
	// 3, and crowd.db never committed it.
	for _, q := range []string{
		`INSERT INTO viewer_history (key, video_tag, days) VALUES (1, 7, 'a'), (2, 7, 'bb'), (3, 7, 'c')`,
		`INSERT OR REPLACE INTO history_mark (id, seq) VALUES (0, 21)`,
	} {
		if _, err := s.hist.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	undo := appendHistoryUndo(appendHistoryUndo(nil, 2, true, 7, []byte("b")), 3, false, 0, nil)
	if _, err := s.hist.ExecContext(ctx, `INSERT INTO history_undo (seq, data) VALUES (21, ?), (19, x'00')`, undo); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openDir(t, dir)
	defer s.Close()
	if got, want := historyRows(t, s), map[int64]string{1: "a", 2: "b"}; !maps.Equal(got, want) {
		t.Fatalf("converted: %v, want %v", got, want)
	}
	for _, table := range []string{"viewer_history", "history_undo"} {
		var n int
		if err := s.hist.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%s keeps %d rows (%v)", table, n, err)
		}
	}
	runs := s.histRuns.list()
	if len(runs) != 1 || runs[0].seq != 0 || runs[0].level != historyMaxLevel {
		t.Fatalf("runs after the conversion: %+v", runs)
	}
	// A batch after it finds the converted entries.
	setHistory(t, s, 21, map[int64]string{2: "bz"})
	if got, want := historyRows(t, s), map[int64]string{1: "a", 2: "bz"}; !maps.Equal(got, want) {
		t.Fatalf("after a batch: %v, want %v", got, want)
	}
}

// TestRecoverHistory_MovesRows: a data dir of an earlier version, viewers'
// history in crowd.db and no history.db, has its rows moved into a new
// history.db at Open, marked at the checkpoints, and crowd.db's emptied.
func TestRecoverHistory_MovesRows(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	ctx := t.Context()
	tx, err := s.BeginRollup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.SetViewerHistories(ctx, []ViewerHistory{{Key: -5, VideoTag: 7, Days: []byte("x")}, {Key: 9, VideoTag: 7, Days: []byte("y")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.tx.ExecContext(ctx, `INSERT INTO rollup_checkpoint (name, seq) VALUES ('p0', 40)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, f := range []string{HistoryFile, HistoryFile + "-wal", HistoryFile + "-shm"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}

	s = openDir(t, dir)
	defer s.Close()
	if got, want := historyRows(t, s), map[int64]string{-5: "x", 9: "y"}; !maps.Equal(got, want) {
		t.Fatalf("history.db: %v, want %v", got, want)
	}
	var n int
	if err := s.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM viewer_history`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("crowd.db keeps %d rows (%v)", n, err)
	}
	var mark int64
	if err := s.hist.QueryRowContext(ctx, `SELECT seq FROM history_mark`).Scan(&mark); err != nil || mark != 40 {
		t.Fatalf("mark %d (%v), want 40", mark, err)
	}
}

// FuzzHistoryUndo: an undo entry decodes to what was appended; any bytes
// decode or fail, never panic.
func FuzzHistoryUndo(f *testing.F) {
	f.Add(int64(3), true, int32(-2), []byte{1, 2}, []byte{})
	f.Add(int64(-1), false, int32(0), []byte(nil), []byte{0x80})
	f.Fuzz(func(t *testing.T, key int64, stored bool, tag int32, days, junk []byte) {
		_, _ = decodeHistoryUndo(junk)
		if !stored {
			tag, days = 0, nil
		}
		b := appendHistoryUndo(nil, key, stored, tag, days)
		b = appendHistoryUndo(b, key+1, false, 0, nil)
		got, err := decodeHistoryUndo(b)
		if err != nil || len(got) != 2 {
			t.Fatalf("%x: %v, %v", b, got, err)
		}
		h := got[0]
		if h.key != key || h.stored != stored || h.tag != tag || string(h.days) != string(days) || got[1].key != key+1 || got[1].stored {
			t.Fatalf("%x decodes to %+v, want %d %v %d %x", b, got, key, stored, tag, days)
		}
	})
}

// FuzzHistoryBlock: a block of entries decodes to them; any bytes decode
// or fail, never panic.
func FuzzHistoryBlock(f *testing.F) {
	f.Add(int64(-3), uint64(5), int32(7), []byte{1, 2}, []byte{})
	f.Add(int64(1<<62), uint64(0), int32(-1), []byte(nil), []byte{1, 2, 3, 4, 5, 6, 7, 8, 0})
	f.Add(int64(-1<<62), uint64(1<<63), int32(3), []byte{5}, []byte{6}) // a distance over 2⁶³
	f.Fuzz(func(t *testing.T, key int64, gap uint64, tag int32, days, junk []byte) {
		_ = walkBlock(junk, func(ViewerHistory) bool { return true })
		hs := []ViewerHistory{{Key: key, VideoTag: tag, Days: days}}
		if next := int64(uint64(key) + gap + 1); next > key {
			hs = append(hs, ViewerHistory{Key: next, VideoTag: ^tag, Days: junk})
		}
		var b []byte
		var prev int64
		for _, h := range hs {
			b = appendEntry(b, prev, h)
			prev = h.Key
		}
		var got []ViewerHistory
		if err := walkBlock(b, func(h ViewerHistory) bool { got = append(got, h); return true }); err != nil {
			t.Fatalf("%x: %v", b, err)
		}
		if len(got) != len(hs) {
			t.Fatalf("%x: %d entries, want %d", b, len(got), len(hs))
		}
		for i := range hs {
			if got[i].Key != hs[i].Key || got[i].VideoTag != hs[i].VideoTag || string(got[i].Days) != string(hs[i].Days) {
				t.Fatalf("%x: entry %d %+v, want %+v", b, i, got[i], hs[i])
			}
		}
	})
}

// appendHistoryUndo appends to undo the state of a history row before a
// batch changed it, as an earlier version wrote undo entries: absent
// (stored false), or its tag and days.
func appendHistoryUndo(undo []byte, key int64, stored bool, tag int32, days []byte) []byte {
	undo = binary.AppendVarint(undo, key)
	if !stored {
		return binary.AppendUvarint(undo, 0)
	}
	undo = binary.AppendUvarint(undo, uint64(len(days))+1)
	undo = binary.LittleEndian.AppendUint32(undo, uint32(tag))
	return append(undo, days...)
}
