package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/crowd-dev/crowd/client"
)

func fmtCounts(c client.Counts) string { return fmt.Sprintf("%+v", c) }

func fmtAny(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// ingest sends a batch as a platform does: a 429 (aggregation's backlog
// over --max-lag, which a few hundred log messages sent back to back can
// be on a busy machine) is retried after its Retry-After, for up to two
// minutes; any other answer or failure is returned.
func ingest(ctx context.Context, c *client.Client, evs []client.Event) (*client.IngestResult, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		res, err := c.Ingest(ctx, evs)
		var e *client.Error
		if err == nil || !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || time.Now().After(deadline) {
			return res, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(max(e.RetryAfter, 100*time.Millisecond)):
		}
	}
}
