package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/cputime"
	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/platform"
)

func TestRecent_RemembersAtLeastSize(t *testing.T) {
	r := NewRecent(3)
	r.Add("a", "b", "c", "d", "e") // rotates once: prev {a,b,c}, cur {d,e}
	got := r.HasEach([]string{"a", "c", "e", "z"})
	if !got[0] || !got[1] || !got[2] || got[3] {
		t.Fatalf("HasEach = %v", got)
	}
	r.Add("f", "g") // rotates again: prev {d,e,f}, cur {g}
	if got := r.HasEach([]string{"a", "d", "g"}); got[0] || !got[1] || !got[2] {
		t.Fatalf("after the second rotation HasEach = %v", got)
	}
}

// TestPack: events go to their video's partition, messages stay under the
// size bound, and packing the same events again gives the same message ids
// (so a retried publish is dropped by the log's dedupe).
func TestPack(t *testing.T) {
	l, err := eventlog.Open(t.Context(), eventlog.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var evs []event.Event
	for i := 0; i < 2000; i++ {
		evs = append(evs, event.Event{ID: fmt.Sprint("e", i), Type: event.View, VideoID: fmt.Sprint("v", i%7), Source: "for_you", Country: fmt.Sprintf("%0300d", i)})
	}
	a, err := Pack(l, evs)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Pack(l, evs)
	n := 0
	for i, m := range a {
		if len(m.Data) > MaxMessageBytes {
			t.Fatalf("message %d is %d bytes", i, len(m.Data))
		}
		if m.ID != b[i].ID {
			t.Fatal("packing the same events twice gave different message ids")
		}
		for _, line := range splitLines(m.Data) {
			ev, err := event.Decode(line)
			if err != nil {
				t.Fatal(err)
			}
			if l.Subject(l.Partition(ev.VideoID)) != m.Subject {
				t.Fatalf("event of %s on %s", ev.VideoID, m.Subject)
			}
			n++
		}
	}
	if n != len(evs) {
		t.Fatalf("packed %d of %d events", n, len(evs))
	}
}

// TestCommitter: concurrent commits are all durable in the log when Commit
// returns, sharing publishes: one message on the mixed subject per group,
// however many partitions its videos fall in.
func TestCommitter(t *testing.T) {
	ctx := t.Context()
	l, err := eventlog.Open(ctx, eventlog.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := NewCommitter(l, 100)
	var wg sync.WaitGroup
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := c.Commit(ctx, event.Event{ID: fmt.Sprint("c", i), Type: event.View, VideoID: fmt.Sprint("v", i), Source: "other"}); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	c.Close()
	if err := c.Commit(ctx, event.Event{ID: "late", Type: event.View, VideoID: "v"}); err != ErrClosed {
		t.Fatalf("commit after close: %v", err)
	}
	count := 0
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.Consume(cctx, 0, func(_ context.Context, batch []eventlog.Delivered) error {
		for _, m := range batch {
			if m.Subject != l.MixedSubject() {
				t.Errorf("group commit published on %s", m.Subject)
			}
			count += len(splitLines(m.Data))
		}
		if count >= 300 {
			cancel()
		}
		return nil
	})
	info, _ := l.Info(ctx)
	if count != 300 || info.Msgs >= 300 {
		t.Fatalf("%d events in %d messages; want 300 events sharing messages", count, info.Msgs)
	}
}

// TestPublish_AllOrNothing: a bulk batch spans several messages (one per
// partition and more); when the log fails it part-way (injected ENOSPC at
// its third message) nothing of it is stored, and sent again it is stored
// whole. Message by message, the two messages before the failure would
// stay in the log.
func TestPublish_AllOrNothing(t *testing.T) {
	var calls atomic.Int64
	var failing atomic.Bool
	fault := func() error {
		if calls.Add(1) >= 3 && failing.Load() {
			return fmt.Errorf("write: %w", syscall.ENOSPC)
		}
		return nil
	}
	l, err := eventlog.Open(t.Context(), eventlog.Config{Dir: t.TempDir(), WriteFault: fault})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	evs := make([]event.Event, 5000)
	for i := range evs {
		evs[i] = event.Event{ID: fmt.Sprint("e", i), Type: event.View, VideoID: fmt.Sprint("v", i%100), Source: "for_you", TS: time.Now()}
	}
	msgs, err := Pack(l, evs)
	if err != nil || len(msgs) < 3 {
		t.Fatalf("%d messages, %v; want several", len(msgs), err)
	}
	failing.Store(true)
	if err := Publish(t.Context(), l, evs); !errors.Is(err, platform.ErrDiskFull) {
		t.Fatalf("Publish failing part-way = %v, want disk full", err)
	}
	time.Sleep(200 * time.Millisecond)
	if info, _ := l.Info(t.Context()); info.Msgs != 0 {
		t.Fatalf("a batch failed part-way left %d of its %d messages in the log", info.Msgs, len(msgs))
	}
	failing.Store(false)
	if err := Publish(t.Context(), l, evs); err != nil {
		t.Fatal(err)
	}
	if info, _ := l.Info(t.Context()); info.Msgs != uint64(len(msgs)) {
		t.Fatalf("the batch sent again left %d messages in the log, want %d", info.Msgs, len(msgs))
	}
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for rec, err := range event.Records(b) {
		if err != nil {
			panic(err)
		}
		out = append(out, rec)
	}
	return out
}

// BenchmarkCommitter measures single events through the group commit into
// the embedded, fsynced log, from 256 concurrent callers.
func BenchmarkCommitter(b *testing.B) {
	l, err := eventlog.Open(b.Context(), eventlog.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c := NewCommitter(l, 2000)
	defer c.Close()
	var n atomic.Int64
	b.SetParallelism(128)
	b.ResetTimer()
	cpu := cputime.Process()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			ev := event.Event{ID: fmt.Sprint("e", i), Type: event.View, VideoID: fmt.Sprint("v", i%1000), Source: "for_you", TS: time.Now()}
			if err := c.Commit(b.Context(), ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if cpu = cputime.Process() - cpu; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/event")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPublishBulk publishes batches of 10,000 view events (about 1.2
// MB of records over the 16 partitions), as POST /v1/events does, with
// the CPU time of the process (the embedded server's included) per event:
// "atomic" as Publish does (one atomic batch), "messages" message by
// message (Log.Publish), as bulk batches were before.
func BenchmarkPublishBulk(b *testing.B) {
	l, err := eventlog.Open(b.Context(), eventlog.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const n = 10_000
	ts := time.Now()
	var next int
	batch := func() []event.Event {
		evs := make([]event.Event, n)
		for i := range evs {
			next++
			evs[i] = event.Event{ID: fmt.Sprintf("c:%022d", next), Type: event.View, VideoID: fmt.Sprintf("video-%016d", next%997),
				CreatorID: "creator-0123456789abcd", Source: "for_you", Actor: "actor-0123456789abcdef", ActorDay: "actorday-0123456789abc",
				Age: "25-34", Gender: "f", Country: "DE", WatchMS: 12345, TS: ts}
		}
		return evs
	}
	for _, bc := range []struct {
		name    string
		publish func(context.Context, []event.Event) error
	}{
		{"atomic", func(ctx context.Context, evs []event.Event) error { return Publish(ctx, l, evs) }},
		{"messages", func(ctx context.Context, evs []event.Event) error {
			msgs, err := Pack(l, evs)
			if err != nil {
				return err
			}
			return l.Publish(ctx, msgs)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				evs := batch()
				b.StartTimer()
				start := cputime.Process()
				if err := bc.publish(b.Context(), evs); err != nil {
					b.Fatal(err)
				}
				cpu += cputime.Process() - start
			}
			if cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/event")
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
