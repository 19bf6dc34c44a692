package client

import (
	"context"
	"net/http"
)

// Register creates an account.
func (c *Client) Register(ctx context.Context, r Registration) (*Account, error) {
	var a Account
	return &a, c.Do(ctx, http.MethodPost, "/v1/accounts", r, &a)
}

// Login opens a session.
func (c *Client) Login(ctx context.Context, handle, password string) (*Session, error) {
	var s Session
	return &s, c.Do(ctx, http.MethodPost, "/v1/sessions", map[string]string{"handle": handle, "password": password}, &s)
}

// Logout ends the current session.
func (c *Client) Logout(ctx context.Context) error {
	return c.Do(ctx, http.MethodDelete, "/v1/sessions/current", nil, nil)
}

// Me returns the caller's account.
func (c *Client) Me(ctx context.Context) (*Account, error) {
	var a Account
	return &a, c.Do(ctx, http.MethodGet, "/v1/me", nil, &a)
}

// UpdateMe changes the caller's account.
func (c *Client) UpdateMe(ctx context.Context, p AccountPatch) (*Account, error) {
	var a Account
	return &a, c.Do(ctx, http.MethodPatch, "/v1/me", p, &a)
}

// DeleteMe deletes the caller's account.
func (c *Client) DeleteMe(ctx context.Context) error {
	return c.Do(ctx, http.MethodDelete, "/v1/me", nil, nil)
}

// Profile returns an account's public profile.
func (c *Client) Profile(ctx context.Context, handle string) (*Profile, error) {
	var p Profile
	return &p, c.Do(ctx, http.MethodGet, "/v1/accounts/"+esc(handle), nil, &p)
}

// Follow follows an account (idempotent). The answer states that the caller
// follows handle, which the nil error already says, so Follow returns only
// the error; so do Unfollow, Like, Unlike, Save and Unsave.
func (c *Client) Follow(ctx context.Context, handle string) error {
	return c.Do(ctx, http.MethodPut, "/v1/accounts/"+esc(handle)+"/follow", nil, nil)
}

// Unfollow unfollows an account.
func (c *Client) Unfollow(ctx context.Context, handle string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/accounts/"+esc(handle)+"/follow", nil, nil)
}

// CreateVideo creates a video owned by the caller.
func (c *Client) CreateVideo(ctx context.Context, v NewVideo) (*Video, error) {
	var out Video
	return &out, c.Do(ctx, http.MethodPost, "/v1/videos", v, &out)
}

// Invitations lists the caller's pending co-creator invitations.
func (c *Client) Invitations(ctx context.Context) ([]Invitation, error) {
	var out struct {
		Invitations []Invitation `json:"invitations"`
	}
	return out.Invitations, c.Do(ctx, http.MethodGet, "/v1/me/invitations", nil, &out)
}

// AcceptCoCreation accepts the caller's invitation to be a co-creator of a
// video (idempotent) and returns the video.
func (c *Client) AcceptCoCreation(ctx context.Context, videoID string) (*Video, error) {
	var v Video
	return &v, c.Do(ctx, http.MethodPut, "/v1/me/cocreations/"+esc(videoID), nil, &v)
}

// LeaveCoCreation declines the caller's invitation to a video, or leaves it
// as a co-creator.
func (c *Client) LeaveCoCreation(ctx context.Context, videoID string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/me/cocreations/"+esc(videoID), nil, nil)
}

// CoCreators lists a video's co-creators, accepted and pending (owner only).
func (c *Client) CoCreators(ctx context.Context, videoID string) ([]CoCreator, error) {
	var out struct {
		CoCreators []CoCreator `json:"cocreators"`
	}
	return out.CoCreators, c.Do(ctx, http.MethodGet, "/v1/videos/"+esc(videoID)+"/cocreators", nil, &out)
}

// InviteCoCreator invites an account to be a co-creator of the caller's
// video (idempotent).
func (c *Client) InviteCoCreator(ctx context.Context, videoID, handle string) (*CoCreator, error) {
	var out CoCreator
	return &out, c.Do(ctx, http.MethodPut, "/v1/videos/"+esc(videoID)+"/cocreators/"+esc(handle), nil, &out)
}

// RemoveCoCreator removes a co-creator of the caller's video, or withdraws
// an invitation.
func (c *Client) RemoveCoCreator(ctx context.Context, videoID, handle string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/videos/"+esc(videoID)+"/cocreators/"+esc(handle), nil, nil)
}

// Video returns a public video with its counters.
func (c *Client) Video(ctx context.Context, id string) (*Video, error) {
	var v Video
	return &v, c.Do(ctx, http.MethodGet, "/v1/videos/"+esc(id), nil, &v)
}

// AccountVideos lists a page of an account's videos, newest first, from
// before (a previous page's Next; "" for the first page).
func (c *Client) AccountVideos(ctx context.Context, handle, before string, opts ...ListOption) (*VideoList, error) {
	var l VideoList
	return &l, c.Do(ctx, http.MethodGet, "/v1/accounts/"+esc(handle)+"/videos"+listQuery(append([]ListOption{Before(before)}, opts...)), nil, &l)
}

// Feed lists a page of the newest videos, from before (a previous page's
// Next; "" for the first page).
func (c *Client) Feed(ctx context.Context, before string, opts ...ListOption) (*VideoList, error) {
	var l VideoList
	return &l, c.Do(ctx, http.MethodGet, "/v1/videos"+listQuery(append([]ListOption{Before(before)}, opts...)), nil, &l)
}

// RecordView records a view of a video.
func (c *Client) RecordView(ctx context.Context, videoID string, v View) error {
	return c.Do(ctx, http.MethodPost, "/v1/videos/"+esc(videoID)+"/views", v, nil)
}

// Like likes a video (idempotent).
func (c *Client) Like(ctx context.Context, videoID string) error {
	return c.Do(ctx, http.MethodPut, "/v1/videos/"+esc(videoID)+"/like", nil, nil)
}

// Unlike removes the caller's like (idempotent).
func (c *Client) Unlike(ctx context.Context, videoID string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/videos/"+esc(videoID)+"/like", nil, nil)
}

// Comment comments on a video.
func (c *Client) Comment(ctx context.Context, videoID, text string) (*Comment, error) {
	var out Comment
	return &out, c.Do(ctx, http.MethodPost, "/v1/videos/"+esc(videoID)+"/comments", map[string]string{"text": text}, &out)
}

// Comments lists a page of a video's comments, newest first, from before
// (a previous page's Next; "" for the first page).
func (c *Client) Comments(ctx context.Context, videoID, before string, opts ...ListOption) (*CommentList, error) {
	var l CommentList
	return &l, c.Do(ctx, http.MethodGet, "/v1/videos/"+esc(videoID)+"/comments"+listQuery(append([]ListOption{Before(before)}, opts...)), nil, &l)
}

// DeleteComment deletes one of the caller's comments.
func (c *Client) DeleteComment(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/comments/"+esc(id), nil, nil)
}

// Save adds a video to the caller's favorites (idempotent).
func (c *Client) Save(ctx context.Context, videoID string) error {
	return c.Do(ctx, http.MethodPut, "/v1/videos/"+esc(videoID)+"/save", nil, nil)
}

// Unsave removes a video from the caller's favorites (idempotent).
func (c *Client) Unsave(ctx context.Context, videoID string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/videos/"+esc(videoID)+"/save", nil, nil)
}

// Saved lists a page of the caller's favorites (Limit, Before).
func (c *Client) Saved(ctx context.Context, opts ...ListOption) (*VideoList, error) {
	var l VideoList
	return &l, c.Do(ctx, http.MethodGet, "/v1/me/saved"+listQuery(opts), nil, &l)
}

// OpenShare opens a video's share link (Share's URL, /s/{id}) as its
// recipient: it returns the video and counts a view from a share.
func (c *Client) OpenShare(ctx context.Context, videoID string) (*Video, error) {
	var v Video
	return &v, c.Do(ctx, http.MethodGet, "/s/"+esc(videoID), nil, &v)
}

// Share shares a video to an external channel or copies its link, and
// returns its share URL.
func (c *Client) Share(ctx context.Context, videoID, channel string) (*Share, error) {
	var s Share
	return &s, c.Do(ctx, http.MethodPost, "/v1/videos/"+esc(videoID)+"/shares", map[string]string{"channel": channel}, &s)
}

// Send sends a video by direct message.
func (c *Client) Send(ctx context.Context, to, videoID, text string) (*Message, error) {
	var m Message
	return &m, c.Do(ctx, http.MethodPost, "/v1/messages", map[string]string{"to": to, "video_id": videoID, "text": text}, &m)
}

// Inbox lists a page of received messages, newest first (Limit, Before).
func (c *Client) Inbox(ctx context.Context, opts ...ListOption) (*MessageList, error) {
	var l MessageList
	return &l, c.Do(ctx, http.MethodGet, "/v1/inbox"+listQuery(opts), nil, &l)
}

// SentMessages lists a page of sent messages, newest first (Limit, Before).
func (c *Client) SentMessages(ctx context.Context, opts ...ListOption) (*MessageList, error) {
	var l MessageList
	return &l, c.Do(ctx, http.MethodGet, "/v1/messages/sent"+listQuery(opts), nil, &l)
}

// Message returns a message the caller sent or received.
func (c *Client) Message(ctx context.Context, id string) (*Message, error) {
	var m Message
	return &m, c.Do(ctx, http.MethodGet, "/v1/messages/"+esc(id), nil, &m)
}

// OpenMessage opens a received message, which counts a shared view.
func (c *Client) OpenMessage(ctx context.Context, id string) (*Message, error) {
	var m Message
	return &m, c.Do(ctx, http.MethodPost, "/v1/messages/"+esc(id)+"/open", nil, &m)
}

// Activity lists likes, comments and follows on the caller's videos and
// account, newest first (Limit; the API takes no cursor here).
func (c *Client) Activity(ctx context.Context, opts ...ListOption) ([]Activity, error) {
	var out struct {
		Activity []Activity `json:"activity"`
	}
	return out.Activity, c.Do(ctx, http.MethodGet, "/v1/activity"+listQuery(opts), nil, &out)
}

// Notifications lists the caller's notifications.
func (c *Client) Notifications(ctx context.Context) (*Notifications, error) {
	var n Notifications
	return &n, c.Do(ctx, http.MethodGet, "/v1/notifications", nil, &n)
}

// ReadNotifications marks every current notification of the caller read.
func (c *Client) ReadNotifications(ctx context.Context) error {
	return c.Do(ctx, http.MethodPost, "/v1/notifications/read", nil, nil)
}

// PrivacyPolicy returns the current privacy policy.
func (c *Client) PrivacyPolicy(ctx context.Context) (*PrivacyPolicy, error) {
	var p PrivacyPolicy
	return &p, c.Do(ctx, http.MethodGet, "/v1/privacy-policy", nil, &p)
}

// PublishPrivacyPolicy publishes a new version (service token).
func (c *Client) PublishPrivacyPolicy(ctx context.Context, text string) (*PrivacyPolicy, error) {
	var p PrivacyPolicy
	return &p, c.Do(ctx, http.MethodPut, "/v1/privacy-policy", map[string]string{"text": text}, &p)
}

// CreateApp creates an app token with scopes.
func (c *Client) CreateApp(ctx context.Context, name string, scopes ...string) (*App, error) {
	var a App
	return &a, c.Do(ctx, http.MethodPost, "/v1/apps", map[string]any{"name": name, "scopes": scopes}, &a)
}

// Apps lists the caller's app tokens.
func (c *Client) Apps(ctx context.Context) ([]App, error) {
	var out struct {
		Apps []App `json:"apps"`
	}
	return out.Apps, c.Do(ctx, http.MethodGet, "/v1/apps", nil, &out)
}

// RevokeApp revokes an app token.
func (c *Client) RevokeApp(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/apps/"+esc(id), nil, nil)
}
