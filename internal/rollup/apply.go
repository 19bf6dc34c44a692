package rollup

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/eventlog"
)

// Dimensions of the one-way audience marginals.
const (
	DimSource  = "source"
	DimAge     = "age"
	DimGender  = "gender"
	DimCountry = "country"
)

// counters are the additive measures of one rollup row.
type counters struct {
	views, viewers, watchMS, completions, likes, comments, shares, saves, followersGained, followersLost int64
	// Bounded measures for protected mode.
	pViews, pCompletions, pWatchMS, sharers, savers int64
}

func (c *counters) add(o *counters) {
	c.views += o.views
	c.viewers += o.viewers
	c.watchMS += o.watchMS
	c.completions += o.completions
	c.likes += o.likes
	c.comments += o.comments
	c.shares += o.shares
	c.saves += o.saves
	c.followersGained += o.followersGained
	c.followersLost += o.followersLost
	c.pViews += o.pViews
	c.pCompletions += o.pCompletions
	c.pWatchMS += o.pWatchMS
	c.sharers += o.sharers
	c.savers += o.savers
}

type timeKey struct {
	id string
	t  int64
}

type dimKey struct {
	id          string
	day         int64
	dim, bucket string
}

type viewerKey struct {
	video  string
	day    int64
	viewer string
}

// batch accumulates one transaction's deltas in memory, so each rollup row
// is written once per batch however many events touch it.
type batch struct {
	totals      map[string]*counters
	videoHour   map[timeKey]*counters
	videoDay    map[timeKey]*counters
	videoDim    map[dimKey]*counters
	accountHour map[timeKey]*counters
	accountDay  map[timeKey]*counters
	accountDim  map[dimKey]*counters
	// Monthly marginals; dimKey.day holds the month number.
	videoDimMonth   map[dimKey]*counters
	accountDimMonth map[dimKey]*counters
}

func newBatch() *batch {
	return &batch{
		totals: map[string]*counters{}, videoHour: map[timeKey]*counters{}, videoDay: map[timeKey]*counters{},
		videoDim: map[dimKey]*counters{}, accountHour: map[timeKey]*counters{}, accountDay: map[timeKey]*counters{},
		accountDim: map[dimKey]*counters{}, videoDimMonth: map[dimKey]*counters{}, accountDimMonth: map[dimKey]*counters{},
	}
}

func at[K comparable](m map[K]*counters, k K) *counters {
	c := m[k]
	if c == nil {
		c = &counters{}
		m[k] = c
	}
	return c
}

// credit adds d to the video's rows and to each creator's rows.
func (b *batch) credit(video string, creators []string, hour, day int64, d *counters, dims []dimDelta) {
	at(b.totals, video).add(d)
	at(b.videoHour, timeKey{video, hour}).add(d)
	at(b.videoDay, timeKey{video, day}).add(d)
	month := MonthOf(day)
	for _, dd := range dims {
		at(b.videoDim, dimKey{video, day, dd.dim, dd.bucket}).add(&dd.c)
		at(b.videoDimMonth, dimKey{video, month, dd.dim, dd.bucket}).add(&dd.c)
	}
	for _, a := range creators {
		at(b.accountHour, timeKey{a, hour}).add(d)
		at(b.accountDay, timeKey{a, day}).add(d)
		for _, dd := range dims {
			at(b.accountDim, dimKey{a, day, dd.dim, dd.bucket}).add(&dd.c)
			at(b.accountDimMonth, dimKey{a, month, dd.dim, dd.bucket}).add(&dd.c)
		}
	}
}

type dimDelta struct {
	dim, bucket string
	c           counters
}

// apply applies one batch of log messages in one transaction: dedupe by
// event id, distinct viewers, every rollup, and the checkpoint.
func (a *Aggregator) apply(ctx context.Context, msgs []eventlog.Delivered) error {
	if len(msgs) == 0 {
		return nil
	}
	var evs []event.Event
	for _, m := range msgs {
		for line := range bytes.SplitSeq(m.Data, []byte{'\n'}) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			ev, err := event.Unmarshal(line)
			if err != nil {
				// Entries are validated before publishing, so this is a
				// bug; skip it loudly rather than wedge aggregation.
				a.lg.Error("skip malformed log entry", slog.Uint64("seq", m.Seq), slog.Any("err", err))
				continue
			}
			evs = append(evs, ev)
		}
	}
	tx, err := a.store.DB().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	defer tx.Rollback()
	rb := func(q string) string { return a.store.Rebind(q) }

	// Dedupe: drop events applied before (a republished outbox row, a
	// retried ingestion batch) and repeats within this batch.
	fresh, err := a.dedupe(ctx, tx, evs)
	if err != nil {
		return fmt.Errorf("apply batch: dedupe: %w", err)
	}

	creators, err := a.creatorsOf(ctx, tx, fresh)
	if err != nil {
		return fmt.Errorf("apply batch: creators: %w", err)
	}
	newViewer, err := a.viewerDays(ctx, tx, fresh)
	if err != nil {
		return fmt.Errorf("apply batch: viewers: %w", err)
	}
	counted, err := a.firsts(ctx, tx, fresh)
	if err != nil {
		return fmt.Errorf("apply batch: first shares and saves: %w", err)
	}
	noop, err := a.actorStates(ctx, tx, fresh)
	if err != nil {
		return fmt.Errorf("apply batch: like and save state: %w", err)
	}

	b := newBatch()
	for i := range fresh {
		ev := &fresh[i]
		sec := ev.TS.Unix()
		hour, day := floorDiv(sec, 3600), floorDiv(sec, 86400)
		if noop[i] {
			continue // a like of a liked video, an unsave of an unsaved one
		}
		var d counters
		var dims []dimDelta
		switch ev.Type {
		case event.View:
			d.views = 1
			d.watchMS = ev.WatchMS
			if ev.Completed {
				d.completions = 1
			}
			vd := newViewer[i]
			if vd.newViewer {
				d.viewers = 1
			}
			d.pViews, d.pCompletions, d.pWatchMS = vd.pViews, vd.pCompletions, vd.pWatchMS
			if ev.ActorDay == "" {
				// A logged-out view has no viewer to bound: it counts in
				// exact views only, never in protected numbers.
				d.pViews = 0
			}
			for _, dv := range [][2]string{{DimSource, ev.Source}, {DimAge, orUnknown(ev.Age)}, {DimGender, orUnknown(ev.Gender)}, {DimCountry, orUnknown(ev.Country)}} {
				if dv[0] != DimSource && ev.ActorDay == "" {
					// Logged-out views have no audience; they still count in
					// traffic sources.
					dv[1] = "unknown"
				}
				dims = append(dims, dimDelta{dim: dv[0], bucket: dv[1], c: counters{views: 1, viewers: d.viewers}})
			}
		case event.Like:
			d.likes = 1
		case event.Unlike:
			d.likes = -1
		case event.Comment:
			d.comments = 1
		case event.CommentDelete:
			d.comments = -1
		case event.Share:
			d.shares = 1
			if counted[i] {
				d.sharers = 1
			}
		case event.Save:
			d.saves = 1
			if counted[i] {
				d.savers = 1
			}
		case event.Unsave:
			d.saves = -1
		case event.Follow, event.Unfollow:
			c := at(b.accountDay, timeKey{ev.CreatorID, day})
			if ev.Type == event.Follow {
				c.followersGained++
			} else {
				c.followersLost++
			}
			continue
		default:
			a.lg.Error("skip event of unknown type", slog.String("type", ev.Type))
			continue
		}
		b.credit(ev.VideoID, creators[ev.VideoID], hour, day, &d, dims)
	}
	if err := a.write(ctx, tx, b); err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	last := msgs[len(msgs)-1].Seq
	if _, err := tx.ExecContext(ctx, rb(`INSERT INTO rollup_checkpoint (name, seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`), checkpointName, int64(last)); err != nil {
		return fmt.Errorf("apply batch: checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apply batch: commit: %w", err)
	}
	a.applied.Store(last)
	return nil
}

type stateKey struct{ video, kind, actor string }

// actorStates tracks the like and save state of each actor pseudonym and
// reports, by event index, the like/unlike/save/unsave events that change
// nothing.
func (a *Aggregator) actorStates(ctx context.Context, tx *sql.Tx, evs []event.Event) (map[int]bool, error) {
	state := map[stateKey]int{}
	var keys []stateKey
	for i := range evs {
		kind := stateKind(evs[i].Type)
		if kind == "" || evs[i].Actor == "" {
			continue
		}
		k := stateKey{evs[i].VideoID, kind, evs[i].Actor}
		if _, ok := state[k]; !ok {
			state[k] = -1 // unknown yet
			keys = append(keys, k)
		}
	}
	noop := map[int]bool{}
	if len(keys) == 0 {
		return noop, nil
	}
	get, err := tx.PrepareContext(ctx, a.store.Rebind(`SELECT state FROM actor_state WHERE video_id = ? AND kind = ? AND actor = ?`))
	if err != nil {
		return nil, err
	}
	defer get.Close()
	for _, k := range keys {
		var st int
		err := get.QueryRowContext(ctx, k.video, k.kind, k.actor).Scan(&st)
		if err == sql.ErrNoRows {
			st = 0
		} else if err != nil {
			return nil, err
		}
		state[k] = st
	}
	for i := range evs {
		kind := stateKind(evs[i].Type)
		if kind == "" || evs[i].Actor == "" {
			continue
		}
		k := stateKey{evs[i].VideoID, kind, evs[i].Actor}
		want := 0
		if evs[i].Type == event.Like || evs[i].Type == event.Save {
			want = 1
		}
		if state[k] == want {
			noop[i] = true
			continue
		}
		state[k] = want
	}
	put, err := tx.PrepareContext(ctx, a.store.Rebind(`INSERT INTO actor_state (video_id, kind, actor, state) VALUES (?, ?, ?, ?)
ON CONFLICT (video_id, kind, actor) DO UPDATE SET state = excluded.state`))
	if err != nil {
		return nil, err
	}
	defer put.Close()
	for _, k := range keys {
		if _, err := put.ExecContext(ctx, k.video, k.kind, k.actor, state[k]); err != nil {
			return nil, err
		}
	}
	return noop, nil
}

func stateKind(typ string) string {
	switch typ {
	case event.Like, event.Unlike:
		return "like"
	case event.Save, event.Unsave:
		return "save"
	}
	return ""
}

// compareKeys orders rows by their key columns (strings and int64s).
func compareKeys(x, y []any) int {
	for i := range x {
		switch a := x[i].(type) {
		case string:
			if c := strings.Compare(a, y[i].(string)); c != 0 {
				return c
			}
		case int64:
			if c := cmpInt(a, y[i].(int64)); c != 0 {
				return c
			}
		}
	}
	return 0
}

// MonthOf returns the month number (year*12 + month-1) of a Unix day.
func MonthOf(day int64) int64 {
	t := time.Unix(day*86400, 0).UTC()
	return int64(t.Year())*12 + int64(t.Month()) - 1
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

// viewerDelta is what a viewer-day adds in one batch: a new viewer, and
// the bounded views, completion and watch time.
type viewerDelta struct {
	newViewer                      bool
	pViews, pCompletions, pWatchMS int64
}

// viewerDays records each view against its viewer's daily pseudonym and
// returns, at the index of each viewer-day's first event in the batch, what
// that viewer-day adds: whether it is a new viewer of the video that day,
// and its views, completion and watch time within the per-viewer-day caps.
func (a *Aggregator) viewerDays(ctx context.Context, tx *sql.Tx, evs []event.Event) (map[int]viewerDelta, error) {
	type agg struct {
		n, completions, watch int64
		first                 int
	}
	groups := map[viewerKey]*agg{}
	var keys []viewerKey
	for i := range evs {
		ev := &evs[i]
		if ev.Type != event.View || ev.ActorDay == "" {
			continue
		}
		k := viewerKey{ev.VideoID, floorDiv(ev.TS.Unix(), 86400), ev.ActorDay}
		g := groups[k]
		if g == nil {
			g = &agg{first: i}
			groups[k] = g
			keys = append(keys, k)
		}
		g.n++
		g.watch += ev.WatchMS
		if ev.Completed {
			g.completions++
		}
	}
	out := map[int]viewerDelta{}
	if len(keys) == 0 {
		return out, nil
	}
	slices.SortFunc(keys, func(x, y viewerKey) int {
		if c := strings.Compare(x.video, y.video); c != 0 {
			return c
		}
		if c := cmpInt(x.day, y.day); c != 0 {
			return c
		}
		return strings.Compare(x.viewer, y.viewer)
	})
	b := a.bounds
	for len(keys) > 0 {
		n := min(len(keys), rowsPerStatement)
		args := make([]any, 0, 6*n)
		for _, k := range keys[:n] {
			g := groups[k]
			args = append(args, k.video, k.day, k.viewer, g.n, g.completions, g.watch)
		}
		rows, err := tx.QueryContext(ctx, a.store.Rebind(`INSERT INTO viewer_days (video_id, day, viewer, views, completions, watch_ms) VALUES `+valueRows(n, 6)+`
ON CONFLICT (video_id, day, viewer) DO UPDATE SET views = viewer_days.views + excluded.views,
completions = viewer_days.completions + excluded.completions, watch_ms = viewer_days.watch_ms + excluded.watch_ms
RETURNING video_id, day, viewer, views, completions, watch_ms`), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k viewerKey
			var views, completions, watch int64
			if err := rows.Scan(&k.video, &k.day, &k.viewer, &views, &completions, &watch); err != nil {
				rows.Close()
				return nil, err
			}
			g := groups[k]
			if g == nil {
				continue
			}
			// Before this batch the viewer-day had views-g.n views, and so on;
			// what the batch adds within the caps is the capped after minus
			// the capped before.
			d := viewerDelta{
				newViewer: views == g.n,
				pViews:    min(views, b.ViewsPerViewerDay) - min(views-g.n, b.ViewsPerViewerDay),
				pWatchMS:  min(watch, b.WatchMSPerViewerDay) - min(watch-g.watch, b.WatchMSPerViewerDay),
			}
			if completions > 0 && completions == g.completions {
				d.pCompletions = 1
			}
			out[g.first] = d
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		keys = keys[n:]
	}
	return out, nil
}

// firsts reports, by event index, the shares and saves that count in
// protected mode: the first share (or save) of the video by its actor, ever,
// and within the cap of counted firsts per (account, creator, day).
func (a *Aggregator) firsts(ctx context.Context, tx *sql.Tx, evs []event.Event) (map[int]bool, error) {
	out := map[int]bool{}
	ins, err := tx.PrepareContext(ctx, a.store.Rebind(`INSERT INTO actor_firsts (video_id, kind, actor) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`))
	if err != nil {
		return nil, err
	}
	defer ins.Close()
	capStmt, err := tx.PrepareContext(ctx, a.store.Rebind(`INSERT INTO creator_day_counts (creator_day, kind, day, n) VALUES (?, ?, ?, 1)
ON CONFLICT (creator_day, kind) DO UPDATE SET n = creator_day_counts.n + 1 RETURNING n`))
	if err != nil {
		return nil, err
	}
	defer capStmt.Close()
	for i := range evs {
		ev := &evs[i]
		if (ev.Type != event.Share && ev.Type != event.Save) || ev.Actor == "" {
			continue
		}
		res, err := ins.ExecContext(ctx, ev.VideoID, ev.Type, ev.Actor)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // not the first
		}
		if ev.CreatorDay == "" {
			out[i] = true
			continue
		}
		var n int64
		if err := capStmt.QueryRowContext(ctx, ev.CreatorDay, ev.Type, floorDiv(ev.TS.Unix(), 86400)).Scan(&n); err != nil {
			return nil, err
		}
		out[i] = n <= a.bounds.PerCreatorDay
	}
	return out, nil
}

// rowsPerStatement is how many rows one multi-row statement carries: one
// statement per 200 rows instead of per row, well inside every dialect's
// parameter limit.
const rowsPerStatement = 200

// valueRows returns n groups of k placeholders: "(?, ?), (?, ?)".
func valueRows(n, k int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", k), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// dedupe records the ids of evs as seen and returns the events not seen
// before (in this batch or an earlier one), in order.
func (a *Aggregator) dedupe(ctx context.Context, tx *sql.Tx, evs []event.Event) ([]event.Event, error) {
	now := a.now().UnixMicro()
	first := make(map[string]int, len(evs)) // id → index of its first copy in evs
	var ids []string
	for i := range evs {
		if _, ok := first[evs[i].ID]; !ok {
			first[evs[i].ID] = i
			ids = append(ids, evs[i].ID)
		}
	}
	inserted := make(map[string]bool, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), rowsPerStatement)
		args := make([]any, 0, 2*n)
		for _, id := range ids[:n] {
			args = append(args, id, now)
		}
		rows, err := tx.QueryContext(ctx, a.store.Rebind(`INSERT INTO seen_events (event_id, seen_at) VALUES `+valueRows(n, 2)+` ON CONFLICT DO NOTHING RETURNING event_id`), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			inserted[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	fresh := make([]event.Event, 0, len(inserted))
	for i := range evs {
		if inserted[evs[i].ID] && first[evs[i].ID] == i {
			fresh = append(fresh, evs[i])
		}
	}
	return fresh, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// creatorsOf returns the creator account ids of the videos in evs, from a
// cache filled from the store.
func (a *Aggregator) creatorsOf(ctx context.Context, tx *sql.Tx, evs []event.Event) (map[string][]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string][]string{}
	var missing []any
	for i := range evs {
		v := evs[i].VideoID
		if v == "" {
			continue
		}
		if _, ok := out[v]; ok {
			continue
		}
		if cs, ok := a.creators[v]; ok {
			out[v] = cs
			continue
		}
		out[v] = nil
		missing = append(missing, v)
	}
	for len(missing) > 0 {
		chunk := missing[:min(len(missing), 500)]
		missing = missing[len(chunk):]
		rows, err := tx.QueryContext(ctx, a.store.Rebind(`SELECT video_id, account_id FROM video_creators WHERE video_id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")+`) ORDER BY video_id, position`), chunk...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var v, acct string
			if err := rows.Scan(&v, &acct); err != nil {
				rows.Close()
				return nil, err
			}
			out[v] = append(out[v], acct)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if len(a.creators) > 200_000 {
		clear(a.creators) // bound memory; the cache refills from the store
	}
	for v, cs := range out {
		a.creators[v] = cs
	}
	return out, nil
}

// write upserts every row of b, in key order so concurrent writers on
// PostgreSQL take row locks in one order.
func (a *Aggregator) write(ctx context.Context, tx *sql.Tx, b *batch) error {
	type table struct {
		name string
		keys []string
		cols []string
	}
	all := []string{"views", "viewers", "watch_ms", "completions", "likes", "comments", "shares", "saves", "p_views", "p_completions", "p_watch_ms", "sharers", "savers"}
	short := []string{"views", "viewers", "likes", "comments", "shares", "saves", "p_views"}
	vals := func(c *counters, cols []string) []any {
		m := map[string]int64{"views": c.views, "viewers": c.viewers, "watch_ms": c.watchMS, "completions": c.completions,
			"likes": c.likes, "comments": c.comments, "shares": c.shares, "saves": c.saves,
			"followers_gained": c.followersGained, "followers_lost": c.followersLost,
			"p_views": c.pViews, "p_completions": c.pCompletions, "p_watch_ms": c.pWatchMS, "sharers": c.sharers, "savers": c.savers}
		out := make([]any, len(cols))
		for i, col := range cols {
			out[i] = m[col]
		}
		return out
	}
	upsert := func(t table, rows [][]any) error {
		if len(rows) == 0 {
			return nil
		}
		set := make([]string, len(t.cols))
		for i, c := range t.cols {
			set[i] = c + " = " + t.name + "." + c + " + excluded." + c
		}
		cols := append(slices.Clone(t.keys), t.cols...)
		q := `INSERT INTO ` + t.name + ` (` + strings.Join(cols, ", ") + `) VALUES (` + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") +
			`) ON CONFLICT (` + strings.Join(t.keys, ", ") + `) DO UPDATE SET ` + strings.Join(set, ", ")
		slices.SortFunc(rows, func(x, y []any) int { return compareKeys(x[:len(t.keys)], y[:len(t.keys)]) })
		for len(rows) > 0 {
			n := min(len(rows), rowsPerStatement)
			args := make([]any, 0, n*len(cols))
			for _, r := range rows[:n] {
				args = append(args, r...)
			}
			stmt := strings.Replace(q, "VALUES ("+strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")+")", "VALUES "+valueRows(n, len(cols)), 1)
			if _, err := tx.ExecContext(ctx, a.store.Rebind(stmt), args...); err != nil {
				return fmt.Errorf("upsert %s: %w", t.name, err)
			}
			rows = rows[n:]
		}
		return nil
	}
	timeRows := func(m map[timeKey]*counters, cols []string) [][]any {
		rows := make([][]any, 0, len(m))
		for k, c := range m {
			rows = append(rows, append([]any{k.id, k.t}, vals(c, cols)...))
		}
		return rows
	}
	dimRows := func(m map[dimKey]*counters) [][]any {
		rows := make([][]any, 0, len(m))
		for k, c := range m {
			rows = append(rows, append([]any{k.id, k.day, k.dim, k.bucket}, vals(c, []string{"views", "viewers"})...))
		}
		return rows
	}
	totals := make([][]any, 0, len(b.totals))
	for v, c := range b.totals {
		totals = append(totals, append([]any{v}, vals(c, []string{"views", "likes", "comments", "shares", "saves"})...))
	}
	accountDayCols := append(slices.Clone(all), "followers_gained", "followers_lost")
	steps := []struct {
		t    table
		rows [][]any
	}{
		{table{"video_totals", []string{"video_id"}, []string{"views", "likes", "comments", "shares", "saves"}}, totals},
		{table{"video_hour", []string{"video_id", "hour"}, short}, timeRows(b.videoHour, short)},
		{table{"video_day", []string{"video_id", "day"}, all}, timeRows(b.videoDay, all)},
		{table{"video_dim_day", []string{"video_id", "day", "dim", "bucket"}, []string{"views", "viewers"}}, dimRows(b.videoDim)},
		{table{"account_hour", []string{"account_id", "hour"}, short}, timeRows(b.accountHour, short)},
		{table{"account_day", []string{"account_id", "day"}, accountDayCols}, timeRows(b.accountDay, accountDayCols)},
		{table{"account_dim_day", []string{"account_id", "day", "dim", "bucket"}, []string{"views", "viewers"}}, dimRows(b.accountDim)},
		{table{"video_dim_month", []string{"video_id", "month", "dim", "bucket"}, []string{"views", "viewers"}}, dimRows(b.videoDimMonth)},
		{table{"account_dim_month", []string{"account_id", "month", "dim", "bucket"}, []string{"views", "viewers"}}, dimRows(b.accountDimMonth)},
	}
	for _, s := range steps {
		if err := upsert(s.t, s.rows); err != nil {
			return err
		}
	}
	return nil
}
