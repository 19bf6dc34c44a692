package store

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// historyRows returns history.db's rows, key → days as stored.
func historyRows(t *testing.T, s *Store) map[int64]string {
	t.Helper()
	rows, err := s.HistoryDB().QueryContext(t.Context(), `SELECT key, video_tag, days FROM viewer_history`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int64]string{}
	for rows.Next() {
		var h ViewerHistory
		if err := rows.Scan(&h.Key, &h.VideoTag, &h.Days); err != nil {
			t.Fatal(err)
		}
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
	before := historyRows(t, s)
	tx, err := s.BeginHistory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var hs []ViewerHistory
	var undo []byte
	for _, k := range slices.Sorted(maps.Keys(rows)) {
		hs = append(hs, ViewerHistory{Key: k, VideoTag: 7, Days: []byte(rows[k])})
		old, stored := before[k]
		undo = AppendHistoryUndo(undo, k, stored, 7, []byte(old))
	}
	if err := tx.SetViewerHistories(t.Context(), hs); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitHistory(t.Context(), tx, seq, undo); err != nil {
		t.Fatal(err)
	}
}

// TestRecoverHistory_UndoesBeyondCheckpoint: batches history.db committed
// beyond crowd.db's checkpoints (a crash between a batch's two commits; a
// backup's later copy, its undo held) are undone at Open, newest first:
// rows they made go, rows they changed are as before.
func TestRecoverHistory_UndoesBeyondCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	ctx := t.Context()
	if _, err := s.write.ExecContext(ctx, `INSERT INTO rollup_checkpoint (name, seq) VALUES ('p0', 10)`); err != nil {
		t.Fatal(err)
	}
	setHistory(t, s, 10, map[int64]string{1: "a", 2: "b"})
	// crowd.db's file holds checkpoint 10 synced (noteDurable): the
	// entries of later batches stay, whatever their number, until it
	// holds theirs; a backup holds every entry.
	s.noteDurable(10)
	setHistory(t, s, 11, map[int64]string{2: "bb", 3: "c"})
	release := s.HoldHistoryUndo()
	s.noteDurable(11)
	setHistory(t, s, 12, map[int64]string{2: "bbb", 3: "cc", 4: "d"})
	release()
	if got := historyRows(t, s); len(got) != 4 || got[2] != "bbb" {
		t.Fatalf("before the crash: %v", got)
	}
	var n int
	if err := s.hist.QueryRowContext(ctx, `SELECT COUNT(*) FROM history_undo`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d undo entries (%v), want 2", n, err)
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
	// Once crowd.db holds 13 synced, the next batch drops the entries
	// up to it.
	setHistory(t, s, 13, map[int64]string{5: "e"})
	s.noteDurable(13)
	setHistory(t, s, 14, map[int64]string{6: "f"})
	if err := s.hist.QueryRowContext(ctx, `SELECT COUNT(*) FROM history_undo`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d undo entries (%v), want 1", n, err)
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
		b := AppendHistoryUndo(nil, key, stored, tag, days)
		b = AppendHistoryUndo(b, key+1, false, 0, nil)
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
