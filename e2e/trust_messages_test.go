package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// surfaceHeaders are the response headers a sender could compare between
// two reads.
var surfaceHeaders = []string{"Content-Type", "Content-Length", "ETag", "Last-Modified", "Cache-Control", "Content-Disposition", "X-Crowd-Disclosure"}

// surfaces reads every route a sender can read with token and renders each
// answer (status, headers that could tell a change, body) as one string per
// path. generated_at, the time a report was built, is the one field that
// changes on its own between two reads and is dropped.
func surfaces(t *testing.T, base, token string, paths []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, path := range paths {
		method := "GET"
		if strings.HasSuffix(path, "/open") {
			method = "POST" // the sender trying to open: refused, the same way before and after
		}
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if m, ok := v.(map[string]any); ok {
				delete(m, "generated_at")
				body, _ = json.Marshal(m)
			}
			resp.Header.Del("Content-Length") // of the body with generated_at
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%d\n", resp.StatusCode)
		for _, h := range surfaceHeaders {
			fmt.Fprintf(&b, "%s: %s\n", h, resp.Header.Get(h))
		}
		b.Write(body)
		out[path] = b.String()
	}
	return out
}

// diffSurfaces lists the paths whose answers differ.
func diffSurfaces(before, after map[string]string) []string {
	var out []string
	for path, b := range before {
		if after[path] != b {
			out = append(out, fmt.Sprintf("%s:\n  before %s\n  after  %s", path, b, after[path]))
		}
	}
	slices.Sort(out)
	return out
}

// TestReadReceipts: a recipient opening a direct message changes nothing a
// sender can read, unless the recipient turned read receipts on. Mia sends
// her own video to ana; in protected mode (the default) every route mia can
// read answers byte for byte the same before and after ana opens it, with
// aggregation having applied the view the open counted; in exact mode the
// message routes do (exact numbers are exact by configuration).
func TestReadReceipts(t *testing.T) {
	for _, mode := range []string{"protected", "exact"} {
		t.Run(mode, func(t *testing.T) { testReadReceipts(t, mode) })
	}
}

func testReadReceipts(t *testing.T, mode string) {
	ctx := context.Background()
	p := Start(t, t.TempDir(), "--disclosure", mode, "--login-per-minute", "1000")
	anonC := p.Client()
	mia := MustUser(t, anonC, "mia", client.Registration{Type: "business"})
	ana := MustUser(t, anonC, "ana")
	me, err := ana.Me(ctx)
	if err != nil || me.ReadReceipts {
		t.Fatalf("read receipts must be off by default: %+v, %v", me, err)
	}
	v, err := mia.CreateVideo(ctx, client.NewVideo{Title: "my own video"})
	if err != nil {
		t.Fatal(err)
	}
	paths := func(msg string) []string {
		ps := []string{"/v1/messages/" + msg, "/v1/messages/sent", "/v1/messages/sent?limit=1", "/v1/inbox", "/v1/me",
			"/v1/messages/" + msg + "/open"}
		if mode == "protected" {
			ps = append(ps, "/v1/activity", "/v1/notifications", "/v1/videos/"+v.ID, "/v1/videos", "/v1/accounts/mia/videos",
				"/v1/analytics/videos/"+v.ID+"?range=7d", "/v1/analytics/videos/"+v.ID+"/export.csv?range=7d",
				"/v1/analytics/account?range=7d", "/v1/apps")
		}
		return ps
	}

	// Receipts off. A period boundary between the two reads changes
	// reports for everyone (a new hour in the hourly series): then the
	// comparison is made again with a new message.
	for attempt := 0; ; attempt++ {
		m, err := mia.Send(ctx, "ana", v.ID, "look, my new one")
		if err != nil {
			t.Fatal(err)
		}
		hour := time.Now().UTC().Truncate(time.Hour)
		before := surfaces(t, p.URL, mia.Token, paths(m.ID))
		viewerDays := metric(t, p, "crowd_aggregation_viewer_days")
		opened, err := ana.OpenMessage(ctx, m.ID)
		if err != nil || opened.OpenedAt == nil {
			t.Fatalf("open: %+v, %v", opened, err)
		}
		// The view the open counted has been aggregated.
		Eventually(t, "the open's view is aggregated", func() bool {
			return metric(t, p, "crowd_aggregation_viewer_days") > viewerDays
		})
		after := surfaces(t, p.URL, mia.Token, paths(m.ID))
		if diff := diffSurfaces(before, after); len(diff) > 0 {
			if time.Now().UTC().Truncate(time.Hour).Equal(hour) || attempt == 2 {
				t.Fatalf("with read receipts off, the sender's view changed when the recipient opened:\n%s", strings.Join(diff, "\n"))
			}
			continue
		}
		// The recipient sees her own opened state.
		in, err := ana.Inbox(ctx)
		if err != nil || len(in.Messages) == 0 || in.Messages[0].OpenedAt == nil {
			t.Fatalf("recipient's inbox: %+v, %v", in, err)
		}
		// Turning receipts on later does not disclose this earlier open.
		if _, err := ana.UpdateMe(ctx, client.AccountPatch{ReadReceipts: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		later := surfaces(t, p.URL, mia.Token, []string{"/v1/messages/" + m.ID})
		if diff := diffSurfaces(map[string]string{"/v1/messages/" + m.ID: before["/v1/messages/"+m.ID]}, later); len(diff) > 0 {
			t.Fatalf("turning read receipts on disclosed an earlier open:\n%s", strings.Join(diff, "\n"))
		}
		break
	}

	// Receipts on: the sender sees opened_at, in the message and the sent
	// list, until the recipient turns them off again.
	if me, err := ana.Me(ctx); err != nil || !me.ReadReceipts {
		t.Fatalf("read receipts after turning them on: %+v, %v", me, err)
	}
	m2, err := mia.Send(ctx, "ana", v.ID, "and this")
	if err != nil {
		t.Fatal(err)
	}
	unopened := surfaces(t, p.URL, mia.Token, []string{"/v1/messages/" + m2.ID})
	if _, err := ana.OpenMessage(ctx, m2.ID); err != nil {
		t.Fatal(err)
	}
	var got client.Message
	if err := mia.Do(ctx, "GET", "/v1/messages/"+m2.ID, nil, &got); err != nil || got.OpenedAt == nil {
		t.Fatalf("with read receipts on the sender does not see opened_at: %+v, %v", got, err)
	}
	sent, err := mia.SentMessages(ctx)
	if err != nil || len(sent.Messages) == 0 || sent.Messages[0].ID != m2.ID || sent.Messages[0].OpenedAt == nil {
		t.Fatalf("sent list with read receipts on: %+v, %v", sent, err)
	}
	if _, err := ana.UpdateMe(ctx, client.AccountPatch{ReadReceipts: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	off := surfaces(t, p.URL, mia.Token, []string{"/v1/messages/" + m2.ID})
	if diff := diffSurfaces(unopened, off); len(diff) > 0 {
		t.Fatalf("turning read receipts off must hide the open again:\n%s", strings.Join(diff, "\n"))
	}
}

// TestCoCreatorConsent: listing zed as a co-creator is an invitation. Until
// zed accepts, nothing of the video's analytics reaches zed (report, CSV,
// account analytics, zed's app token); after accepting it does; after
// leaving, or being removed by the owner, it does not any more. Exact mode,
// so numbers are visible at once.
func TestCoCreatorConsent(t *testing.T) {
	ctx := context.Background()
	p, svcToken := StartWithToken(t, t.TempDir(), "--disclosure", "exact", "--login-per-minute", "1000")
	anonC := p.Client()
	mia := MustUser(t, anonC, "mia", client.Registration{Type: "business"})
	zed := MustUser(t, anonC, "zed", client.Registration{Type: "business"})
	leo := MustUser(t, anonC, "leo")
	ana := MustUser(t, anonC, "ana")
	app, err := zed.CreateApp(ctx, "zed's dashboard", "analytics:read")
	if err != nil {
		t.Fatal(err)
	}
	zedApp := anonC.WithToken(app.Token)
	zedOwn, err := zed.CreateVideo(ctx, client.NewVideo{Title: "zed's own"})
	if err != nil {
		t.Fatal(err)
	}

	v, err := mia.CreateVideo(ctx, client.NewVideo{Title: "together", Collaborators: []string{"ZED"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(v.Creators, ",") != "mia" || strings.Join(v.Invited, ",") != "zed" {
		t.Fatalf("new video: creators %v invited %v", v.Creators, v.Invited)
	}
	views := func(c *client.Client, n int) {
		for range n {
			if err := c.RecordView(ctx, v.ID, client.View{Source: "for_you", WatchMS: 1000}); err != nil {
				t.Fatal(err)
			}
		}
	}
	report := func(c *client.Client, path string) (int64, int) {
		t.Helper()
		var rep struct{ Totals struct{ Views int64 } }
		err := c.Do(ctx, "GET", path, nil, &rep)
		if err != nil {
			return 0, client.StatusOf(err)
		}
		return rep.Totals.Views, 200
	}
	videoReport := "/v1/analytics/videos/" + v.ID + "?range=7d"
	csv := "/v1/analytics/videos/" + v.ID + "/export.csv?range=7d"
	account := "/v1/analytics/account?range=7d"
	csvStatus := func(c *client.Client) int {
		err := c.DoRaw(ctx, "GET", csv, "", nil, nil)
		if err != nil {
			return client.StatusOf(err)
		}
		return 200
	}
	// zed's closed doors: video report, CSV, the app token's report.
	closed := func(when string) {
		t.Helper()
		for name, c := range map[string]*client.Client{"session": zed, "app token": zedApp} {
			if _, status := report(c, videoReport); status != 403 {
				t.Fatalf("%s: zed's %s reads the video report: %d", when, name, status)
			}
			if status := csvStatus(c); status != 403 {
				t.Fatalf("%s: zed's %s reads the CSV export: %d", when, name, status)
			}
		}
	}
	// zed's account analytics: the views of zed's own video plus what mia's
	// video credited zed (mia's views are aggregated before this is
	// called: her report shows them); zed's own video gets one view each
	// time, and the account report is read once that view shows.
	own := int64(0)
	accountViews := func() int64 {
		t.Helper()
		own++
		if err := leo.RecordView(ctx, zedOwn.ID, client.View{Source: "profile", WatchMS: 500}); err != nil {
			t.Fatal(err)
		}
		Eventually(t, "zed's own video's view is aggregated", func() bool {
			n, _ := report(zed, "/v1/analytics/videos/"+zedOwn.ID+"?range=7d")
			return n == own
		})
		got, status := report(zed, account)
		if status != 200 {
			t.Fatalf("zed's account report: %d", status)
		}
		n, _ := report(zedApp, account)
		if n != got {
			t.Fatalf("zed's app token reads %d account views, the session %d", n, got)
		}
		return got - own
	}

	// Pending: mia's video has views; zed sees none of them.
	views(leo, 3)
	Eventually(t, "mia's report shows the views", func() bool { n, _ := report(mia, videoReport); return n == 3 })
	closed("pending")
	if n := accountViews(); n != 0 {
		t.Fatalf("pending: zed's account analytics count %d views of mia's video", n)
	}
	inv, err := zed.Invitations(ctx)
	if err != nil || len(inv) != 1 || inv[0].Video.ID != v.ID || inv[0].Video.Owner != "mia" {
		t.Fatalf("zed's invitations: %+v, %v", inv, err)
	}
	if list, err := zed.AccountVideos(ctx, "zed", ""); err != nil || len(list.Videos) != 1 {
		t.Fatalf("zed's public videos while pending: %+v, %v", list, err)
	}
	if list, err := mia.CoCreators(ctx, v.ID); err != nil || len(list) != 1 || list[0].Status != "pending" {
		t.Fatalf("mia's view of the co-creators: %+v, %v", list, err)
	}
	if _, err := leo.AcceptCoCreation(ctx, v.ID); client.StatusOf(err) != 404 {
		t.Fatalf("accepting without an invitation: %v", err)
	}

	// Accepted: zed reads the video's numbers, with the app token too, and
	// the views from now on count in zed's account analytics (the cached
	// creators of the video were refreshed).
	acc, err := zed.AcceptCoCreation(ctx, v.ID)
	if err != nil || strings.Join(acc.Creators, ",") != "mia,zed" {
		t.Fatalf("accept: %+v, %v", acc, err)
	}
	if n, status := report(zed, videoReport); status != 200 || n != 3 {
		t.Fatalf("accepted: zed's video report %d views, status %d", n, status)
	}
	if n, status := report(zedApp, videoReport); status != 200 || n != 3 {
		t.Fatalf("accepted: zed's app token %d views, status %d", n, status)
	}
	if status := csvStatus(zed); status != 200 {
		t.Fatalf("accepted: CSV export %d", status)
	}
	views(ana, 2)
	Eventually(t, "mia's report shows the new views", func() bool { n, _ := report(mia, videoReport); return n == 5 })
	if n := accountViews(); n != 2 {
		t.Fatalf("accepted: zed's account analytics count %d views of mia's video, want the 2 since accepting", n)
	}
	if inv, err := zed.Invitations(ctx); err != nil || len(inv) != 0 {
		t.Fatalf("invitations after accepting: %+v, %v", inv, err)
	}

	// Leaving closes everything again; new views no longer count for zed.
	if err := zed.LeaveCoCreation(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	closed("after leaving")
	views(leo, 1)
	Eventually(t, "mia's report shows the view", func() bool { n, _ := report(mia, videoReport); return n == 6 })
	if n := accountViews(); n != 2 {
		t.Fatalf("after leaving: zed's account analytics count %d views of mia's video, want still 2", n)
	}
	if got, err := anonC.Video(ctx, v.ID); err != nil || strings.Join(got.Creators, ",") != "mia" {
		t.Fatalf("video after leaving: %+v, %v", got, err)
	}

	// The owner re-invites, zed accepts, the owner removes zed.
	if c, err := mia.InviteCoCreator(ctx, v.ID, "zed"); err != nil || c.Status != "pending" {
		t.Fatalf("re-invite: %+v, %v", c, err)
	}
	closed("re-invited")
	if _, err := zed.AcceptCoCreation(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	if _, status := report(zed, videoReport); status != 200 {
		t.Fatalf("accepted again: %d", status)
	}
	if err := zed.RemoveCoCreator(ctx, v.ID, "zed"); client.StatusOf(err) != 403 {
		t.Fatalf("a co-creator removed through the owner's route: %v", err)
	}
	if err := mia.RemoveCoCreator(ctx, v.ID, "zed"); err != nil {
		t.Fatal(err)
	}
	closed("after removal")
	if err := zed.LeaveCoCreation(ctx, v.ID); client.StatusOf(err) != 404 {
		t.Fatalf("leaving after removal: %v", err)
	}

	// Synced videos: collaborators are invitations unless the platform
	// marks their consent.
	svc := anonC.WithToken(svcToken)
	miaMe, _ := mia.Me(ctx)
	zedMe, _ := zed.Me(ctx)
	res, err := svc.SyncVideos(ctx, []client.SyncVideo{
		{ID: "plat-1", Owner: miaMe.ID, Collaborators: []string{zedMe.ID}, Title: "synced, invited"},
		{ID: "plat-2", Owner: miaMe.ID, Collaborators: []string{zedMe.ID}, AcceptedCollaborators: []string{zedMe.ID}, Title: "synced, consented"},
		{ID: "plat-3", Owner: miaMe.ID, AcceptedCollaborators: []string{zedMe.ID}, Title: "consent for someone not listed"},
	})
	if err != nil || res.Upserted != 2 || len(res.Rejected) != 1 || res.Rejected[0].Line != 3 || res.Rejected[0].Code != "invalid" {
		t.Fatalf("sync: %+v, %v", res, err)
	}
	for id, want := range map[string]int{"plat-1": 403, "plat-2": 200} {
		if _, status := report(zed, "/v1/analytics/videos/"+id); status != want {
			t.Fatalf("synced %s: zed's report %d, want %d", id, status, want)
		}
	}
	if _, err := zed.AcceptCoCreation(ctx, "plat-1"); err != nil {
		t.Fatal(err)
	}
	// A later sync that lists zed without consent keeps the acceptance.
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "plat-1", Owner: miaMe.ID, Collaborators: []string{zedMe.ID}, Title: "synced again"}}); err != nil {
		t.Fatal(err)
	}
	if _, status := report(zed, "/v1/analytics/videos/plat-1"); status != 200 {
		t.Fatalf("re-synced: zed's report %d, want 200", status)
	}
}
