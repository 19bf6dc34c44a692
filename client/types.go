package client

import "time"

// Account is an account as its owner sees it.
type Account struct {
	ID          string `json:"id"`
	Handle      string `json:"handle"`
	DisplayName string `json:"display_name"`
	Type        string `json:"type"`
	DMPolicy    string `json:"dm_policy"`
	// ReadReceipts lets senders of direct messages see when the account
	// opened them. Off by default.
	ReadReceipts bool      `json:"read_receipts"`
	BirthDate    string    `json:"birth_date,omitempty"`
	Gender       string    `json:"gender"`
	Country      string    `json:"country,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// Registration is what POST /v1/accounts takes.
type Registration struct {
	Handle      string `json:"handle"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name,omitempty"`
	BirthDate   string `json:"birth_date,omitempty"`
	Gender      string `json:"gender,omitempty"`
	Country     string `json:"country,omitempty"`
	Type        string `json:"type,omitempty"`
}

// Session is a logged-in session.
type Session struct {
	Token     string   `json:"token"`
	ExpiresAt string   `json:"expires_at"`
	Account   *Account `json:"account"`
}

// AccountPatch changes the caller's account; nil fields stay.
type AccountPatch struct {
	DisplayName *string `json:"display_name,omitempty"`
	Type        *string `json:"type,omitempty"`
	DMPolicy    *string `json:"dm_policy,omitempty"`
	// ReadReceipts turns read receipts on or off.
	ReadReceipts *bool `json:"read_receipts,omitempty"`
}

// Profile is an account's public profile.
type Profile struct {
	ID          string    `json:"id"`
	Handle      string    `json:"handle"`
	DisplayName string    `json:"display_name"`
	Type        string    `json:"type"`
	Followers   int64     `json:"followers"`
	Following   int64     `json:"following"`
	CreatedAt   time.Time `json:"created_at"`
}

// NewVideo is what POST /v1/videos takes.
type NewVideo struct {
	Title         string   `json:"title"`
	Caption       string   `json:"caption,omitempty"`
	Hashtags      []string `json:"hashtags,omitempty"`
	Sound         string   `json:"sound,omitempty"`
	Collaborators []string `json:"collaborators,omitempty"`
}

// Counts are a video's public counters.
type Counts struct {
	Views    int64 `json:"views"`
	Likes    int64 `json:"likes"`
	Comments int64 `json:"comments"`
	Shares   int64 `json:"shares"`
	Saves    int64 `json:"saves"`
}

// Video is a public video.
type Video struct {
	ID        string    `json:"id"`
	Owner     string    `json:"owner"`
	Creators  []string  `json:"creators"`
	Title     string    `json:"title"`
	Caption   string    `json:"caption"`
	Hashtags  []string  `json:"hashtags"`
	Sound     string    `json:"sound"`
	CreatedAt time.Time `json:"created_at"`
	Counts    *Counts   `json:"counts,omitempty"`
	// Invited are co-creators invited who have not accepted yet; only in
	// the answer that creates the video.
	Invited []string `json:"invited,omitempty"`
}

// CoCreator is a co-creator of a video as its owner sees it.
type CoCreator struct {
	Handle string    `json:"handle"`
	Status string    `json:"status"` // accepted or pending
	Since  time.Time `json:"since"`
}

// Invitation is an invitation to be a co-creator of a video.
type Invitation struct {
	Video     *Video    `json:"video"`
	InvitedAt time.Time `json:"invited_at"`
}

// VideoList is a page of videos.
type VideoList struct {
	Videos []Video `json:"videos"`
	Next   string  `json:"next,omitempty"`
}

// View is what POST /v1/videos/{id}/views takes.
type View struct {
	Source    string `json:"source"`
	WatchMS   int64  `json:"watch_ms"`
	Completed bool   `json:"completed"`
}

// Comment is a public comment.
type Comment struct {
	ID        string    `json:"id"`
	VideoID   string    `json:"video_id"`
	Author    string    `json:"author"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

// CommentList is a page of comments.
type CommentList struct {
	Comments []Comment `json:"comments"`
	Next     string    `json:"next,omitempty"`
}

// Share is the answer to a share: the video's share URL, the same for every
// sharer.
type Share struct {
	VideoID string `json:"video_id"`
	URL     string `json:"url,omitempty"`
}

// Message is a video sent by direct message.
type Message struct {
	ID        string     `json:"id"`
	From      string     `json:"from"`
	To        string     `json:"to"`
	VideoID   string     `json:"video_id"`
	Video     *Video     `json:"video,omitempty"`
	Text      string     `json:"text"`
	CreatedAt time.Time  `json:"created_at"`
	OpenedAt  *time.Time `json:"opened_at,omitempty"`
}

// MessageList is a page of messages.
type MessageList struct {
	Messages []Message `json:"messages"`
	Next     string    `json:"next,omitempty"`
}

// Activity is a public action on the caller's videos or account.
type Activity struct {
	Kind      string    `json:"kind"`
	Actor     string    `json:"actor"`
	VideoID   string    `json:"video_id,omitempty"`
	CommentID string    `json:"comment_id,omitempty"`
	Text      string    `json:"text,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Notification is something the caller is told about.
type Notification struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	Read      bool      `json:"read"`
}

// Notifications is the caller's notification list.
type Notifications struct {
	Notifications []Notification `json:"notifications"`
	Unread        int            `json:"unread"`
}

// PrivacyPolicy is a version of the privacy policy.
type PrivacyPolicy struct {
	Version     int       `json:"version"`
	Text        string    `json:"text"`
	PublishedAt time.Time `json:"published_at"`
}

// App is an app token of the caller. Token is set only when created.
type App struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	Token     string    `json:"token,omitempty"`
}

// ServiceToken is a service token of the platform's servers. Token is set
// only when created; ID is not a secret. LastUsedAt is zero if the token
// was never used, and may lag by up to a minute.
type ServiceToken struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	// Current marks the token the listing was requested with.
	Current bool   `json:"current,omitempty"`
	Token   string `json:"token,omitempty"`
}
