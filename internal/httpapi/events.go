package httpapi

import (
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
)

// The API builds events only through engage.Builder, the one place where
// account ids become pseudonyms.

func (s *Server) engagementEvent(typ, videoID string, a *platform.Account, at time.Time) event.Event {
	return s.Events.Engagement(typ, videoID, a, at)
}

func (s *Server) privateEvent(typ string, v *platform.Video, a *platform.Account, at time.Time) event.Event {
	return s.Events.Private(typ, v, a, at)
}

func (s *Server) viewEvent(v *platform.Video, a *platform.Account, source string, watchMS int64, completed bool, at time.Time) (event.Event, error) {
	return s.Events.View(v, a, source, watchMS, completed, at)
}

func (s *Server) followEvent(typ, followerID, creatorID string, at time.Time) event.Event {
	return s.Events.Follow(typ, followerID, creatorID, at)
}
