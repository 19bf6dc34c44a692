// Package client is the Go client of Crowd's HTTP API, for platforms that
// integrate with Crowd. Every operation of the API's OpenAPI document
// (GET /openapi.json) has a method here; every method takes a context and
// returns its errors as *Error, which errors.As finds:
//
//	var e *client.Error
//	if errors.As(err, &e) && e.Status == http.StatusTooManyRequests {
//		time.Sleep(e.RetryAfter)
//	}
//
// The package imports only the standard library: it is a module of its own
// (github.com/crowd-dev/crowd/client), so an integrator's build does not
// pull in the server's dependencies.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls one Crowd service. Its methods are safe for concurrent use;
// WithToken makes a copy for another credential.
type Client struct {
	// BaseURL is the service's address, such as http://127.0.0.1:8080.
	BaseURL string
	// Token is sent as "Authorization: Bearer Token" when set: a session
	// token, an app token or a service token.
	Token string
	// HTTP is the HTTP client; nil means http.DefaultClient.
	HTTP *http.Client
}

// New returns a client for baseURL whose HTTP client gives up on a request
// after 30 s.
func New(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// WithToken returns a copy of c that authenticates with token.
func (c *Client) WithToken(token string) *Client {
	cc := *c
	cc.Token = token
	return &cc
}

// maxAnswer is the largest answer body the client reads.
const maxAnswer = 64 << 20

// Error is the error of every method of the client.
//
// An error answer of the API (status 400 and up) has Status, Code and
// Message from the answer's JSON error shape; an answer without that shape
// (a proxy's 502, say) gets the code of its status and the start of its
// body as Message. Any other failure — the request could not be sent, the
// context ended, the answer could not be read or decoded — has Status 0
// and its cause in Err, which errors.Is and errors.As see through Unwrap
// (errors.Is(err, context.DeadlineExceeded) works).
type Error struct {
	// Status is the HTTP status of the error answer, 0 when there was none.
	Status int
	// Code is the API's error code, such as "not_found" or "rate_limited";
	// empty when Status is 0.
	Code    string
	Message string
	// Line is the 1-based line of a bulk (NDJSON) body the error names
	// (413 line_too_long or too_many_lines from Ingest, IngestNDJSON,
	// SyncAccounts, SyncVideos); 0 when it names none.
	Line int
	// RetryAfter is the answer's Retry-After (429, 503): how long to wait
	// before trying again; 0 if it had none.
	RetryAfter time.Duration
	// Method and Path name the request.
	Method, Path string
	// Err is the cause of a failure that is not an error answer.
	Err error
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("crowd: %s %s: %v", e.Method, e.Path, e.Err)
	}
	return fmt.Sprintf("crowd: %s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

// Unwrap returns the cause of a failure that is not an error answer.
func (e *Error) Unwrap() error { return e.Err }

// StatusOf returns the HTTP status of the error answer err holds, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// CodeOf returns the API error code of the error answer err holds, or "".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// statusCodes are the API's error codes by status, for error answers that
// do not carry the JSON error shape.
var statusCodes = map[int]string{
	http.StatusBadRequest:            "malformed_request",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusUnprocessableEntity:   "invalid",
	http.StatusTooManyRequests:       "rate_limited",
	http.StatusServiceUnavailable:    "unavailable",
}

// Do sends a request with a JSON body (if body is not nil) and decodes a JSON
// answer into out (if out is not nil). The methods of Client are built on
// it; it serves routes and query parameters they do not cover.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return &Error{Method: method, Path: path, Err: fmt.Errorf("encode request: %w", err)}
		}
		r = bytes.NewReader(b)
	}
	return c.DoRaw(ctx, method, path, "application/json", r, out)
}

// DoRaw sends a request with a raw body of the given content type and
// decodes a JSON answer into out (if out is not nil).
func (c *Client) DoRaw(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	resp, err := c.send(ctx, method, path, contentType, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return &Error{Method: method, Path: path, Err: fmt.Errorf("read answer: %w", err)}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return &Error{Method: method, Path: path, Err: fmt.Errorf("decode answer: %w", err)}
		}
	}
	return nil
}

// send sends a request and returns a successful answer, whose body the
// caller closes; an error answer is read, closed and returned as *Error.
func (c *Client) send(ctx context.Context, method, path, contentType string, body io.Reader, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return nil, &Error{Method: method, Path: path, Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", accept)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &Error{Method: method, Path: path, Err: err}
	}
	if resp.StatusCode < 400 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, answerError(resp, method, path)
}

// answerError makes the *Error of an error answer.
func answerError(resp *http.Response, method, path string) *Error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Line    int    `json:"line"`
		} `json:"error"`
	}
	e := &Error{Status: resp.StatusCode, Method: method, Path: path}
	if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message, e.Line = eb.Error.Code, eb.Error.Message, eb.Error.Line
	} else {
		e.Code = statusCodes[resp.StatusCode]
		if e.Code == "" {
			e.Code = "internal"
			if resp.StatusCode < 500 {
				e.Code = "http_" + strconv.Itoa(resp.StatusCode)
			}
		}
		e.Message = strings.TrimSpace(string(data))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
	}
	e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	return e
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}

func esc(s string) string { return url.PathEscape(s) }

// ListOption sets a query parameter of a method that lists a page.
type ListOption struct{ key, value string }

// Limit sets the page size (the API accepts 1 to 100; 50 by default).
func Limit(n int) ListOption { return ListOption{"limit", strconv.Itoa(n)} }

// Before asks for the page after a previous page's Next cursor.
func Before(cursor string) ListOption { return ListOption{"before", cursor} }

// listQuery makes the query string of opts ("" for none); an empty value
// sends nothing, and a later option wins over an earlier one.
func listQuery(opts []ListOption) string {
	q := url.Values{}
	for _, o := range opts {
		if o.value == "" {
			q.Del(o.key)
			continue
		}
		q.Set(o.key, o.value)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}
