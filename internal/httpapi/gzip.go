package httpapi

import (
	"bytes"
	"compress/gzip"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// gzipMin is the smallest answer worth compressing.
const gzipMin = 1 << 10

// gzipped compresses JSON and CSV answers of at least gzipMin bytes when the
// client accepts gzip. It buffers up to gzipMin bytes to decide, so small
// answers go out as they are. Event ingestion (POST /v1/events) is never
// compressed: its answer is written as the body is read.
func gzipped(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead || r.URL.Path == "/v1/events" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Accept-Encoding")
		if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
			next.ServeHTTP(w, r)
			return
		}
		gw := &gzipWriter{w: w}
		defer gw.finish()
		next.ServeHTTP(gw, r)
	})
}

// acceptsGzip reports whether an Accept-Encoding header admits gzip.
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "x-gzip" && name != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		if q > 0 {
			return true
		}
	}
	return false
}

// gzipWriter holds the status and the first bytes until it knows whether to
// compress.
type gzipWriter struct {
	w       http.ResponseWriter
	status  int
	buf     bytes.Buffer
	decided bool
	gz      *gzip.Writer
}

func (g *gzipWriter) Header() http.Header { return g.w.Header() }

func (g *gzipWriter) WriteHeader(code int) {
	if g.status != 0 || g.decided {
		return
	}
	g.status = code
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		g.decide(false)
	}
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if g.status == 0 {
		g.status = http.StatusOK
	}
	if g.decided {
		if g.gz != nil {
			return g.gz.Write(b)
		}
		return g.w.Write(b)
	}
	if g.buf.Len() == 0 && len(b) >= gzipMin {
		// Large enough at once (a report, written whole): decided without
		// copying it into buf first.
		g.decide(compressible(g.w.Header()))
		return g.Write(b)
	}
	g.buf.Write(b)
	if g.buf.Len() >= gzipMin {
		g.decide(compressible(g.w.Header()))
	}
	return len(b), nil
}

// compressible reports whether an answer's headers allow compressing it.
func compressible(h http.Header) bool {
	if h.Get("Content-Encoding") != "" {
		return false
	}
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "application/json" || mt == "text/csv"
}

// gzipWriters are reused: a new compressor allocates about a megabyte of
// tables. BestSpeed: answers are compressed on the request's path, and
// JSON of repeated keys shrinks well even at the fastest level.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed) // a valid level never fails
	return w
}}

// decide sends the held status and bytes, compressed or not.
func (g *gzipWriter) decide(compress bool) {
	if g.decided {
		return
	}
	g.decided = true
	h := g.w.Header()
	if compress {
		h.Set("Content-Encoding", "gzip")
		h.Del("Content-Length")
		if et := h.Get("ETag"); strings.HasPrefix(et, `"`) && strings.HasSuffix(et, `"`) && len(et) > 1 {
			h.Set("ETag", strings.TrimSuffix(et, `"`)+gzipSuffix+`"`)
		}
		g.gz = gzipWriters.Get().(*gzip.Writer)
		g.gz.Reset(g.w)
	}
	if g.status != 0 {
		g.w.WriteHeader(g.status)
	}
	if g.buf.Len() > 0 {
		if g.gz != nil {
			g.gz.Write(g.buf.Bytes())
		} else {
			g.w.Write(g.buf.Bytes())
		}
		g.buf.Reset()
	}
}

// finish sends what is still held and ends the gzip stream.
func (g *gzipWriter) finish() {
	g.decide(false)
	if g.gz != nil {
		g.gz.Close()
		gzipWriters.Put(g.gz)
		g.gz = nil
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (g *gzipWriter) Unwrap() http.ResponseWriter { return g.w }
