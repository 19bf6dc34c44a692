package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// TestIngest sends a generated history with duplicates and bad lines to
// POST /v1/events and checks the answer line by line and the exact totals.
func TestIngest(t *testing.T) {
	ctx := context.Background()
	p, tok := StartWithToken(t, t.TempDir(), "--disclosure", "exact")
	svc := p.Client().WithToken(tok)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{
		{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"},
		{ID: "u1", Handle: "user1", BirthDate: "1999-01-01", Gender: "female", Country: "DE"},
		{ID: "u2", Handle: "user2", BirthDate: "1970-01-01", Gender: "male", Country: "US"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "vid", Owner: "mia", Title: "hello"}}); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Add(-2 * time.Hour).Format(time.RFC3339)
	future := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	lines := []string{
		`{"id":"e1","type":"view","video_id":"vid","account_id":"u1","ts":"` + ts + `","source":"for_you","watch_ms":1000,"completed":true}`,
		`{"id":"e2","type":"view","video_id":"vid","ts":"` + ts + `","source":"search"}`,
		``,
		`{"id":"e3","type":"like","video_id":"vid","account_id":"u1","ts":"` + ts + `"}`,
		`{"id":"e4","type":"share","video_id":"vid","account_id":"u2","ts":"` + ts + `","channel":"dm"}`,
		`{"id":"e5","type":"save","video_id":"vid","account_id":"u2","ts":"` + ts + `"}`,
		`{"id":"e6","type":"comment","video_id":"vid","account_id":"u2","ts":"` + ts + `","text":"nice"}`,
		`{"id":"e1","type":"view","video_id":"vid","account_id":"u1","ts":"` + ts + `","source":"for_you"}`,
		`{"id":"e7","type":"view","video_id":"nope","ts":"` + ts + `","source":"for_you"}`,
		`{"id":"e8","type":"like","video_id":"vid","account_id":"ghost","ts":"` + ts + `"}`,
		`{"id":"e9","type":"view","video_id":"vid","ts":"` + future + `","source":"for_you"}`,
		`{"id":"e10","type":"teleport","video_id":"vid","ts":"` + ts + `"}`,
		`{"id":"e11","type":"view","video_id":"vid","ts":"` + ts + `","source":"tv"}`,
		`not json`,
		`{"id":"e12","type":"like","video_id":"vid","ts":"` + ts + `"}`,
	}
	res, err := svc.IngestNDJSON(ctx, strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 6 || res.Duplicates != 1 {
		t.Fatalf("accepted %d duplicates %d: %+v", res.Accepted, res.Duplicates, res.Rejected)
	}
	var got []string
	for _, r := range res.Rejected {
		got = append(got, fmt.Sprintf("%d:%s", r.Line, r.Code))
		if r.Message == "" {
			t.Errorf("line %d: empty message", r.Line)
		}
	}
	want := "9:unknown_video 10:unknown_account 11:future_timestamp 12:invalid_field 13:invalid_field 14:malformed_json 15:missing_field"
	if strings.Join(got, " ") != want {
		t.Fatalf("rejected %s\nwant     %s", strings.Join(got, " "), want)
	}
	// The same batch again: everything already accepted is a duplicate.
	res2, err := svc.IngestNDJSON(ctx, strings.NewReader(strings.Join(lines, "\n")))
	if err != nil || res2.Accepted != 0 || res2.Duplicates != 7 {
		t.Fatalf("resent batch: %+v, %v", res2, err)
	}
	anon := p.Client()
	Eventually(t, "exact totals", func() bool {
		v, err := anon.Video(ctx, "vid")
		return err == nil && *v.Counts == client.Counts{Views: 2, Likes: 1, Comments: 1, Shares: 1, Saves: 1}
	})

	// Whole-body refusals.
	status := func(body io.Reader, ct string) int {
		req, _ := http.NewRequest("POST", p.URL+"/v1/events", body)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+svc.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status(bytes.NewReader(bytes.Repeat([]byte("x"), 100)), "application/x-ndjson"); s != 400 {
		t.Fatalf("unparseable body: %d", s)
	}
	big := bytes.Repeat([]byte(lines[0]+"\n"), (64<<20)/len(lines[0])+10)
	if s := status(bytes.NewReader(big), "application/x-ndjson"); s != 413 {
		t.Fatalf("oversized body: %d", s)
	}
	if err := p.Client().WithToken(mustLoginToken(t, anon, "mia")).Do(ctx, "POST", "/v1/events", nil, nil); client.StatusOf(err) != 403 {
		t.Fatalf("events with a session: %v", err)
	}
}

func mustLoginToken(t *testing.T, c *client.Client, handle string) string {
	t.Helper()
	s, err := c.Login(context.Background(), handle, "password-"+handle)
	if err != nil {
		t.Fatal(err)
	}
	return s.Token
}

// TestIngestAfterAccountDeletion: once an account is deleted, bulk events
// naming it or its videos are rejected, even though ingestion caches ids.
func TestIngestAfterAccountDeletion(t *testing.T) {
	ctx := context.Background()
	p, tok := StartWithToken(t, t.TempDir(), "--disclosure", "exact")
	svc := p.Client().WithToken(tok)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "gone", Handle: "goner", Password: "password-goner"}, {ID: "fan", Handle: "fan1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "gv", Owner: "gone", Title: "soon gone"}}); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	send := func(id string) *client.IngestResult {
		res, err := svc.Ingest(ctx, []client.Event{
			{ID: id + "-a", Type: "view", VideoID: "gv", AccountID: "fan", TS: ts, Source: "for_you"},
			{ID: id + "-b", Type: "view", VideoID: "gv", AccountID: "gone", TS: ts, Source: "for_you"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := send("before"); res.Accepted != 2 { // fills the cache
		t.Fatalf("before deletion: %+v", res)
	}
	goner := p.Client().WithToken(mustLoginToken(t, p.Client(), "goner"))
	if err := goner.DeleteMe(ctx); err != nil {
		t.Fatal(err)
	}
	res := send("after")
	if res.Accepted != 0 || len(res.Rejected) != 2 || res.Rejected[0].Code != "unknown_video" {
		t.Fatalf("after deletion: %+v", res)
	}
}
