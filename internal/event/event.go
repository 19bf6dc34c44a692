// Package event defines the analytics event as it travels through Crowd's
// event log: the engagement that happened, with the account ids of viewers,
// sharers and savers already replaced by what aggregation needs (keyed or
// daily-salted hashes and a demographic bucket). Nothing in this type can
// name who shared, saved or viewed.
package event

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event types. The first seven are the public ingestion format
// (docs/OPERATIONS.md, "Event format"); the others are produced by Crowd
// itself.
const (
	View          = "view"
	Like          = "like"
	Unlike        = "unlike"
	Comment       = "comment"
	Save          = "save"
	Unsave        = "unsave"
	Share         = "share"
	CommentDelete = "comment_delete" // a comment was deleted
	Follow        = "follow"         // Creator gained a follower
	Unfollow      = "unfollow"       // Creator lost a follower
)

// SchemaVersion is the version of the log format. Bump it with any change to
// Event's meaning so consumers can tell old entries from new.
const SchemaVersion = 1

// Event is one analytics event in the log.
//
// Actor, ActorDay and AccountDay are pseudonyms, never account ids:
//   - Actor: keyed hash of (account, video), or of (follower, creator) for
//     follows. Counts a share or save once per account and video, and nets
//     like/unlike.
//   - ActorDay: hash of (account, video, day) under that day's random salt,
//     destroyed after a few days. Distinct viewers and the per-viewer view cap.
//   - AccountDay: keyed hash of (account, day). The per-account daily cap on
//     counted shares and saves, across all videos. Events logged before it
//     carry the retired per-(account, creator, day) pseudonym here instead
//     (JSON "creator_day"); aggregation treats either as an opaque cap key.
//
// Age, Gender and Country are the actor's audience buckets at the time of the
// event ("unknown" when not stated or logged out).
type Event struct {
	V          int       `json:"v"`
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	VideoID    string    `json:"video_id,omitempty"`
	CreatorID  string    `json:"creator_id,omitempty"` // follow/unfollow: the followed account
	TS         time.Time `json:"ts"`
	Source     string    `json:"source,omitempty"`
	WatchMS    int64     `json:"watch_ms,omitempty"`
	Completed  bool      `json:"completed,omitempty"`
	Actor      string    `json:"actor,omitempty"`
	ActorDay   string    `json:"actor_day,omitempty"`
	AccountDay string    `json:"account_day,omitempty"`
	Age        string    `json:"age,omitempty"`
	Gender     string    `json:"gender,omitempty"`
	Country    string    `json:"country,omitempty"`
	Imported   bool      `json:"imported,omitempty"` // from a history import
}

// PartitionKey is the key that decides the event's log partition: its video,
// or for follows the followed account, so one worker owns each video's rows.
func (e *Event) PartitionKey() string {
	if e.VideoID != "" {
		return e.VideoID
	}
	return e.CreatorID
}

// Marshal encodes e as one JSON object.
func (e *Event) Marshal() ([]byte, error) {
	e.V = SchemaVersion
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("marshal event: %w", err)
	}
	return b, nil
}

// Unmarshal decodes one JSON-encoded event. An event written before the
// account-day cap has its cap key under "creator_day"; it is read into
// AccountDay.
func Unmarshal(b []byte) (Event, error) {
	var e struct {
		Event
		CreatorDay string `json:"creator_day"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("unmarshal event: %w", err)
	}
	if e.AccountDay == "" {
		e.AccountDay = e.CreatorDay
	}
	return e.Event, nil
}
