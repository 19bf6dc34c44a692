// Package client is the Go client of Crowd's HTTP API, for platforms that
// integrate with Crowd. Every method maps to one route; errors from the API
// are *Error values carrying the HTTP status and the API's error code.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls one Crowd service.
type Client struct {
	// BaseURL is the service's address, such as http://127.0.0.1:8080.
	BaseURL string
	// Token is sent as "Authorization: Bearer Token" when set.
	Token string
	// HTTP is the HTTP client; nil means a client with a 30 s timeout.
	HTTP *http.Client
}

// New returns a client for baseURL.
func New(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// WithToken returns a copy of c that authenticates with token.
func (c *Client) WithToken(token string) *Client {
	cc := *c
	cc.Token = token
	return &cc
}

// Error is an error answer of the API.
type Error struct {
	Status  int    // HTTP status
	Code    string // the API's error code, such as "not_found"
	Message string
	// RetryAfter is the answer's Retry-After (429, 503): how long to wait
	// before trying again; 0 if it had none.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("crowd: %d %s: %s", e.Status, e.Code, e.Message)
}

// StatusOf returns the HTTP status of an *Error, or 0.
func StatusOf(err error) int {
	if e, ok := err.(*Error); ok {
		return e.Status
	}
	return 0
}

// Do sends a request with a JSON body (if body is not nil) and decodes a JSON
// answer into out (if out is not nil).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("crowd: encode request: %w", err)
		}
		r = bytes.NewReader(b)
	}
	return c.DoRaw(ctx, method, path, "application/json", r, out)
}

// DoRaw sends a request with a raw body of the given content type.
func (c *Client) DoRaw(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return fmt.Errorf("crowd: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("crowd: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("crowd: read answer: %w", err)
	}
	if resp.StatusCode >= 400 {
		var eb struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(data, &eb)
		e := &Error{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		}
		return e
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("crowd: decode answer of %s %s: %w", method, path, err)
		}
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }
