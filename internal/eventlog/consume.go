package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrSeqAhead means Consume was asked to start beyond the next sequence
// the stream will assign. A consumer's checkpoint is then ahead of the log:
// the stream was recreated, or lost its tail. Resuming would silently skip
// the events that will reuse those sequences, so Consume refuses.
var ErrSeqAhead = errors.New("start sequence is beyond the end of the log")

// ErrSeqRemoved means messages Consume was asked to deliver were already
// removed by the stream's retention limits (MaxAge, MaxBytes) before the
// consumer got to them. The caller decides whether to accept the loss and
// resume from Info().FirstSeq.
var ErrSeqRemoved = errors.New("messages from the start sequence were removed by retention")

// ErrRestarted means the embedded server was restarted
// (Recover) while Consume was reading: the caller resumes after what it
// applied.
var ErrRestarted = errors.New("the event log's server restarted")

// Consumption tuning.
const (
	// consumeBatch caps the messages handed to fn at once; a caller that
	// commits once per batch then commits at most this many messages'
	// work in one transaction.
	consumeBatch = 4000
	// consumeBatchBytes caps a batch's payload bytes too. Aggregation
	// commits a batch in one transaction, and a larger transaction writes
	// each rollup row once for more events (docs/PERFORMANCE.md, "Larger
	// transactions"); it decodes a batch 8 MiB at a time, so what a batch
	// holds in memory is its bytes and its rows' deltas.
	consumeBatchBytes = 32 << 20
	// consumeLinger is how long a batch keeps collecting once its first
	// message has arrived, at most, and consumeIdle how long it waits for
	// the next message at the head of the log before it ends early. While
	// catching up the buffer is always full and neither ever waits. At the
	// head, a steady stream of messages (single events' group commits
	// every few milliseconds) fills a batch for consumeLinger, so that
	// aggregation commits a few transactions a second instead of one per
	// message: each commit writes every page it dirtied, and at 5 ms
	// batches aggregation of 10k single events a second committed 200
	// transactions a second, rewriting the same rollup pages each time
	// (65 MB/s of writes, a third of the CPU). A trickle ends its batch
	// after consumeIdle, so a lone event is visible as fast as before.
	// Both keep exact-mode freshness inside its one-second target.
	consumeLinger = 250 * time.Millisecond
	consumeIdle   = 50 * time.Millisecond
	// consumePrefetch is how many messages the client asks the server for
	// ahead of fn, so that the next batch is ready when fn returns.
	consumePrefetch = 2 * consumeBatch
	// consumePrefetchBytes bounds the bytes buffered ahead.
	consumePrefetchBytes = consumeBatchBytes
)

// Delivered is one message read from the log.
type Delivered struct {
	// Seq is the message's stream sequence: the consumer's checkpoint.
	Seq uint64
	// Subject is the partition subject it was published to.
	Subject string
	// Data is the payload. It belongs to the receiver.
	Data []byte
	// Time is when the stream stored the message.
	Time time.Time
	// Pending is how many messages of the consumed subjects the stream
	// held after this one when it was delivered: the consumer's lag.
	Pending uint64
}

// Consume delivers every message with stream sequence >= startSeq to fn, in
// sequence order and in batches, until ctx is done (it returns an error
// wrapping ctx.Err()) or fn returns an error (it returns that error
// unchanged). A startSeq of 0 starts at the oldest message still stored.
//
// Consume uses an ordered consumer: ephemeral, unacknowledged and
// recreated by the client library after any gap or reconnect, resuming
// after the last message delivered. Nothing is acknowledged; the caller's
// own checkpoint, stored with the effects of each batch, is the source of
// truth, and the caller resumes by calling Consume with checkpoint+1.
//
// It returns ErrSeqAhead if startSeq is beyond the end of the log and
// ErrSeqRemoved if messages from startSeq on have already been removed.
// fn must not retain batch after it returns; the Data slices it holds may
// be kept.
func (l *Log) Consume(ctx context.Context, startSeq uint64, fn func(ctx context.Context, batch []Delivered) error) error {
	return l.ConsumeSubjects(ctx, nil, startSeq, fn)
}

// ConsumeSubjects is Consume restricted to messages published on subjects
// (all subjects if empty): a consumer of some partitions reads their
// subjects and MixedSubject. Sequences stay the stream's, so the messages
// delivered have gaps where other subjects' messages are. A NATS server
// older than 2.10 cannot filter a consumer by several subjects; against
// one, every message is read and those of other subjects are delivered
// with no Data (so the caller still sees its position move).
func (l *Log) ConsumeSubjects(ctx context.Context, subjects []string, startSeq uint64, fn func(ctx context.Context, batch []Delivered) error) error {
	if l.closed.Load() {
		return fmt.Errorf("consume events: %w", ErrClosed)
	}
	restarted := *l.restarted.Load()
	if err := l.checkStart(ctx, startSeq, false); err != nil {
		return fmt.Errorf("consume events: %w", err)
	}

	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy, FilterSubjects: subjects}
	if startSeq > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = startSeq
	}
	cons, err := l.stream.OrderedConsumer(ctx, cfg)
	var keep map[string]bool // subjects whose messages keep their data, when the server cannot filter
	if errors.Is(err, jetstream.ErrConsumerMultipleFilterSubjectsNotSupported) {
		l.log.Warn("the NATS server cannot filter a consumer by several subjects (2.10 can); reading every partition's messages", slog.Int("subjects", len(subjects)))
		keep = map[string]bool{}
		for _, s := range subjects {
			keep[s] = true
		}
		cfg.FilterSubjects = nil
		cons, err = l.stream.OrderedConsumer(ctx, cfg)
	}
	if err != nil {
		return fmt.Errorf("consume events: create consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(consumePrefetch, consumePrefetchBytes))
	if err != nil {
		return fmt.Errorf("consume events: %w", err)
	}
	defer it.Stop()
	// Next watches ctx itself, but while the library recreates the
	// consumer after a reconnect it only watches the iterator: stopping
	// the iterator is what makes cancellation reliable.
	defer context.AfterFunc(ctx, it.Stop)()
	var wasRestarted atomic.Bool
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-restarted:
			wasRestarted.Store(true)
			it.Stop()
		case <-stopped:
		}
	}()

	first := true
	for {
		batch, err := nextBatch(ctx, it)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("consume events: %w", ctx.Err())
			}
			if wasRestarted.Load() {
				return fmt.Errorf("consume events: %w", ErrRestarted)
			}
			if l.closed.Load() {
				return fmt.Errorf("consume events: %w: %w", ErrClosed, err)
			}
			return fmt.Errorf("consume events: %w", err)
		}
		if first && startSeq > 0 && batch[0].Seq > startSeq && (len(subjects) == 0 || keep != nil) {
			// Messages may have expired between the check above and
			// the consumer's creation.
			if err := l.checkStart(ctx, startSeq, true); err != nil {
				return fmt.Errorf("consume events: %w", err)
			}
		}
		first = false
		if keep != nil {
			for i := range batch {
				if !keep[batch[i].Subject] {
					batch[i].Data = nil
				}
			}
		}
		if err := fn(ctx, batch); err != nil {
			return err
		}
	}
}

// checkStart compares startSeq with the stream's bounds. With removedOnly
// it checks only for removed messages (the end of the log has moved on).
func (l *Log) checkStart(ctx context.Context, startSeq uint64, removedOnly bool) error {
	if startSeq == 0 {
		return nil
	}
	si, err := l.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("read stream state: %w", err)
	}
	st := si.State
	if !removedOnly && startSeq > st.LastSeq+1 {
		return fmt.Errorf("%w: start %d, last stored %d", ErrSeqAhead, startSeq, st.LastSeq)
	}
	if startSeq < st.FirstSeq {
		return fmt.Errorf("%w: start %d, first stored %d", ErrSeqRemoved, startSeq, st.FirstSeq)
	}
	return nil
}

// nextBatch blocks until a message is available, then collects up to
// consumeBatch messages or consumeBatchBytes, for at most consumeLinger,
// and at the head of the log only while messages keep coming within
// consumeIdle of each other.
func nextBatch(ctx context.Context, it jetstream.MessagesContext) ([]Delivered, error) {
	msg, err := it.Next(jetstream.NextContext(ctx))
	if err != nil {
		return nil, err
	}
	d, err := delivered(msg)
	if err != nil {
		return nil, err
	}
	batch := make([]Delivered, 1, consumeBatch)
	batch[0] = d
	size := len(d.Data)

	// One timer per batch, and one per message only at the head of the
	// log, where it waits.
	lctx, cancel := context.WithTimeout(ctx, consumeLinger)
	defer cancel()
	for len(batch) < consumeBatch && size < consumeBatchBytes {
		next, cancelNext := lctx, context.CancelFunc(func() {})
		if d.Pending == 0 {
			next, cancelNext = context.WithTimeout(lctx, consumeIdle)
		}
		msg, err := it.Next(jetstream.NextContext(next))
		cancelNext()
		if err != nil {
			if next.Err() != nil && ctx.Err() == nil {
				break // lingered long enough, or the log went quiet
			}
			return nil, err
		}
		if d, err = delivered(msg); err != nil {
			return nil, err
		}
		batch = append(batch, d)
		size += len(d.Data)
	}
	return batch, nil
}

func delivered(msg jetstream.Msg) (Delivered, error) {
	md, err := msg.Metadata()
	if err != nil {
		return Delivered{}, fmt.Errorf("read message metadata: %w", err)
	}
	return Delivered{
		Seq:     md.Sequence.Stream,
		Subject: msg.Subject(),
		Data:    msg.Data(),
		Time:    md.Timestamp,
		Pending: md.NumPending,
	}, nil
}
