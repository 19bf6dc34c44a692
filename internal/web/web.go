// Package web serves Crowd's web pages: Studio (/studio), the creators'
// analytics dashboard, and the viewer app (/), where people watch, like,
// comment, save and share. Both are single-page apps that talk only to the
// JSON API from the browser, with the caller's cookie session; this package
// never reads the store. Every asset is embedded in the binary and served
// under a content-hashed name, so the pages need no network but Crowd's own.
package web

import (
	"bytes"
	"embed"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed assets templates
var files embed.FS

// Options configure the web handler.
type Options struct {
	// Logger logs failures to render a page; nil discards them.
	Logger *slog.Logger
}

// handler serves the pages and their assets.
type handler struct {
	log    *slog.Logger
	assets *assetSet
	pages  *template.Template
	mux    *http.ServeMux
}

// New returns the handler of the web pages. It panics if the embedded
// assets are broken, which is a build mistake, not a runtime condition.
func New(o Options) http.Handler {
	h := &handler{log: o.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if h.assets, err = loadAssets(files, "assets"); err != nil {
		panic("web: " + err.Error())
	}
	h.pages = template.Must(template.New("").Funcs(template.FuncMap{"asset": h.assets.url}).ParseFS(files, "templates/*.html"))
	h.mux = h.routes()
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// routes lists every path of the web pages. The apps route on the client;
// the server serves each app's shell for every path the app knows, so deep
// links and reloads work, and a real 404 for anything else.
func (h *handler) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /assets/{name...}", h.asset)

	studio := h.shell("studio", "Crowd Studio")
	mux.Handle("GET /studio", studio)
	mux.Handle("GET /studio/{rest...}", studio)

	viewer := h.shell("viewer", "Crowd")
	mux.Handle("GET /{$}", viewer)
	for _, p := range []string{"/login", "/register", "/inbox", "/saved", "/privacy", "/u/{handle}", "/v/{id}", "/s/{id}"} {
		mux.Handle("GET "+p, viewer)
	}
	favicon, err := h.assets.url("favicon.svg")
	if err != nil {
		panic("web: " + err.Error())
	}
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, favicon, http.StatusMovedPermanently)
	})
	mux.HandleFunc("/", h.notFound)
	return mux
}

// page is what the page templates see.
type page struct {
	App   string // "studio" or "viewer": the stylesheet scope and the script
	Title string
}

// shell serves the HTML shell of an app.
func (h *handler) shell(app, title string) http.Handler {
	var buf bytes.Buffer
	if err := h.pages.ExecuteTemplate(&buf, "shell.html", page{App: app, Title: title}); err != nil {
		panic("web: render " + app + " shell: " + err.Error())
	}
	body := buf.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeHTML(w, http.StatusOK, body)
	})
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var buf bytes.Buffer
	if err := h.pages.ExecuteTemplate(&buf, "notfound.html", page{App: "viewer", Title: "Not found · Crowd"}); err != nil {
		h.log.Error("render not found page", slog.Any("err", err))
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	writeHTML(w, http.StatusNotFound, buf.Bytes())
}

// writeHTML writes an HTML page. Pages are tiny shells whose asset URLs
// change with every release, so they are revalidated on every visit.
func writeHTML(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// asset serves an embedded asset. A content-hashed name is immutable and
// cached for a year; the plain name is served too, revalidated by ETag.
func (h *handler) asset(w http.ResponseWriter, r *http.Request) {
	a, hashed := h.assets.lookup(r.PathValue("name"))
	if a == nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	hd := w.Header()
	ct := mime.TypeByExtension(path.Ext(a.name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	if strings.HasSuffix(a.name, ".md") || strings.HasSuffix(a.name, ".VERSION") {
		ct = "text/plain; charset=utf-8"
	}
	hd.Set("Content-Type", ct)
	hd.Set("ETag", `"`+a.hash+`"`)
	if hashed {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, a.hash) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(a.body)
	}
}

func etagMatch(header, hash string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == `"`+hash+`"` {
			return true
		}
	}
	return false
}

// PrefersHTML reports whether the request's Accept header ranks text/html
// above application/json: a browser opening a link, rather than an API
// client. A tie (such as */*, or no Accept header at all) is not a
// preference, so API clients that accept anything keep getting JSON.
func PrefersHTML(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return false
	}
	return quality(accept, "text", "html") > quality(accept, "application", "json")
}

// quality returns the q-value the Accept header gives type/sub, taken from
// its most specific matching range.
func quality(accept, typ, sub string) float64 {
	best, bestSpec := 0.0, -1
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(part, ";")
		mt := strings.ToLower(strings.TrimSpace(fields[0]))
		t, s, ok := strings.Cut(mt, "/")
		if !ok {
			continue
		}
		spec := -1
		switch {
		case t == typ && s == sub:
			spec = 2
		case t == typ && s == "*":
			spec = 1
		case t == "*" && s == "*":
			spec = 0
		}
		if spec < bestSpec || spec < 0 {
			continue
		}
		q := 1.0
		for _, p := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "q") {
				if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
					q = f
				}
			}
		}
		if spec > bestSpec {
			best, bestSpec = q, spec
		}
	}
	return best
}
