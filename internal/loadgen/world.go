package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// World is a realistic world for `crowd bench --world realistic`: many
// videos of Zipf popularity, many accounts with demographics, events over
// the last days. Its ids are those of the load generator (VideoID,
// AccountID), so `crowd loadgen --mode single` can load it too.
//
// Account 0 (OwnerHandle, a business account) is the heavy creator: it
// owns the first HeavyVideos videos. The other videos belong to the next
// Creators accounts, round-robin. Popularity ranks map to videos through a
// fixed permutation, so the hottest video (rank 0) is the heavy creator's
// video 0 and the next hottest belong to other creators.
type World struct {
	Videos, Accounts int
	// HeavyVideos is how many videos the heavy creator owns.
	HeavyVideos int
	// Creators is how many accounts (after account 0) own the other
	// videos.
	Creators int
	// Days spreads events uniformly over the last Days days.
	Days int
	// Seed makes the world reproducible.
	Seed uint64
}

// NewWorld returns the world of the given sizes with its defaults: the
// heavy creator owns min(1000, videos/2) videos; a creator for every 20
// other videos.
func NewWorld(videos, accounts, days int, seed uint64) (World, error) {
	if videos < 2 || accounts < 2 || days < 1 {
		return World{}, fmt.Errorf("world: need at least 2 videos, 2 accounts and 1 day (have %d, %d, %d)", videos, accounts, days)
	}
	heavy := min(1000, videos/2)
	creators := min(accounts-1, max(1, (videos-heavy)/20))
	return World{Videos: videos, Accounts: accounts, HeavyVideos: heavy, Creators: creators, Days: days, Seed: seed}, nil
}

// Owner is the account owning video v.
func (w World) Owner(v int) int {
	if v < w.HeavyVideos {
		return 0
	}
	return 1 + (v-w.HeavyVideos)%w.Creators
}

// VideoOfRank is the video of popularity rank r (0 the hottest): a fixed
// multiplicative permutation of the ids, so popular videos are spread over
// creators, and rank 0 is video 0.
func (w World) VideoOfRank(r int) int {
	return int(uint64(r) * w.stride() % uint64(w.Videos))
}

// stride is a multiplier coprime with Videos.
func (w World) stride() uint64 {
	n := uint64(w.Videos)
	for s := uint64(7919); ; s++ {
		if gcd(s, n) == 1 {
			return s
		}
	}
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Hottest returns the n most popular videos, hottest first.
func (w World) Hottest(n int) []int {
	out := make([]int, 0, n)
	for r := range min(n, w.Videos) {
		out = append(out, w.VideoOfRank(r))
	}
	return out
}

// Account returns the sync line of account i; password is set only where
// given (hashing one costs the server tens of milliseconds).
func (w World) Account(i int, rng *rand.Rand, now time.Time, password string) client.SyncAccount {
	a := client.SyncAccount{
		ID: AccountID(i), Handle: fmt.Sprintf("lg_user%05d", i), DisplayName: "Load test " + strconv.Itoa(i),
		BirthDate: now.AddDate(-(14 + rng.IntN(56)), 0, -rng.IntN(360)).Format(time.DateOnly),
		Gender:    genders[rng.IntN(len(genders))], Country: places[rng.IntN(len(places))], Type: "personal",
		Password: password,
	}
	if i == 0 {
		a.Type = "business"
	}
	return a
}

// SyncStats says how long syncing the world took.
type SyncStats struct {
	Accounts, Videos         int
	AccountTime, VideoTime   time.Duration
	AccountBatch, VideoBatch int
}

// syncBatch is how many lines one sync request carries: about 10 MB of
// accounts, well under the 64 MiB a bulk body may hold.
const syncBatch = 50_000

// Sync upserts the world's accounts (with demographics) and videos through
// the bulk sync API (POST /v1/sync/accounts and /v1/sync/videos, NDJSON in
// batches of 50,000). passwords gives the accounts that can log in.
func (w World) Sync(ctx context.Context, c *client.Client, passwords map[int]string, progress io.Writer) (SyncStats, error) {
	rng := rand.New(rand.NewPCG(w.Seed, 7))
	now := time.Now().UTC()
	st := SyncStats{Accounts: w.Accounts, Videos: w.Videos, AccountBatch: syncBatch, VideoBatch: syncBatch}
	start := time.Now()
	batch := make([]client.SyncAccount, 0, syncBatch)
	for i := 0; i < w.Accounts; i += syncBatch {
		batch = batch[:0]
		for j := i; j < min(i+syncBatch, w.Accounts); j++ {
			batch = append(batch, w.Account(j, rng, now, passwords[j]))
		}
		r, err := c.SyncAccounts(ctx, batch)
		if err := syncErr("accounts", r, err); err != nil {
			return st, err
		}
		if progress != nil {
			fmt.Fprintf(progress, "\rsync: %s of %s accounts in %s   ", count(int64(i+len(batch))), count(int64(w.Accounts)), Round(time.Since(start)))
		}
	}
	st.AccountTime = time.Since(start)
	if progress != nil {
		fmt.Fprintln(progress)
	}
	start = time.Now()
	created := now.AddDate(0, 0, -w.Days-1).Format(time.RFC3339)
	vids := make([]client.SyncVideo, 0, syncBatch)
	for i := 0; i < w.Videos; i += syncBatch {
		vids = vids[:0]
		for v := i; v < min(i+syncBatch, w.Videos); v++ {
			vids = append(vids, client.SyncVideo{ID: VideoID(v), Owner: AccountID(w.Owner(v)),
				Title: "Load test video " + strconv.Itoa(v), Hashtags: []string{"loadtest"}, CreatedAt: created})
		}
		r, err := c.SyncVideos(ctx, vids)
		if err := syncErr("videos", r, err); err != nil {
			return st, err
		}
	}
	st.VideoTime = time.Since(start)
	return st, nil
}

// WriteEvents writes n events of the world as NDJSON (the format of POST
// /v1/events and of `crowd import`), ids prefixed with prefix, dated
// uniformly over the Days before now: views (88%, with watch time,
// completion and source; 15% of them anonymous), likes, shares (with a
// channel), saves and comments, on videos of Zipf popularity (exponent
// 1.1), by accounts drawn uniformly. Seed varies the draw.
func (w World) WriteEvents(out io.Writer, prefix string, n int64, now time.Time, seed uint64) error {
	bw := bufio.NewWriterSize(out, 1<<20)
	rng := rand.New(rand.NewPCG(w.Seed, seed))
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(w.Videos-1))
	spread := int64(w.Days) * int64(24*time.Hour)
	// Events are dated up to a minute ago, never in the future.
	end := now.Add(-time.Minute)
	var b []byte
	for i := range n {
		b = appendWorldEvent(b[:0], rng, prefix, i, VideoID(w.VideoOfRank(int(zipf.Uint64()))), w.Accounts,
			end.Add(-time.Duration(rng.Int64N(spread))))
		if _, err := bw.Write(b); err != nil {
			return fmt.Errorf("write events: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	return nil
}

// appendWorldEvent appends one NDJSON event of the mix.
func appendWorldEvent(b []byte, rng *rand.Rand, prefix string, seq int64, video string, accounts int, ts time.Time) []byte {
	typ := "view"
	x := rng.IntN(1000)
	for _, m := range mix {
		if x -= m.weight; x < 0 {
			typ = m.typ
			break
		}
	}
	b = append(b, `{"id":"`...)
	b = append(b, prefix...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `","type":"`...)
	b = append(b, typ...)
	b = append(b, `","video_id":"`...)
	b = append(b, video...)
	if typ != "view" || rng.IntN(100) < 85 {
		b = append(b, `","account_id":"`...)
		b = append(b, AccountID(rng.IntN(accounts))...)
	}
	b = append(b, `","ts":"`...)
	b = ts.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, '"')
	return appendDetails(b, rng, typ)
}

// appendDetails appends the fields of an event of type typ after its
// common ones, and closes the line.
func appendDetails(b []byte, rng *rand.Rand, typ string) []byte {
	switch typ {
	case "view":
		watch, completed := watchOf(rng)
		b = append(b, `,"source":"`...)
		b = append(b, sources[rng.IntN(len(sources))]...)
		b = append(b, `","watch_ms":`...)
		b = strconv.AppendInt(b, watch, 10)
		if completed {
			b = append(b, `,"completed":true`...)
		}
	case "share":
		b = append(b, `,"channel":"`...)
		b = append(b, channels[rng.IntN(len(channels))]...)
		b = append(b, '"')
	case "comment":
		b = append(b, `,"text":"`...)
		b = append(b, comments[rng.IntN(len(comments))]...)
		b = append(b, '"')
	}
	return append(b, "}\n"...)
}

// watchOf draws a watch time and whether the view completed: videos of 8
// to 58 seconds, a third watched to the end.
func watchOf(rng *rand.Rand) (int64, bool) {
	length := int64(8_000 + rng.IntN(50_000))
	if rng.IntN(3) == 0 {
		return length, true
	}
	return rng.Int64N(length), false
}

// SplitNDJSON cuts data into bodies of at most lines lines each, without
// copying; it returns them and the number of lines in all.
func SplitNDJSON(data []byte, lines int) (bodies [][]byte, n int64) {
	start, k := 0, 0
	for i, c := range data {
		if c != '\n' {
			continue
		}
		k++
		n++
		if k == lines {
			bodies = append(bodies, data[start:i+1])
			start, k = i+1, 0
		}
	}
	if start < len(data) {
		bodies = append(bodies, data[start:])
		if data[len(data)-1] != '\n' {
			n++
		}
	}
	return bodies, n
}
