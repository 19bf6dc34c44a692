package platform

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crowd-dev/crowd/internal/period"
)

// Limits on video fields.
const (
	MaxTitleLen         = 150
	MaxCaptionLen       = 2200
	MaxHashtags         = 30
	MaxHashtagLen       = 100
	MaxSoundLen         = 200
	MaxCollaborators    = 10
	MaxCommentLen       = 2000
	MaxMessageLen       = 1000
	MaxWatchMS          = period.DaySeconds * 1000 // a day; longer is a client bug
	MaxAppNameLen       = 64
	MaxScopes           = 8
	MaxPolicyTextLength = 100_000
)

// Video is a short video with one owner and optional co-creators. Every
// creator (owner or accepted co-creator) has the same analytics rights on
// it. Being listed is an invitation: an account becomes a co-creator only
// when it accepts, and until then it is in Invited, not in Creators.
type Video struct {
	ID        string    `json:"id"`
	OwnerID   string    `json:"-"`
	Owner     string    `json:"owner"`    // handle
	Creators  []string  `json:"creators"` // handles, owner first
	Title     string    `json:"title"`
	Caption   string    `json:"caption"`
	Hashtags  []string  `json:"hashtags"`
	Sound     string    `json:"sound"`
	CreatedAt time.Time `json:"created_at"`
	Counts    *Counts   `json:"counts,omitempty"`
	// Invited are the handles of co-creators invited who have not accepted
	// yet. Only answers to the owner carry them.
	Invited []string `json:"invited,omitempty"`

	// CreatorIDs are the account ids of Creators, owner first.
	CreatorIDs []string `json:"-"`
	// InvitedIDs are the account ids of Invited.
	InvitedIDs []string `json:"-"`
}

// Co-creator states.
const (
	CoCreatorAccepted = "accepted"
	CoCreatorPending  = "pending"
)

// CoCreator is a co-creator of a video as its owner sees it: accepted, or
// invited and pending.
type CoCreator struct {
	Handle string    `json:"handle"`
	Status string    `json:"status"` // accepted or pending
	Since  time.Time `json:"since"`  // when invited (pending) or accepted

	AccountID string `json:"-"`
}

// Invitation is an invitation to be a co-creator of a video, as the invitee
// sees it.
type Invitation struct {
	Video     *Video    `json:"video"`
	InvitedAt time.Time `json:"invited_at"`
}

// Counts are a video's public counters. They come from the disclosure layer,
// like every other number Crowd releases.
type Counts struct {
	Views    int64 `json:"views"`
	Likes    int64 `json:"likes"`
	Comments int64 `json:"comments"`
	Shares   int64 `json:"shares"`
	Saves    int64 `json:"saves"`
}

// IsCreator reports whether accountID is the owner or a co-creator of v.
func (v *Video) IsCreator(accountID string) bool {
	for _, id := range v.CreatorIDs {
		if id == accountID {
			return true
		}
	}
	return false
}

// ValidateVideo checks and normalizes the fields of a new video: hashtags
// lose a leading '#', are lower-cased and deduplicated.
func ValidateVideo(title, caption, sound string, hashtags []string) ([]string, error) {
	if strings.TrimSpace(title) == "" {
		return nil, Errorf(EINVALID, "title is required")
	}
	if err := checkText("title", title, MaxTitleLen, false); err != nil {
		return nil, err
	}
	if err := checkText("caption", caption, MaxCaptionLen, true); err != nil {
		return nil, err
	}
	if err := checkText("sound", sound, MaxSoundLen, false); err != nil {
		return nil, err
	}
	if len(hashtags) > MaxHashtags {
		return nil, Errorf(EINVALID, "at most %d hashtags", MaxHashtags)
	}
	out := make([]string, 0, len(hashtags))
	seen := make(map[string]bool, len(hashtags))
	for _, h := range hashtags {
		h = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(h), "#"))
		if h == "" || strings.ContainsAny(h, " \t\n#") || !utf8.ValidString(h) || utf8.RuneCountInString(h) > MaxHashtagLen || hasControl(h) {
			return nil, Errorf(EINVALID, "hashtags must be single words of at most %d characters", MaxHashtagLen)
		}
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out, nil
}

// ValidateCommentText checks the text of a comment.
func ValidateCommentText(s string) error {
	if strings.TrimSpace(s) == "" {
		return Errorf(EINVALID, "text is required")
	}
	return checkText("text", s, MaxCommentLen, true)
}

// ValidateMessageText checks the optional text of a direct message.
func ValidateMessageText(s string) error { return checkText("text", s, MaxMessageLen, true) }

func checkText(field, s string, max int, multiline bool) error {
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s must be valid UTF-8", field)
	}
	if utf8.RuneCountInString(s) > max {
		return Errorf(EINVALID, "%s must be at most %d characters", field, max)
	}
	for _, r := range s {
		if (r < 0x20 && !(multiline && (r == '\n' || r == '\t'))) || r == 0x7f {
			return Errorf(EINVALID, "%s may not contain control characters", field)
		}
	}
	return nil
}

// Traffic sources of a view. "shared" covers both shared links and direct
// messages, on purpose: a creator never learns which.
var Sources = []string{"for_you", "following", "profile", "search", "hashtag", "sound", "shared", "other"}

// SourceShared is the traffic source of views opened from a share link or a
// direct message.
const SourceShared = "shared"

// ValidSource reports whether s is a known traffic source.
func ValidSource(s string) bool { return contains(Sources, s) }

// Share channels. ChannelDM is a direct message; external channels and
// copy_link return the video's share URL.
var Channels = []string{"dm", "whatsapp", "facebook", "instagram", "messenger", "telegram", "x", "email", "sms", "other", "copy_link"}

// ChannelDM is the channel of a share sent as a direct message.
const ChannelDM = "dm"

// ValidChannel reports whether c is a known share channel.
func ValidChannel(c string) bool { return contains(Channels, c) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Comment is a public comment, shown with its author.
type Comment struct {
	ID        string    `json:"id"`
	VideoID   string    `json:"video_id"`
	Author    string    `json:"author"` // handle
	AuthorID  string    `json:"-"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

// Message is a video sent by direct message. The recipient sees the sender:
// that is what a direct message is. Nobody else does.
type Message struct {
	ID        string     `json:"id"`
	From      string     `json:"from"` // sender handle
	To        string     `json:"to"`   // recipient handle
	VideoID   string     `json:"video_id"`
	Video     *Video     `json:"video,omitempty"`
	Text      string     `json:"text"`
	CreatedAt time.Time  `json:"created_at"`
	OpenedAt  *time.Time `json:"opened_at,omitempty"`

	SenderID    string `json:"-"`
	RecipientID string `json:"-"`
}

// Activity is one public action on a creator's videos or account: a like, a
// comment or a follow, with who did it. Shares, saves and views never appear.
type Activity struct {
	Kind      string    `json:"kind"` // like, comment, follow
	Actor     string    `json:"actor"`
	VideoID   string    `json:"video_id,omitempty"`
	CommentID string    `json:"comment_id,omitempty"`
	Text      string    `json:"text,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Notification is something an account is told about, such as a new version
// of the privacy policy.
type Notification struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	Read      bool      `json:"read"`
}

// PrivacyPolicy is one published version of the privacy policy.
type PrivacyPolicy struct {
	Version     int       `json:"version"`
	Text        string    `json:"text"`
	PublishedAt time.Time `json:"published_at"`
}

// App scopes. An app token reads its creator's analytics and nothing else.
const ScopeAnalyticsRead = "analytics:read"

// Scopes lists the scopes an app token may be granted.
var Scopes = []string{ScopeAnalyticsRead}

// App is a third-party app a creator has authorised with a token.
type App struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	Token     string    `json:"token,omitempty"` // only in the answer that creates it

	AccountID string `json:"-"`
}

// ValidateApp checks an app's name and scopes.
func ValidateApp(name string, scopes []string) error {
	if strings.TrimSpace(name) == "" {
		return Errorf(EINVALID, "name is required")
	}
	if err := checkText("name", name, MaxAppNameLen, false); err != nil {
		return err
	}
	if len(scopes) == 0 || len(scopes) > MaxScopes {
		return Errorf(EINVALID, "scopes must list 1 to %d scopes", MaxScopes)
	}
	for _, s := range scopes {
		if !contains(Scopes, s) {
			return Errorf(EINVALID, "unknown scope %q; known scopes: %s", s, strings.Join(Scopes, ", "))
		}
	}
	return nil
}
