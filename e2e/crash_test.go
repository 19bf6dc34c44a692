package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// Kill sends SIGKILL: no shutdown code runs.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// TestCrashKeepsActionsAndEventsInStep kills the server with SIGKILL in the
// middle of a stream of likes, unlikes and views, several times. Clients then
// re-assert the state they wanted (likes are idempotent). The public counters
// must then equal that state exactly: an action and its event never get out
// of step, and no event is lost or counted twice. Views, which are not
// idempotent, must count every acknowledged view and at most the ones in
// flight at the kill on top.
func TestCrashKeepsActionsAndEventsInStep(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	flags := []string{"--disclosure", "exact", "--login-per-minute", "1000"}
	p := Start(t, data, flags...)
	anonC := p.Client()
	owner := MustUser(t, anonC, "owner")
	var videos []string
	for i := 0; i < 3; i++ {
		v, err := owner.CreateVideo(ctx, client.NewVideo{Title: fmt.Sprint("v", i)})
		if err != nil {
			t.Fatal(err)
		}
		videos = append(videos, v.ID)
	}
	const users = 6
	tokens := make([]string, users)
	for i := range tokens {
		tokens[i] = MustUser(t, anonC, fmt.Sprint("user", i)).Token
	}

	// want[u][v] is the like state user u last asked for on video v.
	want := make([][]bool, users)
	for i := range want {
		want[i] = make([]bool, len(videos))
	}
	var ackedViews, attemptedViews atomic.Int64

	for round := 0; round < 4; round++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for u := 0; u < users; u++ {
			wg.Add(1)
			go func(u int) {
				defer wg.Done()
				c := client.New(p.URL).WithToken(tokens[u])
				c.HTTP.Timeout = 5 * time.Second
				rng := rand.New(rand.NewPCG(uint64(round), uint64(u)))
				for {
					select {
					case <-stop:
						return
					default:
					}
					v := rng.IntN(len(videos))
					if rng.IntN(2) == 0 {
						on := rng.IntN(2) == 0
						want[u][v] = on // asked for, whether or not acknowledged
						if on {
							c.Like(ctx, videos[v])
						} else {
							c.Unlike(ctx, videos[v])
						}
					} else {
						attemptedViews.Add(1)
						if c.RecordView(ctx, videos[v], client.View{Source: "for_you", WatchMS: 10}) == nil {
							ackedViews.Add(1)
						}
					}
				}
			}(u)
		}
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		p.Kill(t)
		close(stop)
		wg.Wait()
		p = Start(t, data, flags...)
	}

	// Re-assert the wanted like states (idempotent), then compare.
	wantLikes := make([]int64, len(videos))
	for u := 0; u < users; u++ {
		c := client.New(p.URL).WithToken(tokens[u])
		for v := range videos {
			var err error
			if want[u][v] {
				wantLikes[v]++
				err = c.Like(ctx, videos[v])
			} else {
				err = c.Unlike(ctx, videos[v])
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	anon := p.Client()
	var gotViews int64
	Eventually(t, "likes equal the wanted state", func() bool {
		gotViews = 0
		for v, id := range videos {
			got, err := anon.Video(ctx, id)
			if err != nil || got.Counts.Likes != wantLikes[v] {
				return false
			}
			gotViews += got.Counts.Views
		}
		return gotViews >= ackedViews.Load()
	})
	if gotViews < ackedViews.Load() || gotViews > attemptedViews.Load() {
		t.Fatalf("views %d: acknowledged %d, attempted %d", gotViews, ackedViews.Load(), attemptedViews.Load())
	}
	t.Logf("views: counted %d, acknowledged %d, attempted %d", gotViews, ackedViews.Load(), attemptedViews.Load())
}
