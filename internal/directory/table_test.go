package directory

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/crowd-dev/crowd/internal/store"
)

// TestTable_AgainstMap applies random inserts, updates and deletions to a
// table and to a map, with ids short and long enough to force rehashing,
// backward shifts across clusters and compaction of the ids, and checks
// that they always agree.
func TestTable_AgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	defer func(n int) { compactMinDead = n }(compactMinDead)
	compactMinDead = 64 << 10
	tb := newTable(0)
	model := map[string]store.AccountRef{}
	idOf := func(i int) string {
		if i%3 == 0 {
			return fmt.Sprintf("long-%s-%d", strings.Repeat("x", 200), i) // compaction comes sooner
		}
		return fmt.Sprint("a", i)
	}
	genders := []string{"female", "male", "other", "undisclosed"}
	check := func(step int) {
		t.Helper()
		if tb.n != len(model) {
			t.Fatalf("step %d: table holds %d, model %d", step, tb.n, len(model))
		}
		for id, want := range model {
			if got, ok := tb.get(id); !ok || got != want {
				t.Fatalf("step %d: get %s = %+v, %v; want %+v", step, id[:min(len(id), 12)], got, ok, want)
			}
		}
	}
	compacted := false
	for step := range 60_000 {
		id := idOf(rng.IntN(8_000))
		switch rng.IntN(10) {
		case 0, 1, 2, 3:
			r := store.AccountRef{ID: id, BirthDate: fmt.Sprintf("19%02d-01-01", rng.IntN(100)), Gender: genders[rng.IntN(4)], Country: []string{"", "DE", "FR"}[rng.IntN(3)]}
			if !put(tb, id, r.BirthDate, r.Gender, r.Country) {
				t.Fatalf("put %s refused", id)
			}
			model[id] = r
		case 4, 5, 6:
			_, want := model[id]
			if got := tb.remove(id); got != want {
				t.Fatalf("remove %s = %v, want %v", id, got, want)
			}
			delete(model, id)
			if tb.dead == 0 && len(tb.ids) > 0 && step > 1000 {
				compacted = true
			}
		default:
			_, want := model[id]
			if _, got := tb.get(id); got != want {
				t.Fatalf("get %s found %v, want %v", id, got, want)
			}
		}
		if step%10_000 == 0 {
			check(step)
		}
	}
	check(-1)
	if !compacted {
		t.Error("the ids were never compacted")
	}
	tb.clear()
	if tb.n != 0 || tb.has("a1") || len(tb.ids) != 0 {
		t.Fatal("clear left accounts")
	}
}

// TestTable_Refuses: what a table cannot hold is refused and absent (the
// directory then asks the store), never stored wrongly.
func TestTable_Refuses(t *testing.T) {
	tb := newTable(0)
	if put(tb, "", "", "female", "") || put(tb, strings.Repeat("x", 256), "", "female", "") {
		t.Fatal("held an empty or over-long id")
	}
	if !put(tb, strings.Repeat("x", 255), "", "female", "") {
		t.Fatal("refused an id of 255 bytes")
	}
	// Genders are indexed by a byte: with "female", 256 fit and the 257th
	// distinct value does not.
	for i := range 255 {
		if !put(tb, fmt.Sprint("g", i), "", fmt.Sprint("gender", i), "") {
			t.Fatalf("refused gender %d", i)
		}
	}
	if put(tb, "g0", "", "one-too-many", "") {
		t.Fatal("held a 257th gender")
	}
	if tb.has("g0") {
		t.Fatal("an account whose change could not be held kept its old fields")
	}
	if r, ok := tb.get("g1"); !ok || r.Gender != "gender1" {
		t.Fatalf("g1: %+v %v", r, ok)
	}
}

// TestDateKey: birth dates map to distinct numbers, anything else to -1
// (and goes through the interner's map).
func TestDateKey(t *testing.T) {
	seen := map[int]string{}
	for _, d := range []string{"1870-01-01", "1990-01-31", "1990-02-01", "1990-12-31", "1991-01-01", "2129-12-31"} {
		k := dateKey(d)
		if k < 0 || k >= 260*372 {
			t.Fatalf("%s: key %d", d, k)
		}
		if o, dup := seen[k]; dup {
			t.Fatalf("%s and %s share key %d", d, o, k)
		}
		seen[k] = d
	}
	for _, d := range []string{"", "1869-12-31", "2130-01-01", "1990-1-01", "1990-00-10", "1990-13-01", "1990-01-32", "1990/01/01", "19a0-01-01", "undisclosed"} {
		if k := dateKey(d); k != -1 {
			t.Errorf("%q: key %d, want -1", d, k)
		}
	}
	in := interner{limit: 10, dates: make([]int32, 260*372)}
	a, _ := index(&in, "1990-05-01")
	b, _ := index(&in, []byte("1990-05-01"))
	c, _ := index(&in, "")
	if a != b || a == c || in.vals[a] != "1990-05-01" || in.vals[c] != "" {
		t.Fatalf("indexes %d %d %d of %q", a, b, c, in.vals)
	}
}
