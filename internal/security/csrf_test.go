package security

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestNewCSRFToken(t *testing.T) {
	a, b := NewCSRFToken(), NewCSRFToken()
	if len(a) != 43 || a == b {
		t.Errorf("NewCSRFToken = %q, %q; want two distinct 43-character tokens", a, b)
	}
}

func TestCheckCSRF(t *testing.T) {
	const (
		cookie = "__Host-csrf"
		header = "X-CSRF-Token"
		host   = "crowd.example"
	)
	tok := NewCSRFToken()

	type req struct {
		method, site, origin, cookie, header, form string
	}
	build := func(q req) *http.Request {
		var r *http.Request
		if q.form != "" {
			body := url.Values{CSRFFormField: {q.form}}.Encode()
			r = httptest.NewRequest(q.method, "http://"+host+"/x", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			r = httptest.NewRequest(q.method, "http://"+host+"/x", nil)
		}
		if q.site != "" {
			r.Header.Set("Sec-Fetch-Site", q.site)
		}
		if q.origin != "" {
			r.Header.Set("Origin", q.origin)
		}
		if q.cookie != "" {
			r.AddCookie(&http.Cookie{Name: cookie, Value: q.cookie})
		}
		if q.header != "" {
			r.Header.Set(header, q.header)
		}
		return r
	}

	tests := []struct {
		name string
		req  req
		want bool
	}{
		{"GETNoToken", req{method: "GET"}, true},
		{"GETCrossSite", req{method: "GET", site: "cross-site"}, true},
		{"HEAD", req{method: "HEAD"}, true},
		{"OPTIONS", req{method: "OPTIONS"}, true},

		{"POSTHeader", req{method: "POST", site: "same-origin", cookie: tok, header: tok}, true},
		{"POSTForm", req{method: "POST", site: "same-origin", cookie: tok, form: tok}, true},
		{"POSTNoFetchMetadata", req{method: "POST", cookie: tok, header: tok}, true},
		{"POSTSameOriginHeader", req{method: "POST", origin: "http://" + host, cookie: tok, header: tok}, true},
		{"POSTUserInitiated", req{method: "POST", site: "none", cookie: tok, header: tok}, true},
		{"PUT", req{method: "PUT", site: "same-origin", cookie: tok, header: tok}, true},
		{"DELETE", req{method: "DELETE", site: "same-origin", cookie: tok, header: tok}, true},
		{"PATCHBadToken", req{method: "PATCH", site: "same-origin", cookie: tok, header: "x"}, false},

		{"POSTNoCookie", req{method: "POST", site: "same-origin", header: tok}, false},
		{"POSTNoToken", req{method: "POST", site: "same-origin", cookie: tok}, false},
		{"POSTWrongHeader", req{method: "POST", site: "same-origin", cookie: tok, header: NewCSRFToken()}, false},
		{"POSTWrongForm", req{method: "POST", site: "same-origin", cookie: tok, form: NewCSRFToken()}, false},
		{"POSTPrefixToken", req{method: "POST", site: "same-origin", cookie: tok, header: tok[:20]}, false},
		{"POSTCrossSite", req{method: "POST", site: "cross-site", cookie: tok, header: tok}, false},
		{"POSTSameSite", req{method: "POST", site: "same-site", cookie: tok, header: tok}, false},
		{"POSTForeignOrigin", req{method: "POST", origin: "https://evil.example", cookie: tok, header: tok}, false},
		{"DELETECrossSite", req{method: "DELETE", site: "cross-site", cookie: tok, header: tok}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckCSRF(build(tt.req), cookie, header); got != tt.want {
				t.Errorf("CheckCSRF = %v; want %v", got, tt.want)
			}
		})
	}

	t.Run("MultipartNotParsed", func(t *testing.T) {
		// An unparsed multipart upload is not buffered to find the token.
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField(CSRFFormField, tok)
		mw.Close()
		r := httptest.NewRequest("POST", "http://"+host+"/upload", &body)
		r.Header.Set("Content-Type", mw.FormDataContentType())
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.AddCookie(&http.Cookie{Name: cookie, Value: tok})
		if CheckCSRF(r, cookie, header) {
			t.Error("CheckCSRF parsed an unparsed multipart body")
		}
		if r.MultipartForm != nil {
			t.Error("CheckCSRF parsed the multipart body")
		}
		// Once the handler has parsed it, the field counts.
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			t.Fatal(err)
		}
		if !CheckCSRF(r, cookie, header) {
			t.Error("CheckCSRF ignored the field of a parsed multipart form")
		}
	})
}
