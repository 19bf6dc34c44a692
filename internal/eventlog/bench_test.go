package eventlog

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/cputime"
)

// Envelope shape for the benchmark: what the ingest path publishes.
const (
	benchEventsPerMsg = 50
	benchMsgsPerCall  = 16
)

// benchEnvelope returns an NDJSON envelope of benchEventsPerMsg events of
// about 200 bytes each.
func benchEnvelope() []byte {
	var b bytes.Buffer
	for i := range benchEventsPerMsg {
		fmt.Fprintf(&b, `{"id":"01J9Z3Q0V7X2K8M4N6P8R0T2V%03d","type":"view","video":"v-%06d","ts":"2026-01-02T15:04:05.000Z","source":"feed","watch_ms":12345,"demo":"25-34/f/DE","session":"s-0123456789abcdef"}`+"\n", i, i*7919%1000000)
	}
	return b.Bytes()
}

// BenchmarkPublish measures durable (fsync-before-ack) publishing of event
// envelopes to the embedded server, in events per second. "serial" is one
// publisher; "parallel" is concurrent ingest requests sharing the log.
func BenchmarkPublish(b *testing.B) {
	data := benchEnvelope()
	l := MustOpen(b, Config{Dir: b.TempDir()})
	var next atomic.Int64
	batch := func() []Message {
		msgs := make([]Message, benchMsgsPerCall)
		for i := range msgs {
			n := next.Add(1)
			msgs[i] = Message{
				Subject: l.Subject(int(n) % l.Partitions()),
				ID:      fmt.Sprintf("bench-%d", n),
				Data:    data,
			}
		}
		return msgs
	}
	// The process's CPU time includes the embedded server's: what a
	// publish costs in all.
	report := func(b *testing.B, cpu time.Duration) {
		events := float64(b.N) * benchMsgsPerCall * benchEventsPerMsg
		if cpu > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/events, "cpu-ns/event")
		}
		b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
		b.SetBytes(int64(len(data)) * benchMsgsPerCall)
	}

	b.Run("serial", func(b *testing.B) {
		ctx := context.Background()
		cpu := cputime.Process()
		for b.Loop() {
			if err := l.Publish(ctx, batch()); err != nil {
				b.Fatal(err)
			}
		}
		report(b, cputime.Process()-cpu)
	})
	b.Run("parallel", func(b *testing.B) {
		ctx := context.Background()
		b.SetParallelism(4)
		cpu := cputime.Process()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := l.Publish(ctx, batch()); err != nil {
					b.Error(err)
					return
				}
			}
		})
		report(b, cputime.Process()-cpu)
	})
	// The same batches as atomic batches (PublishAtomic, what bulk
	// ingestion uses).
	b.Run("atomic-serial", func(b *testing.B) {
		ctx := context.Background()
		cpu := cputime.Process()
		for b.Loop() {
			if err := l.PublishAtomic(ctx, batch()); err != nil {
				b.Fatal(err)
			}
		}
		report(b, cputime.Process()-cpu)
	})
	b.Run("atomic-parallel", func(b *testing.B) {
		ctx := context.Background()
		b.SetParallelism(4)
		cpu := cputime.Process()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := l.PublishAtomic(ctx, batch()); err != nil {
					b.Error(err)
					return
				}
			}
		})
		report(b, cputime.Process()-cpu)
	})
}

// BenchmarkConsume measures reading the log back in batches, in messages
// per second.
func BenchmarkConsume(b *testing.B) {
	l := MustOpen(b, Config{Dir: b.TempDir()})
	const n = 20000
	msgs := testMessages(l, 0, n)
	MustPublish(b, l, msgs, 1000)
	for b.Loop() {
		MustConsume(b, l, 1, n)
	}
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "msgs/s")
}
