package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/security"
	"github.com/crowd-dev/crowd/internal/store"
)

const timeFormat = time.RFC3339Nano

func cursorOf(t time.Time, id string) string { return store.Cursor(t, id) }

func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(max(d, time.Second).Seconds())))
}

type activityList struct {
	Activity []platform.Activity `json:"activity"`
}

// activity lists likes, comments and follows on the caller's videos and
// account, with who. Shares, saves and views are never in it.
func (s *Server) activity(w http.ResponseWriter, r *http.Request, p *principal) {
	pg, ok := s.page(w, r)
	if !ok {
		return
	}
	acts, err := s.Store.Activity(r.Context(), p.account.ID, pg.Limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, activityList{Activity: acts})
}

type notificationList struct {
	Notifications []platform.Notification `json:"notifications"`
	Unread        int                     `json:"unread"`
}

func (s *Server) notifications(w http.ResponseWriter, r *http.Request, p *principal) {
	ns, err := s.Store.Notifications(r.Context(), p.account)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := notificationList{Notifications: ns}
	for _, n := range ns {
		if !n.Read {
			out.Unread++
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) readNotifications(w http.ResponseWriter, r *http.Request, p *principal) {
	if err := s.Store.MarkNotificationsSeen(r.Context(), p.account.ID, s.now().UTC()); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) privacyPolicy(w http.ResponseWriter, r *http.Request, _ *principal) {
	pp, err := s.Store.PrivacyPolicy(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pp)
}

type policyRequest struct {
	Text string `json:"text"`
}

// publishPrivacyPolicy publishes a new version (service token: the platform
// operator). Every existing account is notified.
func (s *Server) publishPrivacyPolicy(w http.ResponseWriter, r *http.Request, _ *principal) {
	var req policyRequest
	if !s.decode(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Text) == "" || len(req.Text) > platform.MaxPolicyTextLength {
		writeCode(w, platform.EINVALID, "text is required and at most 100000 bytes")
		return
	}
	pp, err := s.Store.PublishPrivacyPolicy(r.Context(), req.Text, s.now().UTC())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, pp)
}

type appRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

type appList struct {
	Apps []platform.App `json:"apps"`
}

// createApp creates an app token. The token is shown once, in this answer;
// only its hash is stored.
func (s *Server) createApp(w http.ResponseWriter, r *http.Request, p *principal) {
	var req appRequest
	if !s.decode(w, r, &req) {
		return
	}
	if err := platform.ValidateApp(req.Name, req.Scopes); err != nil {
		s.writeError(w, r, err)
		return
	}
	token, err := security.NewToken(prefixApp)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a := &platform.App{ID: security.NewID(), AccountID: p.account.ID, Name: strings.TrimSpace(req.Name), Scopes: req.Scopes, CreatedAt: s.now().UTC()}
	if err := s.Store.CreateApp(r.Context(), a, security.HashToken(token)); err != nil {
		s.writeError(w, r, err)
		return
	}
	a.Token = token
	writeJSON(w, http.StatusCreated, a)
}

func (s *Server) apps(w http.ResponseWriter, r *http.Request, p *principal) {
	as, err := s.Store.Apps(r.Context(), p.account.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appList{Apps: as})
}

func (s *Server) deleteApp(w http.ResponseWriter, r *http.Request, p *principal) {
	if err := s.Store.DeleteApp(r.Context(), p.account.ID, r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// limitAnonymousViews limits anonymous views (no credential, or one the
// route ignores) per client address. Beyond the limit the view is refused
// with 429 and Retry-After and not counted: a caller that keeps sending
// learns it is not being counted, instead of inflating numbers silently.
// Logged-in views are bounded by aggregation's per-viewer daily cap.
func (s *Server) limitAnonymousViews(h func(http.ResponseWriter, *http.Request, *principal)) func(http.ResponseWriter, *http.Request, *principal) {
	return func(w http.ResponseWriter, r *http.Request, p *principal) {
		if p.role == roleAnyone {
			if ok, wait := s.anonViews.Allow(clientIP(r)); !ok {
				w.Header().Set("Retry-After", retryAfter(wait))
				writeCode(w, platform.ERATELIMITED, "too many anonymous views from this address; this one was not counted")
				return
			}
		}
		h(w, r, p)
	}
}
