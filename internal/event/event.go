// Package event defines the analytics event as it travels through Crowd's
// event log: the engagement that happened, with the account ids of viewers,
// sharers and savers already replaced by what aggregation needs (keyed or
// daily-salted hashes and a demographic bucket). Nothing in this type can
// name who shared, saved or viewed.
package event

import "time"

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
//     counted shares and saves, across all videos.
//
// Age, Gender and Country are the actor's audience buckets at the time of the
// event ("unknown" when not stated or logged out).
type Event struct {
	V          int
	ID         string
	Type       string
	VideoID    string
	CreatorID  string // follow/unfollow: the followed account
	TS         time.Time
	Source     string
	WatchMS    int64
	Completed  bool
	Actor      string
	ActorDay   string
	AccountDay string
	Age        string
	Gender     string
	Country    string
	Imported   bool // from a history import
}

// PartitionKey is the key that decides the event's log partition: its video,
// or for follows the followed account, so one worker owns each video's rows.
func (e *Event) PartitionKey() string {
	if e.VideoID != "" {
		return e.VideoID
	}
	return e.CreatorID
}
