package eventlog

import (
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/cputime"
	"github.com/crowd-dev/crowd/internal/event"
)

// Envelope shape for the benchmark: what the ingest path publishes.
const (
	benchEventsPerMsg = 50
	benchMsgsPerCall  = 16
	// benchEnvelopes distinct envelopes are cycled through: 12 MiB of
	// events, more than a message block and than S2's window, so that
	// a compressed block holds no copies of the same events.
	benchEnvelopes = 2000
)

// benchEnvelopeSet returns benchEnvelopes log messages of benchEventsPerMsg
// views each, in the log's binary format, shaped like the realistic
// world's (crowd bench --world realistic): keyed-hash event ids and viewer
// pseudonyms (22 base64url characters, incompressible), Zipf-popular
// videos, a day's timestamps, few sources and demographics. A record is
// about 120 bytes, as in the log the realistic bench measured (115 bytes
// an event).
func benchEnvelopeSet(tb testing.TB) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 1, 99_999)
	hash := func() string {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return base64.RawURLEncoding.EncodeToString(b[:])
	}
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	out := make([][]byte, benchEnvelopes)
	var rec []byte
	for i := range out {
		var msg []byte
		for range benchEventsPerMsg {
			e := event.Event{
				V: event.SchemaVersion, ID: "c:" + hash(), Type: event.View,
				VideoID: fmt.Sprintf("lg-vid-%05d", zipf.Uint64()),
				TS:      day.Add(time.Duration(rng.Int64N(int64(24 * time.Hour)))),
				Source:  pick("for_you", "for_you", "for_you", "following", "search", "profile"),
				WatchMS: rng.Int64N(60_000), Completed: rng.IntN(3) == 0,
				Actor: hash(), ActorDay: hash(),
				Age:     pick("13-17", "18-24", "25-34", "35-44", "45-54", "55+", "unknown"),
				Gender:  pick("female", "male", "unknown"),
				Country: pick("DE", "US", "FR", "BR", "IN", "JP", "GB", "unknown"),
			}
			var err error
			if rec, err = e.AppendBinary(rec[:0]); err != nil {
				tb.Fatal(err)
			}
			msg = event.AppendFrame(msg, rec)
		}
		out[i] = msg
	}
	return out
}

// BenchmarkPublish measures durable (fsync-before-ack) publishing of event
// envelopes to the embedded server, in events per second, with each
// compression of the stream (the server compresses a block once it is
// full, so the cost shows as CPU per event, not in a publish's wait).
// "serial" is one publisher; "parallel" is concurrent ingest requests
// sharing the log. It reports the store's bytes per event too.
func BenchmarkPublish(b *testing.B) {
	envelopes := benchEnvelopeSet(b)
	for _, compression := range []string{CompressionNone, CompressionS2} {
		b.Run(compression, func(b *testing.B) { benchPublish(b, compression, envelopes) })
	}
}

func benchPublish(b *testing.B, compression string, envelopes [][]byte) {
	dir := b.TempDir()
	l := MustOpen(b, Config{Dir: dir, Compression: compression})
	var next atomic.Int64
	batch := func() []Message {
		msgs := make([]Message, benchMsgsPerCall)
		for i := range msgs {
			n := next.Add(1)
			msgs[i] = Message{
				Subject: l.Subject(int(n) % l.Partitions()),
				ID:      fmt.Sprintf("bench-%d", n),
				Data:    envelopes[int(n)%len(envelopes)],
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

// BenchmarkConsumeStored measures reading back a log of full message
// blocks after a restart of the log (the server's caches empty, the files
// in the page cache), as aggregation does when it resumes, with each
// compression of the stream: in events per second and process CPU per
// event, which includes decompressing the blocks. It also reports the
// store's bytes per event: 300,000 events of benchEnvelopeSet, four full
// blocks and part of a fifth, which the server keeps as written.
func BenchmarkConsumeStored(b *testing.B) {
	envelopes := benchEnvelopeSet(b)
	for _, compression := range []string{CompressionNone, CompressionS2} {
		b.Run(compression, func(b *testing.B) { benchConsumeStored(b, compression, envelopes) })
	}
}

func benchConsumeStored(b *testing.B, compression string, envelopes [][]byte) {
	const n = 3 * benchEnvelopes
	ctx := context.Background()
	cfg := Config{Dir: b.TempDir(), Compression: compression}
	l, err := Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = Message{Subject: l.Subject(i % l.Partitions()), ID: fmt.Sprintf("stored-%d", i), Data: envelopes[i%len(envelopes)]}
	}
	MustPublish(b, l, msgs, benchMsgsPerCall)
	// The server compresses a full block in the background; wait for
	// every full one.
	for deadline := time.Now().Add(time.Minute); compression == CompressionS2; time.Sleep(50 * time.Millisecond) {
		if _, packed := storeBlocks(b, cfg.Dir); !slices.Contains(packed[:len(packed)-1], false) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the full blocks were not compressed within a minute")
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	size, err := dirBytes(cfg.Dir)
	if err != nil {
		b.Fatal(err)
	}
	events := float64(n * benchEventsPerMsg)
	var consumed time.Duration
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		l, err := Open(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, cpu0 := time.Now(), cputime.Process()
		MustConsume(b, l, 1, n)
		consumed += time.Since(start)
		cpu += cputime.Process() - cpu0
		b.StopTimer()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(events*float64(b.N)/consumed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/(events*float64(b.N)), "cpu-ns/event")
	b.ReportMetric(float64(size)/events, "disk-B/event")
}

// dirBytes is the size of the files under dir.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	return n, err
}
