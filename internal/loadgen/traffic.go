package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// The traffic mix of bulk mode, per event: mostly views, as on every
// short-video platform, then likes, shares, saves and comments.
var mix = []struct {
	typ    string
	weight int
}{{"view", 880}, {"like", 60}, {"share", 25}, {"save", 20}, {"comment", 15}}

var (
	sources  = []string{"for_you", "for_you", "for_you", "for_you", "for_you", "following", "profile", "search", "hashtag", "sound", "shared", "other"}
	channels = []string{"dm", "dm", "whatsapp", "copy_link", "instagram", "messenger", "telegram", "x", "sms", "email", "facebook", "other"}
	comments = []string{"love this", "so good", "how did you do that?", "part 2 please", "first!", "saving this", "the ending", "10/10"}
	genders  = []string{"female", "female", "male", "male", "other", "undisclosed"}
	places   = []string{"US", "US", "US", "BR", "IN", "GB", "DE", "FR", "MX", "ID", "ES", "IT", "CA", "JP", "KR", "NG"}
)

// setup syncs the load generator's accounts and videos. Sync is an upsert,
// so running it again is harmless.
func setup(ctx context.Context, hc *http.Client, cfg Config) error {
	c := &client.Client{BaseURL: cfg.URL, Token: cfg.Token, HTTP: hc}
	rng := rand.New(rand.NewPCG(cfg.Seed, 7))
	now := time.Now().UTC()
	accts := make([]client.SyncAccount, 0, cfg.Accounts)
	for i := range cfg.Accounts {
		a := client.SyncAccount{
			ID: AccountID(i), Handle: fmt.Sprintf("lg_user%05d", i), DisplayName: fmt.Sprintf("Load test %d", i),
			BirthDate: now.AddDate(-(14 + rng.IntN(56)), 0, -rng.IntN(360)).Format(time.DateOnly),
			Gender:    genders[rng.IntN(len(genders))], Country: places[rng.IntN(len(places))], Type: "personal",
		}
		if i == 0 {
			a.Type, a.Password = "business", cfg.OwnerPassword
		}
		accts = append(accts, a)
	}
	for i := 0; i < len(accts); i += 5000 {
		r, err := c.SyncAccounts(ctx, accts[i:min(i+5000, len(accts))])
		if err := syncErr("accounts", r, err); err != nil {
			return err
		}
	}
	vids := make([]client.SyncVideo, 0, cfg.Videos)
	created := now.AddDate(-1, 0, -1).Format(time.RFC3339)
	for i := range cfg.Videos {
		vids = append(vids, client.SyncVideo{ID: VideoID(i), Owner: AccountID(i % cfg.Creators),
			Title: fmt.Sprintf("Load test video %d", i), Hashtags: []string{"loadtest"}, CreatedAt: created})
	}
	for i := 0; i < len(vids); i += 5000 {
		r, err := c.SyncVideos(ctx, vids[i:min(i+5000, len(vids))])
		if err := syncErr("videos", r, err); err != nil {
			return err
		}
	}
	return nil
}

func syncErr(what string, r *client.SyncResult, err error) error {
	if err != nil {
		return fmt.Errorf("sync %s: %w", what, err)
	}
	if len(r.Rejected) > 0 {
		x := r.Rejected[0]
		return fmt.Errorf("sync %s: %d rejected, the first (line %d): %s: %s", what, len(r.Rejected), x.Line, x.Code, x.Message)
	}
	return nil
}

// worker is one sender: its own random stream, buffer and event ids.
type worker struct {
	r    *runner
	id   string // event id prefix
	rng  *rand.Rand
	zipf *rand.Zipf
	seq  int
	buf  []byte
}

func (r *runner) work(reqCtx, sendCtx context.Context, n int, jobs <-chan job) {
	w := &worker{r: r, id: r.runID + "-" + strconv.Itoa(n) + "-", rng: rand.New(rand.NewPCG(r.cfg.Seed, uint64(n)+100))}
	// Popularity: Zipf with exponent 1.1, the first video the most
	// popular (about a tenth of the traffic with a thousand videos).
	w.zipf = rand.NewZipf(w.rng, 1.1, 1, uint64(r.cfg.Videos-1))
	for j := range jobs {
		if j.body >= 0 {
			r.post(reqCtx, sendCtx, "/v1/events", "application/x-ndjson", r.cfg.Bodies[j.body], j.n, j.body)
			continue
		}
		if r.cfg.Mode == Bulk {
			w.buf = w.appendBatch(w.buf[:0], j.n)
			r.post(reqCtx, sendCtx, "/v1/events", "application/x-ndjson", w.buf, j.n, generated)
			continue
		}
		v := int(w.zipf.Uint64())
		w.buf = w.appendView(w.buf[:0])
		r.post(reqCtx, sendCtx, "/v1/videos/"+VideoID(v)+"/views", "application/json", w.buf, 1, single)
	}
}

// appendView appends the body of POST /v1/videos/{id}/views.
func (w *worker) appendView(b []byte) []byte {
	b = append(b, `{"source":"`...)
	b = append(b, sources[w.rng.IntN(len(sources))]...)
	watch, completed := w.watch()
	b = append(b, `","watch_ms":`...)
	b = strconv.AppendInt(b, watch, 10)
	b = append(b, `,"completed":`...)
	b = strconv.AppendBool(b, completed)
	return append(b, '}')
}

func (w *worker) watch() (int64, bool) { return watchOf(w.rng) }

// appendBatch appends n NDJSON events. They are written by hand: at a
// million events a second the generator shares the machine with the
// service, and encoding/json would take a core of its own.
func (w *worker) appendBatch(b []byte, n int) []byte {
	now := time.Now().UTC()
	ts := now.Format(time.RFC3339)
	for range n {
		typ := "view"
		x := w.rng.IntN(1000)
		for _, m := range mix {
			if x -= m.weight; x < 0 {
				typ = m.typ
				break
			}
		}
		acct := -1
		if typ != "view" || w.rng.IntN(100) < 85 {
			acct = w.rng.IntN(w.r.cfg.Accounts)
		}
		b = append(b, `{"id":"`...)
		b = append(b, w.id...)
		b = strconv.AppendInt(b, int64(w.seq), 10)
		w.seq++
		b = append(b, `","type":"`...)
		b = append(b, typ...)
		b = append(b, `","video_id":"`...)
		b = append(b, VideoID(int(w.zipf.Uint64()))...)
		if acct >= 0 {
			b = append(b, `","account_id":"`...)
			b = append(b, AccountID(acct)...)
		}
		b = append(b, `","ts":"`...)
		if w.r.cfg.Spread > 0 {
			b = now.Add(-time.Duration(w.rng.Int64N(int64(w.r.cfg.Spread)))).AppendFormat(b, time.RFC3339)
		} else {
			b = append(b, ts...)
		}
		b = append(b, '"')
		b = appendDetails(b, w.rng, typ)
	}
	return b
}

// ingestAnswer is the answer to POST /v1/events.
type ingestAnswer struct {
	Accepted   int64              `json:"accepted"`
	Duplicates int64              `json:"duplicates"`
	Rejected   []client.Rejection `json:"rejected"`
}

// The body argument of post for requests that are not one of
// Config.Bodies.
const (
	generated = -1 // a generated bulk batch
	single    = -2 // a single view
)

// post sends one request of n events, retrying after 429 and 503 as long
// as the sending window is open, and records what came back. body is the
// request's index in Config.Bodies, or generated or single.
func (r *runner) post(reqCtx, sendCtx context.Context, path, ctype string, data []byte, n, body int) {
	bulk := body != single
	for {
		req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, r.cfg.URL+path, bytes.NewReader(data))
		if err != nil {
			r.fail(err.Error())
			return
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Accept", "application/json")
		if bulk {
			req.Header.Set("Authorization", "Bearer "+r.cfg.Token)
		}
		t0 := time.Now()
		resp, err := r.hc.Do(req)
		if err != nil {
			if reqCtx.Err() == nil {
				r.fail(err.Error())
			}
			return
		}
		answer, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		d := time.Since(t0)
		r.hist.record(d)
		r.requests.Add(1)
		if r.cfg.Timeline {
			r.mu.Lock()
			r.timeline = append(r.timeline, Request{Start: t0.UnixNano(), Dur: d, Events: n})
			r.mu.Unlock()
		}
		if err != nil {
			r.fail("read answer: " + err.Error())
			return
		}
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			r.sent.Add(int64(n))
			if r.cfg.Timeline && body >= 0 {
				r.mu.Lock()
				r.acked = append(r.acked, body)
				r.mu.Unlock()
			}
			if !bulk {
				r.accepted.Add(1)
				return
			}
			var a ingestAnswer
			if err := json.Unmarshal(answer, &a); err != nil {
				r.fail("decode answer: " + err.Error())
				return
			}
			r.accepted.Add(a.Accepted)
			r.dups.Add(a.Duplicates)
			r.rejected.Add(int64(len(a.Rejected)))
			if len(a.Rejected) > 0 {
				x := a.Rejected[0]
				r.mu.Lock()
				if r.firstErr == "" {
					r.firstErr = fmt.Sprintf("rejected line %d: %s: %s", x.Line, x.Code, x.Message)
				}
				r.mu.Unlock()
			}
			return
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
			r.throttled.Add(1)
			t := time.NewTimer(retryAfter(resp.Header.Get("Retry-After"), time.Now()))
			select {
			case <-sendCtx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		default:
			r.fail(fmt.Sprintf("POST %s: %d %s", path, resp.StatusCode, bytes.TrimSpace(answer[:min(len(answer), 200)])))
			return
		}
	}
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); without
// one it waits 100 ms. It waits at least 10 ms and at most 10 s.
func retryAfter(h string, now time.Time) time.Duration {
	d := 100 * time.Millisecond
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 10*time.Millisecond), 10*time.Second)
}
