package loadgen

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// freshnessPoll is how often Freshness looks at a report: fine enough to
// tell 100 ms from 200 ms, coarse enough that the polling does not compete
// with the aggregation it is waiting for.
const freshnessPoll = 5 * time.Millisecond

// freshnessTimeout is how long a sample may take before Freshness gives up.
const freshnessTimeout = 30 * time.Second

// Freshness measures how long an accepted event takes to show in analytics.
// For each sample it records a view of one of videos (anonymously, with
// POST /v1/videos/{id}/views) and, from the moment the service accepted it,
// polls GET /v1/analytics/videos/{id} as owner (a session of the videos'
// creator) until the view total went up. Each video has one sample in
// flight at a time; different videos run concurrently.
func Freshness(ctx context.Context, owner *client.Client, videos []string, samples int) (Latency, error) {
	if len(videos) == 0 || samples < 1 {
		return Latency{}, fmt.Errorf("freshness: need videos and samples")
	}
	anon := owner.WithToken("")
	var (
		mu    sync.Mutex
		ds    []time.Duration
		first error
		wg    sync.WaitGroup
	)
	next := make(chan struct{}, samples)
	for range samples {
		next <- struct{}{}
	}
	close(next)
	for _, v := range videos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				d, err := freshOnce(ctx, owner, anon, v)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil {
					ds = append(ds, d)
				}
				stop := first != nil
				mu.Unlock()
				if stop {
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return Latency{}, first
	}
	return Percentiles(ds), nil
}

type totals struct {
	Totals struct {
		Views int64 `json:"views"`
	} `json:"totals"`
}

func freshOnce(ctx context.Context, owner, anon *client.Client, video string) (time.Duration, error) {
	path := "/v1/analytics/videos/" + url.PathEscape(video) + "?range=7d"
	var before totals
	if err := owner.Do(ctx, "GET", path, nil, &before); err != nil {
		return 0, fmt.Errorf("freshness: read report: %w", err)
	}
	if err := anon.RecordView(ctx, video, client.View{Source: "for_you", WatchMS: 5000}); err != nil {
		return 0, fmt.Errorf("freshness: record view: %w", err)
	}
	accepted := time.Now()
	for {
		var now totals
		if err := owner.Do(ctx, "GET", path, nil, &now); err != nil {
			return 0, fmt.Errorf("freshness: read report: %w", err)
		}
		if now.Totals.Views > before.Totals.Views {
			return time.Since(accepted), nil
		}
		if time.Since(accepted) > freshnessTimeout {
			return 0, fmt.Errorf("freshness: a view of %s was not in its report after %s", video, freshnessTimeout)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(freshnessPoll):
		}
	}
}

// Sample calls fn n times, one after another, and summarises how long the
// calls took. It stops at the first error.
func Sample(ctx context.Context, n int, fn func(ctx context.Context) error) (Latency, error) {
	ds := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if err := fn(ctx); err != nil {
			return Latency{}, err
		}
		ds = append(ds, time.Since(t0))
	}
	return Percentiles(ds), nil
}
