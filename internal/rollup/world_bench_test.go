package rollup

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/cputime"
	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/store"
	"github.com/crowd-dev/crowd/internal/testutil"
)

// BenchmarkApplyWorld measures aggregation in a world shaped like crowd
// bench's realistic one (docs/PERFORMANCE.md, "The realistic world"):
// 100,000 videos of Zipf popularity (exponent 1.1), a creator per 20
// videos, a million viewers with demographics, events spread over the last
// 30 days (88% views, 6% likes, 2.5% shares, 2% saves, 1.5% comments), in
// exact mode (views carry the actor pseudonym). One iteration applies
// CROWD_WORLD_EVENTS events (default 1,000,000) in batches of
// CROWD_WORLD_BATCH events (default 80,000: 8 MiB of log messages), so that
// the database grows past the writer's page cache as it does in the bench.
// It reports the CPU time per event over the whole load and over its last
// half, the thread's wall time in its lookups stage (stages.go) per event,
// and the database's bytes per event. With CROWD_WORLD_SORTED set the
// events come in video order, as crowd import publishes a history. With
// CROWD_WORLD_UPLOADS set to n, n new videos are uploaded before each
// batch (untimed), as a live platform's are while it aggregates. With
// CROWD_WORLD_POSTGRES set it runs on PostgreSQL (the test server's, see
// internal/testutil): the CPU time is then this process's alone, and the
// bytes are the tables' and indexes' (pg_total_relation_size).
func BenchmarkApplyWorld(b *testing.B) {
	total := testutil.EnvInt("CROWD_WORLD_EVENTS", 1_000_000)
	per := testutil.EnvInt("CROWD_WORLD_BATCH", 80_000)
	uploads := testutil.EnvInt("CROWD_WORLD_UPLOADS", 0)
	const videos, days, viewers = 100_000, 30, 1_000_000
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		o := store.Options{Dir: dir}
		if os.Getenv("CROWD_WORLD_POSTGRES") != "" {
			// The world's setup commits a transaction per video: not
			// waiting for each WAL flush keeps it to seconds.
			// Aggregation's transactions do not wait for it either.
			o = store.Options{PostgresURL: testutil.PostgresURL(b) + "&synchronous_commit=off"}
		}
		s, err := store.Open(b.Context(), o)
		if err != nil {
			b.Fatal(err)
		}
		ctx := b.Context()
		creators := videos / 20
		for c := range creators {
			id := "c" + strconv.Itoa(c)
			if err := s.CreateAccount(ctx, &platform.Account{ID: id, Handle: "h" + id, Type: "personal", DMPolicy: "everyone", Gender: "undisclosed", CreatedAt: day0}); err != nil {
				b.Fatal(err)
			}
		}
		for v := range videos {
			id := worldVideo(v)
			c := "c" + strconv.Itoa(v%creators)
			if err := s.CreateVideo(ctx, &platform.Video{ID: id, OwnerID: c, Title: "t", CreatedAt: day0, CreatorIDs: []string{c}}); err != nil {
				b.Fatal(err)
			}
		}
		now := day0
		a := New(s, nil, slog.New(slog.DiscardHandler), func() time.Time { return now })
		var seq uint64
		var cpuAll, cpuLate time.Duration
		all := worldEvents(total, videos, days, viewers, now)
		if os.Getenv("CROWD_WORLD_SORTED") != "" {
			// In video order, as crowd import publishes a history.
			slices.SortStableFunc(all, func(x, y event.Event) int { return strings.Compare(x.VideoID, y.VideoID) })
		}
		b.StartTimer()
		for n := 0; n < total; n += per {
			b.StopTimer()
			evs := all[n:min(n+per, total)]
			var msgs []eventlog.Delivered
			for chunk := range slices.Chunk(evs, 1000) {
				seq++
				m := msg(seq, chunk...)
				m.Time = now
				msgs = append(msgs, m)
			}
			// The messages the log holds after the batch's last, as
			// aggregation trailing a bulk load sees them.
			msgs[len(msgs)-1].Pending = uint64(max(0, total-n-per)+999) / 1000
			for u := range uploads {
				id := "up" + strconv.FormatUint(seq, 10) + "-" + strconv.Itoa(u)
				if err := s.CreateVideo(ctx, &platform.Video{ID: id, OwnerID: "c0", Title: "t", CreatedAt: day0, CreatorIDs: []string{"c0"}}); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			cpu0 := cputime.Process()
			a.clock = time.Now() // the stages time this batch alone
			if err := a.apply(ctx, msgs); err != nil {
				b.Fatal(err)
			}
			d := cputime.Process() - cpu0
			cpuAll += d
			if n >= total/2 {
				cpuLate += d
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(cpuAll.Microseconds())/float64(total), "cpu-µs/event")
		b.ReportMetric(float64(cpuLate.Microseconds())/float64(total-total/2), "late-cpu-µs/event")
		b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(a.StageTimes()[StageLookups].Microseconds())/float64(total), "lookups-µs/event")
		var size int64
		if s.Dialect() == store.Postgres {
			err := s.DB().QueryRowContext(ctx, `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'`).Scan(&size)
			if err != nil {
				b.Fatal(err)
			}
		}
		s.Close()
		filepath.WalkDir(dir, func(_ string, d os.DirEntry, _ error) error {
			if info, err := d.Info(); err == nil && !d.IsDir() {
				size += info.Size()
			}
			return nil
		})
		b.ReportMetric(float64(size)/float64(total), "db-bytes/event")
		b.StartTimer()
	}
}

func worldVideo(v int) string { return fmt.Sprintf("v%06d", v) }

// zipfPicker draws video numbers of Zipf popularity with exponent s; ranks
// are spread over the ids by a fixed multiplicative permutation.
func zipfPicker(n int, s float64, rng *rand.Rand) func() int {
	cdf := make([]float64, n)
	sum := 0.0
	for i := range cdf {
		sum += math.Pow(float64(i+1), -s)
		cdf[i] = sum
	}
	return func() int {
		r, _ := slices.BinarySearch(cdf, rng.Float64()*sum)
		return int(uint64(min(r, n-1)) * 7919 % uint64(n))
	}
}

// worldEvents returns total events of the realistic world at now: views
// (88%), likes, shares, saves and comments of videos videos (Zipf), by
// viewers viewers, over the days days before now.
func worldEvents(total, videos, days, viewers int, now time.Time) []event.Event {
	pick := zipfPicker(videos, 1.1, rand.New(rand.NewPCG(7, 9)))
	rng := rand.New(rand.NewPCG(1, 2))
	ages := []string{"13-17", "18-24", "25-34", "35-44", "45-54", "55+", "unknown"}
	genders := []string{"female", "male", "other"}
	countries := []string{"US", "GB", "DE", "FR", "ES", "IT", "BR", "MX", "IN", "ID", "JP", "KR", "NG", "EG", "TR", "PL", "NL", "SE", "CA", "AU"}
	all := make([]event.Event, total)
	for i := range all {
		v := worldVideo(pick())
		at := now.Add(-time.Duration(rng.Int64N(int64(days)*86400)) * time.Second)
		viewer := rng.IntN(viewers)
		actor := "a" + strconv.Itoa(viewer)
		id := "e" + strconv.Itoa(i)
		switch k := rng.IntN(1000); {
		case k < 880:
			all[i] = event.Event{ID: id, Type: event.View, VideoID: v, TS: at, Source: platform.Sources[rng.IntN(len(platform.Sources))],
				Actor: actor, ActorDay: actor + "-" + strconv.FormatInt(at.Unix()/86400, 10), WatchMS: rng.Int64N(60_000), Completed: rng.IntN(3) == 0,
				Age: ages[viewer%len(ages)], Gender: genders[viewer%len(genders)], Country: countries[viewer%len(countries)]}
		case k < 940:
			all[i] = event.Event{ID: id, Type: event.Like, VideoID: v, TS: at, Actor: actor}
		case k < 965:
			all[i] = event.Event{ID: id, Type: event.Share, VideoID: v, TS: at, Actor: actor, AccountDay: actor + "-" + strconv.FormatInt(at.Unix()/86400, 10)}
		case k < 985:
			all[i] = event.Event{ID: id, Type: event.Save, VideoID: v, TS: at, Actor: actor, AccountDay: actor + "-" + strconv.FormatInt(at.Unix()/86400, 10)}
		default:
			all[i] = event.Event{ID: id, Type: event.Comment, VideoID: v, TS: at, Actor: actor}
		}
	}
	return all
}
