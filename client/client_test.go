package client

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// serve answers every request with status, headers and body.
func serve(t *testing.T, status int, header map[string]string, body string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return New(srv.URL)
}

func TestError_Answers(t *testing.T) {
	ctx := context.Background()
	retryAt := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name         string
		status       int
		header       map[string]string
		body         string
		code, msg    string
		retryMin     time.Duration
		retryMaxIncl time.Duration
	}{
		{"json", 404, nil, `{"error":{"code":"not_found","message":"no such video"}}`, "not_found", "no such video", 0, 0},
		{"json with seconds", 429, map[string]string{"Retry-After": "3"}, `{"error":{"code":"rate_limited","message":"slow down"}}`, "rate_limited", "slow down", 3 * time.Second, 3 * time.Second},
		{"date", 503, map[string]string{"Retry-After": retryAt}, `{"error":{"code":"unavailable","message":"starting"}}`, "unavailable", "starting", 80 * time.Second, 90 * time.Second},
		{"proxy html", 502, nil, "<html>Bad Gateway</html>", "internal", "<html>Bad Gateway</html>", 0, 0},
		{"empty 413", 413, nil, "", "too_large", "Request Entity Too Large", 0, 0},
		{"odd 418", 418, nil, "teapot", "http_418", "teapot", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, tc.status, tc.header, tc.body)
			for name, call := range map[string]func() error{
				"json": func() error { _, err := c.Video(ctx, "v"); return err },
				"csv":  func() error { _, err := c.ExportVideoAnalytics(ctx, "v", Range{}); return err },
				"raw":  func() error { _, err := c.IngestNDJSON(ctx, strings.NewReader("{}\n")); return err },
			} {
				err := call()
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("%s: %T %v, want *Error", name, err, err)
				}
				if e.Status != tc.status || e.Code != tc.code || e.Message != tc.msg || e.RetryAfter < tc.retryMin || e.RetryAfter > tc.retryMaxIncl {
					t.Errorf("%s: %+v", name, e)
				}
				if StatusOf(err) != tc.status || CodeOf(err) != tc.code {
					t.Errorf("%s: StatusOf %d CodeOf %q", name, StatusOf(err), CodeOf(err))
				}
			}
		})
	}
}

func TestError_NoAnswer(t *testing.T) {
	// Nothing listening.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := New("http://" + addr)
	_, err = c.Me(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Status != 0 || e.Err == nil || e.Method != "GET" || e.Path != "/v1/me" {
		t.Fatalf("connection refused: %#v", err)
	}
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Errorf("the cause is not reachable through Unwrap: %v", err)
	}

	// A canceled context.
	ok := serve(t, 200, nil, `{}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ok.Me(ctx); !errors.As(err, &e) || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %#v", err)
	}

	// A success answer that is not the JSON it should be.
	bad := serve(t, 200, nil, `<html>`)
	if _, err := bad.Me(context.Background()); !errors.As(err, &e) || e.Status != 0 || e.Err == nil || !strings.Contains(err.Error(), "decode answer") {
		t.Errorf("undecodable answer: %#v", err)
	}
	// A request that cannot be encoded.
	if err := bad.Do(context.Background(), "POST", "/x", func() {}, nil); !errors.As(err, &e) || e.Err == nil {
		t.Errorf("unencodable body: %#v", err)
	}
	// A base URL that is no URL.
	if _, err := New("http://a b").Me(context.Background()); !errors.As(err, &e) || e.Status != 0 {
		t.Errorf("bad URL: %#v", err)
	}
}

func TestListQuery(t *testing.T) {
	for _, tc := range []struct {
		opts []ListOption
		want string
	}{
		{nil, ""},
		{[]ListOption{Before("")}, ""},
		{[]ListOption{Limit(20)}, "?limit=20"},
		{[]ListOption{Before("c/1"), Limit(5)}, "?before=c%2F1&limit=5"},
		{[]ListOption{Before("a"), Before("")}, ""},
	} {
		if got := listQuery(tc.opts); got != tc.want {
			t.Errorf("listQuery(%v) = %q, want %q", tc.opts, got, tc.want)
		}
	}
}

func TestRange(t *testing.T) {
	for _, tc := range []struct {
		r    Range
		want string
	}{
		{Range{}, ""},
		{LastDays(7), "?range=7d"},
		{Days(time.Date(2026, 1, 2, 23, 0, 0, 0, time.FixedZone("x", -3600)), time.Date(2026, 1, 9, 0, 0, 0, 0, time.UTC)), "?from=2026-01-03&to=2026-01-09"},
		{Range{Last: "7d", TZ: "Asia/Tokyo"}, "?range=7d&tz=Asia%2FTokyo"},
	} {
		if got := tc.r.query(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
	}
}

func TestParseAnalyticsCSV(t *testing.T) {
	rows, err := ParseAnalyticsCSV(strings.NewReader("date,views,viewers,likes,comments,shares,saves,released\r\n2026-01-01,5,,1,2,3,-1,true\r\n2026-01-02,7,4,0,0,0,0,false\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Viewers != nil || rows[0].Saves != -1 || rows[0].Comments != 2 || rows[1].Viewers == nil || *rows[1].Viewers != 4 || rows[1].Views != 7 || !rows[0].Released || rows[1].Released {
		t.Errorf("rows %+v", rows)
	}
	for _, bad := range []string{
		"",
		"day,views,viewers,likes,comments,shares,saves,released\n",
		"date,views,viewers,likes,comments,shares,saves,released\n2026-01-01,x,,1,2,3,4,true\n",
		"date,views,viewers,likes,comments,shares,saves,released\n2026-01-01,1,2\n",
		"date,views,viewers,likes,comments,shares,saves,released\n2026-01-01,1,,1,2,3,4,maybe\n",
		"date,views,viewers,likes,comments,shares,saves\n2026-01-01,1,,1,2,3,4\n",
	} {
		if _, err := ParseAnalyticsCSV(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseAnalyticsCSV(%q) = nil error", bad)
		}
	}
}
