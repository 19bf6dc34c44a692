package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// testTimeout bounds every wait in these tests; a healthy run needs a small
// fraction of it. It leaves room for one recovery of an ordered consumer
// whose pull went unanswered (on a loaded machine, a replicated stream's
// new consumer): the client recreates it after two missed heartbeats of
// 5 s. Consume from a 3-node cluster once got nothing in 15 s on CI.
const testTimeout = 30 * time.Second

// MustOpen opens a Log and closes it when the test ends.
func MustOpen(tb testing.TB, cfg Config) *Log {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	l, err := Open(ctx, cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return l
}

// testMessages returns n messages numbered from first, spread over the
// log's partitions by a video key.
func testMessages(l *Log, first, n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		k := first + i
		video := fmt.Sprintf("video-%d", k%7)
		msgs[i] = Message{
			Subject: l.Subject(l.Partition(video)),
			ID:      fmt.Sprintf("msg-%d", k),
			Data:    []byte(fmt.Sprintf(`{"n":%d,"video":%q}`, k, video)),
		}
	}
	return msgs
}

// MustPublish publishes msgs in batches of batch.
func MustPublish(tb testing.TB, l *Log, msgs []Message, batch int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for len(msgs) > 0 {
		n := min(batch, len(msgs))
		if err := l.Publish(ctx, msgs[:n]); err != nil {
			tb.Fatalf("Publish: %v", err)
		}
		msgs = msgs[n:]
	}
}

var errEnough = errors.New("enough")

// MustConsume consumes from start until it has n messages, failing the test
// at the deadline.
func MustConsume(tb testing.TB, l *Log, start uint64, n int) []Delivered {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var got []Delivered
	err := l.Consume(ctx, start, func(_ context.Context, batch []Delivered) error {
		got = append(got, batch...)
		if len(got) >= n {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		tb.Fatalf("Consume from %d: got %d of %d messages, then %v", start, len(got), n, err)
	}
	return got[:n]
}

// MustInfo returns the log's Info.
func MustInfo(tb testing.TB, l *Log) Info {
	tb.Helper()
	info, err := l.Info(context.Background())
	if err != nil {
		tb.Fatalf("Info: %v", err)
	}
	return info
}

// checkDelivered verifies that got are msgs, stored from sequence firstSeq
// on, in order.
func checkDelivered(t *testing.T, got []Delivered, msgs []Message, firstSeq uint64) {
	t.Helper()
	if len(got) != len(msgs) {
		t.Fatalf("got %d messages, want %d", len(got), len(msgs))
	}
	for i, d := range got {
		want := msgs[i]
		if d.Seq != firstSeq+uint64(i) {
			t.Fatalf("message %d: seq %d, want %d", i, d.Seq, firstSeq+uint64(i))
		}
		if d.Subject != want.Subject || string(d.Data) != string(want.Data) {
			t.Fatalf("message %d (seq %d): got %s %s, want %s %s", i, d.Seq, d.Subject, d.Data, want.Subject, want.Data)
		}
		if d.Time.IsZero() || time.Since(d.Time) > time.Hour {
			t.Fatalf("message %d: implausible time %v", i, d.Time)
		}
	}
}

// testPublishConsume is the behaviour every deployment must have: batched
// publishes, ordered consumption from any sequence, and publish dedupe.
func testPublishConsume(t *testing.T, l *Log) {
	const n = 1000
	msgs := testMessages(l, 0, n)
	MustPublish(t, l, msgs, 64)

	info := MustInfo(t, l)
	if info.Msgs != n || info.FirstSeq != 1 || info.LastSeq != n {
		t.Fatalf("Info after publish = %+v, want %d msgs, seqs 1..%d", info, n, n)
	}
	if info.Created.IsZero() {
		t.Fatalf("Info.Created is zero")
	}

	t.Run("ConsumeAll", func(t *testing.T) {
		got := MustConsume(t, l, 1, n)
		checkDelivered(t, got, msgs, 1)
		subjects := map[string]bool{}
		for _, d := range got {
			subjects[d.Subject] = true
		}
		if len(subjects) != l.Partitions() {
			t.Errorf("messages used %d subjects, want all %d partitions", len(subjects), l.Partitions())
		}
	})
	t.Run("ConsumeFromZero", func(t *testing.T) {
		got := MustConsume(t, l, 0, n)
		checkDelivered(t, got, msgs, 1)
	})
	t.Run("ConsumeFromMiddle", func(t *testing.T) {
		got := MustConsume(t, l, 701, n-700)
		checkDelivered(t, got, msgs[700:], 701)
	})
	t.Run("Dedupe", func(t *testing.T) {
		// The caller's retry of a batch that was in fact stored.
		MustPublish(t, l, msgs[100:300], 200)
		if got := MustInfo(t, l); got.Msgs != n || got.LastSeq != n {
			t.Fatalf("Info after republish = %+v, want unchanged %d msgs", got, n)
		}
	})
	t.Run("ConsumeSeesNewMessages", func(t *testing.T) {
		// A consumer at the head of the log receives what is
		// published after it started.
		more := testMessages(l, n, 10)
		ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
		defer cancel()
		errc := make(chan error, 1)
		var got []Delivered
		go func() {
			errc <- l.Consume(ctx, n+1, func(_ context.Context, b []Delivered) error {
				got = append(got, b...)
				if len(got) >= len(more) {
					return errEnough
				}
				return nil
			})
		}()
		MustPublish(t, l, more, 3)
		if err := <-errc; !errors.Is(err, errEnough) {
			t.Fatalf("Consume: %v", err)
		}
		checkDelivered(t, got, more, n+1)
	})
}

func TestLog_Embedded(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Partitions: 4}
	l, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	testPublishConsume(t, l)
	before := MustInfo(t, l)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	t.Run("Reopen", func(t *testing.T) {
		l := MustOpen(t, cfg)
		after := MustInfo(t, l)
		if after.LastSeq != before.LastSeq || after.Msgs != before.Msgs || !after.Created.Equal(before.Created) {
			t.Fatalf("Info after reopen = %+v, want %+v", after, before)
		}
		got := MustConsume(t, l, 1, int(after.Msgs))
		checkDelivered(t, got[:1000], testMessages(l, 0, 1000), 1)

		// The dedupe window survives a restart: the server rebuilds
		// it from the stored messages.
		MustPublish(t, l, testMessages(l, 500, 100), 100)
		if got := MustInfo(t, l); got.Msgs != after.Msgs {
			t.Fatalf("republish after restart stored %d new messages", got.Msgs-after.Msgs)
		}
	})

	t.Run("PartitionsChanged", func(t *testing.T) {
		cfg := cfg
		cfg.Partitions = 8
		l, err := Open(t.Context(), cfg)
		if err == nil {
			l.Close()
			t.Fatal("Open with a different partition count succeeded")
		}
		if !strings.Contains(err.Error(), "Partitions=4") {
			t.Fatalf("error %q does not name the stream's partition count", err)
		}
	})
}

func TestLog_Check(t *testing.T) {
	l, err := Open(t.Context(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := l.Check(t.Context()); err != nil {
		t.Fatalf("Check on open log: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Check(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Check after Close = %v, want ErrClosed", err)
	}
	if err := l.Publish(t.Context(), testMessages(l, 0, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
	if _, err := l.Info(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Info after Close = %v, want ErrClosed", err)
	}
	if err := l.Consume(t.Context(), 1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Consume after Close = %v, want ErrClosed", err)
	}
}

func TestLog_Publish(t *testing.T) {
	l := MustOpen(t, Config{Dir: t.TempDir(), Partitions: 2})
	t.Run("Empty", func(t *testing.T) {
		if err := l.Publish(t.Context(), nil); err != nil {
			t.Fatalf("Publish(nil) = %v", err)
		}
	})
	for _, tt := range []struct {
		name string
		msg  Message
	}{
		{"NoID", Message{Subject: l.Subject(0), Data: []byte("x")}},
		{"OtherSubject", Message{Subject: "other.0", ID: "a"}},
		{"BarePrefix", Message{Subject: DefaultSubjectPrefix, ID: "a"}},
		{"NestedSubject", Message{Subject: l.Subject(0) + ".x", ID: "a"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A valid first message must not be stored when a later
			// one is invalid.
			batch := []Message{{Subject: l.Subject(1), ID: "valid-" + tt.name}, tt.msg}
			if err := l.Publish(t.Context(), batch); err == nil {
				t.Fatal("Publish accepted an invalid message")
			}
			if info := MustInfo(t, l); info.Msgs != 0 {
				t.Fatalf("stream has %d messages after a rejected batch", info.Msgs)
			}
		})
	}
	t.Run("Cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := l.Publish(ctx, testMessages(l, 0, 10)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Publish with cancelled ctx = %v", err)
		}
	})
	t.Run("Backpressure", func(t *testing.T) {
		// More messages than the window of unacknowledged publishes:
		// Publish must wait for room, not fail.
		msgs := testMessages(l, 0, maxAsyncPending+500)
		for i := range msgs {
			msgs[i].ID = "bp-" + msgs[i].ID
		}
		ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
		defer cancel()
		if err := l.Publish(ctx, msgs); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if info := MustInfo(t, l); info.Msgs != uint64(len(msgs)) {
			t.Fatalf("stored %d messages, want %d", info.Msgs, len(msgs))
		}
	})
}

func TestLog_Consume(t *testing.T) {
	l := MustOpen(t, Config{Dir: t.TempDir(), Partitions: 3})
	msgs := testMessages(l, 0, 20)
	MustPublish(t, l, msgs, 20)

	t.Run("Ahead", func(t *testing.T) {
		// Start == LastSeq+1 waits for the next message; beyond it the
		// checkpoint is ahead of the log.
		err := l.Consume(t.Context(), 22, func(context.Context, []Delivered) error { return nil })
		if !errors.Is(err, ErrSeqAhead) {
			t.Fatalf("Consume(22) = %v, want ErrSeqAhead", err)
		}
	})
	t.Run("Cancel", func(t *testing.T) {
		// A consumer waiting at the head of the log stops on cancel.
		done := make(chan error, 1)
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			done <- l.Consume(ctx, 21, func(context.Context, []Delivered) error {
				return errors.New("no message expected")
			})
		}()
		time.AfterFunc(50*time.Millisecond, cancel)
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Consume after cancel = %v, want context.Canceled", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("Consume did not return after cancel")
		}
	})
	t.Run("FnError", func(t *testing.T) {
		errFn := errors.New("fn failed")
		err := l.Consume(t.Context(), 5, func(_ context.Context, b []Delivered) error {
			if b[0].Seq != 5 {
				t.Errorf("first batch starts at %d, want 5", b[0].Seq)
			}
			return errFn
		})
		if err != errFn {
			t.Fatalf("Consume = %v, want fn's error unchanged", err)
		}
	})
	t.Run("Removed", func(t *testing.T) {
		// Retention removing messages looks the same as a purge.
		if err := l.stream.Purge(t.Context()); err != nil {
			t.Fatalf("Purge: %v", err)
		}
		err := l.Consume(t.Context(), 3, func(context.Context, []Delivered) error { return nil })
		if !errors.Is(err, ErrSeqRemoved) {
			t.Fatalf("Consume(3) after purge = %v, want ErrSeqRemoved", err)
		}
		// From 0, "whatever is stored", is not an error.
		more := testMessages(l, 100, 5)
		MustPublish(t, l, more, 5)
		checkDelivered(t, MustConsume(t, l, 0, 5), more, 21)
	})
}

func TestOpen_Listen(t *testing.T) {
	l := MustOpen(t, Config{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	addr := l.ns.Load().Addr()
	if addr == nil {
		t.Fatal("embedded server has no listener")
	}
	nc, err := nats.Connect("nats://"+addr.String(), nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatalf("connect over TCP: %v", err)
	}
	nc.Close()

	quiet := MustOpen(t, Config{Dir: t.TempDir()})
	if addr := quiet.ns.Load().Addr(); addr != nil {
		t.Fatalf("embedded server listens on %v without Listen", addr)
	}
}

func TestConfig_Validate(t *testing.T) {
	valid := Config{Dir: "/data"}.withDefaults()
	if err := valid.Validate(); err != nil {
		t.Fatalf("defaults with Dir: %v", err)
	}
	if err := (Config{URL: "nats://a:4222,nats://b:4222"}).withDefaults().Validate(); err != nil {
		t.Fatalf("external defaults: %v", err)
	}
	for _, tt := range []struct {
		name   string
		modify func(*Config)
		want   string // the field and value the error must name
	}{
		{"NoDir", func(c *Config) { c.Dir = "" }, `Dir ""`},
		{"PartitionsZero", func(c *Config) { c.Partitions = 0 }, "Partitions 0"},
		{"PartitionsNegative", func(c *Config) { c.Partitions = -1 }, "Partitions -1"},
		{"PartitionsHuge", func(c *Config) { c.Partitions = maxPartitions + 1 }, "Partitions 4097"},
		{"DuplicateWindowOverMaxAge", func(c *Config) { c.MaxAge = time.Hour; c.DuplicateWindow = 2 * time.Hour }, "DuplicateWindow 2h0m0s"},
		{"MaxAgeNegative", func(c *Config) { c.MaxAge = -time.Second }, "MaxAge -1s"},
		{"MaxBytesNegative", func(c *Config) { c.MaxBytes = -1 }, "MaxBytes -1"},
		{"Replicas", func(c *Config) { c.Replicas = 7 }, "Replicas 7"},
		{"StreamDot", func(c *Config) { c.Stream = "a.b" }, `Stream "a.b"`},
		{"SubjectWildcard", func(c *Config) { c.SubjectPrefix = "crowd.*" }, `SubjectPrefix "crowd.*"`},
		{"SubjectEmptyToken", func(c *Config) { c.SubjectPrefix = "crowd..events" }, `SubjectPrefix "crowd..events"`},
		{"ListenBad", func(c *Config) { c.Listen = "localhost" }, `Listen "localhost"`},
		{"ListenExternal", func(c *Config) { c.URL = "nats://x:4222"; c.Listen = ":4222" }, `Listen ":4222"`},
		{"Compression", func(c *Config) { c.Compression = "gzip" }, `Compression "gzip"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.modify(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted the config")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %q, want it to name %s", err, tt.want)
			}
		})
	}

	// Open validates after applying defaults, so a negative value is
	// reported rather than replaced.
	_, err := Open(t.Context(), Config{Dir: t.TempDir(), Partitions: -3})
	if err == nil || !strings.Contains(err.Error(), "Partitions -3") {
		t.Fatalf("Open with Partitions -3 = %v", err)
	}
	_, err = Open(t.Context(), Config{Dir: t.TempDir(), MaxAge: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "DuplicateWindow") {
		t.Fatalf("Open with the default DuplicateWindow over MaxAge = %v", err)
	}
}

func TestPartition(t *testing.T) {
	// Pinned values: a change here moves videos between partitions of an
	// existing stream.
	for _, tt := range []struct {
		key  string
		n    int
		want int
	}{
		{"", 16, 5},        // FNV-1a offset basis 0x811c9dc5
		{"a", 16, 12},      // 0xe40c292c
		{"video-1", 16, 6}, // 0x5f04af46
		{"video-1", 1, 0},
	} {
		if got := PartitionOf(tt.key, tt.n); got != tt.want {
			t.Errorf("partition(%q, %d) = %d, want %d", tt.key, tt.n, got, tt.want)
		}
	}
	// It is FNV-1a 32-bit, as documented.
	for _, key := range []string{"", "a", "video-1", "01J9Z3Q0V7", "ünïcode"} {
		h := fnv.New32a()
		h.Write([]byte(key))
		for _, n := range []int{1, 4, 16, 4096} {
			if got, want := PartitionOf(key, n), int(h.Sum32()%uint32(n)); got != want {
				t.Errorf("partition(%q, %d) = %d, FNV-1a gives %d", key, n, got, want)
			}
		}
	}
}

func TestOpen_SyncAlways(t *testing.T) {
	// The durability requirement: an acknowledged event survives power
	// loss, so the embedded server must fsync before every ack.
	l := MustOpen(t, Config{Dir: t.TempDir()})
	if jc := l.ns.Load().JetStreamConfig(); jc == nil || !jc.SyncAlways {
		t.Fatalf("embedded JetStream config %+v, want SyncAlways", jc)
	}
}

func TestLog_CloseWhileBusy(t *testing.T) {
	// Shutdown must not hang on a consumer waiting at the head of the
	// log, and the consumer learns why it stopped.
	l, err := Open(t.Context(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	MustPublish(t, l, testMessages(l, 0, 10), 10)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- l.Consume(t.Context(), 1, func(_ context.Context, b []Delivered) error {
			if b[len(b)-1].Seq == 10 {
				close(started)
			}
			return nil
		})
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("Consume returned early: %v", err)
	case <-time.After(testTimeout):
		t.Fatal("Consume delivered nothing")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Consume after Close = %v, want ErrClosed", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Consume did not return after Close")
	}
}

// TestConsume_BatchBytes: a batch stops at consumeBatchBytes of payload,
// however many messages would fit by count.
func TestConsume_BatchBytes(t *testing.T) {
	l := MustOpen(t, Config{Dir: t.TempDir()})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	// More than consumeBatchBytes in all, so that the bytes, not the
	// count or the linger, end the first batch.
	const size = 400 << 10
	n := consumeBatchBytes/size + 10
	var msgs []Message
	for i := range n {
		msgs = append(msgs, Message{Subject: l.Subject(0), ID: fmt.Sprint("big-", i), Data: bytes.Repeat([]byte{'x'}, size)})
	}
	if err := l.Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	got, batches := 0, 0
	err := l.Consume(ctx, 0, func(_ context.Context, batch []Delivered) error {
		total := 0
		for _, d := range batch {
			total += len(d.Data)
		}
		if total > consumeBatchBytes+size {
			t.Errorf("a batch of %d bytes", total)
		}
		got += len(batch)
		batches++
		if got == n {
			cancel()
		}
		return nil
	})
	if got != n || batches < 2 {
		t.Fatalf("%d messages in %d batches (%v)", got, batches, err)
	}
}

// A consumer of some subjects gets their messages only, in stream order,
// and each message says how many of its subjects' messages follow it.
func TestConsumeSubjects(t *testing.T) {
	testConsumeSubjects(t, MustOpen(t, Config{Dir: t.TempDir(), Partitions: 4}))
}

func testConsumeSubjects(t *testing.T, l *Log) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	subjects := []string{l.Subject(0), l.Subject(1), l.Subject(2), l.Subject(3), l.MixedSubject()}
	var msgs []Message
	for i := range 50 {
		msgs = append(msgs, Message{Subject: subjects[i%len(subjects)], ID: fmt.Sprint("m-", i), Data: []byte(fmt.Sprint(i))})
	}
	MustPublish(t, l, msgs, 7)
	want := []string{l.Subject(2), l.MixedSubject()}
	// Messages 2, 4, 7, 9, … (seq = index + 1), from seq 3 on.
	var seqs []uint64
	for i, m := range msgs {
		if (m.Subject == want[0] || m.Subject == want[1]) && uint64(i+1) >= 3 {
			seqs = append(seqs, uint64(i+1))
		}
	}
	var got []Delivered
	err := l.ConsumeSubjects(ctx, want, 3, func(_ context.Context, batch []Delivered) error {
		got = append(got, batch...)
		if batch[len(batch)-1].Seq >= seqs[len(seqs)-1] {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("ConsumeSubjects: %v (%d messages)", err, len(got))
	}
	// A server that filters delivers the subjects' messages only; one
	// that cannot delivers the others without their data.
	var kept []Delivered
	for i, d := range got {
		if d.Data == nil {
			if d.Subject == want[0] || d.Subject == want[1] {
				t.Fatalf("message %d of %s delivered without data", d.Seq, d.Subject)
			}
			continue
		}
		kept = append(kept, d)
		if i > 0 && d.Pending >= got[i-1].Pending {
			t.Errorf("message %d: pending %d after %d", d.Seq, d.Pending, got[i-1].Pending)
		}
	}
	if len(kept) != len(seqs) {
		t.Fatalf("%d messages, want %d", len(kept), len(seqs))
	}
	for i, d := range kept {
		if d.Seq != seqs[i] || string(d.Data) != fmt.Sprint(seqs[i]-1) {
			t.Fatalf("message %d: seq %d data %q, want seq %d", i, d.Seq, d.Data, seqs[i])
		}
	}
	for _, tt := range []struct {
		subject string
		want    uint64
	}{{l.Subject(2), 48}, {l.MixedSubject(), 50}, {l.Subject(0), 46}, {l.cfg.SubjectPrefix + ".7", 0}} {
		if got, err := l.LastSeqOn(ctx, tt.subject); err != nil || got != tt.want {
			t.Errorf("LastSeqOn(%s) = %d, %v; want %d", tt.subject, got, err, tt.want)
		}
	}
	if last := got[len(got)-1]; last.Pending != 0 {
		t.Errorf("last message: pending %d", last.Pending)
	}
	if len(got) == len(kept) {
		// Filtered by the server: pending counts the subjects' messages.
		for i, d := range kept {
			if d.Pending != uint64(len(kept)-1-i) {
				t.Errorf("message %d: pending %d, want %d", i, d.Pending, len(kept)-1-i)
			}
		}
	}
}
