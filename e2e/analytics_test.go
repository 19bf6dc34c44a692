package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/crowd-dev/crowd/client"
)

type report struct {
	VideoID string `json:"video_id"`
	Detail  string `json:"detail"`
	Range   struct {
		From, To string
		Days     int
	} `json:"range"`
	Policy struct {
		Mode      string `json:"mode"`
		Estimates bool   `json:"estimates"`
	} `json:"policy"`
	Totals struct {
		Views, Likes, Comments, Shares, Saves int64
		Viewers                               *int64
		ViewerDays                            *int64 `json:"viewer_days"`
	} `json:"totals"`
	Daily          []map[string]any `json:"daily"`
	Hourly         []map[string]any `json:"hourly"`
	Viewers        *int64           `json:"viewers"`
	ViewerDays     *int64           `json:"viewer_days"`
	AvgWatchMS     *int64           `json:"avg_watch_ms"`
	CompletionRate *float64         `json:"completion_rate"`
	TrafficSources []struct {
		Key     string
		Count   int64
		Percent int
	} `json:"traffic_sources"`
	Audience *struct {
		Available bool
		Reason    string
	} `json:"audience"`
	Followers *struct{ Gained, Lost, Net int64 } `json:"followers"`
	Trend     struct{ Today int64 }              `json:"trend"`
}

// TestAnalyticsExact checks video and account analytics in exact mode:
// totals, series, business detail, who may read them, and the export.
func TestAnalyticsExact(t *testing.T) {
	ctx := context.Background()
	p := Start(t, t.TempDir(), "--disclosure", "exact", "--login-per-minute", "1000")
	anonC := p.Client()
	mia := MustUser(t, anonC, "mia", client.Registration{Type: "business", BirthDate: "1990-01-01", Country: "DE", Gender: "female"})
	zed := MustUser(t, anonC, "zed")
	leo := MustUser(t, anonC, "leo", client.Registration{BirthDate: "2000-01-01", Country: "FR", Gender: "male"})
	ana := MustUser(t, anonC, "ana", client.Registration{BirthDate: "1980-01-01", Country: "FR", Gender: "female"})
	v, err := mia.CreateVideo(ctx, client.NewVideo{Title: "report me", Collaborators: []string{"zed"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zed.AcceptCoCreation(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		leo.RecordView(ctx, v.ID, client.View{Source: "for_you", WatchMS: 1000, Completed: true})
	}
	ana.RecordView(ctx, v.ID, client.View{Source: "search", WatchMS: 3000})
	anonC.RecordView(ctx, v.ID, client.View{Source: "hashtag", WatchMS: 2000})
	leo.Like(ctx, v.ID)
	ana.Save(ctx, v.ID)
	leo.Share(ctx, v.ID, "sms")
	ana.Follow(ctx, "mia")

	var rep report
	Eventually(t, "analytics catch up", func() bool {
		rep = report{}
		return mia.Do(ctx, "GET", "/v1/analytics/videos/"+v.ID+"?range=7d", nil, &rep) == nil &&
			rep.Totals.Views == 5 && rep.Totals.Saves == 1 && rep.Totals.Likes == 1 && rep.Totals.Shares == 1
	})
	if rep.Detail != "business" || rep.Policy.Mode != "exact" || rep.Policy.Estimates || rep.Range.Days != 7 || len(rep.Daily) != 7 || len(rep.Hourly) != 48 {
		t.Fatalf("report shape: %+v", rep)
	}
	if rep.Totals.Likes != 1 || rep.Totals.Shares != 1 || rep.Totals.Comments != 0 || *rep.Viewers != 2 || *rep.Totals.Viewers != 2 {
		t.Fatalf("totals %+v viewers %v", rep.Totals, *rep.Viewers)
	}
	if *rep.AvgWatchMS != (3000+3000+2000)/5 || *rep.CompletionRate != 0.6 {
		t.Fatalf("watch %d completion %v", *rep.AvgWatchMS, *rep.CompletionRate)
	}
	if len(rep.TrafficSources) != 3 || rep.TrafficSources[0].Key != "for_you" || rep.TrafficSources[0].Count != 3 || rep.TrafficSources[0].Percent != 60 {
		t.Fatalf("traffic sources %+v", rep.TrafficSources)
	}
	if rep.Audience == nil || rep.Audience.Available || !strings.Contains(rep.Audience.Reason, "100") {
		t.Fatalf("audience with 2 viewers must be withheld: %+v", rep.Audience)
	}
	if rep.Trend.Today != 5 {
		t.Fatalf("trend %+v", rep.Trend)
	}

	// The co-creator (a personal account) sees the same numbers, with
	// personal detail.
	var zrep report
	if err := zed.Do(ctx, "GET", "/v1/analytics/videos/"+v.ID+"?range=7d", nil, &zrep); err != nil {
		t.Fatal(err)
	}
	if zrep.Totals.Views != 5 || zrep.Totals.Saves != 1 || zrep.Detail != "personal" || zrep.Viewers != nil || zrep.TrafficSources != nil || zrep.Audience != nil {
		t.Fatalf("co-creator report %+v", zrep)
	}
	// Personal accounts get at most 60 days; others none at all.
	if err := zed.Do(ctx, "GET", "/v1/analytics/videos/"+v.ID+"?range=365d", nil, nil); client.StatusOf(err) != 403 {
		t.Fatalf("365d as personal: %v", err)
	}
	if err := leo.Do(ctx, "GET", "/v1/analytics/videos/"+v.ID, nil, nil); client.StatusOf(err) != 403 {
		t.Fatalf("non-creator: %v", err)
	}
	if err := mia.Do(ctx, "GET", "/v1/analytics/videos/"+v.ID+"?range=3d", nil, nil); client.StatusOf(err) != 422 {
		t.Fatalf("bad range: %v", err)
	}
	var custom report
	today := rep.Range.To
	if err := mia.Do(ctx, "GET", "/v1/analytics/videos/"+v.ID+"?from="+today+"&to="+today, nil, &custom); err != nil || custom.Range.Days != 1 || custom.Totals.Views != 5 {
		t.Fatalf("custom range: %+v, %v", custom, err)
	}

	// The account overview counts the video for both creators and the follow.
	var arep report
	Eventually(t, "the follow reaches the account report", func() bool {
		arep = report{}
		return mia.Do(ctx, "GET", "/v1/analytics/account?range=28d", nil, &arep) == nil && arep.Followers != nil && arep.Followers.Gained == 1
	})
	if arep.Totals.Views != 5 || arep.Followers == nil || arep.Followers.Gained != 1 || arep.Followers.Net != 1 {
		t.Fatalf("account report %+v followers %+v", arep.Totals, arep.Followers)
	}

	// An app token of the business account reads analytics and nothing else.
	app, err := mia.CreateApp(ctx, "stats", "analytics:read")
	if err != nil {
		t.Fatal(err)
	}
	appC := anonC.WithToken(app.Token)
	var arep2 report
	if err := appC.Do(ctx, "GET", "/v1/analytics/videos/"+v.ID+"?range=7d", nil, &arep2); err != nil || arep2.Totals.Views != 5 {
		t.Fatalf("app token report: %+v, %v", arep2.Totals, err)
	}
	for _, path := range []string{"/v1/inbox", "/v1/me", "/v1/me/saved", "/v1/activity"} {
		if err := appC.Do(ctx, "GET", path, nil, nil); client.StatusOf(err) != 403 {
			t.Fatalf("app token on %s: %v", path, err)
		}
	}
	zapp, _ := zed.CreateApp(ctx, "mine", "analytics:read")
	if err := anonC.WithToken(zapp.Token).Do(ctx, "GET", "/v1/analytics/videos/"+v.ID, nil, nil); client.StatusOf(err) != 403 {
		t.Fatalf("personal account's app token: %v", err)
	}
	if err := mia.RevokeApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	if err := appC.Do(ctx, "GET", "/v1/analytics/account", nil, nil); client.StatusOf(err) != 401 {
		t.Fatalf("revoked app token: %v", err)
	}

	// CSV export: business only; the same numbers as the report.
	req, _ := http.NewRequest("GET", p.URL+"/v1/analytics/videos/"+v.ID+"/export.csv?range=7d", nil)
	req.Header.Set("Authorization", "Bearer "+mia.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s", resp.StatusCode, body)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\r\n"), "\r\n")
	if len(lines) != 8 || lines[0] != "date,views,viewers,likes,comments,shares,saves,released" || lines[7] != fmt.Sprintf("%s,5,2,1,0,1,1,true", today) {
		t.Fatalf("csv:\n%s", body)
	}
	if err := zed.Do(ctx, "GET", "/v1/analytics/videos/"+v.ID+"/export.csv", nil, nil); client.StatusOf(err) != 403 {
		t.Fatalf("export as personal: %v", err)
	}
	// No analytics response names anyone.
	raw, _ := json.Marshal([]any{rep, arep})
	for _, h := range []string{"leo", "ana"} {
		if strings.Contains(string(raw), h) {
			t.Fatalf("a report names %s", h)
		}
	}
}
