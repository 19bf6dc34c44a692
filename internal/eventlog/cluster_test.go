package eventlog

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crowd-dev/crowd/internal/testutil"
)

// cluster is a real 3-node JetStream cluster (testutil.StartNATSCluster).
type cluster struct {
	urls []string
}

func (c *cluster) url() string { return strings.Join(c.urls, ",") }

func startCluster(tb testing.TB) *cluster {
	return &cluster{urls: testutil.StartNATSCluster(tb, 3)}
}

// logBuffer collects a Logger's records as text.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// openOn opens a Log on the cluster with cfg and returns it with what it
// logged while opening.
func openOn(t *testing.T, c *cluster, cfg Config) (*Log, string) {
	t.Helper()
	var logs logBuffer
	cfg.URL = c.url()
	cfg.Stream = "CROWD_REPLICAS"
	cfg.SubjectPrefix = "crowdreplicas"
	cfg.Partitions = 4
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var l *Log
	var err error
	// Right after a cluster forms, or a replica count changes, JetStream
	// may briefly answer that no stream leader is elected yet.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		l, err = Open(t.Context(), cfg)
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("open: %v\n%s", err, logs.String())
	}
	return l, logs.String()
}

func streamConfig(t *testing.T, l *Log) jetstream.StreamConfig {
	t.Helper()
	info, err := l.stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.Config
}

// TestStreamReplicas_Cluster: on a real 3-node cluster a new stream gets
// the configured replicas; an existing one is raised to them and never
// lowered; settings an operator changed on the stream stay; what was found
// and what was changed is logged; and messages survive every change.
func TestStreamReplicas_Cluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and starts a 3-node cluster")
	}
	c := startCluster(t)

	// Created at one replica.
	l, logs := openOn(t, c, Config{Replicas: 1})
	if got := streamConfig(t, l).Replicas; got != 1 {
		t.Fatalf("created with %d replicas, want 1", got)
	}
	if !strings.Contains(logs, "event log stream created") {
		t.Errorf("creation not logged:\n%s", logs)
	}
	msgs := testMessages(l, 0, 20)
	MustPublish(t, l, msgs, 20)
	l.Close()

	// Raised to three.
	l, logs = openOn(t, c, Config{Replicas: 3})
	if got := streamConfig(t, l).Replicas; got != 3 {
		t.Fatalf("after --stream-replicas 3: %d replicas", got)
	}
	if !strings.Contains(logs, "event log stream found") || !strings.Contains(logs, "replicas 1 → 3") {
		t.Errorf("found and changed settings not logged:\n%s", logs)
	}
	l.Close()

	// A deploy without the flag (the default, 1) keeps three.
	l, logs = openOn(t, c, Config{})
	if got := streamConfig(t, l).Replicas; got != 3 {
		t.Fatalf("a start with the default lowered replicas to %d", got)
	}
	if !strings.Contains(logs, "never lowered") {
		t.Errorf("the kept replica count is not logged:\n%s", logs)
	}

	// An operator changes the maximum age on the stream itself.
	sc := streamConfig(t, l)
	sc.MaxAge = 2 * time.Hour
	if _, err := l.js.UpdateStream(t.Context(), sc); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, logs = openOn(t, c, Config{MaxAge: 72 * time.Hour})
	got := streamConfig(t, l)
	if got.MaxAge != 2*time.Hour {
		t.Errorf("an operator's max age was undone: %v", got.MaxAge)
	}
	if got.Replicas != 3 {
		t.Errorf("replicas %d, want 3", got.Replicas)
	}
	if !strings.Contains(logs, "changed outside Crowd") {
		t.Errorf("the kept operator setting is not logged:\n%s", logs)
	}
	// A setting Crowd set itself follows the configuration.
	l.Close()
	l, _ = openOn(t, c, Config{MaxAge: 72 * time.Hour, DuplicateWindow: 5 * time.Minute})
	if got := streamConfig(t, l).Duplicates; got != 5*time.Minute {
		t.Errorf("duplicate window %v, want the configured 5m", got)
	}
	checkDelivered(t, MustConsume(t, l, 1, 20), msgs, 1)
	l.Close()
}

// TestPublish_SameIDsTwoPublishers_Cluster: two processes handed the same
// batch publish the same message ids at once to a replicated stream; the
// server answers one of them "duplicate message id is in process" while
// the other's proposal is being stored, and Publish waits it out instead of
// failing (it did, as a 500 to the platform, in the scale-out layout test).
func TestPublish_SameIDsTwoPublishers_Cluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and starts a 3-node cluster")
	}
	c := startCluster(t)
	a, _ := openOn(t, c, Config{Replicas: 3})
	defer a.Close()
	b, _ := openOn(t, c, Config{Replicas: 3})
	defer b.Close()
	const rounds, size = 40, 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	for r := range rounds {
		msgs := testMessages(a, r*size, size)
		for _, l := range []*Log{a, b} {
			wg.Go(func() {
				if err := l.Publish(t.Context(), slices.Clone(msgs)); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if info := MustInfo(t, a); info.Msgs != rounds*size {
		t.Errorf("stream holds %d messages, want %d (each once)", info.Msgs, rounds*size)
	}
}

// TestPublishAtomic_Cluster: on a replicated stream a batch is stored
// whole, and two processes handed the same batch at once store it once:
// the second is answered that the batch's id is in process, then that it
// is a duplicate, and PublishAtomic waits the first out and succeeds.
func TestPublishAtomic_Cluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and starts a 3-node cluster")
	}
	c := startCluster(t)
	a, _ := openOn(t, c, Config{Replicas: 3})
	defer a.Close()
	b, _ := openOn(t, c, Config{Replicas: 3})
	defer b.Close()
	if !a.Atomic() || !b.Atomic() || !streamConfig(t, a).AllowAtomicPublish {
		t.Fatal("the replicated stream does not take atomic batches")
	}
	const rounds, size = 40, 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	var want []Message
	for r := range rounds {
		msgs := testMessages(a, r*size, size)
		want = append(want, msgs...)
		for _, l := range []*Log{a, b} {
			wg.Go(func() {
				if err := l.PublishAtomic(t.Context(), slices.Clone(msgs)); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if info := MustInfo(t, a); info.Msgs != rounds*size {
		t.Fatalf("stream holds %d messages, want %d (each once)", info.Msgs, rounds*size)
	}
	// Each batch's messages are stored together, in order.
	got := MustConsume(t, a, 1, rounds*size)
	for i := 0; i < len(got); i += size {
		first := slices.IndexFunc(want, func(m Message) bool { return bytes.Equal(m.Data, got[i].Data) })
		if first < 0 || first%size != 0 {
			t.Fatalf("message %d does not start a batch", i)
		}
		checkDelivered(t, got[i:i+size], want[first:first+size], got[i].Seq)
	}
}
