package analytics

import (
	"cmp"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/cputime"
	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/store"
)

// BenchmarkKeptReports builds, in exact mode, the heavy creator's account
// report (1,000 videos) and the hottest video's report over 60 days from
// the data dir of a realistic world that crowd bench kept:
//
//	crowd bench --world realistic --keep …   # prints the data dir's path
//	cp -a DIR /tmp/kept                       # opening it applies this version's migrations
//	CROWD_KEPT_DATA=/tmp/kept go test -run '^$' -bench BenchmarkKeptReports ./internal/analytics/
//
// It times the reports without HTTP (the bench's report rows time them
// through the API), so a profile shows the queries alone. Skipped without
// CROWD_KEPT_DATA; CROWD_KEPT_ACCOUNT and CROWD_KEPT_VIDEO choose others.
//
// The "-written" runs commit a write before each report, untimed, as
// ingestion does all the time on a live server: SQLite then drops every
// reader's page cache, so each report reads its pages again, which is what
// a creator's read costs during ingestion.
func BenchmarkKeptReports(b *testing.B) {
	dir := os.Getenv("CROWD_KEPT_DATA")
	if dir == "" {
		b.Skip("CROWD_KEPT_DATA is not set")
	}
	ctx := b.Context()
	s, err := store.Open(ctx, store.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	bl := &Builder{Layer: disclosure.New("exact", s), Now: time.Now}
	r, err := ParseRange("60d", "", "", time.Now(), BusinessMaxDays)
	if err != nil {
		b.Fatal(err)
	}
	account := cmp.Or(os.Getenv("CROWD_KEPT_ACCOUNT"), "lg-acct-00000")
	video := cmp.Or(os.Getenv("CROWD_KEPT_VIDEO"), "lg-vid-00000")
	for _, c := range []struct {
		name    string
		req     Request
		written bool
	}{
		{"account", Request{Scope: disclosure.Scope{AccountID: account}, Range: r, Business: true, Handle: account}, false},
		{"video", Request{Scope: disclosure.Scope{VideoID: video}, Range: r, Business: true}, false},
		{"account-written", Request{Scope: disclosure.Scope{AccountID: account}, Range: r, Business: true, Handle: account}, true},
		{"video-written", Request{Scope: disclosure.Scope{VideoID: video}, Range: r, Business: true}, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			var cpu time.Duration
			i := 0
			for b.Loop() {
				if c.written {
					b.StopTimer()
					i++
					if err := s.SetSetting(ctx, "bench_kept_reports", strconv.Itoa(i), time.Now()); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				cpu0 := cputime.Process()
				if _, err := bl.Build(ctx, c.req); err != nil {
					b.Fatal(err)
				}
				cpu += cputime.Process() - cpu0
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
