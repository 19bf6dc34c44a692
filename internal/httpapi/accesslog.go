package httpapi

import (
	"context"
	"crypto/rand"
	"log/slog"
	"math"
	"net/http"
	"time"
)

// Log attribute keys of the access log and the request id, constant so
// that log queries stay stable.
const (
	logKeyRequestID = "request_id"
	logKeyMethod    = "method"
	logKeyRoute     = "route"
	logKeyStatus    = "status"
	logKeyBytes     = "bytes"
	logKeyDuration  = "duration_ms"
)

// RequestIDHeader carries a request's id: taken from the caller when it is
// a sane token, generated otherwise, and echoed in the answer.
const RequestIDHeader = "X-Request-Id"

// maxRequestID bounds the length of a caller's request id.
const maxRequestID = 128

type ctxKey int

const requestKey ctxKey = 0

// requestInfo is what the API knows of a request in flight: its id, and
// the route pattern that matched (set by the route's own handler, so it
// stays "" for requests no route matched).
type requestInfo struct {
	id    string
	route string
}

// RequestID returns the id of the API request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	if info, ok := ctx.Value(requestKey).(*requestInfo); ok {
		return info.id
	}
	return ""
}

// requestID returns the caller's id when it is a sane token (1 to 128
// printable ASCII characters, no spaces), and a new random one otherwise.
func requestID(given string) string {
	if saneToken(given) {
		return given
	}
	return rand.Text()
}

func saneToken(s string) bool {
	if s == "" || len(s) > maxRequestID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// observe is the API's outermost middleware: it gives the request its id
// (in the context and the X-Request-Id answer header), and once the
// request is answered counts it in the metrics and writes its access log
// line: method, route pattern, status, bytes of the body and duration, and
// the request id. The raw path is never logged: it can hold a handle
// (/v1/accounts/{handle}) or a video id; the route pattern says the same
// to an operator without them. Requests no route matched are logged and
// counted under the route "unmatched".
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{id: requestID(r.Header.Get(RequestIDHeader))}
		w.Header().Set(RequestIDHeader, info.id)
		r = r.WithContext(context.WithValue(r.Context(), requestKey, info))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		d := time.Since(start)
		route := info.route
		if route == "" {
			route = routeUnmatched
		}
		s.metrics.request(route, sw.status, d)
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String(logKeyMethod, r.Method), slog.String(logKeyRoute, route), slog.Int(logKeyStatus, sw.status),
			slog.Int64(logKeyBytes, sw.bytes), slog.Float64(logKeyDuration, Millis(d)))
	})
}

// route marks the request as matched by pattern, for observe.
func route(pattern string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(requestKey).(*requestInfo); ok {
			info.route = pattern
		}
		next.ServeHTTP(w, r)
	})
}

// routeOf returns the route pattern of the request ctx belongs to, for log
// lines that would otherwise name the raw path.
func routeOf(ctx context.Context) string {
	if info, ok := ctx.Value(requestKey).(*requestInfo); ok && info.route != "" {
		return info.route
	}
	return routeUnmatched
}

// Millis is d in milliseconds, to the microsecond: how durations are
// logged (under keys ending in _ms).
func Millis(d time.Duration) float64 {
	return math.Round(float64(d)/1e3) / 1e3
}

// WithRequestID wraps a log handler so that every record logged with the
// context of an API request (Logger.InfoContext and the like) carries the
// request's id under "request_id".
func WithRequestID(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h}
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := RequestID(ctx); id != "" {
		rec.AddAttrs(slog.String(logKeyRequestID, id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
