// Package engage turns engagement — Crowd's own actions and the platform's
// ingested events alike — into analytics events. It is the one place where
// an account becomes an event, and so the one place where account ids are
// replaced by pseudonyms: no function here copies an account id into an
// event.
package engage

import (
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/pseudonym"
	"github.com/crowd-dev/crowd/internal/security"
)

// Builder builds events.
type Builder struct {
	Pseudonym *pseudonym.Pseudonymizer
	// LinkViews adds to a logged-in view the viewer's pseudonym of account
	// and video (Actor), stable across days, so that aggregation counts
	// distinct viewers over any range. Set it in exact mode only: in
	// protected mode a viewer's views of different days stay unlinkable.
	LinkViews bool
}

// Engagement builds a like, unlike, comment or comment_delete event: public
// actions, counted per video. Actor nets likes and unlikes.
func (b *Builder) Engagement(typ, videoID string, a *platform.Account, at time.Time) event.Event {
	return b.engagement(security.NewID(), typ, videoID, a, at)
}

func (b *Builder) engagement(id, typ, videoID string, a *platform.Account, at time.Time) event.Event {
	return event.Event{ID: id, Type: typ, VideoID: videoID, TS: at, Actor: b.Pseudonym.Actor(a.ID, videoID)}
}

// Private builds a share, save or unsave event. It carries no demographics
// (shares and saves are never broken down) and no channel (creators never
// learn how a video was shared), only what bounds the contribution: once
// per account and video (Actor), and per account and day across all videos
// (AccountDay): a co-creator who reads videos of many owners must not add
// up one account's shares of all of them.
func (b *Builder) Private(typ string, v *platform.Video, a *platform.Account, at time.Time) event.Event {
	return b.private(security.NewID(), typ, v, a, at)
}

func (b *Builder) private(id, typ string, v *platform.Video, a *platform.Account, at time.Time) event.Event {
	return b.privateWith(id, typ, v, a, at, b.Pseudonym.AccountDay(a.ID, at))
}

// privateWith is private with the account-day pseudonym of a and at
// computed already.
func (b *Builder) privateWith(id, typ string, v *platform.Video, a *platform.Account, at time.Time, accountDay string) event.Event {
	return event.Event{
		ID:         id,
		Type:       typ,
		VideoID:    v.ID,
		TS:         at,
		Actor:      b.Pseudonym.Actor(a.ID, v.ID),
		AccountDay: accountDay,
	}
}

// View builds a view. A logged-in viewer is a daily-salted hash (distinct
// viewers of a day, the per-viewer daily cap), in exact mode also the
// keyed hash of account and video (distinct viewers over a range; see
// LinkViews), and audience buckets; a logged-out one is nothing at all. A
// view of a closed day is an error wrapping pseudonym.ErrDayClosed.
func (b *Builder) View(v *platform.Video, a *platform.Account, source string, watchMS int64, completed bool, at time.Time) (event.Event, error) {
	return b.view(security.NewID(), v, a, source, watchMS, completed, at)
}

func (b *Builder) view(id string, v *platform.Video, a *platform.Account, source string, watchMS int64, completed bool, at time.Time) (event.Event, error) {
	ev := event.Event{
		ID: id, Type: event.View, VideoID: v.ID, TS: at,
		Source: source, WatchMS: watchMS, Completed: completed,
		Age: "unknown", Gender: "unknown", Country: "unknown",
	}
	if a == nil {
		return ev, nil
	}
	day, err := b.Pseudonym.ViewerDay(a.ID, v.ID, at)
	if err != nil {
		return event.Event{}, err
	}
	ev.ActorDay = day
	if b.LinkViews {
		ev.Actor = b.Pseudonym.Actor(a.ID, v.ID)
	}
	ev.Age = platform.AgeBucket(a.BirthDate, at)
	if a.Gender != "" && a.Gender != platform.GenderUndisclosed {
		ev.Gender = a.Gender
	}
	if a.Country != "" {
		ev.Country = a.Country
	}
	return ev, nil
}

// Follow builds a follow or unfollow of creatorID. Follows are public, but
// the follower is still only a pseudonym in the log: aggregation needs no
// more.
func (b *Builder) Follow(typ, followerID, creatorID string, at time.Time) event.Event {
	return event.Event{ID: security.NewID(), Type: typ, CreatorID: creatorID, TS: at, Actor: b.Pseudonym.Actor(followerID, "follow:"+creatorID)}
}
