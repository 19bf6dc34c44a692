package analytics

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/cputime"
	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/store"
)

// BenchmarkVideoReport builds a business video report over 365 days from a
// year of rollups for 2,000 videos (the shape 10M+ events of history leave
// behind: daily rows and per-day audience marginals, and for the hottest
// video exact mode's returning viewers at every gap), on SQLite.
func BenchmarkVideoReport(b *testing.B) {
	ctx := b.Context()
	s, err := store.Open(ctx, store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	today := time.Now().UTC()
	d0 := today.Unix()/86400 - 364
	db := s.DB()
	tx, _ := db.Begin()
	dayStmt, _ := tx.Prepare(`INSERT INTO video_day (video_id, day, views, viewers, watch_ms, completions, likes, comments, shares, saves) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	buckets := map[string][]string{
		"source":  {"for_you", "following", "profile", "search", "hashtag", "sound", "shared", "other"},
		"age":     {"13-17", "18-24", "25-34", "35-44", "45-54", "55+", "unknown"},
		"gender":  {"female", "male", "other", "unknown"},
		"country": {"US", "DE", "FR", "GB", "BR", "IN", "JP", "ES", "IT", "MX", "CA", "NL", "unknown"},
	}
	const videos = 2000
	var dims []store.AudienceRow
	for v := 0; v < videos; v++ {
		id := fmt.Sprint("v", v)
		days := 365
		if v > 0 {
			days = 30 // the other videos have shorter histories
		}
		for d := int64(0); d < int64(days); d++ {
			if _, err := dayStmt.Exec(id, d0+d, 10000, 4000, 9e7, 3000, 500, 50, 80, 120); err != nil {
				b.Fatal(err)
			}
			if v > 0 {
				continue
			}
			var c []store.AudienceCount
			for dim, bs := range buckets {
				i, _ := store.AudienceDimension(dim)
				for _, bk := range bs {
					c = append(c, store.AudienceCount{Dim: i, Bucket: bk, Views: 1000, Viewers: 400})
				}
			}
			dims = append(dims, store.AudienceRow{ID: id, Period: d0 + d, Counts: c})
		}
	}
	// The hottest video's viewers came back at every gap on every day
	// (the worst case of exact mode's distinct viewers: one row of 364
	// gaps per day).
	gapStmt, _ := tx.Prepare(`INSERT INTO video_viewer_gaps (video_id, day, gaps) VALUES (?, ?, ?)`)
	for d := int64(1); d < 365; d++ {
		var gaps []byte
		for g := int64(1); g <= d; g++ {
			gaps = binary.LittleEndian.AppendUint16(gaps, uint16(g))
			gaps = binary.LittleEndian.AppendUint32(gaps, uint32(g*5))
		}
		if _, err := gapStmt.Exec("v0", d0+d, gaps); err != nil {
			b.Fatal(err)
		}
	}
	tx.Commit()
	if err := s.AddAudience(ctx, store.VideoAudienceDayTable, dims); err != nil {
		b.Fatal(err)
	}
	bl := &Builder{Layer: disclosure.New("exact", s), Now: time.Now}
	year, _ := ParseRange("365d", "", "", today, BusinessMaxDays)
	// A custom range that ends in the past also reads the gaps of the days
	// after it (exact mode's distinct viewers).
	past, _ := ParseRange("", today.AddDate(0, 0, -240).Format(time.DateOnly), today.AddDate(0, 0, -180).Format(time.DateOnly), today, BusinessMaxDays)
	tokyo, _ := ParseTimeZone("Asia/Tokyo")
	for _, c := range []struct {
		name string
		r    Range
		zone *time.Location
	}{{"365d", year, nil}, {"past-61d", past, nil}, {"365d-tz", year, tokyo}} {
		b.Run(c.name, func(b *testing.B) {
			req := Request{Scope: disclosure.Scope{VideoID: "v0"}, Range: c.r, Business: true, Zone: c.zone}
			// CPU time per report besides wall time: steadier on a busy
			// machine.
			cpu := cputime.Process()
			for b.Loop() {
				if _, err := bl.Build(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			if cpu = cputime.Process() - cpu; cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			}
		})
	}
}
