package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
)

// Rejection is a line of a bulk body that was not applied.
type Rejection struct {
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// IngestResult is the answer to POST /v1/events.
type IngestResult struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []Rejection `json:"rejected"`
}

// SyncResult is the answer to a bulk sync.
type SyncResult struct {
	Upserted int         `json:"upserted"`
	Rejected []Rejection `json:"rejected"`
}

// Event is one line of POST /v1/events.
type Event struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	VideoID   string `json:"video_id"`
	AccountID string `json:"account_id,omitempty"`
	TS        string `json:"ts"`
	Source    string `json:"source,omitempty"`
	WatchMS   int64  `json:"watch_ms,omitempty"`
	Completed bool   `json:"completed,omitempty"`
	Channel   string `json:"channel,omitempty"`
	Text      string `json:"text,omitempty"`
}

// SyncAccount is one line of POST /v1/sync/accounts. Empty fields are left
// out of the line, and a field left out keeps its stored value (a new
// account takes the default); to reset a field, send a line with the field
// set to "" through DoRaw. Handle is required for a new account. Password
// is applied only to an account without a Crowd password.
type SyncAccount struct {
	ID          string `json:"id"`
	Handle      string `json:"handle,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	BirthDate   string `json:"birth_date,omitempty"`
	Gender      string `json:"gender,omitempty"`
	Country     string `json:"country,omitempty"`
	Type        string `json:"type,omitempty"`
	Password    string `json:"password,omitempty"`
}

// SyncVideo is one line of POST /v1/sync/videos.
type SyncVideo struct {
	ID            string   `json:"id"`
	Owner         string   `json:"owner"`
	Collaborators []string `json:"collaborators,omitempty"`
	// AcceptedCollaborators are the collaborators whose consent the
	// platform collected; the others are invited, pending until they accept
	// through Crowd.
	AcceptedCollaborators []string `json:"accepted_collaborators,omitempty"`
	Title                 string   `json:"title"`
	Caption               string   `json:"caption,omitempty"`
	Hashtags              []string `json:"hashtags,omitempty"`
	Sound                 string   `json:"sound,omitempty"`
	CreatedAt             string   `json:"created_at,omitempty"`
}

// NDJSON encodes values one per line.
func NDJSON[T any](vs []T) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i := range vs {
		enc.Encode(&vs[i])
	}
	return b.Bytes()
}

// IngestNDJSON posts an NDJSON body of events (service token).
func (c *Client) IngestNDJSON(ctx context.Context, body io.Reader) (*IngestResult, error) {
	var r IngestResult
	return &r, c.DoRaw(ctx, http.MethodPost, "/v1/events", "application/x-ndjson", body, &r)
}

// Ingest posts events (service token).
func (c *Client) Ingest(ctx context.Context, evs []Event) (*IngestResult, error) {
	return c.IngestNDJSON(ctx, bytes.NewReader(NDJSON(evs)))
}

// SyncAccounts upserts the platform's accounts (service token).
func (c *Client) SyncAccounts(ctx context.Context, as []SyncAccount) (*SyncResult, error) {
	var r SyncResult
	return &r, c.DoRaw(ctx, http.MethodPost, "/v1/sync/accounts", "application/x-ndjson", bytes.NewReader(NDJSON(as)), &r)
}

// SyncVideos upserts the platform's videos (service token).
func (c *Client) SyncVideos(ctx context.Context, vs []SyncVideo) (*SyncResult, error) {
	var r SyncResult
	return &r, c.DoRaw(ctx, http.MethodPost, "/v1/sync/videos", "application/x-ndjson", bytes.NewReader(NDJSON(vs)), &r)
}

// ServiceTokens lists the service tokens (service token only).
func (c *Client) ServiceTokens(ctx context.Context) ([]ServiceToken, error) {
	var out struct {
		ServiceTokens []ServiceToken `json:"service_tokens"`
	}
	return out.ServiceTokens, c.Do(ctx, http.MethodGet, "/v1/service-tokens", nil, &out)
}

// CreateServiceToken creates a service token; its Token is shown only in
// this answer (service token only).
func (c *Client) CreateServiceToken(ctx context.Context, name string) (*ServiceToken, error) {
	var t ServiceToken
	return &t, c.Do(ctx, http.MethodPost, "/v1/service-tokens", map[string]string{"name": name}, &t)
}

// RevokeServiceToken revokes a service token by id (service token only).
func (c *Client) RevokeServiceToken(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/service-tokens/"+esc(id), nil, nil)
}
