package security

import "net/http"

// contentSecurityPolicy allows only this origin's own scripts, styles,
// images (plus data: URIs for small inline images) and media, and no
// framing, <base> rewriting or form posts elsewhere. No 'unsafe-inline':
// an injected <script> or style attribute does nothing.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// permissionsPolicy turns off the powerful browser features Crowd never
// uses, so that injected or third-party code cannot use them either.
const permissionsPolicy = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), " +
	"microphone=(), payment=(), usb=(), browsing-topics=()"

// strictTransportSecurity keeps browsers on HTTPS for a year once they
// have seen the site over TLS. It omits includeSubDomains and preload:
// those bind every host under the operator's domain, which is the
// operator's decision, not Crowd's.
const strictTransportSecurity = "max-age=31536000"

// Headers is middleware that sets security headers on every response
// before calling next:
//
//   - Content-Security-Policy: same-origin resources only, no framing.
//   - X-Content-Type-Options: nosniff, so uploads are never run as scripts.
//   - Referrer-Policy: no-referrer, so share URLs and video ids never leak
//     to other sites through the Referer header.
//   - X-Frame-Options: DENY, frame-ancestors for older browsers.
//   - Cross-Origin-Opener-Policy: same-origin, so pages opened from Crowd
//     or opening Crowd cannot script its window.
//   - Permissions-Policy: camera, microphone, geolocation and the like off.
//   - Strict-Transport-Security: only on requests that arrived over TLS,
//     because browsers ignore it over plain HTTP and a TLS-terminating
//     proxy in front of Crowd should set it itself.
//
// Handlers may override any of them.
func Headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", permissionsPolicy)
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", strictTransportSecurity)
		}
		next.ServeHTTP(w, r)
	})
}
