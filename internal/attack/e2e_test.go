package attack

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/demo"
	"github.com/crowd-dev/crowd/internal/noise"
	"github.com/crowd-dev/crowd/internal/security"
)

// The end-to-end attacks: the real application (app.Main, as `crowd serve`
// runs it: SQLite, the embedded NATS event log, aggregation and release) on
// a fresh data dir, driven only through its HTTP API. Accounts and videos
// come in through POST /v1/sync/*, engagement through POST /v1/events (the
// path every platform event takes: ingest → pseudonyms → log →
// aggregation → cells), and the attacker reads GET /v1/analytics/videos/{id}
// as the video's creator or co-creator would. A leak anywhere on that path
// — a pseudonym that fails to cap, a count that skips the bounds, a report
// that reads a raw rollup — shows up in the released numbers.
//
// Trials are independent because every trial has its own videos (the noise
// of a cell is keyed by the cell, video id included, so distinct videos
// give independent draws) and its own friend account (so the per-account
// daily cap never couples two trials). The app's clock is injected: events
// are dated on e2eDay, then the clock moves past the day's release time
// and the attacker reads.

// e2eDay is the attacked day: yesterday, by the wall clock, as recent as a
// live day is (TestE2E_OldViewsKeepViewerDayCap covers old days).
var e2eDay = func() time.Time {
	now := time.Now().UTC()
	return time.Date(now.Year(), now.Month(), now.Day()-1, 0, 0, 0, 0, time.UTC)
}()

// e2eClock is the app's clock.
type e2eClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *e2eClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *e2eClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// e2e is a running Crowd and a service-token client.
type e2e struct {
	t     *testing.T
	m     *app.Main
	clock *e2eClock
	svc   *client.Client
	// keys is the app's noise keyring, for checking what the pipeline
	// counted: a released cell minus its keyed noise is its true value.
	keys *noise.Keyring
}

const e2ePassword = "attack-password-1"

// e2eTrials scales an end-to-end trial count: 5× in long mode (the
// end-to-end harness is far slower per trial than the direct one: every
// trial's first read releases its video's cells, a SQLite write each), a
// tenth under the race detector or -short (the race detector makes the
// pure-Go SQLite engine many times slower; the exact checks of what the
// pipeline counted still run on every trial).
func e2eTrials(n int) int {
	if *longFlag || os.Getenv("CROWD_ATTACK_LONG") == "1" {
		n *= 5
	}
	if raceEnabled || testing.Short() {
		n /= 10
	}
	return n
}

// startE2E starts Crowd in-process in the given disclosure mode, with the
// clock in the evening of e2eDay.
func startE2E(t *testing.T, mode config.Mode) *e2e {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.Disclosure = mode
	cfg.AdminAddr = "" // no operator listener: several tests run at once
	cfg.LoginPerMinute = 1_000_000
	cfg.RegisterPerMinute = 1_000_000
	cfg.AnalyticsPerMinute = 1_000_000
	cfg.AnonViewsPerMinute = 1_000_000
	// The noise keyring, written before the first start as an operator
	// restoring it from a backup would: derived from the test's name and
	// the seed, so runs of one day are reproducible (CROWD_ATTACK_SEED
	// changes it).
	h := sha256.New()
	fmt.Fprintf(h, "e2e %s %d", t.Name(), seed())
	keys, err := json.Marshal(map[string]any{"format": 1, "current": 1, "keys": []map[string]any{{"kid": 1, "key": base64.StdEncoding.EncodeToString(h.Sum(nil))}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.Secrets(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Secrets(), noise.KeysFile), keys, 0o600); err != nil {
		t.Fatal(err)
	}
	clk := &e2eClock{t: e2eDay.Add(20 * time.Hour)}
	m := &app.Main{Config: cfg, Now: clk.Now, Passwords: security.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}
	if err := m.Open(t.Context()); err != nil {
		t.Fatalf("open app: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close app: %v", err)
		}
	})
	// What `crowd token create --service` does.
	tok, err := demo.ServiceToken(t.Context(), m, "attack")
	if err != nil {
		t.Fatal(err)
	}
	return &e2e{t: t, m: m, clock: clk, svc: client.New(m.URL()).WithToken(tok), keys: noise.NewKeyringForTest(h.Sum(nil))}
}

// retry calls fn until it succeeds or fails with other than 429 or 503
// (ingestion's backpressure while aggregation catches up).
func retry(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if s := client.StatusOf(err); s != 429 && s != 503 {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// e2eAlpha is the level the end-to-end attacks are judged at. Their
// noise draws change from day to day (the attacked day is yesterday, see
// e2eDay, and a cell's noise is keyed by its day), so a 95 % bound on an
// attack that is exactly tight (the midpoint test's TPR/FPR is e^ε) would
// fail on about one day in forty; at 99.9 % a real leak of the size the
// canaries have is still far outside.
const e2eAlpha = 0.002

// assertPrivateSampled is assertPrivate for the end-to-end attacks: the
// report shows the 95 % ε̂_lb as everywhere, the test fails if the 99.9 %
// one exceeds ε or if the accuracy's 99.9 % lower bound (not its point
// estimate, whose spread at a few thousand trials is the size of the 0.01
// slack) exceeds the ε-DP bound.
func assertPrivateSampled(t *testing.T, r result) {
	t.Helper()
	record(t, r)
	if lb := epsLB(r.N, r.TP, r.FP, e2eAlpha); lb > r.Eps {
		t.Errorf("%s: ε̂_lb = %.3f (99.9 %%: %.3f) > ε = %.3f", r.Attack, r.EpsLB, lb, r.Eps)
	}
	if lo, _ := clopperPearsonAt(r.TP+r.N-r.FP, 2*r.N, e2eAlpha); lo > maxAccuracy(r.Eps) {
		t.Errorf("%s: accuracy %.4f (lower bound %.4f) > %.4f", r.Attack, r.Accuracy, lo, maxAccuracy(r.Eps))
	}
}

// acct is the sync line of account id (handle "acct_" + id); with login it
// has a password and can log in.
func acct(id string, login bool) client.SyncAccount {
	a := client.SyncAccount{ID: id, Handle: "acct_" + id}
	if login {
		a.Password = e2ePassword
	}
	return a
}

// syncAccounts creates accounts through POST /v1/sync/accounts; the ones
// with a password can log in.
func (e *e2e) syncAccounts(as []client.SyncAccount) {
	e.t.Helper()
	for i := 0; i < len(as); i += 5000 {
		part := as[i:min(i+5000, len(as))]
		r, err := e.svc.SyncAccounts(e.t.Context(), part)
		if err != nil || r.Upserted != len(part) {
			e.t.Fatalf("sync accounts: %+v, %v", r, err)
		}
	}
}

// syncVideos creates videos through POST /v1/sync/videos.
func (e *e2e) syncVideos(vs []client.SyncVideo) {
	e.t.Helper()
	for i := 0; i < len(vs); i += 5000 {
		part := vs[i:min(i+5000, len(vs))]
		r, err := e.svc.SyncVideos(e.t.Context(), part)
		if err != nil || r.Upserted != len(part) {
			e.t.Fatalf("sync videos: %+v, %v", r, err)
		}
	}
}

// createdAt is when every attacked video was created: the start of the
// attacked day, so the day's cells exist and no earlier ones (a report also
// releases the hourly cells of the last 47 hours and the days of its trend,
// which are most of a first read's work; there are fewer of them).
var createdAt = e2eDay.Format(time.RFC3339)

// coCreatedVideos creates, for each trial, one video per owner, each
// listing coCreator as a co-creator who has accepted (a collaborator of the
// platform's video sync whose consent the platform collected; without the
// mark it would be a pending invitation, which reads nothing). It is the
// one place the co-creator relation is made. It returns the video ids
// by trial and owner.
func (e *e2e) coCreatedVideos(prefix string, trials int, owners []string, coCreator string) [][]string {
	e.t.Helper()
	ids := make([][]string, trials)
	var vs []client.SyncVideo
	for i := range trials {
		for k, o := range owners {
			id := fmt.Sprintf("%s%d-%d", prefix, i, k)
			ids[i] = append(ids[i], id)
			vs = append(vs, client.SyncVideo{ID: id, Owner: o, Collaborators: []string{coCreator}, AcceptedCollaborators: []string{coCreator}, Title: "t", CreatedAt: createdAt})
		}
	}
	e.syncVideos(vs)
	return ids
}

// ingest sends events through POST /v1/events in batches of 10,000.
func (e *e2e) ingest(evs []client.Event) {
	e.t.Helper()
	ctx := e.t.Context()
	for i := 0; i < len(evs); i += 10000 {
		part := evs[i:min(i+10000, len(evs))]
		var r *client.IngestResult
		err := retry(ctx, func() (err error) {
			r, err = e.svc.Ingest(ctx, part)
			return err
		})
		if err != nil || r.Accepted != len(part) {
			e.t.Fatalf("ingest: %+v, %v", r, err)
		}
	}
}

// at is a time on the attacked day: 08:00 plus s seconds.
func at(s int) string {
	return e2eDay.Add(8*time.Hour + time.Duration(s)*time.Second).Format(time.RFC3339)
}

// closeDay waits until aggregation has applied every event, then moves the
// clock past the attacked day's release time (the day's close plus the
// daily delay).
func (e *e2e) closeDay() {
	e.t.Helper()
	if err := demo.WaitAggregated(e.t.Context(), e.m); err != nil {
		e.t.Fatal(err)
	}
	e.clock.Set(e2eDay.Add(31 * time.Hour))
}

// login returns a client with a session of account id (made by acct).
func (e *e2e) login(id string) *client.Client {
	e.t.Helper()
	c := client.New(e.m.URL())
	s, err := c.Login(e.t.Context(), "acct_"+id, e2ePassword)
	if err != nil {
		e.t.Fatalf("login %s: %v", id, err)
	}
	return c.WithToken(s.Token)
}

// dayPoint is what a video's report says about the attacked day.
type dayPoint struct {
	Date     string `json:"date"`
	Released bool   `json:"released"`
	Views    int64  `json:"views"`
	Shares   int64  `json:"shares"`
	Saves    int64  `json:"saves"`
}

// readDays reads the attacked day of every video as reader would, through
// GET /v1/analytics/videos/{id}?from=day&to=day, with a few requests in
// flight. Every day must be released.
func (e *e2e) readDays(reader *client.Client, ids []string) map[string]dayPoint {
	e.t.Helper()
	ctx := e.t.Context()
	q := url.Values{"from": {e2eDay.Format(time.DateOnly)}, "to": {e2eDay.Format(time.DateOnly)}}.Encode()
	out := make(map[string]dayPoint, len(ids))
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	next := make(chan string)
	for range 6 {
		wg.Go(func() {
			for id := range next {
				var rep struct {
					Daily []dayPoint `json:"daily"`
				}
				err := reader.Do(ctx, "GET", "/v1/analytics/videos/"+url.PathEscape(id)+"?"+q, nil, &rep)
				if err == nil && (len(rep.Daily) != 1 || !rep.Daily[0].Released) {
					err = fmt.Errorf("video %s: day not released: %+v", id, rep.Daily)
				}
				if err != nil {
					select {
					case errs <- fmt.Errorf("read %s: %w", id, err):
					default:
					}
					continue
				}
				mu.Lock()
				out[id] = rep.Daily[0]
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		e.t.Fatal(err)
	default:
	}
	return out
}

// counted returns what the pipeline counted in a video's released daily
// cell of metric: the released value minus the cell's keyed noise.
func (e *e2e) counted(video, metric string, released int64) int64 {
	return released - release(e.t, e.keys, 0, dayCell(video, metric, "", "", e2eDay), family(e.t, metric, "", "day"))
}

// TestE2E_SingleVideo mounts the single-cell attacks end to end: in each
// trial a friend's share, save, or viewer-day (5 views) of one video is
// present or not (three independent bits per video), and the owner reads
// the video's released day through the analytics API and thresholds at the
// midpoint.
func TestE2E_SingleVideo(t *testing.T) {
	n := e2eTrials(2000) / 4 * 4 // per world, per attack; each bit is 1 in half the videos
	e := startE2E(t, config.Protected)
	videos := 2 * n
	accts := []client.SyncAccount{acct("own", true)}
	var vs []client.SyncVideo
	var evs []client.Event
	bit := func(j, k int) bool { return (j>>k)&1 == 1 }
	for j := range videos {
		id, friend := fmt.Sprintf("s%d", j), fmt.Sprintf("f%d", j)
		accts = append(accts, acct(friend, false))
		vs = append(vs, client.SyncVideo{ID: id, Owner: "own", Title: "t", CreatedAt: createdAt})
		if bit(j, 0) {
			evs = append(evs, client.Event{ID: "sh" + id, Type: "share", VideoID: id, AccountID: friend, TS: at(j % 3600), Channel: "dm"})
		}
		if bit(j, 1) {
			evs = append(evs, client.Event{ID: "sv" + id, Type: "save", VideoID: id, AccountID: friend, TS: at(j % 3600)})
		}
		if bit(j, 2) {
			for k := range 6 { // one more than the cap of 5
				evs = append(evs, client.Event{ID: fmt.Sprintf("vw%s-%d", id, k), Type: "view", VideoID: id, AccountID: friend, TS: at(j%3600 + k), Source: "for_you", WatchMS: 3000})
			}
		}
	}
	t0 := time.Now()
	e.syncAccounts(accts)
	e.syncVideos(vs)
	e.ingest(evs)
	e.closeDay()
	t1 := time.Now()
	defer func() { t.Logf("sync, ingest and aggregation %s; %d reads %s", t1.Sub(t0), videos, time.Since(t1)) }()
	days := e.readDays(e.login("own"), func() []string {
		ids := make([]string, len(vs))
		for j := range vs {
			ids[j] = vs[j].ID
		}
		return ids
	}())
	// The pipeline counted exactly what the bounds allow: the friend's
	// share and save once, their six views as five.
	for j := range videos {
		id := fmt.Sprintf("s%d", j)
		d := days[id]
		var want [3]int64
		for k, c := range []int64{1, 1, 5} {
			if bit(j, k) {
				want[k] = c
			}
		}
		if got := [3]int64{e.counted(id, "sharers", d.Shares), e.counted(id, "savers", d.Saves), e.counted(id, "views", d.Views)}; got != want {
			t.Fatalf("video %s: counted sharers, savers, views %v, want %v", id, got, want)
		}
	}
	for _, a := range []struct {
		name, metric string
		bit          int
		guess        func(d dayPoint) bool
	}{
		{"e2e friend's share (sharers cell)", "sharers", 0, func(d dayPoint) bool { return d.Shares >= 1 }},
		{"e2e friend's save (savers cell)", "savers", 1, func(d dayPoint) bool { return d.Saves >= 1 }},
		{"e2e one viewer-day (views cell, 6 views capped at Δ = 5)", "views", 2, func(d dayPoint) bool { return 2*d.Views >= 5 }},
	} {
		var tp, fp int
		for j := range videos {
			g := a.guess(days[fmt.Sprintf("s%d", j)])
			switch {
			case bit(j, a.bit) && g:
				tp++
			case !bit(j, a.bit) && g:
				fp++
			}
		}
		assertPrivateSampled(t, newResult(a.name, eps(family(t, a.metric, "", "day")), n, tp, fp))
	}
}

// TestE2E_CoCreator is attack 18 end to end: five videos owned by five
// different accounts all list one co-creator, who reads all five. In W1 a
// friend shares all five on the attacked day, in W0 none. The co-creator
// runs the test "all five released sharers cells above the base" (the
// Neyman–Pearson test when the attacker does not know which of the shares
// the cap counted: its likelihood ratio is e^{3ε} under a cap of 3, e^{5ε}
// without one) and the sum test. With the per-account daily cap the group
// ε is 3 × 1/2; with the old per-owner cap all five shares counted and this
// test measured ε̂ above 3/2.
func TestE2E_CoCreator(t *testing.T) {
	n := e2eTrials(2000) // per world
	if raceEnabled {
		n /= 2 // five reads a trial
	}
	e := startE2E(t, config.Protected)
	owners := []string{"o0", "o1", "o2", "o3", "o4"}
	accts := []client.SyncAccount{acct("co", true)}
	for _, o := range owners {
		accts = append(accts, acct(o, false))
	}
	for i := range n {
		accts = append(accts, acct(fmt.Sprintf("g%d", i), false))
	}
	e.syncAccounts(accts)
	ids := e.coCreatedVideos("c", 2*n, owners, "co") // trials 0..n−1 are W1
	var evs []client.Event
	for i := range n {
		for k, id := range ids[i] {
			evs = append(evs, client.Event{ID: "sh" + id, Type: "share", VideoID: id, AccountID: fmt.Sprintf("g%d", i), TS: at(i%3600 + k), Channel: "copy_link"})
		}
	}
	e.ingest(evs)
	e.closeDay()
	var all []string
	for _, v := range ids {
		all = append(all, v...)
	}
	days := e.readDays(e.login("co"), all)
	capN := 3
	group := float64(capN) * eps(family(t, "sharers", "", "day"))
	// The pipeline counted exactly the cap of the friend's five shares, in
	// the five owners' videos together.
	for i := range 2 * n {
		var sum int64
		for _, id := range ids[i] {
			sum += e.counted(id, "sharers", days[id].Shares)
		}
		if want := int64(capN); i >= n && sum != 0 || i < n && sum != want {
			t.Fatalf("trial %d (W1 %v): the pipeline counted %d of the friend's 5 shares, want %d", i, i < n, sum, map[bool]int64{true: want}[i < n])
		}
	}
	allAbove := func(i int) bool {
		for _, id := range ids[i] {
			if days[id].Shares < 1 {
				return false
			}
		}
		return true
	}
	sumTest := func(i int) bool {
		var s int64
		for _, id := range ids[i] {
			s += days[id].Shares
		}
		return 2*s >= int64(capN)
	}
	for _, a := range []struct {
		name string
		test func(i int) bool
	}{
		{"e2e 18 co-created videos: 5 owners, co-creator reads all; test: all 5 cells above base", allAbove},
		{"e2e 18 co-created videos: sum of the 5 sharers cells", sumTest},
	} {
		var tp, fp int
		for i := range n {
			if a.test(i) {
				tp++
			}
			if a.test(n + i) {
				fp++
			}
		}
		assertPrivateSampled(t, newResult(a.name, group, n, tp, fp))
	}
}

// TestE2E_CapThroughPublicRoutes: the same co-created world, with the
// friend using Crowd's own routes (POST /v1/videos/{id}/shares and /saves,
// which go through the outbox and the relay rather than ingestion): of the
// friend's five shares and five saves of five owners' videos in one day,
// the co-creator's released cells count exactly 3 of each.
func TestE2E_CapThroughPublicRoutes(t *testing.T) {
	e := startE2E(t, config.Protected)
	owners := []string{"o0", "o1", "o2", "o3", "o4"}
	accts := []client.SyncAccount{acct("co", true), acct("friend", true)}
	for _, o := range owners {
		accts = append(accts, acct(o, false))
	}
	e.syncAccounts(accts)
	ids := e.coCreatedVideos("p", 1, owners, "co")[0]
	friend := e.login("friend")
	for _, id := range ids {
		if _, err := friend.Share(t.Context(), id, "copy_link"); err != nil {
			t.Fatalf("share %s: %v", id, err)
		}
		if err := friend.Save(t.Context(), id); err != nil {
			t.Fatalf("save %s: %v", id, err)
		}
	}
	e.closeDay()
	days := e.readDays(e.login("co"), ids)
	var sharers, savers int64
	for _, id := range ids {
		sharers += e.counted(id, "sharers", days[id].Shares)
		savers += e.counted(id, "savers", days[id].Saves)
	}
	if sharers != 3 || savers != 3 {
		t.Fatalf("the friend's 5 shares and 5 saves of 5 owners' videos counted %d and %d in the co-creator's cells, want 3 and 3", sharers, savers)
	}
	recordCheck(t, "e2e cap through Crowd's own share and save routes", "a friend's 5 shares and 5 saves of 5 owners' co-created videos in a day count 3 and 3 in the co-creator's released cells")
}

// TestE2E_CanaryExactMode: the same share attack against a server in exact
// mode (no noise) must be caught, proving the end-to-end harness sees a
// leak when there is one.
func TestE2E_CanaryExactMode(t *testing.T) {
	n := max(e2eTrials(500), 50)
	e := startE2E(t, config.Exact)
	accts := []client.SyncAccount{acct("own", true)}
	var vs []client.SyncVideo
	var evs []client.Event
	ids := make([]string, 2*n)
	for j := range 2 * n {
		id, friend := fmt.Sprintf("x%d", j), fmt.Sprintf("f%d", j)
		ids[j] = id
		accts = append(accts, acct(friend, false))
		vs = append(vs, client.SyncVideo{ID: id, Owner: "own", Title: "t", CreatedAt: createdAt})
		if j < n {
			evs = append(evs, client.Event{ID: "sh" + id, Type: "share", VideoID: id, AccountID: friend, TS: at(j), Channel: "dm"})
		}
	}
	e.syncAccounts(accts)
	e.syncVideos(vs)
	e.ingest(evs)
	e.closeDay()
	days := e.readDays(e.login("own"), ids)
	var tp, fp int
	for j := range n {
		if days[ids[j]].Shares >= 1 {
			tp++
		}
		if days[ids[n+j]].Shares >= 1 {
			fp++
		}
	}
	assertDetected(t, newResult("e2e canary: exact mode (no noise), friend's share", eps(family(t, "sharers", "", "day")), n, tp, fp))
}

// TestE2E_OldViewsKeepViewerDayCap: views dated long before the event
// log's clock (a history import, a backlog after days of downtime) are
// bounded per viewer-day like live ones. Found by the end-to-end attacks:
// aggregation used to judge its viewer-day entries expired by the log
// message's wall-clock time and dropped every entry of such a day when its
// table grew, so a viewer's later views of that day counted again (views
// above the cap of 5, a second viewer-day). Viewer-day state now lives as
// long as its day is open (docs/PRIVACY.md, "Viewers").
func TestE2E_OldViewsKeepViewerDayCap(t *testing.T) {
	const k = 3000 // viewer-days: enough for the state table to grow
	old := e2eDay.AddDate(0, 0, -30)
	e := startE2E(t, config.Exact)
	e.clock.Set(old.Add(20 * time.Hour))
	accts := []client.SyncAccount{acct("own", true)}
	accts[0].Type = "business"
	var vs []client.SyncVideo
	var first, last []client.Event
	for j := range k {
		id, viewer := fmt.Sprintf("o%d", j), fmt.Sprintf("w%d", j)
		accts = append(accts, acct(viewer, false))
		vs = append(vs, client.SyncVideo{ID: id, Owner: "own", Title: "t", CreatedAt: old.Format(time.RFC3339)})
		for v := range 6 {
			ev := client.Event{ID: fmt.Sprintf("%s-%d", id, v), Type: "view", VideoID: id, AccountID: viewer,
				TS: old.Add(8*time.Hour + time.Duration(v)*time.Second).Format(time.RFC3339), Source: "for_you", WatchMS: 1000}
			if v < 5 {
				first = append(first, ev)
			} else {
				last = append(last, ev)
			}
		}
	}
	e.syncAccounts(accts)
	e.syncVideos(vs)
	e.ingest(first)
	e.ingest(last)
	if err := demo.WaitAggregated(t.Context(), e.m); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(old.Add(31 * time.Hour))
	var rep struct {
		Totals struct {
			Views      int64  `json:"views"`
			ViewerDays *int64 `json:"viewer_days"`
		} `json:"totals"`
	}
	q := url.Values{"from": {old.Format(time.DateOnly)}, "to": {old.Format(time.DateOnly)}}.Encode()
	if err := e.login("own").Do(t.Context(), "GET", "/v1/analytics/account?"+q, nil, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Totals.ViewerDays == nil || rep.Totals.Views != 6*k {
		t.Fatalf("exact report: %+v", rep.Totals)
	}
	if v := *rep.Totals.ViewerDays; v != k {
		t.Fatalf("%d viewer-days of a day 30 days old, each one viewer's 6 views of one video sent in two requests, counted as %d: the viewer-day state forgot %d of them", k, v, v-k)
	}
	recordCheck(t, "viewer-day bound for old-dated views (import, backlog)", fmt.Sprintf("%d viewer-days 30 days old, views split over two requests: %d viewer-days", k, k))
}
