package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Viewers' history (viewer_history, exact mode only; internal/rollup/viewers.go
// uses it): per viewer of a video, the sorted days they viewed it.
//
// A row is keyed by one 64-bit integer, ViewerHistoryKey, a hash of the
// video and the viewer's actor pseudonym, rather than by the two strings
// (a 22-character pseudonym and the video's id): the table is the largest
// of aggregation's, about 0.7 rows an event, and an integer key makes its
// rows small and its look-ups the cheapest a B-tree has (a rowid table on
// SQLite). The key identifies nothing by itself: it is a hash of a
// pseudonym.
//
// Two viewers share a key with probability about n²/2⁶⁵ among n rows
// (3·10⁻⁶ at ten million rows, 3·10⁻⁴ at a hundred million), the same
// reasoning as the in-memory state's 64-bit keys (internal/rollup/state.go).
// So that a collision only ever blurs one viewer's count, never corrupts
// the counts derived from histories, a row also holds VideoTag of its video:
//
//   - viewers of one video sharing a key share a history: each of the later
//     viewer's days may look like a repeat of the other's, so at worst the
//     video's distinct viewers are that viewer's days too few;
//   - a viewer whose key holds another video's history (the tags differ)
//     is not linked across days: each of their days counts as a new viewer,
//     and their days are not written (SetViewerHistories leaves a row of
//     another tag alone). Merging the two would split pairs of days counted
//     for the other video, driving its counts below zero.
//
// Tags of different videos agree with probability 2⁻³², so a row of
// another video goes unnoticed with probability about n²/2⁹⁷.

// ViewerHistoryKey returns the key of the history of actor's views of
// video: an xxhash64 digest of both, as a signed integer (SQL's BIGINT).
func ViewerHistoryKey(video, actor string) int64 {
	var d xxhash.Digest
	d.Reset()
	d.WriteString(video)
	d.Write([]byte{0})
	d.WriteString(actor)
	return int64(d.Sum64())
}

// historyKeyOf is ViewerHistoryKey, but for tests of collisions.
var historyKeyOf = ViewerHistoryKey

// VideoTag returns the tag of video that a history row holds: 32 bits of
// a digest of the video id alone.
func VideoTag(video string) int32 {
	return int32(xxhash.Sum64String(video))
}

// ViewerHistory is a row of viewer_history.
type ViewerHistory struct {
	Key      int64 // ViewerHistoryKey(video, actor)
	VideoTag int32 // VideoTag(video)
	Days     []byte
}

// ViewerHistories calls fn with the stored row of each of the keys (in
// ascending order) that has one.
func (t *RollupTx) ViewerHistories(ctx context.Context, keys []int64, fn func(ViewerHistory)) error {
	if t.hist != nil {
		return t.historyEntries(ctx, keys, fn)
	}
	for chunk := range rollupChunks(t.d, keys) {
		args := make([]any, len(chunk))
		for i, k := range chunk {
			args[i] = k
		}
		rows, err := t.query(ctx, `SELECT key, video_tag, days FROM viewer_history WHERE key IN (`+placeholders(len(chunk))+`)`, args...)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var h ViewerHistory
			if err := rows.Scan(&h.Key, &h.VideoTag, &h.Days); err != nil {
				return err
			}
			fn(h)
			return nil
		})
		if err != nil {
			return fmt.Errorf("read viewer history: %w", err)
		}
	}
	return nil
}

// SetViewerHistories stores the rows (in ascending key order, one per
// key). A stored row of another video tag stays as it is (a collision of
// keys between videos; see above).
func (t *RollupTx) SetViewerHistories(ctx context.Context, rows []ViewerHistory) error {
	if t.hist != nil {
		for _, h := range rows {
			t.hist.pending[h.Key] = h
		}
		return nil
	}
	for chunk := range rollupChunks(t.d, rows) {
		args := make([]any, 0, 3*len(chunk))
		for _, h := range chunk {
			args = append(args, h.Key, h.VideoTag, h.Days)
		}
		if _, err := t.exec(ctx, `INSERT INTO viewer_history (key, video_tag, days) VALUES `+rowsOf(len(chunk), 3)+`
ON CONFLICT (key) DO UPDATE SET days = excluded.days WHERE viewer_history.video_tag = excluded.video_tag`, args...); err != nil {
			return fmt.Errorf("write viewer history: %w", err)
		}
	}
	return nil
}

// The days of a history row: the first day as a signed varint from
// historyEpoch, then each next day as an unsigned varint of its distance
// from the one before less one. Most histories hold one day of this
// decade: two bytes, where four-byte days took four. As no encoding of a
// distance is below one, any row decodes to strictly increasing days.
const historyEpoch = 20_000 // 2024-10-04

// maxHistoryDay bounds the days a row holds: Unix days of int32 (the
// former encoding's), far beyond any event's.
const maxHistoryDay = 1<<31 - 1

// AppendDays appends the encoding of days (strictly increasing, in
// 0..maxHistoryDay) to b.
func AppendDays(b []byte, days []int64) []byte {
	for i, d := range days {
		if i == 0 {
			b = binary.AppendVarint(b, d-historyEpoch)
		} else {
			b = binary.AppendUvarint(b, uint64(d-days[i-1]-1))
		}
	}
	return b
}

var errHistoryDays = errors.New("malformed days of a viewer history")

// DecodeDays appends the days encoded in b to out, strictly increasing;
// it fails on a truncated encoding or a day out of range.
func DecodeDays(out []int64, b []byte) ([]int64, error) {
	if len(b) == 0 {
		return out, nil
	}
	first, n := binary.Varint(b)
	if n <= 0 || first < -historyEpoch || first > maxHistoryDay-historyEpoch {
		return out, errHistoryDays
	}
	day := first + historyEpoch
	out = append(out, day)
	for b = b[n:]; len(b) > 0; b = b[n:] {
		var gap uint64
		gap, n = binary.Uvarint(b)
		if n <= 0 || gap >= uint64(maxHistoryDay-day) {
			return out, errHistoryDays
		}
		day += int64(gap) + 1
		out = append(out, day)
	}
	return out, nil
}

// decodeFixedDays decodes the days of 0001_schema.sql's viewer_history:
// 4-byte little-endian Unix days, sorted (a partial last record ignored,
// as that version's reader did).
func decodeFixedDays(b []byte) []int64 {
	out := make([]int64, 0, len(b)/4)
	for i := 0; i+4 <= len(b); i += 4 {
		out = append(out, int64(int32(binary.LittleEndian.Uint32(b[i:]))))
	}
	return out
}

// moveViewerHistory moves the rows of viewer_history_0001 (keyed by video
// and actor, 0001_schema.sql) into 0003's viewer_history (keyed by
// ViewerHistoryKey), a page at a time in the old key order, and drops the
// old table. Of two old rows of one key the first in (video, actor) order
// stays, whatever their videos: the counts derived from the other one's
// days stay as they are, which is the case of a collision at run time
// (see above), while merging their days would make pairs of days that were
// never counted, that a later day could split below zero.
func moveViewerHistory(ctx context.Context, t *tx) error {
	const q = `SELECT video_id, actor, days FROM viewer_history_0001`
	order := ` ORDER BY video_id, actor LIMIT ` + fmt.Sprint(movePage)
	var afterVideo, afterActor string
	for first := true; ; first = false {
		var rows *sql.Rows
		var err error
		if first {
			rows, err = t.query(ctx, q+order)
		} else {
			rows, err = t.query(ctx, q+` WHERE (video_id, actor) > (?, ?)`+order, afterVideo, afterActor)
		}
		var page []ViewerHistory
		seen := map[int64]bool{}
		n := 0
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			n++
			var b []byte
			if err := rows.Scan(&afterVideo, &afterActor, &b); err != nil {
				return err
			}
			// Sorted and in range as written; made so whatever is
			// read, as the new encoding needs.
			days := decodeFixedDays(b)
			slices.Sort(days)
			days = slices.Compact(days)
			days = slices.DeleteFunc(days, func(d int64) bool { return d < 0 })
			k := historyKeyOf(afterVideo, afterActor)
			if len(days) > 0 && !seen[k] {
				seen[k] = true
				page = append(page, ViewerHistory{Key: k, VideoTag: VideoTag(afterVideo), Days: AppendDays(nil, days)})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("move viewer history: %w", err)
		}
		slices.SortFunc(page, func(x, y ViewerHistory) int { return cmp.Compare(x.Key, y.Key) })
		for chunk := range slices.Chunk(page, rollupChunk) {
			args := make([]any, 0, 3*len(chunk))
			for _, h := range chunk {
				args = append(args, h.Key, h.VideoTag, h.Days)
			}
			if _, err := t.exec(ctx, `INSERT INTO viewer_history (key, video_tag, days) VALUES `+rowsOf(len(chunk), 3)+` ON CONFLICT (key) DO NOTHING`, args...); err != nil {
				return fmt.Errorf("move viewer history: %w", err)
			}
		}
		if n < movePage {
			break
		}
	}
	_, err := t.exec(ctx, `DROP TABLE viewer_history_0001`)
	return err
}
