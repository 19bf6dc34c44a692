package rollup

import (
	"sync"
	"time"
)

// rateWeight is the weight of the newest batch in the rate's moving
// averages: about the last eight batches count. At the head of the log
// that is one to two seconds of batches (they collect for up to 250 ms,
// eventlog's consumeLinger); in a backlog, batches of up to 32 MiB, a few
// seconds each.
const rateWeight = 1.0 / 8

// rate estimates how many log messages a second aggregation applies while
// it is applying: the messages of each batch over the time apply took for
// it (busy time: the waits for the log between batches are not counted,
// so an idle aggregator does not look slow). It keeps two exponentially
// weighted moving averages over batches, of the messages and of the
// seconds, and divides them: a batch weighs by its size and its time, so a
// large batch of a backlog moves the estimate more than the small batches
// of a trickle did, and one odd batch moves it by at most rateWeight of
// its own share.
//
// A batch being applied counts too, once it is slower than the estimate:
// the estimate is then what it would be were the batch to finish now. An
// estimate made on small fast batches (a process's first, say) so falls
// as soon as a larger batch turns out slower, not seconds later when it
// commits; and a batch that hangs (a database that stopped answering)
// drags the estimate down for as long as it does. Safe for concurrent use.
type rate struct {
	mu         sync.Mutex
	msgs, secs float64 // the moving averages; secs 0: no batch yet
	busyN      int     // messages of the batch being applied; 0: none
	busyAt     time.Time
}

// begin records that a batch of n messages is being applied from at.
func (r *rate) begin(n int, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.busyN, r.busyAt = n, at
}

// end records that the batch begun last is done at at: applied (ok), it
// joins the averages; failed, it is left out (no measure of applying).
func (r *rate) end(ok bool, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, d := r.busyN, at.Sub(r.busyAt)
	r.busyN = 0
	if ok {
		r.add(n, d)
	}
}

// add moves the averages by a batch of n messages applied in d; r.mu is
// held.
func (r *rate) add(n int, d time.Duration) {
	if n <= 0 || d <= 0 {
		return
	}
	r.msgs, r.secs = r.moved(n, d)
}

// moved returns the averages as a batch of n messages in d would leave
// them; r.mu is held.
func (r *rate) moved(n int, d time.Duration) (msgs, secs float64) {
	if r.secs == 0 {
		return float64(n), d.Seconds()
	}
	return r.msgs + rateWeight*(float64(n)-r.msgs), r.secs + rateWeight*(d.Seconds()-r.secs)
}

// coldRate is the estimate, in messages a second, until a batch has been
// applied: a prior below what aggregation applies of the largest messages
// (512 KiB bulk messages: 35–60 a second on two cores in the realistic
// world), so that ingestion just after a start, which the API accepts far
// faster than aggregation applies it, is held to about --max-lag times
// this many messages (120 at 6 s) until the first batch tells the real
// rate. Without it a restarted server's first batch, its in-flight
// estimate fast while it had run briefly, let 512 messages pile up in
// 2.5 s: a crash then took 13 s to catch up.
const coldRate = 20

// perSecond returns the estimate in messages a second at now: coldRate
// until a batch is done, and never more than the averages with the batch
// being applied counted as done at now.
func (r *rate) perSecond(now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	est := float64(coldRate)
	if r.secs > 0 {
		est = r.msgs / r.secs
	}
	if d := now.Sub(r.busyAt); r.busyN > 0 && d > 0 {
		if msgs, secs := r.moved(r.busyN, d); msgs/secs < est {
			est = msgs / secs
		}
	}
	return est
}

// Rate returns how many log messages a second this aggregator applies
// while busy applying (the time between batches, waiting for the log, is
// not counted), averaged over its last batches, and lowered by the batch
// being applied while that one is slower; coldRate until it has applied a
// batch. Lag divided by it is how long the backlog takes to apply
// (as long as the messages waiting are like those it applied).
func (a *Aggregator) Rate() float64 { return a.rate.perSecond(time.Now()) }
