// Package pipeline publishes analytics events to the event log: in bulk,
// packed many per message on their video's partition, and one at a time
// through a group commit, where concurrent callers share one publish (and
// so one fsync) and each returns only once its event is durable.
package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/eventlog"
)

// Log is the part of the event log the pipeline publishes to.
type Log interface {
	Publish(ctx context.Context, msgs []eventlog.Message) error
	// PublishAtomic stores msgs all or nothing where the log can
	// (eventlog.Log.PublishAtomic).
	PublishAtomic(ctx context.Context, msgs []eventlog.Message) error
	Partition(key string) int
	Subject(partition int) string
	MixedSubject() string
}

// MaxMessageBytes bounds one log message. NATS refuses payloads over its
// max_payload (1 MiB by default on external servers); half of that leaves
// room for headers and keeps memory per message small.
const MaxMessageBytes = 512 << 10

// Entry is one encoded event to pack: its partition key (the video), its
// id and its record (event.Encode).
type Entry struct {
	Key, ID string
	Payload []byte
}

// Pack encodes events as log messages; see PackEntries.
func Pack(l Log, evs []event.Event) ([]eventlog.Message, error) {
	entries, err := encode(evs)
	if err != nil {
		return nil, err
	}
	return PackEntries(l, entries), nil
}

// encode returns the entries of evs.
func encode(evs []event.Event) ([]Entry, error) {
	entries := make([]Entry, len(evs))
	for i := range evs {
		b, err := evs[i].Encode()
		if err != nil {
			return nil, err
		}
		entries[i] = Entry{Key: evs[i].PartitionKey(), ID: evs[i].ID, Payload: b}
	}
	return entries, nil
}

// PackEntries packs encoded events as log messages: event frames, grouped by
// partition in the given order, split at MaxMessageBytes. Each message's id
// is a hash of its event ids, so the same events packed again (a retry, a
// relay after a crash) make the same message, which the log's dedupe drops.
func PackEntries(l Log, entries []Entry) []eventlog.Message {
	return pack(l, entries, false)
}

// pack packs entries by partition, or all on the mixed subject.
func pack(l Log, entries []Entry, mixed bool) []eventlog.Message {
	type group struct {
		buf []byte
		ids []byte
	}
	groups := map[int]*group{}
	var order []int
	var msgs []eventlog.Message
	flush := func(p int, g *group) {
		sum := sha256.Sum256(g.ids)
		subject := l.MixedSubject()
		if p >= 0 {
			subject = l.Subject(p)
		}
		msgs = append(msgs, eventlog.Message{Subject: subject, ID: "ev-" + hex.EncodeToString(sum[:16]), Data: bytes.Clone(g.buf)})
		g.buf = g.buf[:0]
		g.ids = g.ids[:0]
	}
	for _, e := range entries {
		p := -1
		if !mixed {
			p = l.Partition(e.Key)
		}
		g := groups[p]
		if g == nil {
			g = &group{}
			groups[p] = g
			order = append(order, p)
		}
		if len(g.buf) > 0 && len(g.buf)+len(e.Payload)+event.FrameOverhead > MaxMessageBytes {
			flush(p, g)
		}
		g.buf = event.AppendFrame(g.buf, e.Payload)
		g.ids = append(g.ids, e.ID...)
		g.ids = append(g.ids, 0)
	}
	for _, p := range order {
		if g := groups[p]; len(g.buf) > 0 {
			flush(p, g)
		}
	}
	return msgs
}

// Publish packs and publishes evs, a bulk batch, returning once all are
// durable. The messages are one atomic batch (Log.PublishAtomic): a batch
// that fails, for a disk filling under it say, leaves nothing of it in the
// log, so that a request answered with an error has applied nothing
// (docs/OPERATIONS.md, "Disk full"). The relay needs no such thing (its
// events are committed already; it retries until they are all in the log)
// and keeps Log.Publish.
func Publish(ctx context.Context, l Log, evs []event.Event) error {
	if len(evs) == 0 {
		return nil
	}
	msgs, err := Pack(l, evs)
	if err != nil {
		return err
	}
	return l.PublishAtomic(ctx, msgs)
}

// publishMixed publishes evs on the mixed subject, in as few messages as
// the size bound allows (one for a group commit), returning once all are
// durable. The embedded log fsyncs every message, so a group commit spread
// over its video partitions would cost up to one fsync per partition.
func publishMixed(ctx context.Context, l Log, evs []event.Event) error {
	entries, err := encode(evs)
	if err != nil {
		return err
	}
	return l.Publish(ctx, pack(l, entries, true))
}

// ErrClosed is returned by a closed Committer.
var ErrClosed = errors.New("pipeline: committer closed")

// Committer is a group commit for single events: Commit queues an event and
// waits; one goroutine publishes whatever has queued meanwhile as one
// message on the mixed subject (one publish, one fsync). No timer is needed:
// while one publish waits for its fsync, the next requests queue up, so the
// batch grows exactly as fast as requests arrive.
type Committer struct {
	log     Log
	reqs    chan commitReq
	maxN    int
	done    chan struct{}
	stopped chan struct{}
}

type commitReq struct {
	ev  event.Event
	err chan error
}

// NewCommitter starts a committer that publishes at most maxN events at once.
func NewCommitter(l Log, maxN int) *Committer {
	c := &Committer{log: l, reqs: make(chan commitReq, maxN), maxN: maxN, done: make(chan struct{}), stopped: make(chan struct{})}
	go c.run()
	return c
}

// Commit publishes ev with others and returns once it is durable.
func (c *Committer) Commit(ctx context.Context, ev event.Event) error {
	r := commitReq{ev: ev, err: make(chan error, 1)}
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	select {
	case c.reqs <- r:
	case <-c.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.err:
		return err
	case <-ctx.Done():
		// The event may still be published; the caller cannot be told.
		return ctx.Err()
	}
}

// Close stops the committer after publishing what was queued.
func (c *Committer) Close() {
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	<-c.stopped
}

func (c *Committer) run() {
	defer close(c.stopped)
	batch := make([]commitReq, 0, c.maxN)
	evs := make([]event.Event, 0, c.maxN)
	for {
		batch = batch[:0]
		select {
		case r := <-c.reqs:
			batch = append(batch, r)
		case <-c.done:
			batch = c.drain(batch)
			if len(batch) > 0 {
				c.publish(batch, evs[:0])
			}
			return
		}
		batch = c.drain(batch)
		evs = c.publish(batch, evs[:0])
	}
}

// drain adds what is queued right now, up to maxN.
func (c *Committer) drain(batch []commitReq) []commitReq {
	for len(batch) < c.maxN {
		select {
		case r := <-c.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

func (c *Committer) publish(batch []commitReq, evs []event.Event) []event.Event {
	for _, r := range batch {
		evs = append(evs, r.ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := publishMixed(ctx, c.log, evs)
	cancel()
	for _, r := range batch {
		r.err <- err
	}
	return evs
}
