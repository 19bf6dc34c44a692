package rollup

import (
	"sync"
	"time"
)

// rateWeight is the weight of the newest batch in the rate's moving
// averages: about the last eight batches count. At the head of the log
// that is under a second of batches (they linger 50 ms); in a backlog,
// batches of up to 32 MiB, a few seconds.
const rateWeight = 1.0 / 8

// rate estimates how many log messages a second aggregation applies while
// it is applying: the messages of each batch over the time apply took for
// it (busy time: the waits for the log between batches are not counted,
// so an idle aggregator does not look slow). It keeps two exponentially
// weighted moving averages over batches, of the messages and of the
// seconds, and divides them: a batch weighs by its size and its time, so a
// large batch of a backlog moves the estimate more than the small batches
// of a trickle did, and one odd batch moves it by at most rateWeight of
// its own share. Safe for concurrent use.
type rate struct {
	mu         sync.Mutex
	msgs, secs float64 // the moving averages; secs 0: no batch yet
}

// observe records a batch of n messages applied in d.
func (r *rate) observe(n int, d time.Duration) {
	if n <= 0 || d <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secs == 0 {
		r.msgs, r.secs = float64(n), d.Seconds()
		return
	}
	r.msgs += rateWeight * (float64(n) - r.msgs)
	r.secs += rateWeight * (d.Seconds() - r.secs)
}

// perSecond returns the estimate in messages a second, 0 before the first
// batch.
func (r *rate) perSecond() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secs == 0 {
		return 0
	}
	return r.msgs / r.secs
}

// Rate returns how many log messages a second this aggregator applies
// while busy applying (the time between batches, waiting for the log, is
// not counted), averaged over its last batches; 0 until it has applied a
// batch. Lag divided by it is how long the backlog takes to apply (as
// long as the messages waiting are like those it applied).
func (a *Aggregator) Rate() float64 { return a.rate.perSecond() }
