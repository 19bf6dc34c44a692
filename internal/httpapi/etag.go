package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/crowd-dev/crowd/internal/analytics"
)

// Entity tags. Only analytics reports and their CSV export carry an ETag:
// they are built from released cells only, so the tag, a function of the
// body, tells nothing the body does not. Message, sent-list and inbox
// answers never carry one (docs/PRIVACY.md, "Read receipts").
//
// A report's tag is computed over the report without generated_at, which
// changes on every request: an unchanged report keeps its tag, and
// If-None-Match with it answers 304. The tag is strong: the first 16 bytes
// of the SHA-256 of the bytes, in hex and quotes. A gzipped answer's tag
// carries the suffix gzipSuffix (another representation, another strong
// tag); either form matches.

const gzipSuffix = "-gzip"

// etagOf is the strong entity tag of b.
func etagOf(b []byte) string {
	h := sha256.Sum256(b)
	return `"` + hex.EncodeToString(h[:16]) + `"`
}

// reportETag is the tag of a marshalled report b without the value of its
// generated_at, so an unchanged report keeps its tag.
func reportETag(b []byte) string {
	key := []byte(`"generated_at":"`)
	i := bytes.Index(b, key)
	if i < 0 {
		return etagOf(b)
	}
	v := i + len(key)
	end := bytes.IndexByte(b[v:], '"')
	if end < 0 {
		return etagOf(b)
	}
	h := sha256.New()
	h.Write(b[:v])
	h.Write(b[v+end:])
	var sum [sha256.Size]byte
	return `"` + hex.EncodeToString(h.Sum(sum[:0])[:16]) + `"`
}

// notModified sets the ETag header to etag and, when the request's
// If-None-Match names it, answers 304 and reports true.
func notModified(w http.ResponseWriter, r *http.Request, etag string) bool {
	if etag == "" {
		return false
	}
	w.Header().Set("ETag", etag)
	inm := r.Header.Get("If-None-Match")
	if inm == "" {
		return false
	}
	gz := strings.TrimSuffix(etag, `"`) + gzipSuffix + `"`
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/") // If-None-Match compares weakly
		if t == "*" || t == etag || t == gz {
			if t == gz {
				w.Header().Set("ETag", gz)
			}
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusNotModified)
			return true
		}
	}
	return false
}

// writeReport answers a report as JSON with its ETag, or 304.
func writeReport(w http.ResponseWriter, r *http.Request, rep *analytics.Report) {
	p, err := marshalJSON(rep)
	if err != nil {
		writeJSON(w, http.StatusOK, rep) // answers the error
		return
	}
	defer putBuffer(p)
	if notModified(w, r, reportETag(*p)) {
		return
	}
	writeJSONBytes(w, http.StatusOK, *p)
}
