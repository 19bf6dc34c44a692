package directory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/store"
	"github.com/crowd-dev/crowd/internal/testutil"
)

func mustOpen(tb testing.TB, o store.Options) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), o)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// forEachStore runs fn on SQLite, and on PostgreSQL when reachable
// (always in CI).
func forEachStore(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, mustOpen(t, store.Options{Dir: t.TempDir()})) })
	t.Run("postgres", func(t *testing.T) { fn(t, mustOpen(t, store.Options{PostgresURL: testutil.PostgresURL(t)})) })
}

func ptr(s string) *string { return &s }

// mustSync upserts accounts id → gender (a handle from the id, country
// DE, born 1990-01-01).
func mustSync(tb testing.TB, s *store.Store, genders map[string]string) {
	tb.Helper()
	var as []store.AccountSync
	for id, g := range genders {
		as = append(as, store.AccountSync{ID: id, Handle: ptr("h_" + id), Gender: ptr(g), Country: ptr("DE"), BirthDate: ptr("1990-01-01"), CreatedAt: time.Now()})
	}
	if bad, err := s.UpsertAccounts(context.Background(), as); err != nil || len(bad) > 0 {
		tb.Fatalf("sync: %v, %v", bad, err)
	}
}

func mustDelete(tb testing.TB, s *store.Store, id string) {
	tb.Helper()
	if err := s.DeleteAccount(context.Background(), id, func(store.Footprint) []event.Event { return nil }); err != nil {
		tb.Fatalf("delete %s: %v", id, err)
	}
}

// held returns the account as the table holds it (not asking the store).
func (d *Directory) held(id string) (store.AccountRef, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.accounts.get(id)
}

// gender looks id up as ingestion does ("" when not found).
func gender(tb testing.TB, d *Directory, id string) string {
	tb.Helper()
	got, err := d.Accounts(context.Background(), []string{id})
	if err != nil {
		tb.Fatal(err)
	}
	return got[id].Gender
}

// TestDirectory_Memory: a loaded directory answers from memory, and this
// process's creations, syncs and deletions show at once, on both stores.
func TestDirectory_Memory(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		mustSync(t, s, map[string]string{"a1": "female", "a2": "male"})
		d := New(s, Options{})
		defer d.Close()
		if gender(t, d, "a1") != "female" || d.Loaded() {
			t.Fatal("before the load: the store answers")
		}
		if err := d.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _, complete := d.Stats(); n != 2 || !complete || !d.Loaded() {
			t.Fatalf("loaded %d, complete %v", n, complete)
		}
		// Changed behind the store's back: the directory still says what
		// it loaded, so it answers from memory.
		if _, err := s.DB().ExecContext(ctx, s.Rebind(`UPDATE accounts SET gender = 'other' WHERE id = ?`), "a2"); err != nil {
			t.Fatal(err)
		}
		if g := gender(t, d, "a2"); g != "male" {
			t.Fatalf("a2 read from the database (%q), not memory", g)
		}

		mustSync(t, s, map[string]string{"a1": "other", "a3": "female"})
		if r, ok := d.held("a1"); !ok || r.Gender != "other" {
			t.Fatalf("a1 after its sync: %+v %v", r, ok)
		}
		if _, ok := d.held("a3"); !ok {
			t.Fatal("a3 synced in this process is not in memory")
		}
		if err := s.CreateAccount(ctx, &platform.Account{ID: "a4", Handle: "h_a4", Gender: "male", Country: "FR", Type: "personal", DMPolicy: "everyone", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if r, ok := d.held("a4"); !ok || r.Country != "FR" {
			t.Fatalf("a4 registered in this process: %+v %v", r, ok)
		}
		mustDelete(t, s, "a3")
		if g := gender(t, d, "a3"); g != "" {
			t.Fatal("a deleted account is still found")
		}
		if n, _, complete := d.Stats(); n != 3 || !complete {
			t.Fatalf("holds %d, complete %v", n, complete)
		}
	})
}

// TestDirectory_OutOfOrder: this process's changes may reach the
// directory out of order (each is told in its committing goroutine); each
// shows at once, and they end applied in order: a deletion told before the
// sync it followed still wins.
func TestDirectory_OutOfOrder(t *testing.T) {
	s := mustOpen(t, store.Options{Dir: t.TempDir()})
	mustSync(t, s, map[string]string{"x": "female"})
	d := New(s, Options{})
	defer d.Close()
	if err := d.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	seq := d.seq
	d.changed(store.AccountsChange{Seq: seq + 2, Deleted: []string{"x"}})
	if _, ok := d.held("x"); ok {
		t.Fatal("a deletion waiting for an earlier change left the account in memory")
	}
	d.changed(store.AccountsChange{Seq: seq + 3, Upserted: []store.AccountRef{{ID: "y", Gender: "male"}}})
	if _, ok := d.held("y"); !ok {
		t.Fatal("a sync waiting for an earlier change is not in memory")
	}
	d.changed(store.AccountsChange{Seq: seq + 1, Upserted: []store.AccountRef{{ID: "x", Gender: "other"}}})
	if _, ok := d.held("x"); ok {
		t.Fatal("an earlier sync put back an account deleted after it")
	}
	if d.seq != seq+3 || len(d.pending) != 0 {
		t.Fatalf("seq %d (want %d), %d pending", d.seq, seq+3, len(d.pending))
	}
	d.changed(store.AccountsChange{Seq: seq + 2, Upserted: []store.AccountRef{{ID: "x"}}}) // told twice: ignored
	if _, ok := d.held("x"); ok {
		t.Fatal("a change applied already was applied again")
	}
}

// TestDirectory_Limit: past its limit the directory holds at most that
// many accounts, and finds the others in the database; deletions still
// take effect.
func TestDirectory_Limit(t *testing.T) {
	s := mustOpen(t, store.Options{Dir: t.TempDir()})
	all := map[string]string{}
	for i := range 8 {
		all[fmt.Sprint("a", i)] = "female"
	}
	mustSync(t, s, all)
	d := New(s, Options{Limit: 5})
	defer d.Close()
	if err := d.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n, _, complete := d.Stats(); n != 5 || complete {
		t.Fatalf("loaded %d, complete %v; want 5 of 8", n, complete)
	}
	for round := range 3 {
		for id := range all {
			if g := gender(t, d, id); g != "female" {
				t.Fatalf("round %d: %s not found", round, id)
			}
			if n, _, _ := d.Stats(); n > 5 {
				t.Fatalf("holds %d accounts, limit 5", n)
			}
		}
	}
	mustSync(t, s, map[string]string{"a9": "male", "a10": "male"})
	if n, _, _ := d.Stats(); n > 5 {
		t.Fatalf("holds %d accounts after a sync, limit 5", n)
	}
	if gender(t, d, "a10") != "male" {
		t.Fatal("an account synced past the limit is not found")
	}
	for id := range all {
		mustDelete(t, s, id)
		if gender(t, d, id) != "" {
			t.Fatalf("%s found after its deletion", id)
		}
	}
}

// TestDirectory_OtherProcess: two processes on one PostgreSQL (two store
// handles, a directory each). What one syncs or deletes the other's
// memory shows within its poll interval; a deleted account and its videos
// are no longer found there.
func TestDirectory_OtherProcess(t *testing.T) {
	url := testutil.PostgresURL(t)
	s1, s2 := mustOpen(t, store.Options{PostgresURL: url}), mustOpen(t, store.Options{PostgresURL: url})
	ctx := t.Context()
	mustSync(t, s1, map[string]string{"x": "female", "owner": "male"})
	if err := s1.CreateVideo(ctx, &platform.Video{ID: "vx", OwnerID: "x", Title: "t", CreatedAt: time.Now(), CreatorIDs: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	d2 := New(s2, Options{PollEvery: 20 * time.Millisecond})
	defer d2.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d2.Run(runCtx) }()
	defer func() { stop(); <-done }()
	testutil.Eventually(t, 10*time.Second, "loaded", d2.Loaded)
	if v, err := d2.Videos(ctx, []string{"vx"}); err != nil || len(v) != 1 {
		t.Fatalf("video: %v, %v", v, err)
	}

	// A new account of the other process: found at once (the store
	// answers a miss), in memory within the bound.
	mustSync(t, s1, map[string]string{"y": "other"})
	if gender(t, d2, "y") != "other" {
		t.Fatal("an account synced by another process is not found")
	}
	testutil.Eventually(t, 5*time.Second, "y in memory", func() bool { _, ok := d2.held("y"); return ok })

	// Demographics changed by the other process (of an account looked up
	// before, which a cache would keep).
	if gender(t, d2, "x") != "female" {
		t.Fatal("x not found")
	}
	mustSync(t, s1, map[string]string{"x": "male"})
	testutil.Eventually(t, 5*time.Second, "x's new gender", func() bool { return gender(t, d2, "x") == "male" })

	// Deleted by the other process: gone, with its videos.
	mustDelete(t, s1, "x")
	testutil.Eventually(t, 5*time.Second, "x gone", func() bool { return gender(t, d2, "x") == "" })
	if v, err := d2.Videos(ctx, []string{"vx"}); err != nil || len(v) != 0 {
		t.Fatalf("the deleted account's video is still found: %v, %v", v, err)
	}
}

// TestDirectory_ConcurrentProcesses: two processes sync and delete the same
// accounts at once, each through its own store handle and directory; once
// they stop, both directories hold exactly what the database holds.
func TestDirectory_ConcurrentProcesses(t *testing.T) {
	url := testutil.PostgresURL(t)
	ctx := t.Context()
	stores := []*store.Store{mustOpen(t, store.Options{PostgresURL: url}), mustOpen(t, store.Options{PostgresURL: url})}
	var dirs []*Directory
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for _, s := range stores {
		d := New(s, Options{PollEvery: 10 * time.Millisecond})
		defer d.Close()
		dirs = append(dirs, d)
		wg.Add(1)
		go func() { defer wg.Done(); d.Run(runCtx) }()
	}
	genders := []string{"female", "male", "other", "undisclosed"}
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			s := stores[w%2]
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range 60 {
				id := fmt.Sprint("c", rng.IntN(20))
				if rng.IntN(3) == 0 {
					s.DeleteAccount(ctx, id, func(store.Footprint) []event.Event { return nil }) // may be gone already
					continue
				}
				batch := []store.AccountSync{{ID: id, Handle: ptr("h_" + id), Gender: ptr(genders[rng.IntN(4)]), CreatedAt: time.Now()}}
				if _, err := s.UpsertAccounts(ctx, batch); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	writers.Wait()
	want := map[string]string{}
	if _, err := stores[0].ScanAccounts(ctx, func(int, int) {}, func(id, _, g, _ []byte) error {
		want[string(id)] = string(g)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, d := range dirs {
		testutil.Eventually(t, 10*time.Second, fmt.Sprintf("directory %d equals the database", i), func() bool {
			if n, _, _ := d.Stats(); n != len(want) {
				return false
			}
			for id, g := range want {
				if r, ok := d.held(id); !ok || r.Gender != g {
					return false
				}
			}
			return true
		})
	}
}

// TestDirectory_PutVideos: videos put after a sync are answered from
// memory, as put, until forgotten; then the store answers again. Videos
// put after another change came between (a deletion, another sync) are
// not cached.
func TestDirectory_PutVideos(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		mustSync(t, s, map[string]string{"a": "male", "b": "female"})
		if err := s.CreateVideo(ctx, &platform.Video{ID: "v", OwnerID: "a", Title: "t", CreatedAt: time.Now(), CreatorIDs: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
		d := New(s, Options{})
		defer d.Close()
		// Put as another owner than the store holds: the answer shows it
		// came from memory.
		d.PutVideos(d.VideoGeneration(), store.VideoRef{ID: "v", OwnerID: "b"}, store.VideoRef{ID: "w", OwnerID: "b"})
		got, err := d.Videos(ctx, []string{"v", "w"})
		if err != nil || got["v"].OwnerID != "b" || got["w"].OwnerID != "b" {
			t.Fatalf("after PutVideos: %v, %v", got, err)
		}
		d.ForgetVideos("v", "w")
		got, err = d.Videos(ctx, []string{"v", "w"})
		if err != nil || len(got) != 1 || got["v"].OwnerID != "a" {
			t.Fatalf("after ForgetVideos: %v, %v", got, err)
		}

		// A change between the store's write and the put (here w's
		// deletion, told by ForgetVideos): nothing put is cached, and
		// what was cached of those videos goes.
		gen := d.VideoGeneration()
		d.ForgetVideos("w")
		d.PutVideos(gen, store.VideoRef{ID: "v", OwnerID: "b"}, store.VideoRef{ID: "w", OwnerID: "b"})
		got, err = d.Videos(ctx, []string{"v", "w"})
		if err != nil || len(got) != 1 || got["v"].OwnerID != "a" {
			t.Fatalf("after a put that came late: %v, %v", got, err)
		}
	})
}
