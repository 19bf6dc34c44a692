package httpapi

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/security"
	"github.com/crowd-dev/crowd/internal/store"
)

type registerRequest struct {
	Handle      string `json:"handle"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name"`
	BirthDate   string `json:"birth_date"`
	Gender      string `json:"gender"`
	Country     string `json:"country"`
	Type        string `json:"type"`
}

func (s *Server) register(w http.ResponseWriter, r *http.Request, _ *principal) {
	// Every registration costs a password hash: limit them per address
	// before reading anything.
	if ok, wait := s.registers.Allow(clientIP(r)); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		writeCode(w, platform.ERATELIMITED, "too many registrations from this address; try again later")
		return
	}
	var req registerRequest
	if !s.decode(w, r, &req) {
		return
	}
	now := s.now().UTC()
	a := &platform.Account{
		ID:          security.NewID(),
		Handle:      platform.NormalizeHandle(req.Handle),
		DisplayName: strings.TrimSpace(req.DisplayName),
		BirthDate:   req.BirthDate,
		Gender:      orDefault(req.Gender, platform.GenderUndisclosed),
		Country:     strings.ToUpper(req.Country),
		Type:        orDefault(req.Type, platform.TypePersonal),
		DMPolicy:    platform.DMEveryone,
		CreatedAt:   now,
	}
	if a.DisplayName == "" {
		a.DisplayName = a.Handle
	}
	if err := firstErr(
		platform.ValidateHandle(a.Handle),
		platform.ValidatePassword(req.Password),
		platform.ValidateDisplayName(a.DisplayName),
		platform.ValidateBirthDate(a.BirthDate, now),
		platform.ValidateGender(a.Gender),
		platform.ValidateCountry(a.Country),
		platform.ValidateType(a.Type),
	); err != nil {
		s.writeError(w, r, err)
		return
	}
	hash, err := security.HashPasswordWith(s.Passwords, req.Password)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a.PasswordHash = hash
	if err := s.Store.CreateAccount(r.Context(), a); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, a)
}

type loginRequest struct {
	Handle   string `json:"handle"`
	Password string `json:"password"`
	// Cookie asks for a cookie session (the web pages) in addition to the
	// token in the answer.
	Cookie bool `json:"cookie"`
}

type loginResponse struct {
	Token     string            `json:"token"`
	ExpiresAt string            `json:"expires_at"`
	Account   *platform.Account `json:"account"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, _ *principal) {
	var req loginRequest
	if !s.decode(w, r, &req) {
		return
	}
	handle := platform.NormalizeHandle(req.Handle)
	addr := clientIP(r)
	if ok, wait := s.logins.Admit(handle, addr); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		writeCode(w, platform.ERATELIMITED, "too many login attempts; try again later")
		return
	}
	if len(req.Password) > platform.MaxPasswordLen {
		writeCode(w, platform.EUNAUTHORIZED, "wrong handle or password")
		return
	}
	a, err := s.Store.AccountByHandle(r.Context(), handle)
	if err != nil && platform.ErrorCode(err) != platform.ENOTFOUND {
		s.writeError(w, r, err)
		return
	}
	if a == nil || a.PasswordHash == "" {
		// Spend the same time as a real check so timing does not tell
		// which handles exist.
		security.DummyVerify(req.Password)
		writeCode(w, platform.EUNAUTHORIZED, "wrong handle or password")
		return
	}
	ok, err := security.VerifyPassword(a.PasswordHash, req.Password)
	if err != nil || !ok {
		if err != nil {
			s.log.Error("verify password", slog.Any("err", err))
		}
		writeCode(w, platform.EUNAUTHORIZED, "wrong handle or password")
		return
	}
	s.logins.Succeeded(handle, addr)
	token, err := security.NewToken(prefixSession)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.now().UTC()
	expires := now.Add(s.cfg.SessionTTL)
	if err := s.Store.CreateSession(r.Context(), security.HashToken(token), a.ID, now, expires); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Cookie {
		secure := r.TLS != nil
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", Expires: expires, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
		http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: security.NewCSRFToken(), Path: "/", Expires: expires, Secure: secure, SameSite: http.SameSiteStrictMode})
	}
	writeJSON(w, http.StatusCreated, loginResponse{Token: token, ExpiresAt: expires.Format(timeFormat), Account: a})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, p *principal) {
	if err := s.Store.DeleteSession(r.Context(), p.tokenHash); err != nil {
		s.writeError(w, r, err)
		return
	}
	if p.cookie {
		for _, name := range []string{SessionCookie, CSRFCookie} {
			http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1})
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p *principal) {
	writeJSON(w, http.StatusOK, p.account)
}

type patchMeRequest struct {
	DisplayName *string `json:"display_name"`
	Type        *string `json:"type"`
	DMPolicy    *string `json:"dm_policy"`
	// ReadReceipts lets senders see when the caller opened their messages.
	ReadReceipts *bool `json:"read_receipts"`
}

func (s *Server) patchMe(w http.ResponseWriter, r *http.Request, p *principal) {
	var req patchMeRequest
	if !s.decode(w, r, &req) {
		return
	}
	var errs []error
	if req.DisplayName != nil {
		*req.DisplayName = strings.TrimSpace(*req.DisplayName)
		errs = append(errs, platform.ValidateDisplayName(*req.DisplayName))
		if *req.DisplayName == "" {
			*req.DisplayName = p.account.Handle
		}
	}
	if req.Type != nil {
		errs = append(errs, platform.ValidateType(*req.Type))
	}
	if req.DMPolicy != nil {
		errs = append(errs, platform.ValidateDMPolicy(*req.DMPolicy))
	}
	if err := firstErr(errs...); err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.Store.UpdateAccount(r.Context(), p.account.ID, store.AccountPatch{DisplayName: req.DisplayName, Type: req.Type, DMPolicy: req.DMPolicy, ReadReceipts: req.ReadReceipts})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// deleteMe deletes the caller's account and private data. Its anonymous
// contribution to published numbers stays; its public likes, comments and
// follows go, and events keep public counters in step.
func (s *Server) deleteMe(w http.ResponseWriter, r *http.Request, p *principal) {
	at := s.now().UTC()
	var gone []string // the account's own videos, deleted with it
	err := s.Store.DeleteAccount(r.Context(), p.account.ID, func(fp store.Footprint) []event.Event {
		gone = fp.Videos
		var evs []event.Event
		for _, v := range fp.Likes {
			evs = append(evs, s.engagementEvent(event.Unlike, v, p.account, at))
		}
		for _, c := range fp.Comments {
			evs = append(evs, s.engagementEvent(event.CommentDelete, c.VideoID, p.account, at))
		}
		for _, f := range fp.Followees {
			evs = append(evs, s.followEvent(event.Unfollow, p.account.ID, f, at))
		}
		return evs
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.Directory != nil {
		// Bulk events must no longer resolve the account's videos (the
		// account itself the directory dropped when the store told it).
		s.Directory.ForgetVideos(gone...)
	}
	s.Relay.Wake()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) profile(w http.ResponseWriter, r *http.Request, _ *principal) {
	p, err := s.Store.Profile(r.Context(), platform.NormalizeHandle(r.PathValue("handle")))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) follow(w http.ResponseWriter, r *http.Request, p *principal) {
	s.setFollow(w, r, p, true)
}

func (s *Server) unfollow(w http.ResponseWriter, r *http.Request, p *principal) {
	s.setFollow(w, r, p, false)
}

func (s *Server) setFollow(w http.ResponseWriter, r *http.Request, p *principal, on bool) {
	target, err := s.Store.AccountByHandle(r.Context(), platform.NormalizeHandle(r.PathValue("handle")))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if target.ID == p.account.ID {
		writeCode(w, platform.EINVALID, "you cannot follow yourself")
		return
	}
	at := s.now().UTC()
	typ := event.Follow
	if !on {
		typ = event.Unfollow
	}
	changed, err := s.Store.SetFollow(r.Context(), p.account.ID, target.ID, at, on, s.followEvent(typ, p.account.ID, target.ID, at))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if changed {
		s.Relay.Wake()
	}
	writeJSON(w, http.StatusOK, map[string]any{"handle": target.Handle, "following": on})
}

// clientIP is the key rate limits use for the client: the address of the
// TCP peer (X-Forwarded-For and the like are never read: anyone can send
// them), with IPv6 addresses reduced to their /64, the block one
// subscriber is usually given, so that walking through a block does not
// buy fresh limits.
func clientIP(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return host
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
