package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/crowd-dev/crowd/internal/analytics"
	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/platform"
)

// Analytics routes admit the creator's own session and app tokens with the
// analytics:read scope. App tokens belong to business accounts' API access:
// a personal account's app token is refused.

// limitAnalytics limits analytics reads per token (--analytics-per-minute):
// each session and each app token has its own budget, shared by the
// routes, so one looping client or leaked token cannot make the server
// build reports without end. Beyond it the read is 429 with Retry-After.
func (s *Server) limitAnalytics(h func(http.ResponseWriter, *http.Request, *principal)) func(http.ResponseWriter, *http.Request, *principal) {
	return func(w http.ResponseWriter, r *http.Request, p *principal) {
		if ok, wait := s.analyticsReads.Allow(p.tokenHash); !ok {
			w.Header().Set("Retry-After", retryAfter(wait))
			writeCode(w, platform.ERATELIMITED, "too many analytics reads with this token; retry later")
			return
		}
		h(w, r, p)
	}
}

// analyticsCaller checks the caller may read analytics and returns its
// account.
func (s *Server) analyticsCaller(w http.ResponseWriter, p *principal) (*platform.Account, bool) {
	if p.is(roleApp) {
		if !hasScope(p.app.Scopes, platform.ScopeAnalyticsRead) {
			writeCode(w, platform.EFORBIDDEN, "this app token lacks the analytics:read scope")
			return nil, false
		}
		if p.account.Type != platform.TypeBusiness {
			writeCode(w, platform.EFORBIDDEN, "API access through app tokens is for business accounts")
			return nil, false
		}
	}
	return p.account, true
}

func hasScope(scopes []string, want string) bool {
	for _, s := range scopes {
		if s == want {
			return true
		}
	}
	return false
}

// reportRequest reads the range and the detail level for account a.
func (s *Server) reportRequest(w http.ResponseWriter, r *http.Request, a *platform.Account, scope disclosure.Scope) (analytics.Request, bool) {
	business := a.Type == platform.TypeBusiness
	maxDays := analytics.PersonalMaxDays
	if business {
		maxDays = analytics.BusinessMaxDays
	}
	q := r.URL.Query()
	zone, err := analytics.ParseTimeZone(q.Get("tz"))
	if err != nil {
		s.writeError(w, r, err)
		return analytics.Request{}, false
	}
	// Ranges end on the reader's today in exact mode; protected days are
	// UTC days (internal/analytics/zone.go).
	rng, err := analytics.ParseRange(q.Get("range"), q.Get("from"), q.Get("to"), s.Reports.Today(zone), maxDays)
	if err != nil {
		s.writeError(w, r, err)
		return analytics.Request{}, false
	}
	return analytics.Request{Scope: scope, Range: rng, Business: business, Handle: a.Handle, Zone: zone}, true
}

// creatorVideo loads the video in the path and checks a is one of its
// creators: every co-creator sees the same numbers; nobody else sees any.
func (s *Server) creatorVideo(w http.ResponseWriter, r *http.Request, a *platform.Account) (*platform.Video, bool) {
	v, ok := s.video(w, r)
	if !ok {
		return nil, false
	}
	if !v.IsCreator(a.ID) {
		writeCode(w, platform.EFORBIDDEN, "only the video's creators see its analytics")
		return nil, false
	}
	return v, true
}

// report checks the caller and builds the report the request asks for: a
// video's when video is set, else the caller's account overview. It answers
// errors itself.
func (s *Server) report(w http.ResponseWriter, r *http.Request, p *principal, video, businessOnly bool) (*analytics.Report, bool) {
	a, ok := s.analyticsCaller(w, p)
	if !ok {
		return nil, false
	}
	if businessOnly && a.Type != platform.TypeBusiness {
		writeCode(w, platform.EFORBIDDEN, "CSV export is for business accounts")
		return nil, false
	}
	scope := disclosure.Scope{AccountID: a.ID}
	if video {
		v, ok := s.creatorVideo(w, r, a)
		if !ok {
			return nil, false
		}
		scope = disclosure.Scope{VideoID: v.ID}
	}
	req, ok := s.reportRequest(w, r, a, scope)
	if !ok {
		return nil, false
	}
	rep, err := s.Reports.Build(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	return rep, true
}

func (s *Server) videoAnalytics(w http.ResponseWriter, r *http.Request, p *principal) {
	if rep, ok := s.report(w, r, p, true, false); ok {
		writeReport(w, r, rep)
	}
}

func (s *Server) accountAnalytics(w http.ResponseWriter, r *http.Request, p *principal) {
	if rep, ok := s.report(w, r, p, false, false); ok {
		writeReport(w, r, rep)
	}
}

// exportCSV is the daily series as CSV, for business accounts: the same
// numbers as the report, from the same released cells.
func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request, p *principal) {
	rep, ok := s.report(w, r, p, true, true)
	if !ok {
		return
	}
	name := "crowd-" + rep.VideoID + "-" + rep.Range.From.Format(time.DateOnly) + "-" + rep.Range.To.Format(time.DateOnly) + ".csv"
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+strings.ReplaceAll(name, `"`, "")+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Crowd-Disclosure", rep.Policy.Mode.String())
	body := analytics.CSV(rep)
	if notModified(w, r, etagOf(body)) {
		return
	}
	w.Write(body)
}
