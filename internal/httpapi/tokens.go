package httpapi

import (
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/security"
	"github.com/crowd-dev/crowd/internal/store"
)

// Service tokens are managed by their holders: the platform's servers can
// list them (with when each was created and last used), create new ones and
// revoke any of them, so a token can be rotated without stopping Crowd.
// The first one comes from "crowd token create --service".

// maxTokenName bounds a service token's name, in characters.
const maxTokenName = 100

type serviceToken struct {
	store.ServiceTokenInfo
	// Current marks the token that made the request.
	Current bool `json:"current"`
}

type serviceTokenList struct {
	ServiceTokens []serviceToken `json:"service_tokens"`
}

func (s *Server) serviceTokens(w http.ResponseWriter, r *http.Request, p *principal) {
	toks, err := s.Store.ServiceTokens(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := serviceTokenList{ServiceTokens: make([]serviceToken, len(toks))}
	for i, t := range toks {
		out.ServiceTokens[i] = serviceToken{ServiceTokenInfo: t, Current: t.ID == p.serviceID}
	}
	writeJSON(w, http.StatusOK, out)
}

type newServiceTokenRequest struct {
	Name string `json:"name"`
}

type newServiceToken struct {
	store.ServiceTokenInfo
	// Token is the secret, shown this once; only its hash is stored.
	Token string `json:"token"`
}

func (s *Server) createServiceToken(w http.ResponseWriter, r *http.Request, _ *principal) {
	var req newServiceTokenRequest
	if !s.decode(w, r, &req) {
		return
	}
	name := strings.TrimSpace(req.Name)
	if err := validateTokenName(name); err != nil {
		s.writeError(w, r, err)
		return
	}
	tok, err := security.NewToken(prefixService)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info := store.ServiceTokenInfo{ID: security.NewID(), Name: name, CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	if err := s.Store.CreateServiceToken(r.Context(), info.ID, security.HashToken(tok), info.Name, info.CreatedAt); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, newServiceToken{ServiceTokenInfo: info, Token: tok})
}

func (s *Server) revokeServiceToken(w http.ResponseWriter, r *http.Request, _ *principal) {
	if err := s.Store.DeleteServiceToken(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// validateTokenName checks a service token's name: a note for people, at
// most maxTokenName characters without control characters.
func validateTokenName(name string) error {
	if utf8.RuneCountInString(name) > maxTokenName {
		return platform.Errorf(platform.EINVALID, "name must be at most %d characters", maxTokenName)
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return platform.Errorf(platform.EINVALID, "name must not contain control characters")
	}
	return nil
}
