package rollup

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/crowd-dev/crowd/internal/store"
)

// TestFinishCreators credits random events to videos with one, two or no
// creators (and follows to creators' days), then checks every creator row
// finishCreators makes against sums kept per event: hours, days, and the
// audience buckets by day and by month, over days that cross a month; and
// the videos' monthly audience rows (finishVideos), which the creators'
// months are made from. With 60 videos each video's rows outgrow indexFrom
// and are indexed; with 4,000 most videos get one or two events and their
// rows are searched in turn.
func TestFinishCreators(t *testing.T) {
	for _, videos := range []int{60, 4000} {
		t.Run(fmt.Sprint(videos, " videos"), func(t *testing.T) { testFinishCreators(t, videos) })
	}
}

func testFinishCreators(t *testing.T, videos int) {
	defer func(n int) { finishParallel = n }(finishParallel)
	finishParallel = 8 // the videos' rows made in two halves, as a large batch's are
	rng := rand.New(rand.NewPCG(1, 2))
	b := newBatch()
	type dimKey struct {
		a      string
		period int64
		dim    uint8
		bucket string
	}
	wantHour, wantDay := map[timeKey]counters{}, map[timeKey]counters{}
	wantDim, wantMonth, wantVideoMonth := map[dimKey]pair{}, map[dimKey]pair{}, map[dimKey]pair{}
	creatorsOf := map[string][]string{}
	for v := range videos {
		var cs []string
		switch v % 3 {
		case 0:
			cs = []string{fmt.Sprintf("c%d", v%7)}
		case 1:
			cs = []string{fmt.Sprintf("c%d", v%7), fmt.Sprintf("c%d", (v+3)%7)} // co-created
		}
		creatorsOf[fmt.Sprintf("v%04d", v)] = cs
	}
	const firstDay = 20_300 // some days before and after a month's start
	buckets := []string{"DE", "FR", "US", "18-24", "a", "b"}
	for range 5000 {
		video := fmt.Sprintf("v%04d", rng.IntN(videos))
		day := int64(firstDay + rng.IntN(40))
		hour := day*24 + int64(rng.IntN(24))
		d := counters{views: 1, viewers: int64(rng.IntN(2)), likes: int64(rng.IntN(2)), watchMS: int64(rng.IntN(5000))}
		var dims []dimDelta
		for dim := range uint8(4) {
			if rng.IntN(3) > 0 {
				dims = append(dims, dimDelta{dim: dim, bucket: buckets[rng.IntN(len(buckets))], c: pair{views: 1, viewers: int64(rng.IntN(2))}})
			}
		}
		b.credit(video, creatorsOf[video], hour, day, &d, dims)
		for _, x := range dims {
			k := dimKey{video, MonthOf(day), x.dim, x.bucket}
			p := wantVideoMonth[k]
			p.add(&x.c)
			wantVideoMonth[k] = p
		}
		for _, a := range creatorsOf[video] {
			h, dd := wantHour[timeKey{a, hour}], wantDay[timeKey{a, day}]
			h.add(&d)
			dd.add(&d)
			wantHour[timeKey{a, hour}], wantDay[timeKey{a, day}] = h, dd
			for _, x := range dims {
				k, mk := dimKey{a, day, x.dim, x.bucket}, dimKey{a, MonthOf(day), x.dim, x.bucket}
				p, mp := wantDim[k], wantMonth[mk]
				p.add(&x.c)
				mp.add(&x.c)
				wantDim[k], wantMonth[mk] = p, mp
			}
		}
	}
	for i := range 50 { // follows: some creators with videos, one without
		a := fmt.Sprintf("c%d", i%8)
		day := int64(firstDay + i%5)
		at(b.accountDay, timeKey{a, day}).followersGained++
		dd := wantDay[timeKey{a, day}]
		dd.followersGained++
		wantDay[timeKey{a, day}] = dd
	}
	b.minHour = 0
	b.finishVideos()
	b.finishCreators()

	checkTimes := func(name string, rows []keyed[timeKey, counters], want map[timeKey]counters) {
		t.Helper()
		got := map[timeKey]counters{}
		for i, r := range rows {
			if i > 0 && compareTime(rows[i-1].k, r.k) >= 0 {
				t.Fatalf("%s: rows out of order at %d: %v then %v", name, i, rows[i-1].k, r.k)
			}
			got[r.k] = *r.c
		}
		checkSums(t, name, got, want)
	}
	checkTimes("hours", b.accountHourRows, wantHour)
	checkTimes("days", b.accountDayRows, wantDay)

	checkDims := func(name string, rows []store.AudienceRow, want map[dimKey]pair) {
		t.Helper()
		got := map[dimKey]pair{}
		for i, r := range rows {
			if i > 0 && (rows[i-1].ID > r.ID || rows[i-1].ID == r.ID && rows[i-1].Period >= r.Period) {
				t.Fatalf("%s: rows out of order at %d", name, i)
			}
			for j, c := range r.Counts {
				if j > 0 && (r.Counts[j-1].Dim > c.Dim || r.Counts[j-1].Dim == c.Dim && r.Counts[j-1].Bucket >= c.Bucket) {
					t.Fatalf("%s: %s %d: counts out of order at %d", name, r.ID, r.Period, j)
				}
				got[dimKey{r.ID, r.Period, c.Dim, c.Bucket}] = pair{c.Views, c.Viewers}
			}
		}
		checkSums(t, name, got, want)
	}
	checkDims("audience by day", b.accountDimRows, wantDim)
	checkDims("audience by month", b.accountDimMonthRows, wantMonth)
	checkDims("videos' audience by month", b.videoDimMonth, wantVideoMonth)
}

// checkSums reports where got differs from want: rows missing, extra or
// with other sums.
func checkSums[K, V comparable](t *testing.T, name string, got, want map[K]V) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d rows, want %d", name, len(got), len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s %v: %+v, want %+v", name, k, got[k], w)
		}
	}
}

func compareTime(x, y timeKey) int {
	return cmp.Or(strings.Compare(x.id, y.id), cmp.Compare(x.t, y.t))
}

// TestDimKey: a packed audience key gives back its period (negative ones
// too), dimension and code, and sortDims orders keys by period, then
// dimension, then code.
func TestDimKey(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var rows []dimRow
	type parts struct {
		period int64
		dim    uint8
		code   uint32
	}
	for range 2000 {
		p := parts{int64(rng.IntN(60_000)) - 30_000, uint8(rng.IntN(4)), uint32(rng.IntN(300))}
		k := packDim(p.period, p.dim, p.code)
		if got := (parts{k.period(), k.dim(), k.code()}); got != p {
			t.Fatalf("packDim(%v) gives back %v", p, got)
		}
		rows = append(rows, dimRow{k: k})
	}
	sortDims(rows)
	for i := 1; i < len(rows); i++ {
		x, y := rows[i-1].k, rows[i].k
		if cmp.Or(cmp.Compare(x.period(), y.period()), cmp.Compare(x.dim(), y.dim()), cmp.Compare(x.code(), y.code())) > 0 {
			t.Fatalf("out of order at %d: (%d %d %d) before (%d %d %d)", i, x.period(), x.dim(), x.code(), y.period(), y.dim(), y.code())
		}
	}
}
