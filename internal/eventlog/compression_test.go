package eventlog

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// bigMessages returns n messages of about 100 KB of repetitive text each,
// numbered from first: a dozen fill one message block of the embedded
// server (8 MiB) and go on into the next.
func bigMessages(l *Log, first, n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		k := first + i
		var b bytes.Buffer
		for j := 0; b.Len() < 100_000; j++ {
			fmt.Fprintf(&b, `{"n":%d,"event":%d,"type":"view","source":"for_you","country":"DE"}`, k, j)
		}
		msgs[i] = Message{Subject: l.Subject(k % l.Partitions()), ID: fmt.Sprintf("big-%d", k), Data: b.Bytes()}
	}
	return msgs
}

// storeBlocks returns the message block files of the embedded store in
// dir, oldest first, each with whether nats-server compressed it: a
// compressed block starts with the header "cmp" and the algorithm (1, S2).
func storeBlocks(tb testing.TB, dir string) (names []string, compressed []bool) {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "jetstream", "$G", "streams", DefaultStream, "msgs", "*.blk"))
	if err != nil {
		tb.Fatal(err)
	}
	index := func(name string) int {
		var n int
		fmt.Sscanf(filepath.Base(name), "%d.blk", &n)
		return n
	}
	slices.SortFunc(files, func(a, b string) int { return index(a) - index(b) })
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		names = append(names, filepath.Base(f))
		compressed = append(compressed, bytes.HasPrefix(b, []byte{'c', 'm', 'p', 1}))
	}
	return names, compressed
}

// TestOpen_Compression: a new stream is created with the configured
// compression, none by default, and records it.
func TestOpen_Compression(t *testing.T) {
	for _, tt := range []struct {
		cfg  string
		want jetstream.StoreCompression
	}{
		{"", jetstream.NoCompression},
		{CompressionS2, jetstream.S2Compression},
		{CompressionNone, jetstream.NoCompression},
	} {
		l := MustOpen(t, Config{Dir: t.TempDir(), Compression: tt.cfg})
		sc := streamConfig(t, l)
		if sc.Compression != tt.want || sc.Metadata[metaCompression] != compressionName(tt.want) {
			t.Errorf("Compression %q: stream created with %v, metadata %q; want %v", tt.cfg, sc.Compression, sc.Metadata[metaCompression], tt.want)
		}
	}
}

// TestOpen_CompressionUpdate: a stream created without compression (by a
// Crowd before it had the setting) gets S2 at the next start, and the
// server applies it at once: a block filled after the start is compressed.
// The blocks written before stay as they were and every message stays
// readable, in order; a retry of messages published before and after the
// change is still dropped as a duplicate.
func TestOpen_CompressionUpdate(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Compression: CompressionNone}
	l := MustOpen(t, cfg)
	old := bigMessages(l, 0, 120) // one full block (8 MiB) and part of the next
	MustPublish(t, l, old, 20)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	names, compressed := storeBlocks(t, dir)
	if len(names) < 2 || slices.Contains(compressed, true) {
		t.Fatalf("without compression: blocks %v, compressed %v; want two or more, none compressed", names, compressed)
	}

	var logs logBuffer
	cfg.Compression = CompressionS2
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	l = MustOpen(t, cfg)
	sc := streamConfig(t, l)
	if sc.Compression != jetstream.S2Compression || sc.Metadata[metaCompression] != CompressionS2 {
		t.Fatalf("after a start with s2: compression %v, metadata %q; want S2", sc.Compression, sc.Metadata[metaCompression])
	}
	if !strings.Contains(logs.String(), "compression none → s2") {
		t.Errorf("the change is not logged:\n%s", logs.String())
	}
	newer := bigMessages(l, len(old), 120)
	MustPublish(t, l, newer, 20)
	// Retries of the last batch of each: both within the duplicate
	// window, which the server rebuilt when the change reloaded the
	// stream.
	MustPublish(t, l, old[100:], 20)
	MustPublish(t, l, newer[100:], 20)
	if info := MustInfo(t, l); info.Msgs != uint64(len(old)+len(newer)) {
		t.Fatalf("stored %d messages, want %d: a retry was stored again", info.Msgs, len(old)+len(newer))
	}

	// The server compresses a full block in the background.
	deadline := time.Now().Add(testTimeout)
	for {
		names, compressed = storeBlocks(t, dir)
		if slices.Contains(compressed[1:], true) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no block compressed after the change: blocks %v, compressed %v", names, compressed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if compressed[0] {
		t.Errorf("the block full before the change was rewritten: blocks %v, compressed %v", names, compressed)
	}
	checkDelivered(t, MustConsume(t, l, 1, len(old)+len(newer)), append(old, newer...), 1)

	// The next start changes nothing.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	logs = logBuffer{}
	l = MustOpen(t, cfg)
	if strings.Contains(logs.String(), "event log stream updated") {
		t.Errorf("a start with unchanged settings updated the stream:\n%s", logs.String())
	}
	checkDelivered(t, MustConsume(t, l, 1, len(old)+len(newer)), append(old, newer...), 1)
}

// TestReconcile_Compression: compression follows the configuration unless
// an operator changed it on the stream; a stream Crowd recorded no
// compression for (made before the setting) follows the configuration.
func TestReconcile_Compression(t *testing.T) {
	const (
		none = jetstream.NoCompression
		s2   = jetstream.S2Compression
	)
	stream := func(c jetstream.StoreCompression, recorded string) jetstream.StreamConfig {
		sc := jetstream.StreamConfig{Compression: c, Metadata: map[string]string{metaPartitions: "16"}}
		if recorded != "" {
			sc.Metadata[metaCompression] = recorded
		}
		return sc
	}
	for _, tt := range []struct {
		name  string
		found jetstream.StreamConfig
		want  jetstream.StoreCompression
		next  jetstream.StoreCompression
		kept  bool
	}{
		{"made before the setting", stream(none, ""), s2, s2, false},
		{"turned on", stream(none, "none"), s2, s2, false},
		{"turned off", stream(s2, "s2"), none, none, false},
		{"unchanged", stream(s2, "s2"), s2, s2, false},
		{"an operator turned it on", stream(s2, "none"), none, s2, true},
		{"an operator turned it off", stream(none, "s2"), s2, none, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := stream(tt.want, "")
			next, changes, kept := reconcile(tt.found, want)
			if next.Compression != tt.next {
				t.Errorf("compression %v, want %v (changes %v, kept %v)", next.Compression, tt.next, changes, kept)
			}
			if got := len(kept) > 0; got != tt.kept {
				t.Errorf("kept %v, want a warning %v", kept, tt.kept)
			}
			if tt.found.Compression != tt.next && next.Metadata[metaCompression] != compressionName(tt.next) {
				t.Errorf("metadata %q after the change to %v", next.Metadata[metaCompression], tt.next)
			}
		})
	}
}
