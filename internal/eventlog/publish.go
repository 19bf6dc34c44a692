package eventlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crowd-dev/crowd/internal/platform"
)

// stallWait is how long one asynchronous publish waits for a free slot in
// the window of unacknowledged messages before Publish rechecks its context
// and tries again. It only bounds how quickly a cancelled Publish notices,
// since a freed slot wakes the waiter at once.
const stallWait = 50 * time.Millisecond

// Message is one message to publish.
type Message struct {
	// Subject is the partition subject, from Log.Subject.
	Subject string
	// ID is the message's Nats-Msg-Id. JetStream drops a message whose ID
	// it has stored within the duplicate window, which is what makes
	// retrying a whole batch safe. Required; it must be derived from the
	// content's identity (e.g. the envelope id), never generated per
	// attempt.
	ID string
	// Data is the payload, at most the server's max payload (1 MiB by
	// default) including headers.
	Data []byte
}

// Publish publishes msgs and returns nil only once every one of them has
// been acknowledged by JetStream, which in embedded mode means stored and
// fsynced. Messages are pipelined with the asynchronous API: all of them
// are sent before any ack is awaited, so a batch costs one round trip plus
// the server's time to store it, not one round trip per message.
//
// On any error some messages may have been stored and others not; the
// caller retries the whole batch with the same IDs, and the stored ones are
// dropped as duplicates if the retry comes within the duplicate window.
// PublishAtomic stores a batch all or nothing instead.
// When too many publishes are awaiting acknowledgement, Publish waits for
// room rather than failing. Publish honours ctx while it waits. It never
// sends a message again after it returns, and the client copies each
// payload as it is sent, so the caller may reuse msgs and their Data once
// Publish has returned.
func (l *Log) Publish(ctx context.Context, msgs []Message) (err error) {
	if len(msgs) == 0 {
		return nil
	}
	start := time.Now()
	defer func() { l.metrics.observe(len(msgs), time.Since(start), err) }()
	if l.closed.Load() {
		return fmt.Errorf("publish events: %w", ErrClosed)
	}
	for i := range msgs {
		if err := l.checkMessage(&msgs[i]); err != nil {
			return fmt.Errorf("publish events: message %d: %w", i, err)
		}
	}
	if g := l.cfg.WriteGuard; g != nil {
		if err := g(); err != nil {
			return fmt.Errorf("publish events: %w", err)
		}
	}
	return l.publishErr(l.publish(ctx, msgs))
}

// publishErr turns a publish that failed for want of space (ENOSPC, the
// server's "insufficient resources", or the embedded server's JetStream
// having disabled itself, which it does when its disk fills) into
// platform.ErrDiskFull, and tells Config.DiskFull. The embedded server's
// store may then have failed a write, after which it refuses every later
// one until it restarts: Recover restarts it.
func (l *Log) publishErr(err error) error {
	if err == nil || !l.noSpace(err) {
		return err
	}
	l.writeFailed.Store(true)
	return l.diskFull(err)
}

// diskFull returns err as platform.ErrDiskFull and tells Config.DiskFull.
func (l *Log) diskFull(err error) error {
	err = fmt.Errorf("%w (%v)", platform.ErrDiskFull, err)
	if l.cfg.DiskFull != nil {
		l.cfg.DiskFull(err)
	}
	return err
}

func (l *Log) noSpace(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, platform.ErrDiskFull) || errors.Is(err, errNoRoom) || strings.Contains(err.Error(), "no space left") {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrInsufficientResources {
		return true
	}
	ns := l.ns.Load()
	return ns != nil && !ns.JetStreamEnabled() && !l.closed.Load()
}

func (l *Log) publish(ctx context.Context, msgs []Message) error {

	acks := make([]jetstream.PubAckFuture, len(msgs))
	for i := range msgs {
		// A fault injected at message i fails the publish there; the
		// messages before it are sent and stored, as when a write fails
		// part-way.
		if f := l.cfg.WriteFault; f != nil {
			if err := f(); err != nil {
				return fmt.Errorf("publish events: message %d (id %q): %w", i, msgs[i].ID, err)
			}
		}
		f, err := l.publishAsync(ctx, &msgs[i])
		if err != nil {
			return fmt.Errorf("publish events: message %d (id %q): %w", i, msgs[i].ID, err)
		}
		acks[i] = f
	}
	// Wait for the acks in publication order: the last ones tend to
	// arrive last, so this costs no more than waiting in any other order.
	// A server whose disk filled under it stores nothing and answers
	// nothing: while waiting, the write guard is asked again, so that
	// Publish fails with the disk-full error instead of waiting out
	// ackTimeout (what was stored before the disk filled stays, and the
	// caller's retry with the same ids counts it once).
	// Once the answers are late, the disk is asked too whether it still
	// has room for the batch (noAnswerForSpace).
	start, size := time.Now(), batchSize(msgs)
	guard := time.NewTicker(250 * time.Millisecond)
	defer guard.Stop()
	for i, f := range acks {
	wait:
		select {
		case <-guard.C:
			if g := l.cfg.WriteGuard; g != nil {
				if err := g(); err != nil {
					return fmt.Errorf("publish events: message %d (id %q) not acknowledged: %w", i, msgs[i].ID, err)
				}
			}
			if err := l.noAnswerForSpace(time.Since(start), size); err != nil {
				return fmt.Errorf("publish events: message %d (id %q) not acknowledged: %w", i, msgs[i].ID, err)
			}
			goto wait
		case ack := <-f.Ok():
			// A stream with an overlapping subject filter would have
			// taken the message; that is a deployment error, not a
			// success.
			if ack.Stream != l.cfg.Stream {
				return fmt.Errorf("publish events: message %d (id %q) stored in stream %q, want %q", i, msgs[i].ID, ack.Stream, l.cfg.Stream)
			}
		case err := <-f.Err():
			if inProcess(err) {
				// Another publisher (another Crowd process handed the
				// same batch) has the same message id in flight on a
				// clustered stream: once its proposal is stored, the
				// same message is acknowledged as a duplicate.
				if err = l.republish(ctx, &msgs[i]); err == nil {
					continue
				}
			}
			return fmt.Errorf("publish events: message %d (id %q): %w", i, msgs[i].ID, err)
		case <-ctx.Done():
			return fmt.Errorf("publish events: %w", ctx.Err())
		case <-l.connClosed:
			// Acks still in flight when the connection closes are
			// never delivered; don't wait out ackTimeout for them.
			return fmt.Errorf("publish events: message %d (id %q): %w", i, msgs[i].ID, ErrClosed)
		}
	}
	return nil
}

// checkMessage rejects messages JetStream would not take, before any of the
// batch is sent.
func (l *Log) checkMessage(m *Message) error {
	if m.ID == "" {
		return errors.New("empty ID")
	}
	part, ok := strings.CutPrefix(m.Subject, l.cfg.SubjectPrefix+".")
	if !ok || part == "" || strings.ContainsAny(part, ".*> \t\r\n") {
		return fmt.Errorf("subject %q is not under %s.*", m.Subject, l.cfg.SubjectPrefix)
	}
	return nil
}

// publishAsync sends one message, waiting while the window of
// unacknowledged publishes is full.
func (l *Log) publishAsync(ctx context.Context, m *Message) (jetstream.PubAckFuture, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := l.js.PublishMsgAsync(
			&nats.Msg{Subject: m.Subject, Data: m.Data},
			jetstream.WithMsgID(m.ID),
			// No client-side retries: they would resend m after
			// Publish has returned, and the caller retries the
			// whole batch anyway.
			jetstream.WithRetryAttempts(0),
			jetstream.WithStallWait(stallWait),
		)
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			continue
		}
		return f, err
	}
}

// JetStream error codes Crowd acts on.
const (
	// jsErrInsufficientResources: the store is out of space.
	jsErrInsufficientResources jetstream.ErrorCode = 10023
	// jsErrDuplicateInProcess: a message with the same id is being
	// stored (a clustered stream's proposal not yet applied).
	jsErrDuplicateInProcess jetstream.ErrorCode = 10158
)

func inProcess(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrDuplicateInProcess
}

// republish sends m again, synchronously, while the server answers that a
// message of its id is in process, waiting a little longer each time (at
// most about 2 s in all).
func (l *Log) republish(ctx context.Context, m *Message) error {
	wait := 5 * time.Millisecond
	for {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		ack, err := l.js.PublishMsg(ctx, &nats.Msg{Subject: m.Subject, Data: m.Data}, jetstream.WithMsgID(m.ID), jetstream.WithRetryAttempts(0))
		switch {
		case err == nil && ack.Stream != l.cfg.Stream:
			return fmt.Errorf("stored in stream %q, want %q", ack.Stream, l.cfg.Stream)
		case err == nil:
			return nil
		case !inProcess(err) || wait > time.Second:
			return err
		}
		wait *= 2
	}
}
