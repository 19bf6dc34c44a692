package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// fakeCrowd stands in for a Crowd server in these examples only, with
// canned answers in the API's shapes, so that the examples run anywhere.
// Against a real server, pass its address to client.New instead; the
// end-to-end tests of the Crowd repository call every method against a
// real server.
func fakeCrowd() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/sessions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"token":"crs_example","expires_at":"2026-12-31T00:00:00Z","account":{"id":"a1","handle":"mia","display_name":"Mia","type":"business","dm_policy":"everyone","read_receipts":false,"gender":"female","created_at":"2026-01-02T03:04:05Z"}}`)
	})
	mux.HandleFunc("GET /v1/analytics/videos/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer crs_example" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"code":"unauthorized","message":"log in first"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"video_id":"`+r.PathValue("id")+`","detail":"business","range":{"from":"2026-11-28","to":"2026-12-04","days":7},`+
			`"policy":{"mode":"exact","estimates":false,"released":"real time","summary":"Exact counts."},`+
			`"totals":{"views":120,"likes":9,"comments":2,"shares":4,"saves":3,"viewers":80,"viewer_days":95,"watch_ms":360000},`+
			`"daily":[],"hourly":[],"trend":{"today":30,"recent_average":15,"change_percent":100},"generated_at":"2026-12-04T12:00:00Z",`+
			`"viewers":80,"viewer_days":95}`)
	})
	mux.HandleFunc("GET /v1/analytics/videos/{id}/export.csv", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="crowd-`+r.PathValue("id")+`-2026-12-03-2026-12-04.csv"`)
		w.Header().Set("X-Crowd-Disclosure", "exact")
		io.WriteString(w, "date,views,viewers,likes,comments,shares,saves,released\r\n2026-12-03,90,60,7,2,3,2,true\r\n2026-12-04,30,25,2,0,1,1,false\r\n")
	})
	mux.HandleFunc("POST /v1/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"code":"rate_limited","message":"aggregation is behind; retry"}}`)
	})
	return httptest.NewServer(mux)
}

// A creator logs in and reads a video's analytics.
func Example() {
	srv := fakeCrowd() // a real deployment: client.New("https://crowd.example.com")
	defer srv.Close()
	ctx := context.Background()

	c := client.New(srv.URL)
	s, err := c.Login(ctx, "mia", "her password")
	if err != nil {
		fmt.Println(err)
		return
	}
	mia := c.WithToken(s.Token)
	rep, err := mia.VideoAnalytics(ctx, "vid-1", client.LastDays(7))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s, %s to %s (%s mode)\n", rep.VideoID, rep.Range.From, rep.Range.To, rep.Policy.Mode)
	fmt.Printf("views %d, viewers %d, viewer-days %d\n", rep.Totals.Views, *rep.Viewers, *rep.ViewerDays)
	// Output:
	// vid-1, 2026-11-28 to 2026-12-04 (exact mode)
	// views 120, viewers 80, viewer-days 95
}

// A business creator downloads a video's daily numbers as CSV.
func ExampleClient_ExportVideoAnalytics() {
	srv := fakeCrowd()
	defer srv.Close()
	ctx := context.Background()

	mia := client.New(srv.URL).WithToken("crs_example")
	x, err := mia.ExportVideoAnalytics(ctx, "vid-1", client.Days(time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer x.Close()
	rows, err := client.ParseAnalyticsCSV(x) // or io.Copy(file, x)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(x.Filename)
	for _, r := range rows {
		fmt.Println(r.Date, r.Views, *r.Viewers)
	}
	// Output:
	// crowd-vid-1-2026-12-03-2026-12-04.csv
	// 2026-12-03 90 60
	// 2026-12-04 30 25
}

// Errors are *client.Error; a 429 or 503 says when to try again.
func ExampleError() {
	srv := fakeCrowd()
	defer srv.Close()
	ctx := context.Background()

	svc := client.New(srv.URL).WithToken("crv_service_token")
	_, err := svc.Ingest(ctx, []client.Event{{ID: "ev-1", Type: "view", VideoID: "vid-1", TS: "2026-12-04T12:00:00Z", Source: "for_you"}})
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Code, e.RetryAfter)
	}
	// Output:
	// 429 rate_limited 1s
}
