package eventlog

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Atomic batches (nats-server 2.12 and later, a stream with
// AllowAtomicPublish): every message of a batch carries the headers below;
// the server stages them and stores all of them, in order and together, when
// the last one (the commit) arrives, or none of them (docs/ARCHITECTURE.md,
// "Atomic batches").
const (
	hdrBatchID     = "Nats-Batch-Id"
	hdrBatchSeq    = "Nats-Batch-Sequence"
	hdrBatchCommit = "Nats-Batch-Commit"
)

// JetStream error codes of atomic batches Crowd acts on.
const (
	jsErrAtomicDisabled   jetstream.ErrorCode = 10174
	jsErrAtomicIncomplete jetstream.ErrorCode = 10176
	jsErrAtomicDuplicate  jetstream.ErrorCode = 10201
	jsErrAtomicInflight   jetstream.ErrorCode = 10210
)

// maxAtomicMessages is nats-server's default limit of messages in one
// atomic batch (max_batch_size). A bulk request of the largest size
// (httpapi.MaxBulkBytes, 64 MiB) packs into a few hundred messages of
// pipeline.MaxMessageBytes at most.
const maxAtomicMessages = 1000

// atomicVersion is the first nats-server version with atomic batches.
const atomicMajor, atomicMinor = 2, 12

// Atomic reports whether PublishAtomic stores a batch all or nothing: the
// server supports atomic batches and the stream allows them.
func (l *Log) Atomic() bool { return l.atomic.Load() }

// PublishAtomic publishes msgs like Publish, but as one batch that JetStream
// stores whole or not at all: when it fails, nothing of it was stored, or
// (when its answer was lost, or the disk filled while the server was
// storing it) all of it is, once the server has recovered. A single message
// is atomic by itself and goes through Publish. Against a server or stream
// without atomic batches (NATS before 2.12; Atomic reports it) it is
// Publish, with Publish's partial failures.
//
// Deduplication: the first message carries a Nats-Msg-Id derived from the
// ids of all of msgs, so a batch sent again with the same messages (a
// retry whose first answer was lost) is recognized as stored and
// acknowledged without being stored twice. The messages' own IDs are not
// sent: JetStream refuses an atomic batch of which any message is a
// duplicate, and a batch that shares only some messages with one stored
// earlier (the same events of some partitions) would be refused forever.
// Such a batch is stored again, and aggregation drops the events it has
// already counted by their ids (docs/ARCHITECTURE.md).
func (l *Log) PublishAtomic(ctx context.Context, msgs []Message) error {
	if len(msgs) <= 1 || !l.atomic.Load() {
		return l.Publish(ctx, msgs)
	}
	start := time.Now()
	err := l.publishAtomic(ctx, msgs)
	if errors.Is(err, errAtomicOff) {
		return l.Publish(ctx, msgs)
	}
	l.metrics.observe(len(msgs), time.Since(start), err)
	return err
}

// errAtomicOff: the stream refused an atomic batch because it does not
// allow them (any more).
var errAtomicOff = errors.New("the stream does not allow atomic batches")

func (l *Log) publishAtomic(ctx context.Context, msgs []Message) error {
	if l.closed.Load() {
		return fmt.Errorf("publish events: %w", ErrClosed)
	}
	if len(msgs) > maxAtomicMessages {
		return fmt.Errorf("publish events: %d messages in one atomic batch, at most %d", len(msgs), maxAtomicMessages)
	}
	for i := range msgs {
		if err := l.checkMessage(&msgs[i]); err != nil {
			return fmt.Errorf("publish events: message %d: %w", i, err)
		}
	}
	size := batchSize(msgs)
	if g := l.cfg.WriteGuard; g != nil {
		if err := g(); err != nil {
			return fmt.Errorf("publish events: %w", err)
		}
	}
	if err := l.roomFor(size); err != nil {
		// Refused before anything was sent: the store is intact.
		return l.diskFull(fmt.Errorf("publish events: %w", err))
	}
	identity := batchIdentity(msgs)
	wait := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := l.publishBatch(ctx, msgs, identity)
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) {
			return l.publishErr(err)
		}
		switch apiErr.ErrorCode {
		case jsErrAtomicDuplicate:
			// Only the first message has an id, the batch's: the
			// same batch is stored already, whole.
			return nil
		case jsErrAtomicDisabled:
			// The stream was changed under us (an operator turned
			// atomic batches off): publish message by message.
			if l.atomic.CompareAndSwap(true, false) {
				l.log.Warn("the event log's stream refuses atomic batches; publishing batches message by message", slog.String(logKeyStream, l.cfg.Stream))
			}
			return errAtomicOff
		case jsErrAtomicInflight, jsErrDuplicateInProcess:
			// Too many batches open on the stream (the server allows
			// 50 by default), or another process sending the same
			// batch to a clustered stream (once its proposal is
			// applied, this one is a duplicate): try again shortly.
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return fmt.Errorf("publish events: %w (%w)", ctx.Err(), err)
			}
			wait = min(2*wait, time.Second)
			continue
		case jsErrAtomicIncomplete:
			// The server dropped the staged batch: nothing of it is
			// stored. On the embedded server that is a write that
			// failed, for want of space if the disk cannot hold it.
			if rerr := l.roomFor(size); rerr != nil {
				return l.publishErr(fmt.Errorf("%w: %w", err, rerr))
			}
			// Else a message of it was lost on the way (a server's
			// inbound queue full, say): send it again, twice at most.
			if attempt < 3 {
				continue
			}
		}
		return l.publishErr(err)
	}
}

// publishBatch sends msgs as one atomic batch under a new batch id and
// waits for the commit's answer. Messages before the last are sent without
// a reply subject: the commit's answer covers the batch, and a message the
// server did not stage makes it refuse the commit (a gap in the batch's
// sequence).
func (l *Log) publishBatch(ctx context.Context, msgs []Message, identity string) error {
	var rb [16]byte
	_, _ = rand.Read(rb[:])
	id := hex.EncodeToString(rb[:])
	last := len(msgs) - 1
	for i := range msgs {
		// A fault injected at message i fails the batch there, as a
		// write failing part-way would.
		if f := l.cfg.WriteFault; f != nil {
			if err := f(); err != nil {
				l.abandon(id, i)
				return fmt.Errorf("publish events: message %d (id %q): %w", i, msgs[i].ID, err)
			}
		}
		if err := ctx.Err(); err != nil {
			l.abandon(id, i)
			return fmt.Errorf("publish events: %w", err)
		}
		m := &nats.Msg{Subject: msgs[i].Subject, Data: msgs[i].Data, Header: nats.Header{
			hdrBatchID:  {id},
			hdrBatchSeq: {strconv.Itoa(i + 1)},
		}}
		if i == 0 {
			m.Header[jetstream.MsgIDHeader] = []string{identity}
		}
		if i < last {
			if err := l.nc.PublishMsg(m); err != nil {
				l.abandon(id, i)
				return fmt.Errorf("publish events: message %d (id %q): %w", i, msgs[i].ID, err)
			}
			continue
		}
		m.Header[hdrBatchCommit] = []string{"1"}
		return l.commit(ctx, m, len(msgs), batchSize(msgs))
	}
	return nil
}

// abandonWait bounds the wait for the server to drop an abandoned batch.
const abandonWait = time.Second

// abandon makes the server drop a batch of which sent messages were sent,
// at once rather than after its inactivity timeout (10 s), which frees its
// place among the batches a stream keeps open: a message out of sequence
// ends the batch unstored. It waits for the server's answer (that the batch
// is incomplete), so that the batch is gone when the publish returns.
// Nothing is sent when nothing was.
func (l *Log) abandon(id string, sent int) {
	if sent == 0 {
		return
	}
	_, _ = l.nc.RequestMsg(&nats.Msg{Subject: l.subjects[0], Header: nats.Header{
		hdrBatchID:  {id},
		hdrBatchSeq: {strconv.Itoa(sent + 2)},
	}}, abandonWait)
}

// batchAck is the server's answer to a batch's commit: a publish
// acknowledgement naming the batch and counting its messages, or an error.
type batchAck struct {
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	Batch  string `json:"batch"`
	Count  int    `json:"count"`
	Error  *struct {
		Code        int                 `json:"code"`
		ErrorCode   jetstream.ErrorCode `json:"err_code"`
		Description string              `json:"description"`
	} `json:"error"`
}

// commit sends a batch's last message and waits for the answer, asking the
// write guard again while it waits (as Publish does: a server whose disk
// filled under it may not answer), and, once the answer is late, whether
// the disk still has room for the batch's size bytes (noAnswerForSpace).
func (l *Log) commit(ctx context.Context, m *nats.Msg, n, size int) error {
	rctx, cancel := context.WithTimeoutCause(ctx, ackTimeout, errors.New("no answer"))
	defer cancel()
	rctx, stop := context.WithCancelCause(rctx)
	defer stop(nil)
	done := make(chan struct{})
	defer close(done)
	go func() {
		start := time.Now()
		guard := time.NewTicker(250 * time.Millisecond)
		defer guard.Stop()
		for {
			select {
			case <-done:
				return
			case <-l.connClosed:
				stop(ErrClosed)
				return
			case <-guard.C:
				if g := l.cfg.WriteGuard; g != nil {
					if err := g(); err != nil {
						stop(err)
						return
					}
				}
				if err := l.noAnswerForSpace(time.Since(start), size); err != nil {
					stop(err)
					return
				}
			}
		}
	}()
	resp, err := l.nc.RequestMsgWithContext(rctx, m)
	if err != nil {
		if cause := context.Cause(rctx); cause != nil && ctx.Err() == nil {
			err = cause
		}
		return fmt.Errorf("publish events: batch of %d messages not acknowledged: %w", n, err)
	}
	var ack batchAck
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return fmt.Errorf("publish events: batch of %d messages: unreadable answer %q", n, resp.Data)
	}
	switch {
	case ack.Error != nil:
		return fmt.Errorf("publish events: batch of %d messages: %w", n,
			&jetstream.APIError{Code: ack.Error.Code, ErrorCode: ack.Error.ErrorCode, Description: ack.Error.Description})
	case ack.Stream != l.cfg.Stream:
		return fmt.Errorf("publish events: batch of %d messages stored in stream %q, want %q", n, ack.Stream, l.cfg.Stream)
	case ack.Count != n:
		return fmt.Errorf("publish events: batch of %d messages acknowledged with %d", n, ack.Count)
	}
	return nil
}

// batchIdentity is the Nats-Msg-Id of a batch: a hash of its messages' ids
// in order, so the same messages give the same id.
func batchIdentity(msgs []Message) string {
	h := sha256.New()
	for i := range msgs {
		h.Write([]byte(msgs[i].ID))
		h.Write([]byte{0})
	}
	return "eb-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// roomFor reports, on the embedded server, whether its filesystem has room
// for an atomic batch of size bytes: twice that, since the server writes a
// batch's messages once to stage them and once more to store them, and
// drops the staged copy afterwards. A batch that started without that room
// could fill the disk while being stored, which the server completes only
// once it restarts (Recover). With an external server it reports nothing.
func (l *Log) roomFor(size int) error {
	if l.ns.Load() == nil {
		return nil
	}
	free, err := l.freeSpace()
	if err != nil {
		return nil
	}
	if need := 2 * uint64(size); free < need {
		return fmt.Errorf("%w: a batch of %d bytes needs %d free, %d are", errNoRoom, size, need, free)
	}
	return nil
}

// lateAnswer is how long a write waits for the server's answer before it
// asks whether the disk still has room for what it wrote
// (noAnswerForSpace). A write that fsyncs answers in milliseconds.
const lateAnswer = time.Second

// noAnswerForSpace tells, once a write of size bytes has waited waited
// for the embedded server's answer and at least lateAnswer, whether the
// disk lacks room for it (roomFor). The server answers nothing to a write
// that failed for want of space (it logs the error and keeps it, refusing
// later writes until restarted), and what it freed after the failed write
// can leave more room than the application's write guard counts as full:
// without this, the write would wait out ackTimeout and end as unanswered
// instead of as disk full, after the caller's own timeout.
func (l *Log) noAnswerForSpace(waited time.Duration, size int) error {
	if waited < lateAnswer {
		return nil
	}
	return l.roomFor(size)
}

// batchSize is the bytes of msgs' payloads.
func batchSize(msgs []Message) int {
	size := 0
	for i := range msgs {
		size += len(msgs[i].Data)
	}
	return size
}

// errNoRoom: the embedded server's filesystem has no room for a batch.
var errNoRoom = errors.New("no room for the batch")

// storeFree returns the bytes free for this process on the filesystem of
// the embedded server's store.
func (l *Log) storeFree() (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(l.cfg.Dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// serverAtLeast reports whether version ("2.12.1") is major.minor or later.
func serverAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
