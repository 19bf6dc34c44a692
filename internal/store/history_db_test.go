package store

import (
	"database/sql"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	if err := s.CommitHistory(t.Context(), tx, seq, undo, nil); err != nil {
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

// actorRows dumps the actors' states of db, a line a row in key order.
func actorRows(t *testing.T, db *sql.DB) string {
	t.Helper()
	var out strings.Builder
	for _, q := range []string{
		`SELECT 'state', video_id, kind, actor, state FROM actor_state ORDER BY 2, 3, 4`,
		`SELECT 'first', video_id, kind, actor, 0 FROM actor_firsts ORDER BY 2, 3, 4`,
		`SELECT 'count', creator_day, kind, day, n FROM creator_day_counts ORDER BY 2, 3`,
	} {
		rows, err := db.QueryContext(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var a, b, c, d, e string
			if err := rows.Scan(&a, &b, &c, &d, &e); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&out, a, b, c, d, e)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out.String()
}

// actorBatch is a batch's changes to the actors' states: like states set,
// firsts recorded, cap counts added.
type actorBatch struct {
	states map[ActorKey]int
	firsts []ActorKey
	counts []DayCount
}

// setActors applies b in a batch of history.db committed at seq, with its
// undo entry, as aggregation does.
func setActors(t *testing.T, s *Store, seq uint64, b actorBatch) {
	t.Helper()
	ctx := t.Context()
	tx, err := s.BeginHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var undo []byte
	keys := slices.SortedFunc(maps.Keys(b.states), func(x, y ActorKey) int {
		return strings.Compare(x.VideoID+"/"+x.Kind+"/"+x.Actor, y.VideoID+"/"+y.Kind+"/"+y.Actor)
	})
	old := map[ActorKey]int{}
	if err := tx.ActorStates(ctx, keys, func(k ActorKey, st int) { old[k] = st }); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		st, stored := old[k]
		undo = AppendStateUndo(undo, k, stored, st)
	}
	if err := tx.SetActorStates(ctx, keys, func(k ActorKey) int { return b.states[k] }); err != nil {
		t.Fatal(err)
	}
	if err := tx.InsertFirsts(ctx, b.firsts, func(k ActorKey) { undo = AppendFirstUndo(undo, k) }); err != nil {
		t.Fatal(err)
	}
	added := map[string]DayCount{}
	for _, c := range b.counts {
		added[c.AccountDay+"/"+c.Kind] = c
	}
	if err := tx.AddDayCounts(ctx, b.counts, func(accountDay, kind string, total int64) {
		c := added[accountDay+"/"+kind]
		undo = AppendDayCountUndo(undo, accountDay, kind, c.Day, total-c.N)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitHistory(ctx, tx, seq, nil, undo); err != nil {
		t.Fatal(err)
	}
}

// TestRecoverHistory_UndoesActors: the actors' states a batch beyond
// crowd.db's checkpoints changed in history.db (likes and saves set,
// firsts recorded, cap counts added) are as before it once the data dir
// is opened again.
func TestRecoverHistory_UndoesActors(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	ctx := t.Context()
	if _, err := s.write.ExecContext(ctx, `INSERT INTO rollup_checkpoint (name, seq) VALUES ('p0', 10)`); err != nil {
		t.Fatal(err)
	}
	like := func(v, a string) ActorKey { return ActorKey{VideoID: v, Kind: "like", Actor: a} }
	share := func(v, a string) ActorKey { return ActorKey{VideoID: v, Kind: "share", Actor: a} }
	setActors(t, s, 10, actorBatch{
		states: map[ActorKey]int{like("v1", "a"): 1, like("v2", "a"): 1},
		firsts: []ActorKey{share("v1", "a")},
		counts: []DayCount{{AccountDay: "ad1", Kind: "share", Day: 20000, N: 1}},
	})
	s.noteDurable(10)
	want := actorRows(t, s.hist)
	setActors(t, s, 11, actorBatch{
		states: map[ActorKey]int{like("v1", "a"): 0, like("v3", "b"): 1},
		firsts: []ActorKey{share("v1", "a"), share("v2", "b")},
		counts: []DayCount{{AccountDay: "ad1", Kind: "share", Day: 20000, N: 2}, {AccountDay: "ad2", Kind: "share", Day: 20001, N: 1}},
	})
	setActors(t, s, 12, actorBatch{
		states: map[ActorKey]int{like("v3", "b"): 0},
		counts: []DayCount{{AccountDay: "ad2", Kind: "share", Day: 20001, N: 4}},
	})
	if got := actorRows(t, s.hist); got == want {
		t.Fatal("batches 11 and 12 changed nothing")
	}
	s.Close()

	s = openDir(t, dir)
	defer s.Close()
	if got := actorRows(t, s.hist); got != want {
		t.Fatalf("reopened at checkpoint 10:\n%s\nwant:\n%s", got, want)
	}
}

// TestRecoverHistory_MovesActors: a data dir whose history.db is of
// version 0, the actors' states still in crowd.db, has them moved into
// history.db at Open, and crowd.db's tables emptied.
func TestRecoverHistory_MovesActors(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	ctx := t.Context()
	for _, q := range []string{
		`INSERT INTO actor_state (video_id, kind, actor, state) VALUES ('v1', 'like', 'a', 1), ('v1', 'save', 'b', 0)`,
		`INSERT INTO actor_firsts (video_id, kind, actor) VALUES ('v2', 'share', 'a')`,
		`INSERT INTO creator_day_counts (creator_day, kind, day, n) VALUES ('ad', 'share', 20000, 3)`,
	} {
		if _, err := s.write.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	want := actorRows(t, s.write)
	if _, err := s.hist.ExecContext(ctx, `PRAGMA user_version = 0`); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openDir(t, dir)
	defer s.Close()
	if got := actorRows(t, s.hist); got != want {
		t.Fatalf("history.db:\n%s\nwant:\n%s", got, want)
	}
	if got := actorRows(t, s.write); got != "" {
		t.Fatalf("crowd.db keeps:\n%s", got)
	}
	var version int
	if err := s.hist.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil || version != historyVersion {
		t.Fatalf("history.db's version %d (%v), want %d", version, err, historyVersion)
	}
}

// FuzzActorUndo: an actors' undo entry decodes to what was appended; any
// bytes decode or fail, never panic.
func FuzzActorUndo(f *testing.F) {
	f.Add("v1", "like", "a", true, 1, int64(20000), int64(3), []byte{})
	f.Add("", "", "", false, 0, int64(-1), int64(0), []byte{1, 0x80})
	f.Fuzz(func(t *testing.T, video, kind, actor string, stored bool, state int, day, n int64, junk []byte) {
		_, _ = decodeActorUndo(junk)
		if state < 0 || n < 0 || n > 1<<40 || state > 1<<30 {
			return
		}
		k := ActorKey{VideoID: video, Kind: kind, Actor: actor}
		b := AppendStateUndo(nil, k, stored, state)
		b = AppendFirstUndo(b, k)
		b = AppendDayCountUndo(b, video, kind, day, n)
		got, err := decodeActorUndo(b)
		if err != nil || len(got) != 3 {
			t.Fatalf("%x: %+v, %v", b, got, err)
		}
		if !stored {
			state = 0
		}
		want := []actorBefore{
			{table: undoState, id: video, kind: kind, actor: actor, stored: stored, value: int64(state)},
			{table: undoFirst, id: video, kind: kind, actor: actor},
			{table: undoCount, id: video, kind: kind, stored: n != 0, value: n, day: day},
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%x decodes to %+v, want %+v", b, got, want)
		}
	})
}
