package demo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// syncChunk is how many lines one sync request carries.
const syncChunk = 2000

// Fill generates cfg's world and sends it to the Crowd that c talks to; c
// must carry a service token. The instance should be empty: Fill syncs
// accounts and videos with fixed ids (acct-0001, vid-0001, …) and would
// overwrite any of the same ids.
func Fill(ctx context.Context, c *client.Client, cfg Config) (Summary, error) {
	w, err := NewWorld(cfg)
	if err != nil {
		return Summary{}, err
	}
	return w.Fill(ctx, c)
}

// Fill sends w to the Crowd that c (with a service token) talks to: the
// accounts and videos, the engagement history, then what the friendly
// viewers do in their own sessions.
func (w *World) Fill(ctx context.Context, c *client.Client) (Summary, error) {
	w.progress(Progress{Stage: "accounts"})
	accts := w.syncAccounts()
	for i := 0; i < len(accts); i += syncChunk {
		r, err := c.SyncAccounts(ctx, accts[i:min(i+syncChunk, len(accts))])
		if err := syncErr("accounts", r, err); err != nil {
			return Summary{}, err
		}
	}
	w.progress(Progress{Stage: "videos"})
	vids := w.syncVideos()
	for i := 0; i < len(vids); i += syncChunk {
		r, err := c.SyncVideos(ctx, vids[i:min(i+syncChunk, len(vids))])
		if err := syncErr("videos", r, err); err != nil {
			return Summary{}, err
		}
	}
	sum, err := w.sendEvents(ctx, c)
	if err != nil {
		return Summary{}, err
	}
	sum.Creators, sum.Viewers, sum.Videos, sum.Days = len(w.creators), len(w.viewers), len(w.videos), w.cfg.Days
	w.progress(Progress{Stage: "sessions"})
	if err := w.sessions(ctx, c.WithToken(""), &sum); err != nil {
		return Summary{}, err
	}
	return sum, nil
}

func (w *World) progress(p Progress) {
	if w.cfg.Progress != nil {
		w.cfg.Progress(p)
	}
}

func syncErr(what string, r *client.SyncResult, err error) error {
	if err != nil {
		return fmt.Errorf("sync %s: %w", what, err)
	}
	if len(r.Rejected) > 0 {
		x := r.Rejected[0]
		return fmt.Errorf("sync %s: %d lines rejected, the first (line %d): %s: %s", what, len(r.Rejected), x.Line, x.Code, x.Message)
	}
	return nil
}

// sendEvents streams the engagement to POST /v1/events from Workers
// concurrent senders, then sends the undoing events after the rest.
func (w *World) sendEvents(ctx context.Context, c *client.Client) (Summary, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	batches := make(chan []client.Event, w.cfg.Workers)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
	)
	w.progress(Progress{Stage: "events", Total: w.cfg.Events})
	for range w.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				if err := ingest(ctx, c, b); err != nil {
					cancel(err)
					return
				}
				mu.Lock()
				done += len(b)
				w.progress(Progress{Stage: "events", Done: done, Total: w.cfg.Events})
				mu.Unlock()
			}
		}()
	}
	later, sum, err := w.Events(func(b []client.Event) error {
		select {
		case batches <- b:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(batches)
	wg.Wait()
	if cerr := context.Cause(ctx); cerr != nil {
		err = cerr
	}
	if err != nil {
		return Summary{}, err
	}
	for i := 0; i < len(later); i += w.cfg.Batch {
		if err := ingest(ctx, c, later[i:min(i+w.cfg.Batch, len(later))]); err != nil {
			return Summary{}, err
		}
	}
	w.progress(Progress{Stage: "events", Done: sum.Events, Total: w.cfg.Events})
	return sum, nil
}

// ingest posts one batch, retrying while the service asks to slow down
// (429, 503) or the connection fails: event ids make a retry harmless.
func ingest(ctx context.Context, c *client.Client, b []client.Event) error {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		r, err := c.Ingest(ctx, b)
		if err == nil {
			if len(r.Rejected) > 0 {
				x := r.Rejected[0]
				return fmt.Errorf("ingest events: %d of %d rejected, the first (line %d): %s: %s", len(r.Rejected), len(b), x.Line, x.Code, x.Message)
			}
			return nil
		}
		var ae *client.Error
		retry := !errors.As(err, &ae) || ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusServiceUnavailable
		if !retry || attempt == 30 || ctx.Err() != nil {
			return fmt.Errorf("ingest events: %w", err)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(wait):
		}
		wait = min(2*wait, 3*time.Second)
	}
}

// sessions has the friendly viewers and leo log in and do what people do:
// follow, like, comment, send videos to mia and leo.
func (w *World) sessions(ctx context.Context, anon *client.Client, sum *Summary) error {
	var mia, leo []string
	for _, v := range w.videos {
		switch v.owner {
		case 0:
			mia = append(mia, v.id)
		case 1:
			leo = append(leo, v.id)
		}
	}
	hot := w.videos[w.hot].id
	login := func(handle string) (*client.Client, error) {
		s, err := anon.Login(ctx, handle, Password)
		if err != nil {
			return nil, fmt.Errorf("log in as %s: %w", handle, err)
		}
		sum.Logins++
		return anon.WithToken(s.Token), nil
	}
	for i, fi := range w.friends {
		f, err := login(w.viewers[fi].handle)
		if err != nil {
			return err
		}
		act := &actor{ctx: ctx, c: f, who: w.viewers[fi].handle, sum: sum}
		act.follow(Business)
		if i%2 == 0 {
			act.follow(Personal)
		}
		act.like(hot)
		if i < 6 {
			act.like(mia[1+i%3])
			act.comment(hot, comments[i])
		}
		if i%3 == 0 {
			act.like(leo[i%len(leo)])
		}
		if i == 1 || i == 4 {
			act.comment(leo[0], comments[10+i])
		}
		switch {
		case i < 4:
			act.send(Business, w.videoFor(0, i), dmTexts[i])
		case i < 7:
			act.send(Personal, w.videoFor(1, i), dmTexts[i])
		}
		if act.err != nil {
			return act.err
		}
	}
	l, err := login(Personal)
	if err != nil {
		return err
	}
	act := &actor{ctx: ctx, c: l, who: Personal, sum: sum}
	act.follow(Business)
	act.like(hot)
	act.comment(hot, "saving me one of these tomorrow 🥐")
	act.send(Business, w.videos[1].id, "our collab is still doing numbers, round two?")
	return act.err
}

// videoFor picks a video by someone else in creator ci's niche, something a
// friend would send them.
func (w *World) videoFor(ci, n int) string {
	var match []string
	for _, v := range w.videos {
		if v.owner != ci && w.creators[v.owner].niche == w.creators[ci].niche {
			match = append(match, v.id)
		}
	}
	if len(match) == 0 {
		for _, v := range w.videos {
			if v.owner != ci {
				match = append(match, v.id)
			}
		}
	}
	return match[n%len(match)]
}

// actor is a logged-in account doing things; the first error sticks.
type actor struct {
	ctx context.Context
	c   *client.Client
	who string
	sum *Summary
	err error
}

func (a *actor) do(what string, fn func() error) bool {
	if a.err != nil {
		return false
	}
	if err := fn(); err != nil {
		a.err = fmt.Errorf("%s %s: %w", a.who, what, err)
		return false
	}
	return true
}

func (a *actor) follow(handle string) {
	if a.do("follow "+handle, func() error { return a.c.Follow(a.ctx, handle) }) {
		a.sum.Follows++
	}
}

func (a *actor) like(video string) {
	if a.do("like "+video, func() error { return a.c.Like(a.ctx, video) }) {
		a.sum.APILikes++
	}
}

func (a *actor) comment(video, text string) {
	if a.do("comment on "+video, func() error { _, err := a.c.Comment(a.ctx, video, text); return err }) {
		a.sum.APIComments++
	}
}

func (a *actor) send(to, video, text string) {
	if a.do("send "+video+" to "+to, func() error { _, err := a.c.Send(a.ctx, to, video, text); return err }) {
		a.sum.Messages++
	}
}
