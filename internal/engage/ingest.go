package engage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/crowd-dev/crowd/internal/directory"
	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/ingest"
	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/pipeline"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/pseudonym"
)

// Ingester accepts decoded event batches from the platform (POST /v1/events,
// crowd import): it resolves ids, replaces account ids by pseudonyms, drops
// known duplicates and publishes the rest durably.
type Ingester struct {
	Events    *Builder
	Directory *directory.Directory
	// Seen reports the ids aggregation has applied (within its dedupe
	// window); nil means none are known.
	Seen   func(ids []string) []bool
	Log    pipeline.Log
	Recent *pipeline.Recent
	// Released reports video-days whose cells are released (protected
	// mode); nil means none are.
	Released func(ctx context.Context, vds []disclosure.VideoDay) (map[disclosure.VideoDay]bool, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Result is the answer to a batch.
type Result struct {
	Accepted   int                `json:"accepted"`
	Duplicates int                `json:"duplicates"`
	Rejected   []ingest.Rejection `json:"rejected"`
}

// CodeDayClosed is the rejection code of an event of a closed day: a view
// by a logged-in viewer, a share or a save dated in a day whose viewer salt
// was destroyed (PRIVACY.md, "Viewers").
const CodeDayClosed = "day_closed"

// ClientIDPrefix separates the platform's event ids from Crowd's own in the
// log, so a platform id can never collide with an id Crowd generated.
// What follows it is the id's keyed hash (pseudonym.EventID), never the id
// itself: platform ids may embed account ids.
const ClientIDPrefix = "c:"

// EventID is the id under which a platform event with id platformID is
// logged and deduplicated.
func (b *Builder) EventID(platformID string) string {
	return b.Pseudonym.PrefixedEventID(ClientIDPrefix, platformID)
}

// Ingest publishes evs (decoded lines) and reports what happened to each;
// rejected are the lines decoding already refused. When it returns nil,
// every accepted event is durable in the event log. It is Prepare, then
// the publishing of Commit without its recheck: nothing is committed
// between the two.
//
// Duplicates are reported for ids seen in this batch, recently accepted by
// this process, or already applied by aggregation (within its dedupe
// window). The count is exact for all of those; aggregation dedupes for
// real, by id, in the same transaction as its counts, so an id that slips
// past here (say, resent right after a restart, before aggregation got to
// it) still counts once.
func (in *Ingester) Ingest(ctx context.Context, evs []ingest.Event, rejected []ingest.Rejection) (Result, error) {
	p, err := in.Prepare(ctx, evs, rejected)
	if err != nil {
		return p.res, err
	}
	return in.publish(ctx, p.res, p.out, idsOf(p.out))
}

// Prepared is a batch Prepare made ready to publish: its log events and
// what happened to its other lines.
type Prepared struct {
	res Result
	out []event.Event
}

// Commit publishes the events of p and returns its result; when it
// returns nil, they are durable in the event log. The ids this process
// accepted since p was prepared (a batch committed in between) are
// dropped as duplicates first, so batches prepared at once and committed
// in turn (crowd import) report what one after the other would.
func (in *Ingester) Commit(ctx context.Context, p *Prepared) (Result, error) {
	res, out, ids := p.res, p.out, idsOf(p.out)
	if again := in.Recent.HasEach(ids); slices.Contains(again, true) {
		n := 0
		for i := range out {
			if again[i] {
				res.Duplicates++
				continue
			}
			out[n], ids[n] = out[i], ids[i]
			n++
		}
		clear(out[n:])
		out, ids = out[:n], ids[:n]
	}
	return in.publish(ctx, res, out, ids)
}

// publish publishes out, notes their ids (ids, in order) as recent and
// returns res with them accepted.
func (in *Ingester) publish(ctx context.Context, res Result, out []event.Event, ids []string) (Result, error) {
	if err := pipeline.Publish(ctx, in.Log, out); err != nil {
		return res, err
	}
	in.Recent.Add(ids...)
	res.Accepted = len(out)
	return res, nil
}

// idsOf returns the ids of evs.
func idsOf(evs []event.Event) []string {
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].ID
	}
	return ids
}

// Prepare builds the log events of evs, as Ingest does, without
// publishing them; Commit publishes them. Batches may be prepared at once
// (it holds no state of its own) and must be committed in the order their
// events are to be logged. On error, the returned Prepared holds the
// result so far.
func (in *Ingester) Prepare(ctx context.Context, evs []ingest.Event, rejected []ingest.Rejection) (*Prepared, error) {
	res := Result{Rejected: rejected}
	if res.Rejected == nil {
		res.Rejected = []ingest.Rejection{}
	}
	videoIDs := make([]string, 0, len(evs))
	accountIDs := make([]string, 0, len(evs))
	ids := make([]string, len(evs))
	for i := range evs {
		videoIDs = append(videoIDs, evs[i].VideoID)
		if evs[i].AccountID != "" {
			accountIDs = append(accountIDs, evs[i].AccountID)
		}
		ids[i] = in.Events.EventID(evs[i].ID)
	}
	videos, err := in.Directory.Videos(ctx, videoIDs)
	if err != nil {
		return &Prepared{res: res}, err
	}
	accounts, err := in.Directory.Accounts(ctx, accountIDs)
	if err != nil {
		return &Prepared{res: res}, err
	}
	seen := make([]bool, len(ids))
	if in.Seen != nil {
		seen = in.Seen(ids)
	}
	// An event dated in a day whose cells are released counts in the
	// current period: released cells never change. Imports into days not
	// released yet keep their dates.
	var released map[disclosure.VideoDay]bool
	if in.Released != nil {
		vds := make([]disclosure.VideoDay, len(evs))
		for i := range evs {
			vds[i] = disclosure.VideoDay{VideoID: evs[i].VideoID, Day: int64(period.DayOf(evs[i].TS))}
		}
		if released, err = in.Released(ctx, vds); err != nil {
			return &Prepared{res: res}, err
		}
	}
	now := time.Now
	if in.Now != nil {
		now = in.Now
	}
	recent := in.Recent.HasEach(ids)
	inBatch := make(map[string]bool, len(evs))
	// Each pseudonym is computed once per event; what repeats within a
	// batch is computed once per batch: a day's opening (a share or save)
	// and an account's account-day pseudonym.
	cache := &batchCache{}
	out := make([]event.Event, 0, len(evs))
	for i := range evs {
		e := &evs[i]
		v, ok := videos[e.VideoID]
		if !ok {
			res.Rejected = append(res.Rejected, ingest.Rejection{Line: e.Line, Code: "unknown_video", Message: fmt.Sprintf("no video %q", e.VideoID)})
			continue
		}
		var a *platform.Account
		if e.AccountID != "" {
			ar, ok := accounts[e.AccountID]
			if !ok {
				res.Rejected = append(res.Rejected, ingest.Rejection{Line: e.Line, Code: "unknown_account", Message: fmt.Sprintf("no account %q", e.AccountID)})
				continue
			}
			a = &platform.Account{ID: ar.ID, BirthDate: ar.BirthDate, Gender: ar.Gender, Country: ar.Country}
		}
		if inBatch[ids[i]] || seen[i] || recent[i] {
			res.Duplicates++
			continue
		}
		if released[disclosure.VideoDay{VideoID: e.VideoID, Day: int64(period.DayOf(e.TS))}] {
			e.TS = now().UTC()
		}
		// Views of a logged-in viewer and shares and saves are bounded
		// per day by state kept while the day is open: an event of a
		// closed day is refused, never counted again. (A view's
		// ViewerDay opens its day itself.)
		var closed bool
		if e.Type == event.Share || e.Type == event.Save {
			if err := cache.openDay(in.Events.Pseudonym, e.TS); errors.Is(err, pseudonym.ErrDayClosed) {
				closed = true
			} else if err != nil {
				return &Prepared{res: res}, err
			}
		}
		var ev event.Event
		if !closed {
			ev, err = in.Events.fromIngest(ids[i], e, &platform.Video{ID: v.ID, OwnerID: v.OwnerID}, a, cache)
			closed = errors.Is(err, pseudonym.ErrDayClosed) // closed meanwhile
			if err != nil && !closed {
				return &Prepared{res: res}, err
			}
		}
		if closed {
			res.Rejected = append(res.Rejected, ingest.Rejection{Line: e.Line, Code: CodeDayClosed,
				Message: fmt.Sprintf("day %s is closed: its events can no longer be counted without counting someone twice", e.TS.UTC().Format(time.DateOnly))})
			continue
		}
		inBatch[ids[i]] = true
		out = append(out, ev)
	}
	slices.SortStableFunc(res.Rejected, func(a, b ingest.Rejection) int { return a.Line - b.Line })
	return &Prepared{res: res, out: out}, nil
}

// fromIngest builds the log event of a platform event, exactly as for
// Crowd's own actions.
func (b *Builder) fromIngest(id string, e *ingest.Event, v *platform.Video, a *platform.Account, c *batchCache) (event.Event, error) {
	switch e.Type {
	case event.View:
		return b.view(id, v, a, e.Source, e.WatchMS, e.Completed, e.TS)
	case event.Share, event.Save, event.Unsave:
		return b.privateWith(id, e.Type, v, a, e.TS, c.accountDay(b.Pseudonym, a.ID, e.TS)), nil
	default: // like, unlike, comment
		return b.engagement(id, e.Type, v.ID, a, e.TS), nil
	}
}

// batchCache holds what one batch would otherwise compute more than once.
type batchCache struct {
	opened      map[int64]bool // Unix days opened (OpenDay succeeded)
	accountDays map[accountDay]string
}

type accountDay struct {
	account string
	day     int64 // Unix day
}

// openDay calls p.OpenDay once per day of the batch. A day opened now is
// recorded as used this hour, and PruneSalts closes only days unused for
// its idle time (DefaultSaltIdle), so the day stays open while the batch
// is built.
func (c *batchCache) openDay(p *pseudonym.Pseudonymizer, at time.Time) error {
	d := int64(period.DayOf(at))
	if c.opened[d] {
		return nil
	}
	if err := p.OpenDay(at); err != nil {
		return err
	}
	if c.opened == nil {
		c.opened = map[int64]bool{}
	}
	c.opened[d] = true
	return nil
}

// accountDay returns p.AccountDay(account, at), once per account and day
// of the batch.
func (c *batchCache) accountDay(p *pseudonym.Pseudonymizer, account string, at time.Time) string {
	k := accountDay{account, int64(period.DayOf(at))}
	if v, ok := c.accountDays[k]; ok {
		return v
	}
	v := p.AccountDay(account, at)
	if c.accountDays == nil {
		c.accountDays = map[accountDay]string{}
	}
	c.accountDays[k] = v
	return v
}
