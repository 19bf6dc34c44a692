package security

import (
	"crypto/rand"
	"encoding/base64"
	"mime"
	"net/http"
)

// CSRFFormField is the form field CheckCSRF reads when the request carries
// no CSRF header, for plain HTML forms that cannot set headers.
const CSRFFormField = "csrf_token"

// NewCSRFToken returns a new random CSRF token: 32 random bytes in
// unpadded base64url.
func NewCSRFToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never returns an error; it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// crossOrigin implements the Fetch-metadata half of CheckCSRF with the
// standard library's checks, which are maintained as browsers evolve.
var crossOrigin = http.NewCrossOriginProtection()

// CheckCSRF reports whether r may proceed under Crowd's CSRF defence for
// cookie sessions. Safe methods (GET, HEAD, OPTIONS) always pass; they must
// not change state. Unsafe methods must pass two independent checks:
//
//  1. Origin: if the browser sent Sec-Fetch-Site, it must be "same-origin"
//     or "none" (user-initiated); otherwise, if it sent Origin, its host
//     must equal r.Host. Cross-site requests are rejected outright. Requests
//     with neither header are not from a (modern) browser and pass this step.
//  2. Double submit: the request must carry a token, in header headerName or
//     else in the form field "csrf_token", equal (in constant time) to the
//     value of cookie cookieName. The server sets that cookie to
//     NewCSRFToken() at login and the page echoes it; a cross-site attacker
//     can make the browser send the cookie but cannot read it to echo it.
//
// Double submit is only as strong as the cookie's integrity: name the
// cookie with the __Host- prefix (Secure, Path=/, no Domain) so that a
// sibling subdomain cannot overwrite it. The form field is read only from
// bodies already parsed or of type application/x-www-form-urlencoded; a
// multipart upload must send the header, so a CSRF check never buffers an
// upload.
func CheckCSRF(r *http.Request, cookieName, headerName string) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	if crossOrigin.Check(r) != nil {
		return false
	}
	cookie, err := r.Cookie(cookieName)
	if err != nil || cookie.Value == "" {
		return false
	}
	token := r.Header.Get(headerName)
	if token == "" {
		token = formToken(r)
	}
	return token != "" && Equal(token, cookie.Value)
}

// formToken returns the CSRF form field of r's body, without parsing
// multipart bodies that the handler has not parsed itself.
func formToken(r *http.Request) string {
	if r.MultipartForm != nil {
		if v := r.MultipartForm.Value[CSRFFormField]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if r.PostForm == nil {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct != "application/x-www-form-urlencoded" {
			return ""
		}
	}
	return r.PostFormValue(CSRFFormField)
}
