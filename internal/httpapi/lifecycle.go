package httpapi

import (
	"net/http"

	"github.com/crowd-dev/crowd/internal/security"
)

// writeNotReady answers 503 in the JSON error shape with the reason the
// process is not ready, and asks the client to come back in a second.
func writeNotReady(w http.ResponseWriter, reason string) {
	w.Header().Set("Retry-After", "1")
	writeCode(w, codeUnavailable, "not ready: "+reason)
}

// Starting is the handler of a listener while the process starts, before
// the API exists: GET /healthz answers 200 (the process is alive), GET
// /readyz 503 with reason() ("opening store", "opening event log"), and
// every other request 503 with Retry-After, in the JSON error shape. An
// orchestrator so sees "not ready" rather than "connection refused".
func Starting(reason func() string) http.Handler {
	return security.Headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
			return
		}
		writeNotReady(w, reason())
	}))
}

// WriteCode answers with an error code in the JSON error shape, for
// handlers outside this package (the operator listener's backup route).
func WriteCode(w http.ResponseWriter, code, msg string) { writeCode(w, code, msg) }

// WriteJSON answers with v as JSON, for handlers outside this package.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }
