package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// TestStalledUploads: eight platform servers that send bulk bodies (events
// and sync) and then stall hold no bulk slot: a normal batch sent beside
// them is accepted at once, and each stalled body is answered 408 in the
// JSON error shape once it is slower than --bulk-min-rate allows.
func TestStalledUploads(t *testing.T) {
	ctx := context.Background()
	p, tok := StartWithToken(t, t.TempDir(), "--disclosure", "exact")
	svc := p.Client().WithToken(tok)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "owner-1", Handle: "owner"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "vid-1", Owner: "owner-1", Title: "stalled"}}); err != nil {
		t.Fatal(err)
	}

	// Eight uploads, four of events and four of accounts, that announce
	// a megabyte, send the start of a line and then nothing.
	host := mustHost(t, p.URL)
	var conns []net.Conn
	for i := range 8 {
		path := "/v1/events"
		if i%2 == 1 {
			path = "/v1/sync/accounts"
		}
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000000\r\n\r\n{\"id\":\"stalled-%d\",", path, host, tok, i)
		conns = append(conns, c)
	}
	Eventually(t, "the server receives the eight stalled bodies", func() bool {
		v, ok := scrape(t, p)["crowd_bulk_bodies_receiving"]
		return ok && v == 8
	})

	start := time.Now()
	res, err := svc.Ingest(ctx, []client.Event{{ID: "normal-1", Type: "view", VideoID: "vid-1", TS: time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), Source: "for_you"}})
	took := time.Since(start)
	if err != nil || res.Accepted != 1 {
		t.Fatalf("normal batch beside stalled uploads: %+v, %v (after %v)", res, err, took)
	}
	// A functional bound, not a performance target: a one-event batch
	// takes milliseconds. Before bodies were read ahead of the slots, the
	// stalled uploads held all four slots until the 60 s read timeout and
	// this batch was refused (503) after waiting its 2 s for a slot; 2 s
	// separates the two outcomes with a wide margin on a loaded machine.
	if took > 2*time.Second {
		t.Fatalf("normal batch took %v beside stalled uploads; want it accepted within 2 s", took)
	}
	if got := scrape(t, p)["crowd_bulk_bodies_receiving"]; got != 8 {
		t.Fatalf("crowd_bulk_bodies_receiving = %v after the normal batch, want the 8 stalled ones", got)
	}

	// Each stalled body is refused once it is slower than the minimum rate
	// (here after the 5 s grace: a few bytes were sent).
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("stalled upload %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Error struct{ Code, Message string }
		}
		if resp.StatusCode != http.StatusRequestTimeout || json.Unmarshal(body, &e) != nil || e.Error.Code != "request_timeout" {
			t.Fatalf("stalled upload %d: %s %s; want 408 request_timeout in the JSON error shape", i, resp.Status, body)
		}
	}
	m := scrape(t, p)
	if m[`crowd_bulk_requests_refused_total{reason="slow_body"}`] != 8 || m["crowd_bulk_bodies_receiving"] != 0 || m["crowd_bulk_buffered_bytes"] != 0 {
		t.Fatalf("after the 408s: refused %v, receiving %v, buffered %v bytes; want 8, 0, 0",
			m[`crowd_bulk_requests_refused_total{reason="slow_body"}`], m["crowd_bulk_bodies_receiving"], m["crowd_bulk_buffered_bytes"])
	}
}

func mustHost(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}
