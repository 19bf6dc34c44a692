package rollup

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/store"
)

// Distinct viewers over a range, in exact mode.
//
// A view event carries, in exact mode only, the keyed pseudonym of its
// account and video (Actor), stable across days. viewer_history keeps per
// (video, actor) the sorted days the viewer viewed the video. Two
// consecutive days p < d of one viewer make a pair, a repeat at gap d-p. A
// viewer counts in a range a..b once, on their first day in it; so the
// distinct viewers of a..b are its viewer-days less the pairs with both
// days in a..b. Two tables count the pairs:
//
//   - video_day.viewers_back: per (video, day p), the pairs starting at p
//     (the day's viewers who viewed the video again later);
//   - video_viewer_gaps: per (video, day d), the pairs ending at d, by gap,
//     as cumulative counts.
//
// Pairs within a..b = Σ_{p=a..b} viewers_back(p) less the pairs leaving
// the range (p in a..b, d > b), read from the gaps of the days after b:
// none for a range that ends today, so a report reads one small sum
// (ReturningViewers). A view on a day between two days the viewer already
// has (a late event, an import out of order) moves at most three pairs:
// the pair it splits goes, the two it makes come. Pairs of MaxGap days or
// more never lie within a range, and are not kept.
//
// The history is written in the batch's transaction, like every rollup: it
// is exact across redeliveries, restarts and any order of arrival, and its
// counts depend only on the set of viewer-days, not on their order.
//
// A history row is keyed by a 64-bit hash of (video, actor) and holds a
// 32-bit tag of its video (internal/store/viewer_history.go). Two viewers
// share a key with probability about n²/2⁶⁵ among n rows (3·10⁻⁶ at ten
// million), the reasoning of the in-memory state's keys (state.go). Viewers
// of one video sharing a key share a history: the later one's days may look
// like repeats of the other's, at worst that viewer's days too few distinct
// viewers. A viewer whose key holds another video's history (the tag
// differs) is not linked at all: each of their days counts as a new viewer.
// Either way the counts stay consistent: every pair a day splits was
// counted for the video splitting it, so none goes below zero.

// MaxGap bounds the gaps kept: ranges are at most 365 days, so a previous
// view 365 or more days before a day is before any range holding that day.
const MaxGap = 365

// gapKey names a video's day of returning viewers.
type gapKey = store.VideoDayKey

// historyKey is store.ViewerHistoryKey, but for tests of collisions.
var historyKey = store.ViewerHistoryKey

// viewerDay is a new day of a viewer of a video.
type viewerDay struct {
	key          int64 // historyKey(video, actor)
	day          int64
	video, actor string
}

// history is a row of viewer_history as a batch reads and changes it.
type history struct {
	tag     int32
	found   bool // stored, or made by the batch
	changed bool
	days    []int64
}

// newViewerDays returns the new viewer-days of evs (newViewer by event
// index) that carry an actor, for viewerHistory. It reads evs only here, so
// the events may be let go (applyChunk's credit) while their history is
// written.
func newViewerDays(evs []event.Event, vds []viewerDelta) []viewerDay {
	n := 0
	for i := range evs {
		if evs[i].Type == event.View && evs[i].Actor != "" && vds[i].newViewer {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	vdays := make([]viewerDay, 0, n)
	for i := range evs {
		ev := &evs[i]
		if ev.Type != event.View || ev.Actor == "" || !vds[i].newViewer {
			continue
		}
		vdays = append(vdays, viewerDay{key: historyKey(ev.VideoID, ev.Actor), day: int64(period.DayOf(ev.TS)), video: ev.VideoID, actor: ev.Actor})
	}
	return vdays
}

// viewerHistory records the new viewer-days vdays (newViewerDays) in
// viewer_history and video_viewer_gaps, both in tx. It sorts vdays.
func (a *Aggregator) viewerHistory(ctx context.Context, tx *store.RollupTx, vdays []viewerDay) error {
	if len(vdays) == 0 {
		return nil
	}
	d := newHistoryDelta()
	if err := recordHistory(ctx, tx, vdays, d); err != nil {
		return err
	}
	return a.applyHistoryDelta(ctx, tx, d)
}

// historyDelta is what new viewer-days change in the counts derived from
// viewers' history: the pairs of days by their last day and gap
// (video_viewer_gaps), and by their first day (video_day.viewers_back).
type historyDelta struct {
	gaps map[gapKey]map[int64]int64 // (video, day) → gap → change
	back map[gapKey]int64           // (video, day) → change of viewers_back
}

func newHistoryDelta() *historyDelta {
	return &historyDelta{gaps: map[gapKey]map[int64]int64{}, back: map[gapKey]int64{}}
}

// change adds n pairs of video's days ending at day, gap days apart.
func (d *historyDelta) change(video string, day, gap, n int64) {
	if gap >= MaxGap {
		return
	}
	k := gapKey{VideoID: video, Day: day}
	if d.gaps[k] == nil {
		d.gaps[k] = map[int64]int64{}
	}
	d.gaps[k][gap] += n
	d.back[gapKey{VideoID: video, Day: day - gap}] += n
}

// applyHistoryDelta adds d to video_day and video_viewer_gaps in tx.
func (a *Aggregator) applyHistoryDelta(ctx context.Context, tx *store.RollupTx, d *historyDelta) error {
	if err := a.applyBack(ctx, tx, d.back); err != nil {
		return err
	}
	return a.applyGaps(ctx, tx, d.gaps)
}

// recordHistory records the new viewer-days vdays in viewer_history, in
// tx (the batch's transaction, or history.db's beside it), and adds what
// they change to d. It sorts vdays.
func recordHistory(ctx context.Context, tx *store.RollupTx, vdays []viewerDay, d *historyDelta) error {
	// In key order, so that reads and writes walk the B-tree in order and
	// PostgreSQL's row locks are taken in one order; a viewer's days
	// together, and viewers sharing a key (a collision) in a fixed order.
	slices.SortFunc(vdays, func(x, y viewerDay) int {
		if x.key != y.key {
			return cmp.Compare(x.key, y.key)
		}
		if x.video != y.video {
			return strings.Compare(x.video, y.video)
		}
		if x.actor != y.actor {
			return strings.Compare(x.actor, y.actor)
		}
		return cmp.Compare(x.day, y.day)
	})
	keys := make([]int64, 0, len(vdays))
	for _, v := range vdays {
		if len(keys) == 0 || keys[len(keys)-1] != v.key {
			keys = append(keys, v.key)
		}
	}
	rows := make([]history, len(keys)) // by the index of their key
	var all []int64                    // the stored rows' days, in one growing buffer
	var bad error
	err := tx.ViewerHistories(ctx, keys, func(r store.ViewerHistory) {
		i, ok := slices.BinarySearch(keys, r.Key)
		if !ok {
			return
		}
		n := len(all)
		var err error
		if all, err = store.DecodeDays(all, r.Days); err != nil && bad == nil {
			bad = fmt.Errorf("viewer history %d: %w", r.Key, err)
		}
		rows[i] = history{tag: r.VideoTag, found: true, days: all[n:len(all):len(all)]} // full: a day inserted copies
	})
	if err != nil {
		return err
	}
	if bad != nil {
		return bad
	}

	change := d.change
	k := 0 // the index of the key of vdays[i:j], a viewer's days
	for i, j := 0, 0; i < len(vdays); i = j {
		v := &vdays[i]
		j = i + 1
		for j < len(vdays) && vdays[j].key == v.key && vdays[j].video == v.video && vdays[j].actor == v.actor {
			j++
		}
		for keys[k] != v.key {
			k++
		}
		h := &rows[k]
		tag := store.VideoTag(v.video)
		if !h.found {
			h.tag, h.found = tag, true
		} else if h.tag != tag {
			continue // another video's viewer's key: each day counts as a new viewer
		}
		days := h.days
		for _, vd := range vdays[i:j] {
			x := vd.day
			at, found := slices.BinarySearch(days, x)
			if found {
				continue // counted before (a switch between modes, a replay)
			}
			var prev, next int64
			hasPrev, hasNext := at > 0, at < len(days)
			if hasPrev {
				prev = days[at-1]
				change(v.video, x, x-prev, 1)
			}
			if hasNext {
				next = days[at]
				if hasPrev {
					change(v.video, next, next-prev, -1)
				}
				change(v.video, next, next-x, 1)
			}
			days = slices.Insert(days, at, x)
			h.changed = true
		}
		h.days = days
	}
	changed := make([]store.ViewerHistory, 0, len(keys))
	var buf []byte // the rows' days, in one growing buffer
	for i := range rows {
		if h := &rows[i]; h.changed {
			n := len(buf)
			buf = store.AppendDays(buf, h.days)
			changed = append(changed, store.ViewerHistory{Key: keys[i], VideoTag: h.tag, Days: buf[n:len(buf):len(buf)]})
		}
	}
	return tx.SetViewerHistories(ctx, changed)
}

// applyBack adds back to video_day.viewers_back, in key order.
func (a *Aggregator) applyBack(ctx context.Context, tx *store.RollupTx, back map[gapKey]int64) error {
	maps.DeleteFunc(back, func(_ gapKey, n int64) bool { return n == 0 })
	keys := slices.SortedFunc(maps.Keys(back), func(x, y gapKey) int {
		return cmp.Or(strings.Compare(x.VideoID, y.VideoID), cmp.Compare(x.Day, y.Day))
	})
	return tx.AddViewersBack(ctx, keys, func(k gapKey) int64 { return back[k] })
}

// ReturningViewers returns, for exact mode's distinct viewers of a video
// over the Unix days a..b, the viewer-days of a..b whose viewer had viewed
// the video on an earlier day of the range: distinct viewers are the
// range's viewer-days less these.
func ReturningViewers(ctx context.Context, s *store.Store, videoID string, a, b int64) (int64, error) {
	pairs, err := s.ViewersBack(ctx, videoID, a, b)
	if err != nil {
		return 0, err
	}
	// Less the pairs that leave the range: they end after b.
	err = s.ViewerGaps(ctx, videoID, b, b+MaxGap, func(d int64, gaps []byte) {
		pairs -= RepeatsUpTo(gaps, d-a) - RepeatsUpTo(gaps, d-b-1)
	})
	if err != nil {
		return 0, err
	}
	return pairs, nil
}

// applyGaps adds deltas to the rows of video_viewer_gaps, in key order.
func (a *Aggregator) applyGaps(ctx context.Context, tx *store.RollupTx, deltas map[gapKey]map[int64]int64) error {
	for k, d := range deltas {
		for g, n := range d {
			if n == 0 {
				delete(d, g)
			}
		}
		if len(d) == 0 {
			delete(deltas, k)
		}
	}
	if len(deltas) == 0 {
		return nil
	}
	keys := slices.SortedFunc(maps.Keys(deltas), func(x, y gapKey) int {
		return cmp.Or(strings.Compare(x.VideoID, y.VideoID), cmp.Compare(x.Day, y.Day))
	})
	counts := map[gapKey]map[int64]int64{}
	err := tx.ViewerGaps(ctx, keys, func(k gapKey, b []byte) { counts[k] = decodeGaps(b) })
	if err != nil {
		return err
	}
	return tx.SetViewerGaps(ctx, keys, func(k gapKey) ([]byte, error) {
		c := counts[k]
		if c == nil {
			c = map[int64]int64{}
		}
		for g, n := range deltas[k] {
			c[g] += n
			if c[g] < 0 {
				return nil, fmt.Errorf("video %s day %d gap %d below zero", k.VideoID, k.Day, g)
			}
		}
		return encodeGaps(c), nil
	})
}

// gapRecord is a record of a gaps row: gap (uint16), then the cumulative
// count of repeats up to that gap (uint32).
const gapRecord = 6

// decodeGaps returns the repeats of a gaps row by gap.
func decodeGaps(b []byte) map[int64]int64 {
	out := map[int64]int64{}
	var cum int64
	for i := 0; i+gapRecord <= len(b); i += gapRecord {
		g := int64(binary.LittleEndian.Uint16(b[i:]))
		c := int64(binary.LittleEndian.Uint32(b[i+2:]))
		out[g] = c - cum
		cum = c
	}
	return out
}

// encodeGaps returns the gaps row of repeats by gap (gaps with none left
// out).
func encodeGaps(c map[int64]int64) []byte {
	gaps := slices.Sorted(maps.Keys(c))
	b := make([]byte, 0, gapRecord*len(gaps))
	var cum int64
	for _, g := range gaps {
		if c[g] == 0 {
			continue
		}
		cum += c[g]
		b = binary.LittleEndian.AppendUint16(b, uint16(g))
		b = binary.LittleEndian.AppendUint32(b, uint32(cum))
	}
	return b
}

// RepeatsUpTo returns, from a gaps row, the day's viewers who had viewed the
// video at most maxGap days before.
func RepeatsUpTo(b []byte, maxGap int64) int64 {
	n := len(b) / gapRecord
	lo, hi := 0, n // the first record whose gap is over maxGap
	for lo < hi {
		m := (lo + hi) / 2
		if int64(binary.LittleEndian.Uint16(b[m*gapRecord:])) <= maxGap {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return 0
	}
	return int64(binary.LittleEndian.Uint32(b[(lo-1)*gapRecord+2:]))
}
