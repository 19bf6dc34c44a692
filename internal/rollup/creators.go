package rollup

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/crowd-dev/crowd/internal/store"
)

// A creator's rows in a batch are the sums of its videos' rows. The
// videos' rows are already in key order (finishVideos: by video, then hour,
// day or period, then dimension and bucket), so a creator's rows are a
// merge of its videos' runs of rows: sorted by their period and summed
// where periods (and buckets) meet, with no map keyed by strings. Most of a
// creator's periods hold one video's row, whose counts are shared, not
// copied: rows are only read once made.

// videoSpan is where one video's rows are in each of the batch's sorted
// video tables: [start, end) in b.videoHour, b.videoDay, b.videoDim and
// b.videoDimMonth, by those tables' index below.
type videoSpan [4][2]int

const (
	spanHour = iota
	spanDay
	spanDim
	spanDimMonth
)

// finishCreators derives the creators' rows from the videos' rows, merged
// across each creator's videos, in key order. It only reads the videos'
// rows, so it runs while they are written (applyOnce). Follows credited
// straight to a creator's day (b.accountDay) join its day rows.
func (b *batch) finishCreators() {
	spans := b.videoSpans()
	byCreator := map[string][]*videoSpan{}
	for video, creators := range b.creators {
		sp := spans[video]
		if sp == nil {
			continue
		}
		for _, a := range creators {
			byCreator[a] = append(byCreator[a], sp)
		}
	}
	follows := map[string][]keyed[timeKey, counters]{}
	for k, c := range b.accountDay {
		follows[k.id] = append(follows[k.id], keyed[timeKey, counters]{k, c})
		if _, ok := byCreator[k.id]; !ok {
			byCreator[k.id] = nil // a creator with follows only
		}
	}
	creators := slices.Sorted(maps.Keys(byCreator))

	// The sums are of integers: the order the videos' rows are added in
	// does not change them.
	var m merger
	for _, a := range creators {
		vs := byCreator[a]
		b.accountHourRows = m.times(b.accountHourRows, a, b.videoHour, vs, spanHour, nil)
		b.accountDayRows = m.times(b.accountDayRows, a, b.videoDay, vs, spanDay, follows[a])
		b.accountDimRows = m.dims(b.accountDimRows, a, b.videoDim, vs, spanDim)
		b.accountDimMonthRows = m.dims(b.accountDimMonthRows, a, b.videoDimMonth, vs, spanDimMonth)
	}
}

// videoSpans finds each video's rows in the sorted video tables.
func (b *batch) videoSpans() map[string]*videoSpan {
	spans := make(map[string]*videoSpan, len(b.totals))
	all := make([]videoSpan, len(b.totals))
	for i, t := range b.totals {
		spans[t.k] = &all[i]
	}
	timeID := func(r *keyed[timeKey, counters]) string { return r.k.id }
	dimID := func(r *store.AudienceRow) string { return r.ID }
	findSpans(spans, spanHour, b.videoHour, timeID)
	findSpans(spans, spanDay, b.videoDay, timeID)
	findSpans(spans, spanDim, b.videoDim, dimID)
	findSpans(spans, spanDimMonth, b.videoDimMonth, dimID)
	return spans
}

// findSpans records in spans each video's run of rows in table (one of
// the span indexes), rows sorted by video (id).
func findSpans[R any](spans map[string]*videoSpan, table int, rows []R, id func(*R) string) {
	for i := 0; i < len(rows); {
		v := id(&rows[i])
		j := i + 1
		for j < len(rows) && id(&rows[j]) == v {
			j++
		}
		if sp := spans[v]; sp != nil {
			sp[table] = [2]int{i, j}
		}
		i = j
	}
}

// merger holds the scratch space of the merges, reused creator to creator.
type merger struct {
	ts     []keyed[timeKey, counters]
	ps     []store.AudienceRow
	counts []store.AudienceCount
}

// times appends creator a's rows by hour or day, in time order: the sums
// of its videos' rows in rows (table, their span index) and of extra, a's
// own rows (follows).
func (m *merger) times(dst []keyed[timeKey, counters], a string, rows []keyed[timeKey, counters], vs []*videoSpan, table int, extra []keyed[timeKey, counters]) []keyed[timeKey, counters] {
	m.ts = m.ts[:0]
	for _, s := range vs {
		m.ts = append(m.ts, rows[s[table][0]:s[table][1]]...)
	}
	m.ts = append(m.ts, extra...)
	if len(vs) > 1 || len(extra) > 0 {
		slices.SortStableFunc(m.ts, func(x, y keyed[timeKey, counters]) int { return cmp.Compare(x.k.t, y.k.t) })
	}
	for i := 0; i < len(m.ts); {
		j := i + 1
		for j < len(m.ts) && m.ts[j].k.t == m.ts[i].k.t {
			j++
		}
		c := m.ts[i].c
		if j > i+1 {
			sum := *c
			for _, r := range m.ts[i+1 : j] {
				sum.add(r.c)
			}
			c = &sum
		}
		dst = append(dst, keyed[timeKey, counters]{timeKey{a, m.ts[i].k.t}, c})
		i = j
	}
	return dst
}

// dims appends creator a's packed audience rows, in period order, each
// the sum of its videos' rows of that period in rows (table, their span
// index).
func (m *merger) dims(dst []store.AudienceRow, a string, rows []store.AudienceRow, vs []*videoSpan, table int) []store.AudienceRow {
	m.ps = m.ps[:0]
	for _, s := range vs {
		m.ps = append(m.ps, rows[s[table][0]:s[table][1]]...)
	}
	if len(vs) > 1 {
		slices.SortStableFunc(m.ps, func(x, y store.AudienceRow) int { return cmp.Compare(x.Period, y.Period) })
	}
	for i := 0; i < len(m.ps); {
		j := i + 1
		for j < len(m.ps) && m.ps[j].Period == m.ps[i].Period {
			j++
		}
		counts := m.ps[i].Counts
		if j > i+1 {
			counts = m.sumCounts(m.ps[i:j])
		}
		dst = append(dst, store.AudienceRow{ID: a, Period: m.ps[i].Period, Counts: counts})
		i = j
	}
	return dst
}

// sumCounts returns the counts of rows summed by (dimension, bucket), in
// that order, in a slice of its own.
func (m *merger) sumCounts(rows []store.AudienceRow) []store.AudienceCount {
	m.counts = m.counts[:0]
	for _, r := range rows {
		m.counts = append(m.counts, r.Counts...)
	}
	slices.SortStableFunc(m.counts, func(x, y store.AudienceCount) int {
		return cmp.Or(cmp.Compare(x.Dim, y.Dim), strings.Compare(x.Bucket, y.Bucket))
	})
	var out []store.AudienceCount
	for _, c := range m.counts {
		if n := len(out); n > 0 && out[n-1].Dim == c.Dim && out[n-1].Bucket == c.Bucket {
			out[n-1].Views += c.Views
			out[n-1].Viewers += c.Viewers
			continue
		}
		out = append(out, c)
	}
	return slices.Clip(out)
}
