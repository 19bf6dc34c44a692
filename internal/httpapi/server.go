// Package httpapi is Crowd's JSON API over HTTP: every route in one function,
// handlers as methods on Server, one error shape, and authorization checked
// on every route by the role it is registered with.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowd-dev/crowd/internal/analytics"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/directory"
	"github.com/crowd-dev/crowd/internal/engage"
	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/security"
	"github.com/crowd-dev/crowd/internal/store"
)

// Counter releases the public counters of videos. It is the disclosure
// layer's job; the API never counts by itself.
type Counter interface {
	VideoCounts(ctx context.Context, videoIDs []string) (map[string]platform.Counts, error)
}

// Checker reports whether a dependency is ready.
type Checker interface {
	Check(ctx context.Context) error
}

// Readiness says why the process is not ready ("loading state", "catching
// up: 12 messages behind", "disk full"), or "" when it is.
type Readiness interface {
	NotReady(ctx context.Context) string
}

// Committer publishes a single event durably (the group commit,
// pipeline.Committer).
type Committer interface {
	Commit(ctx context.Context, ev event.Event) error
}

// Aggregation is what the API asks of aggregation: how far it trails the
// log (bulk ingestion pushes back on it), what it holds and which
// partitions stalled (for the metrics), and to forget videos' creators
// when they change.
type Aggregation interface {
	// Lag reports how many log messages aggregation trails by.
	Lag() uint64
	// LagTime estimates how long aggregation takes to apply those
	// messages, at the rate it measures while applying (a prior until
	// its first batch after a start); 0 when it is caught up.
	LagTime() time.Duration
	// StateStats reports aggregation's in-memory state: event ids and
	// viewer-days held and the bytes of their tables.
	StateStats() (ids, viewerDays, bytes int)
	// StalledPartitions reports how many event log partitions have events
	// waiting behind a checkpoint that does not move.
	StalledPartitions() int
	// ForgetCreators tells aggregation that videos' creators changed.
	ForgetCreators(videoIDs []string)
}

// Waker is woken after events were written to the outbox, so that it moves
// them without waiting for its next tick (the relay).
type Waker interface {
	Wake()
}

// Deps are the services the API runs on, built by the caller (internal/app
// builds every one of them). A nil service is left out, as its comment
// says; the tests of this package build a server from a store alone.
type Deps struct {
	Config config.Config
	Store  *store.Store
	// Counter releases public counters; Reports builds analytics reports.
	Counter Counter
	Reports *analytics.Builder
	// Directory resolves what ingestion looks up: accounts from memory,
	// kept fresh by the store; videos from a cache sync keeps fresh. The
	// API looks up viewed videos in it and drops the videos it changes.
	Directory *directory.Directory
	// Events makes the events of the API's own actions (views, likes,
	// follows, shares), viewers pseudonymized.
	Events *engage.Builder
	// Ingest is bulk ingestion (POST /v1/events), publishing to the
	// event log; a server without it cannot take bulk events.
	Ingest *engage.Ingester
	// Committer publishes a single event with group commit; nil writes it
	// to the outbox instead.
	Committer Committer
	// Relay is woken after events were written to the outbox. May be nil.
	Relay Waker
	// Aggregation is told about creators and asked for its lag and state;
	// nil: no backpressure and no aggregation gauges.
	Aggregation Aggregation
	// Readiness, when set, says why the process is not ready; /readyz
	// answers 503 with the reason while it is not.
	Readiness Readiness
	// Ready lists the dependencies /readyz checks (the store, the event log).
	Ready    []Checker
	Logger   *slog.Logger
	Now      func() time.Time
	Registry *prometheus.Registry
	// Passwords are the hashing parameters for new passwords.
	Passwords security.PasswordParams
	// ObserveRequest, when set, is called after every request with its
	// route pattern, status and the time the server spent on it (crowd
	// bench measures server-side latency with it). It must be fast. It is
	// a hook of whoever runs the server, not a service: a func.
	ObserveRequest func(route string, status int, d time.Duration)
}

// Server serves the API.
type Server struct {
	Deps
	cfg     config.Config
	log     *slog.Logger
	now     func() time.Time
	handler http.Handler
	metrics *metrics

	// Rate limits by client address (and handle, for logins).
	logins    *security.LoginThrottle
	registers *security.LoginLimiter
	anonViews *security.LoginLimiter
	// analyticsReads limits analytics reads per token.
	analyticsReads *security.LoginLimiter

	bulkSlots chan struct{}
	// budget bounds the memory of bulk bodies (maxBufferedBulk).
	budget *byteBudget
}

// New returns a Server.
func New(d Deps) *Server {
	s := &Server{Deps: d, cfg: d.Config, log: d.Logger, now: d.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	// Whatever a handler logs with its request's context carries the
	// request id.
	s.log = slog.New(WithRequestID(s.log.Handler()))
	if s.now == nil {
		s.now = time.Now
	}
	if s.Relay == nil {
		s.Relay = noWaker{}
	}
	if s.Passwords == (security.PasswordParams{}) {
		s.Passwords = security.DefaultPasswordParams
	}
	// Login attempts are limited per client address, slowed per handle and
	// address, and shared per handle among addresses that never logged in
	// to it (security.LoginThrottle): one client cannot guess many
	// accounts' passwords, many clients cannot guess one account's, and
	// nobody can lock an owner out.
	s.logins = security.NewLoginThrottle(max(s.cfg.LoginPerMinute, 1), s.now)
	s.registers = security.NewLoginLimiter(max(s.cfg.RegisterPerMinute, 1), max(s.cfg.RegisterPerMinute, 1), s.now)
	s.anonViews = security.NewLoginLimiter(max(s.cfg.AnonViewsPerMinute, 1), max(s.cfg.AnonViewsPerMinute, 1), s.now)
	s.analyticsReads = security.NewLoginLimiter(max(s.cfg.AnalyticsPerMinute, 1), max(s.cfg.AnalyticsPerMinute, 1), s.now)
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
		s.Registry = d.Registry
	}
	s.metrics = newMetrics(s.Registry)
	s.metrics.observe = d.ObserveRequest
	s.metrics.aggregation(s.Registry, d.Aggregation)
	s.metrics.state(s.Registry, d.Store, d.Config.Data)
	s.bulkSlots = make(chan struct{}, bulkSlotsN)
	s.budget = &byteBudget{limit: maxBufferedBulk}
	s.handler = s.routes()
	return s
}

// noWaker is the Relay of a server without one.
type noWaker struct{}

func (noWaker) Wake() {}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Roles a route may admit. A route lists the roles it accepts; any other
// credential is refused before the handler runs.
type role int

const (
	roleAnyone  role = 1 << iota // no credential needed (a valid one is still read)
	roleAccount                  // a logged-in account (session token)
	roleApp                      // an app token (scopes checked by the handler's scope)
	roleService                  // a service token of the platform's servers
)

// routes lists every route of the API.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, roles role, h func(http.ResponseWriter, *http.Request, *principal)) {
		mux.Handle(pattern, route(pattern, s.authorize(roles, h)))
	}

	handle("GET /healthz", roleAnyone, s.healthz)
	handle("GET /readyz", roleAnyone, s.readyz)
	// GET /metrics is served only by Operator, on the operator listener.
	handle("GET /openapi.json", roleAnyone, s.openapi)

	handle("POST /v1/accounts", roleAnyone, s.register)
	handle("POST /v1/sessions", roleAnyone, s.login)
	handle("DELETE /v1/sessions/current", roleAccount, s.logout)
	handle("GET /v1/me", roleAccount, s.me)
	handle("PATCH /v1/me", roleAccount, s.patchMe)
	handle("DELETE /v1/me", roleAccount, s.deleteMe)
	handle("GET /v1/me/saved", roleAccount, s.saved)
	handle("GET /v1/me/invitations", roleAccount, s.invitations)
	handle("PUT /v1/me/cocreations/{id}", roleAccount, s.acceptCoCreation)
	handle("DELETE /v1/me/cocreations/{id}", roleAccount, s.leaveCoCreation)
	handle("GET /v1/accounts/{handle}", roleAnyone, s.profile)
	handle("GET /v1/accounts/{handle}/videos", roleAnyone, s.accountVideos)
	handle("PUT /v1/accounts/{handle}/follow", roleAccount, s.follow)
	handle("DELETE /v1/accounts/{handle}/follow", roleAccount, s.unfollow)

	handle("POST /v1/videos", roleAccount, s.createVideo)
	handle("GET /v1/videos", roleAnyone, s.feed)
	handle("GET /v1/videos/{id}", roleAnyone, s.getVideo)
	handle("GET /v1/videos/{id}/cocreators", roleAccount, s.videoCoCreators)
	handle("PUT /v1/videos/{id}/cocreators/{handle}", roleAccount, s.inviteCoCreator)
	handle("DELETE /v1/videos/{id}/cocreators/{handle}", roleAccount, s.removeCoCreator)
	handle("POST /v1/videos/{id}/views", roleAnyone|roleAccount, s.limitAnonymousViews(s.view))
	handle("PUT /v1/videos/{id}/like", roleAccount, s.like)
	handle("DELETE /v1/videos/{id}/like", roleAccount, s.unlike)
	handle("POST /v1/videos/{id}/comments", roleAccount, s.comment)
	handle("GET /v1/videos/{id}/comments", roleAnyone, s.comments)
	handle("DELETE /v1/comments/{id}", roleAccount, s.deleteComment)
	handle("PUT /v1/videos/{id}/save", roleAccount, s.save)
	handle("DELETE /v1/videos/{id}/save", roleAccount, s.unsave)
	handle("POST /v1/videos/{id}/shares", roleAccount, s.share)
	handle("GET /s/{id}", roleAnyone|roleAccount, s.limitAnonymousViews(s.openShare))

	handle("POST /v1/messages", roleAccount, s.sendMessage)
	handle("GET /v1/inbox", roleAccount, s.inbox)
	handle("GET /v1/messages/sent", roleAccount, s.sent)
	handle("GET /v1/messages/{id}", roleAccount, s.message)
	handle("POST /v1/messages/{id}/open", roleAccount, s.openMessage)

	handle("GET /v1/activity", roleAccount, s.activity)
	handle("GET /v1/notifications", roleAccount, s.notifications)
	handle("POST /v1/notifications/read", roleAccount, s.readNotifications)
	handle("GET /v1/privacy-policy", roleAnyone, s.privacyPolicy)
	handle("PUT /v1/privacy-policy", roleService, s.publishPrivacyPolicy)

	handle("GET /v1/analytics/videos/{id}", roleAccount|roleApp, s.limitAnalytics(s.videoAnalytics))
	handle("GET /v1/analytics/videos/{id}/export.csv", roleAccount|roleApp, s.limitAnalytics(s.exportCSV))
	handle("GET /v1/analytics/account", roleAccount|roleApp, s.limitAnalytics(s.accountAnalytics))

	handle("POST /v1/events", roleService, s.ingestEvents)
	handle("POST /v1/sync/accounts", roleService, s.syncAccounts)
	handle("POST /v1/sync/videos", roleService, s.syncVideos)
	handle("GET /v1/service-tokens", roleService, s.serviceTokens)
	handle("POST /v1/service-tokens", roleService, s.createServiceToken)
	handle("DELETE /v1/service-tokens/{id}", roleService, s.revokeServiceToken)

	handle("POST /v1/apps", roleAccount, s.createApp)
	handle("GET /v1/apps", roleAccount, s.apps)
	handle("DELETE /v1/apps/{id}", roleAccount, s.deleteApp)

	return s.observe(security.Headers(gzipped(s.recoverer(notFoundJSON(mux)))))
}

// notFoundJSON answers unmatched paths and methods in the JSON error shape
// instead of the mux's plain text.
func notFoundJSON(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// Let the mux decide between 404 and 405 (it sets Allow), then
		// rewrite its answer.
		rec := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.header.Get("Allow"))
			writeCode(w, codeNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
			return
		}
		if rec.status >= 300 && rec.status < 400 {
			// Path cleaning redirects (e.g. "//v1/me").
			w.Header().Set("Location", rec.header.Get("Location"))
			w.WriteHeader(rec.status)
			return
		}
		writeCode(w, platform.ENOTFOUND, "no such route: "+r.Method+" "+r.URL.Path)
	})
}

type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(code int)        { r.status = code }

// recoverer turns a panic into a logged 500 instead of a dropped connection.
// A panic is a bug; it must never be the caller's fault.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", slog.String(logKeyMethod, r.Method), slog.String(logKeyRoute, routeOf(r.Context())), slog.Any("panic", v))
				writeCode(w, platform.EINTERNAL, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// baseURL is the base of share links.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	return "http://" + r.Host
}
