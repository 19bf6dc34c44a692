package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/crowd-dev/crowd/internal/ingest"
	"github.com/crowd-dev/crowd/internal/platform"
)

// events is POST /v1/events: NDJSON batches from the platform's servers.
// The 202 is sent once every accepted event is fsynced in the event log.
func (s *Server) ingestEvents(w http.ResponseWriter, r *http.Request, _ *principal) {
	if !bulkContentType(w, r) {
		return
	}
	release, ok := s.admit(w, r)
	if !ok {
		return
	}
	defer release()
	var evs []ingest.Event
	rejected, err := ingest.Decode(http.MaxBytesReader(w, r.Body, MaxBulkBytes), ingest.Options{Now: s.now()}, func(e *ingest.Event) error {
		evs = append(evs, *e)
		return nil
	})
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			writeCode(w, codeTooLarge, fmt.Sprintf("body exceeds %d bytes; send batches of at most 10,000 events", MaxBulkBytes))
		case errors.Is(err, ingest.ErrTooManyLines):
			writeCode(w, codeTooLarge, err.Error())
		case errors.Is(err, ingest.ErrNotNDJSON):
			writeCode(w, codeMalformed, err.Error())
		default:
			// The body could not be read (the client went away, say).
			s.log.Warn("read bulk body", slog.Any("err", err))
			writeCode(w, codeMalformed, "could not read request body")
		}
		return
	}
	res, err := s.Ingest.Ingest(r.Context(), evs, rejected)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, res)
}

// admit bounds concurrent bulk requests: a request waits briefly for a slot
// and is otherwise told to come back, instead of piling up memory. It also
// pushes back (429) while aggregation lags far behind the log.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (func(), bool) {
	if s.Lag != nil && s.Lag() > MaxLag {
		w.Header().Set("Retry-After", "1")
		writeCode(w, platform.ERATELIMITED, "aggregation is catching up; retry shortly")
		return nil, false
	}
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
	// bulkSlots is how many bulk requests are decoded and published at
	// once: enough to keep both cores and the log busy, few enough that
	// memory stays bounded (each holds at most MaxBulkBytes).
	bulkSlotsN = 4
	// MaxLag is how many log messages aggregation may trail by before
	// ingestion pushes back.
	MaxLag = 2_000
)
