package eventlog

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// externalURL is the NATS server with JetStream that the external-mode test
// uses; CROWD_TEST_NATS_URL overrides it.
func externalURL() string {
	if u := os.Getenv("CROWD_TEST_NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// MustOpenExternal opens a Log on the external server with a stream and
// subject prefix of its own, deleting the stream when the test ends. It
// skips the test when no server is reachable, except in CI, which must
// exercise external mode.
func MustOpenExternal(tb testing.TB, cfg Config) *Log {
	tb.Helper()
	url := externalURL()
	probe, err := nats.Connect(url, nats.Timeout(2*time.Second))
	if err != nil {
		if os.Getenv("CI") == "" {
			tb.Skipf("no NATS server at %s (%v); set CI to make this a failure", url, err)
		}
		tb.Fatalf("connect to NATS at %s: %v", url, err)
	}
	probe.Close()

	suffix := strings.ToLower(rand.Text()[:10])
	cfg.URL = url
	cfg.Stream = "CROWD_TEST_" + strings.ToUpper(suffix)
	cfg.SubjectPrefix = "crowdtest." + suffix
	l := MustOpen(tb, cfg)
	tb.Cleanup(func() {
		// Runs before MustOpen's Close (cleanups run last-in first-out).
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := l.js.DeleteStream(ctx, cfg.Stream); err != nil {
			tb.Errorf("delete stream %s: %v", cfg.Stream, err)
		}
	})
	return l
}

func TestLog_External(t *testing.T) {
	l := MustOpenExternal(t, Config{Partitions: 4})
	if err := l.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	testPublishConsume(t, l)
}

func TestLog_ExternalReopen(t *testing.T) {
	// Reopening an existing stream updates it in place and keeps its
	// messages.
	l := MustOpenExternal(t, Config{Partitions: 4, Compression: CompressionS2})
	msgs := testMessages(l, 0, 50)
	MustPublish(t, l, msgs, 50)

	cfg := l.cfg
	cfg.MaxAge = 48 * time.Hour
	l2 := MustOpen(t, cfg)
	info := MustInfo(t, l2)
	if info.Msgs != 50 {
		t.Fatalf("reopened stream has %d messages, want 50", info.Msgs)
	}
	si, err := l2.stream.Info(t.Context())
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if si.Config.MaxAge != cfg.MaxAge {
		t.Fatalf("MaxAge = %v after reopen, want %v", si.Config.MaxAge, cfg.MaxAge)
	}
	// Compressed (as configured) where the server has stream compression
	// (2.10 and later); an older one, such as the Debian 12 package's
	// 2.9.10, is never sent the setting.
	v := l2.nc.ConnectedServerVersion()
	if want := serverAtLeast(v, compressionMajor, compressionMinor); (si.Config.Compression == jetstream.S2Compression) != want {
		t.Fatalf("server %s: compression %v after reopen, want S2 %v", v, si.Config.Compression, want)
	}
	checkDelivered(t, MustConsume(t, l2, 1, 50), msgs, 1)
}

// Against the external server (which may predate filtering a consumer by
// several subjects) a consumer of some subjects still gets exactly theirs.
func TestConsumeSubjects_External(t *testing.T) {
	testConsumeSubjects(t, MustOpenExternal(t, Config{Partitions: 4}))
}

// Against the external server, PublishAtomic stores a batch atomically if
// the server is 2.12 or later and message by message before (the Debian 12
// package is 2.9.10): either way every message once, retries included.
func TestPublishAtomic_External(t *testing.T) {
	l := MustOpenExternal(t, Config{Partitions: 4})
	v := l.nc.ConnectedServerVersion()
	if want := serverAtLeast(v, atomicMajor, atomicMinor); l.Atomic() != want {
		t.Fatalf("server %s: Atomic() = %v, want %v", v, l.Atomic(), want)
	}
	msgs := testMessages(l, 0, 30)
	for range 2 {
		if err := l.PublishAtomic(t.Context(), msgs); err != nil {
			t.Fatalf("PublishAtomic (server %s): %v", v, err)
		}
	}
	if info := MustInfo(t, l); info.Msgs != 30 {
		t.Fatalf("server %s: stored %d messages, want 30", v, info.Msgs)
	}
	checkDelivered(t, MustConsume(t, l, 1, 30), msgs, 1)
}
