package httpapi

import (
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/security"
)

// The event builders below are the one place where an action becomes an
// analytics event, and so the one place where an account id is replaced by
// pseudonyms. No builder copies an account id into an event.

// engagementEvent builds a like, unlike, comment or comment_delete event:
// public actions, counted per video. Actor nets likes and unlikes.
func (s *Server) engagementEvent(typ, videoID string, a *platform.Account, at time.Time) event.Event {
	return event.Event{ID: security.NewID(), Type: typ, VideoID: videoID, TS: at, Actor: s.Pseudonym.Actor(a.ID, videoID)}
}

// privateEvent builds a share, save or unsave event. It carries no
// demographics (shares and saves are never broken down) and no channel
// (creators never learn how a video was shared), only what bounds the
// contribution: once per account and video (Actor), and per account,
// creator and day (CreatorDay).
func (s *Server) privateEvent(typ string, v *platform.Video, a *platform.Account, at time.Time) event.Event {
	return event.Event{
		ID:         security.NewID(),
		Type:       typ,
		VideoID:    v.ID,
		TS:         at,
		Actor:      s.Pseudonym.Actor(a.ID, v.ID),
		CreatorDay: s.Pseudonym.ActorCreatorDay(a.ID, v.OwnerID, at),
	}
}

// viewEvent builds a view. A logged-in viewer is a daily-salted hash (for
// distinct viewers and the per-viewer daily cap) and audience buckets; a
// logged-out one is nothing at all.
func (s *Server) viewEvent(v *platform.Video, a *platform.Account, source string, watchMS int64, completed bool, at time.Time) (event.Event, error) {
	ev := event.Event{
		ID: security.NewID(), Type: event.View, VideoID: v.ID, TS: at,
		Source: source, WatchMS: watchMS, Completed: completed,
		Age: "unknown", Gender: "unknown", Country: "unknown",
	}
	if a == nil {
		return ev, nil
	}
	day, err := s.Pseudonym.ViewerDay(a.ID, v.ID, at)
	if err != nil {
		return event.Event{}, err
	}
	ev.ActorDay = day
	ev.Age = platform.AgeBucket(a.BirthDate, at)
	if a.Gender != platform.GenderUndisclosed {
		ev.Gender = a.Gender
	}
	if a.Country != "" {
		ev.Country = a.Country
	}
	return ev, nil
}

// followEvent builds a follow or unfollow of creatorID. Follows are public,
// but the follower is still only a pseudonym in the log: aggregation needs
// no more.
func (s *Server) followEvent(typ, followerID, creatorID string, at time.Time) event.Event {
	return event.Event{ID: security.NewID(), Type: typ, CreatorID: creatorID, TS: at, Actor: s.Pseudonym.Actor(followerID, "follow:"+creatorID)}
}
