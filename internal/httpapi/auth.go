package httpapi

import (
	"net/http"
	"strings"

	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/security"
)

// Token prefixes tell the three kinds of bearer token apart without a
// database lookup per kind.
const (
	prefixSession = "crs"
	prefixApp     = "cra"
	prefixService = "crv"
)

// principal is who is calling.
type principal struct {
	role      role
	account   *platform.Account // roleAccount, and the app's owner for roleApp
	app       *platform.App
	serviceID string
	tokenHash string
	cookie    bool // authenticated by the session cookie
}

func (p *principal) is(r role) bool { return p.role == r }

// authorize resolves the caller's credential and admits it only if its role
// is among roles. A missing credential on a route that needs one is 401; a
// valid credential of the wrong kind is 403.
func (s *Server) authorize(roles role, h func(http.ResponseWriter, *http.Request, *principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			if platform.ErrorCode(err) == platform.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", invalidTokenChallenge(r))
			}
			s.writeError(w, r, err)
			return
		}
		if p.role != roleAnyone && roles&p.role == 0 && roles&roleAnyone == 0 {
			writeCode(w, platform.EFORBIDDEN, "this credential may not use this route")
			return
		}
		if p.role == roleAnyone && roles&roleAnyone == 0 {
			writeCode(w, platform.EUNAUTHORIZED, "authentication required: send Authorization: Bearer TOKEN")
			return
		}
		// On public routes a credential of a kind the route does not
		// admit is ignored, as if anonymous: an app token reads public
		// pages like anyone else, and acts as nobody.
		if roles&p.role == 0 {
			p = &principal{role: roleAnyone}
		}
		h(w, r, p)
	})
}

// bearerChallenge is the WWW-Authenticate header of a 401 (RFC 6750).
const bearerChallenge = `Bearer realm="crowd"`

// invalidTokenChallenge is the challenge of a request whose credential was
// refused: invalid_token for a token sent but not valid (unknown, expired,
// revoked), invalid_request for an Authorization header that is not
// "Bearer TOKEN".
func invalidTokenChallenge(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if scheme, token, ok := strings.Cut(h, " "); h != "" && (!ok || !strings.EqualFold(scheme, "Bearer") || token == "") {
		return bearerChallenge + `, error="invalid_request", error_description="Authorization must be Bearer TOKEN"`
	}
	return bearerChallenge + `, error="invalid_token", error_description="the access token is invalid, expired or revoked"`
}

// Cookie sessions, for the web pages (Studio and the viewer app). The
// session cookie is HttpOnly; the CSRF cookie is readable by the page, which
// echoes it in the X-CSRF-Token header of every unsafe request (double
// submit), and cross-site requests are refused by their Fetch metadata.
const (
	SessionCookie = "crowd_session"
	CSRFCookie    = "crowd_csrf"
	CSRFHeader    = "X-CSRF-Token"
)

// authenticate reads the bearer token or, failing that, the session cookie.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		c, err := r.Cookie(SessionCookie)
		if err != nil || c.Value == "" {
			return &principal{role: roleAnyone}, nil
		}
		if security.TokenPrefix(c.Value) != prefixSession {
			return &principal{role: roleAnyone}, nil
		}
		if !security.CheckCSRF(r, CSRFCookie, CSRFHeader) {
			return nil, platform.Errorf(platform.EFORBIDDEN, "missing or wrong CSRF token: send the crowd_csrf cookie's value in the X-CSRF-Token header")
		}
		hash := security.HashToken(c.Value)
		a, err := s.Store.SessionAccount(r.Context(), hash, s.now())
		if err != nil {
			// An expired cookie is as good as none on public routes.
			if platform.ErrorCode(err) == platform.EUNAUTHORIZED {
				return &principal{role: roleAnyone}, nil
			}
			return nil, err
		}
		return &principal{role: roleAccount, account: a, tokenHash: hash, cookie: true}, nil
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, platform.Errorf(platform.EUNAUTHORIZED, "Authorization must be Bearer TOKEN")
	}
	hash := security.HashToken(token)
	ctx := r.Context()
	switch security.TokenPrefix(token) {
	case prefixSession:
		a, err := s.Store.SessionAccount(ctx, hash, s.now())
		if err != nil {
			return nil, err
		}
		return &principal{role: roleAccount, account: a, tokenHash: hash}, nil
	case prefixApp:
		app, err := s.Store.AppByToken(ctx, hash)
		if err != nil {
			return nil, err
		}
		a, err := s.Store.Account(ctx, app.AccountID)
		if err != nil {
			return nil, platform.Errorf(platform.EUNAUTHORIZED, "invalid or revoked token")
		}
		return &principal{role: roleApp, account: a, app: app, tokenHash: hash}, nil
	case prefixService:
		tok, err := s.Store.ServiceToken(ctx, hash, s.now().UTC())
		if err != nil {
			return nil, err
		}
		return &principal{role: roleService, serviceID: tok.ID, tokenHash: hash}, nil
	}
	return nil, platform.Errorf(platform.EUNAUTHORIZED, "invalid token")
}
