package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/ingest"
	"github.com/crowd-dev/crowd/internal/platform"
)

// events is POST /v1/events: NDJSON batches from the platform's servers.
// The 202 is sent once every accepted event is fsynced in the event log.
func (s *Server) ingestEvents(w http.ResponseWriter, r *http.Request, _ *principal) {
	if !bulkContentType(w, r) {
		return
	}
	// Pushing back while aggregation lags costs the client nothing: the
	// body is not read.
	if !s.notLagging(w) {
		return
	}
	body, done, ok := s.bulkBody(w, r, "send batches of at most 10,000 events")
	if !ok {
		return
	}
	defer done()
	release, ok := s.admit(w, r)
	if !ok {
		return
	}
	defer release()
	lines, ok := checkBulkLines(w, body)
	if !ok {
		return
	}
	// Sized once: a batch of 10,000 events grown by appending copied
	// about 3 MB (growslice was 2% of the server's CPU in bulk ingest).
	evs := make([]ingest.Event, 0, lines)
	rejected, err := ingest.Decode(bytes.NewReader(body), ingest.Options{Now: s.now(), MaxLines: MaxBulkLines, MaxLineBytes: MaxBulkLineBytes}, func(e *ingest.Event) error {
		evs = append(evs, *e)
		return nil
	})
	if err != nil {
		switch {
		case errors.Is(err, ingest.ErrTooManyLines): // checkBulkLines refused it first
			writeLineCode(w, codeTooManyLines, err.Error(), MaxBulkLines+1)
		case errors.Is(err, ingest.ErrNotNDJSON):
			writeCode(w, codeMalformed, err.Error())
		default:
			s.log.WarnContext(r.Context(), "decode bulk body", slog.Any("err", err))
			writeCode(w, codeMalformed, "could not read request body")
		}
		return
	}
	res, err := s.Ingest.Ingest(r.Context(), evs, rejected)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.metrics.ingested(res)
	writeJSON(w, http.StatusAccepted, res)
}

// notLagging pushes back (429) while aggregation lags far behind the log:
// while the messages waiting would take it longer than --max-lag to apply
// (overLag), and in any case beyond MaxLag messages.
func (s *Server) notLagging(w http.ResponseWriter) bool {
	if s.Aggregation != nil && overLag(s.Aggregation.Lag(), s.Aggregation.LagTime(), s.maxLag()) {
		s.metrics.refused(refusedLag)
		w.Header().Set("Retry-After", "1")
		writeCode(w, platform.ERATELIMITED, "aggregation is catching up; retry shortly")
		return false
	}
	return true
}

// overLag reports whether aggregation trails by too much to take more
// bulk events: lag messages, which it estimates take lagTime to apply,
// against the bound of maxLag.
//
// A bound in messages alone is no bound in time: a bulk message holds up
// to 512 KiB (thousands of events), a group commit of single events a
// few, so 2,000 messages were anything from a second to half a minute of
// aggregation, and a crash restart's catch-up with them. The time is
// estimated from the rate aggregation measures while applying
// (rollup.Aggregator.Rate), so it follows the messages actually sent.
// Until its first batch after a start is applied, aggregation gives a
// conservative prior rate (rollup's coldRate). MaxLag messages stays a
// hard ceiling, the only one where no rate is given (lagTime 0); and fewer
// than minLagRefused messages are never refused, whatever the estimate:
// a rate measured on a few small batches cannot block ingestion, and
// such a backlog is a batch or two.
func overLag(lag uint64, lagTime, maxLag time.Duration) bool {
	return lag > MaxLag || lag >= minLagRefused && lagTime > maxLag
}

// maxLag is the configured bound of the backlog in time (--max-lag).
func (s *Server) maxLag() time.Duration {
	if s.cfg.MaxLag > 0 {
		return s.cfg.MaxLag
	}
	return config.DefaultMaxLag
}

// admit bounds concurrent bulk requests: a request whose body is in waits
// briefly for a slot and is otherwise told to come back, instead of piling
// up work. Only a request whose whole body arrived takes a slot (bulkBody),
// so a slow client never holds one.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (func(), bool) {
	select {
	case s.bulkSlots <- struct{}{}:
		return func() { <-s.bulkSlots }, true
	default:
	}
	t := time.NewTimer(admitWait)
	defer t.Stop()
	select {
	case s.bulkSlots <- struct{}{}:
		return func() { <-s.bulkSlots }, true
	case <-t.C:
		s.metrics.refused(refusedBusy)
		w.Header().Set("Retry-After", "1")
		writeCode(w, codeUnavailable, "too many bulk requests in progress; retry shortly")
		return nil, false
	case <-r.Context().Done():
		return nil, false
	}
}

// admitWait is how long a bulk request waits for a slot (a variable so
// tests can shorten it).
var admitWait = 2 * time.Second

// Bulk admission tuning.
const (
	// bulkSlots is how many bulk requests are decoded and published (or
	// applied, for sync) at once: enough to keep both cores and the log
	// busy, few enough that the work in flight stays bounded.
	bulkSlotsN = 4
	// MaxLag is how many log messages aggregation may trail by before
	// ingestion pushes back, whatever they take to apply (overLag).
	MaxLag = 2_000
	// minLagRefused is the fewest log messages aggregation must trail by
	// before their estimated time (--max-lag) refuses anything: fewer
	// are a batch or two at most (overLag).
	minLagRefused = 32
	// maxBufferedBulk bounds the bytes of every bulk body held in memory
	// at once: those arriving, those waiting for a slot and those being
	// processed. Four bodies of the largest size, or a hundred of the
	// usual 10,000 events (about 2.5 MB each). A body that would go over
	// it is answered 503 with Retry-After.
	maxBufferedBulk = 4 * MaxBulkBytes
	// bulkChunk is the smallest step a body's buffer grows by.
	bulkChunk = 64 << 10
)

// bodyGrace is the time every bulk body has on top of what the minimum
// rate allows it (connection set-up, TCP slow start, a client's pause
// between headers and body). A variable so that tests can shorten it.
var bodyGrace = 5 * time.Second

// afterBody bounds the time left to process a bulk request and write its
// answer once its body is in (the server's WriteTimeout counts from the
// headers, and a body sent at the minimum rate may take longer than it).
const afterBody = 60 * time.Second

// byteBudget bounds the bytes held by bulk bodies together.
type byteBudget struct {
	used  atomic.Int64
	limit int64
}

// take reserves n bytes, or reports false when that would go over the
// limit.
func (b *byteBudget) take(n int64) bool {
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *byteBudget) give(n int64) { b.used.Add(-n) }

// errBudget: the body would take the bulk memory over maxBufferedBulk.
var errBudget = errors.New("bulk bodies in memory exceed their budget")

// bulkBody reads a whole bulk body into memory before the request may take
// a bulk slot, so that a client sending slowly holds no slot, only the
// bytes it sent. The body must arrive at Config.BulkMinRate bytes a second
// at least (after bodyGrace): the read deadline moves forward as bytes
// arrive, and a body slower than that is answered 408. The bytes of all
// bulk bodies in memory are bounded by maxBufferedBulk. done gives the
// bytes back to the budget; call it when the body is no longer needed.
// tooLarge is the advice given with a 413.
func (s *Server) bulkBody(w http.ResponseWriter, r *http.Request, tooLarge string) (body []byte, done func(), ok bool) {
	s.metrics.receiving.Inc()
	defer s.metrics.receiving.Dec()
	body, held, err := s.readBulkBody(w, r)
	done = func() {
		s.budget.give(held)
		s.metrics.buffered.Sub(float64(held))
	}
	if err == nil {
		return body, done, true
	}
	done()
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		writeCode(w, codeTooLarge, fmt.Sprintf("body exceeds %d bytes; %s", MaxBulkBytes, tooLarge))
	case errors.Is(err, errBudget):
		s.metrics.refused(refusedMemory)
		w.Header().Set("Retry-After", "1")
		writeCode(w, codeUnavailable, "too many bulk bodies are being received; retry shortly")
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		s.metrics.refused(refusedSlow)
		w.Header().Set("Connection", "close")
		writeCode(w, codeTimeout, fmt.Sprintf("request body arrived slower than %d bytes per second; send it faster or in smaller batches", s.minRate()))
	default:
		// The body could not be read (the client went away, say).
		writeCode(w, codeMalformed, "could not read request body")
	}
	return nil, nil, false
}

// minRate is the configured minimum rate of a bulk body.
func (s *Server) minRate() int64 {
	if s.cfg.BulkMinRate > 0 {
		return s.cfg.BulkMinRate
	}
	return 64 << 10
}

// readBulkBody reads r's body (at most MaxBulkBytes) at the minimum rate,
// taking from the budget the bytes of the buffer as it grows. It returns
// the bytes taken, also on error.
func (s *Server) readBulkBody(w http.ResponseWriter, r *http.Request) (body []byte, held int64, err error) {
	rc := http.NewResponseController(w)
	start := time.Now()
	rate := float64(s.minRate())
	deadline := func(n int) time.Time {
		return start.Add(bodyGrace + time.Duration(float64(n)/rate*float64(time.Second)))
	}
	// Without a connection to set deadlines on (a test's recorder), the
	// server's ReadTimeout is all there is.
	enforce := rc.SetReadDeadline(deadline(0)) == nil
	// grow makes room for want more bytes, taking them from the budget
	// before they are allocated.
	grow := func(want int) error {
		if !s.budget.take(int64(want)) {
			return errBudget
		}
		held += int64(want)
		s.metrics.buffered.Add(float64(want))
		grown := make([]byte, len(body), cap(body)+want)
		copy(grown, body)
		body = grown
		return nil
	}
	initial := bulkChunk
	if cl := r.ContentLength; cl > 0 {
		initial = int(min(cl+1, 1<<20, MaxBulkBytes+1))
	}
	if err := grow(initial); err != nil {
		return nil, held, err
	}
	lr := http.MaxBytesReader(w, r.Body, MaxBulkBytes)
	for {
		if len(body) == cap(body) {
			if err := grow(min(max(len(body), bulkChunk), MaxBulkBytes+1-len(body))); err != nil {
				return nil, held, err
			}
		}
		n, err := lr.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, held, err
		}
		if enforce && n > 0 {
			rc.SetReadDeadline(deadline(len(body)))
		}
	}
	if enforce {
		// The body is in: nothing more is read, and the answer gets
		// its own time however long the body took.
		rc.SetReadDeadline(time.Time{})
		rc.SetWriteDeadline(time.Now().Add(afterBody))
	}
	return body, held, nil
}
