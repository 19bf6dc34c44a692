package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// Status is the answer of the health routes.
type Status struct {
	// Status is "ok" (GET /healthz) or "ready" (GET /readyz).
	Status string `json:"status"`
}

// Health tells whether the service answers HTTP (GET /healthz).
func (c *Client) Health(ctx context.Context) (*Status, error) {
	var s Status
	return &s, c.Do(ctx, http.MethodGet, "/healthz", nil, &s)
}

// Ready tells whether the service is ready: its store and event log open
// and answering (GET /readyz). A service that is not ready answers 503,
// an *Error with Status 503.
func (c *Client) Ready(ctx context.Context) (*Status, error) {
	var s Status
	return &s, c.Do(ctx, http.MethodGet, "/readyz", nil, &s)
}

// OpenAPI returns the service's OpenAPI 3.1 document.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var doc json.RawMessage
	return doc, c.Do(ctx, http.MethodGet, "/openapi.json", nil, &doc)
}
