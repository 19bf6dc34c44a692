package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/testutil"
)

// TestScaleOut runs the binary against external PostgreSQL and NATS
// JetStream, restarts it, and checks that nothing was lost or counted twice
// and that aggregation resumes from its checkpoint.
func TestScaleOut(t *testing.T) {
	ctx := context.Background()
	pg := testutil.PostgresURL(t)
	natsURL := testutil.NATSURL()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		if testutil.Required() {
			t.Fatalf("NATS at %s is required in CI: %v", natsURL, err)
		}
		t.Skipf("NATS not reachable: %v", err)
	}
	stream := "CROWD_TEST_" + strings.ToUpper(testutil.RandomHex(6))
	t.Cleanup(func() {
		js, _ := jetstream.New(nc)
		js.DeleteStream(context.Background(), stream)
		nc.Close()
	})
	flags := []string{"--disclosure", "exact", "--postgres-url", pg, "--nats-url", natsURL, "--nats-stream", stream}
	data := t.TempDir()

	p := Start(t, data, flags...)
	anonC := p.Client()
	mia := MustUser(t, anonC, "mia")
	leo := MustUser(t, anonC, "leo")
	v, err := mia.CreateVideo(ctx, client.NewVideo{Title: "scale"})
	if err != nil {
		t.Fatal(err)
	}
	leo.Like(ctx, v.ID)
	leo.Save(ctx, v.ID)
	leo.Share(ctx, v.ID, "telegram")
	for i := 0; i < 5; i++ {
		if err := leo.RecordView(ctx, v.ID, client.View{Source: "search", WatchMS: 100}); err != nil {
			t.Fatal(err)
		}
	}
	want := client.Counts{Views: 5, Likes: 1, Shares: 1, Saves: 1}
	Eventually(t, "counts on PostgreSQL + NATS", func() bool {
		got, err := anonC.Video(ctx, v.ID)
		return err == nil && *got.Counts == want
	})
	p.Stop(t)

	// A second process on the same database and stream: the state is
	// there, the checkpoint holds, and new events count once.
	p2 := Start(t, data, flags...)
	c2 := p2.Client()
	leo2 := c2.WithToken(leo.Token)
	if err := leo2.RecordView(ctx, v.ID, client.View{Source: "profile"}); err != nil {
		t.Fatal(err)
	}
	want.Views = 6
	Eventually(t, "counts after restart", func() bool {
		got, err := c2.Video(ctx, v.ID)
		return err == nil && *got.Counts == want
	})
}
