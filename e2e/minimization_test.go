package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/crowd-dev/crowd/client"
)

// TestMinimization plants canary accounts that view, share and save,
// through the API and through bulk ingestion, then looks for their ids and
// handles everywhere analytics lives: the event log's files, every
// analytics table, the process logs and every analytics response. None may
// hold them.
func TestMinimization(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p, tok := StartWithToken(t, data, "--disclosure", "exact", "--login-per-minute", "1000")
	anon := p.Client()
	svc := anon.WithToken(tok)
	canaryIDs := []string{"canary-id-7f3a9c", "canary-id-b81e04"}
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{
		{ID: "owner-1", Handle: "owner", Type: "business", Password: "password-owner"},
		{ID: canaryIDs[0], Handle: "canaryhandleone", Country: "DE", BirthDate: "1991-02-03", Gender: "female", Password: "password-canaryhandleone"},
		{ID: canaryIDs[1], Handle: "canaryhandletwo", Country: "FR", Password: "password-canaryhandletwo"},
		{ID: "canary-id-f011e4", Handle: "canaryfollower", Password: "password-canaryfollower"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "vid-1", Owner: "owner-1", Title: "canary video"}}); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	var evs []client.Event
	for i, id := range canaryIDs {
		evs = append(evs,
			client.Event{ID: fmt.Sprint("cv", i), Type: "view", VideoID: "vid-1", AccountID: id, TS: ts, Source: "search"},
			client.Event{ID: fmt.Sprint("cs", i), Type: "share", VideoID: "vid-1", AccountID: id, TS: ts, Channel: "whatsapp"},
			client.Event{ID: fmt.Sprint("cz", i), Type: "save", VideoID: "vid-1", AccountID: id, TS: ts})
	}
	if res, err := svc.Ingest(ctx, evs); err != nil || res.Accepted != len(evs) {
		t.Fatalf("ingest: %+v, %v", res, err)
	}
	// And through the API as the canary itself.
	c1 := anon.WithToken(mustLoginToken(t, anon, "canaryhandleone"))
	c1.RecordView(ctx, "vid-1", client.View{Source: "profile"})
	c1.Share(ctx, "vid-1", "copy_link")
	c1.Save(ctx, "vid-1")
	if _, err := c1.Send(ctx, "owner", "vid-1", "look"); err != nil {
		t.Fatal(err)
	}
	// A follow (the owner's activity names the follower: that one is
	// looked for in the logs only) and a profile read, whose path names a
	// canary's handle; the access log must name only the route.
	follower := anon.WithToken(mustLoginToken(t, anon, "canaryfollower"))
	if err := follower.Follow(ctx, "owner"); err != nil {
		t.Fatal(err)
	}
	if _, err := anon.AccountVideos(ctx, "canaryhandleone", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Profile(ctx, "canaryhandletwo"); err != nil {
		t.Fatal(err)
	}
	owner := anon.WithToken(mustLoginToken(t, anon, "owner"))
	Eventually(t, "all counted", func() bool {
		v, err := anon.Video(ctx, "vid-1")
		return err == nil && v.Counts.Views == 3 && v.Counts.Shares == 4
	})
	canaries := append([]string{"canaryhandleone", "canaryhandletwo"}, canaryIDs...)
	check := func(where, text string) {
		for _, c := range canaries {
			if strings.Contains(text, c) {
				t.Errorf("%s holds %q", where, c)
			}
		}
	}
	for _, path := range []string{"/v1/analytics/videos/vid-1?range=7d", "/v1/analytics/account?range=28d", "/v1/analytics/videos/vid-1/export.csv", "/v1/activity", "/v1/videos/vid-1"} {
		req, _ := http.NewRequest("GET", p.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+owner.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		check(path, string(b))
	}
	p.Stop(t)
	check("process logs", p.Logs())
	for _, c := range []string{"canaryfollower", "canary-id-f011e4"} {
		if strings.Contains(p.Logs(), c) {
			t.Errorf("process logs hold %q", c)
		}
	}
	// The access log saw those requests, by route pattern.
	for _, route := range []string{"PUT /v1/accounts/{handle}/follow", "GET /v1/accounts/{handle}", "POST /v1/videos/{id}/shares",
		"PUT /v1/videos/{id}/save", "POST /v1/videos/{id}/views", "POST /v1/messages", "POST /v1/events", "POST /v1/sync/accounts"} {
		if !strings.Contains(p.Logs(), `"msg":"request","method":`) || !strings.Contains(p.Logs(), `"route":"`+route+`"`) {
			t.Errorf("no access log line of %s", route)
		}
	}

	// The event log's files.
	filepath.Walk(filepath.Join(data, "eventlog"), func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(path)
			check("event log file "+filepath.Base(path), string(b))
		}
		return nil
	})
	// Every analytics table, of crowd.db and of history.db (viewers'
	// history: its runs, the ids of runs whose blocks are left to delete,
	// and the rows and undo entries of earlier versions).
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "crowd.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hist, err := sql.Open("sqlite", "file:"+filepath.Join(data, "history.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer hist.Close()
	for _, table := range []string{"rollup_journal", "rollup_spill_runs", "rollup_snapshot_chunks", "video_totals", "video_hour", "video_day",
		"account_hour", "account_day", "account_audience_month", "creator_rows_deferred", "viewer_history", "video_viewer_gaps", "actor_state", "actor_firsts", "creator_day_counts", "cells", "outbox",
		"history.viewer_history", "history.history_undo", "history.history_runs", "history.history_blocks", "history.history_garbage"} {
		db := db
		if name, ok := strings.CutPrefix(table, "history."); ok {
			db, table = hist, name
		}
		rows, err := db.Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		var dump strings.Builder
		for rows.Next() {
			rows.Scan(ptrs...)
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					vals[i] = string(b) // text inside packed values is checked as text
				}
			}
			fmt.Fprintln(&dump, vals...)
		}
		rows.Close()
		check("table "+table, dump.String())
	}
}
