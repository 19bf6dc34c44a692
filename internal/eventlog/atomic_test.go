package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/platform"
)

// TestPublishAtomic: a batch over several partitions is stored whole and
// in order; the same batch sent again (a retry whose answer was lost) is
// acknowledged without being stored twice.
func TestPublishAtomic(t *testing.T) {
	l := MustOpen(t, Config{Dir: t.TempDir(), Partitions: 4})
	if !l.Atomic() {
		t.Fatal("the embedded server's stream does not take atomic batches")
	}
	ctx := t.Context()
	msgs := testMessages(l, 0, 40)
	if err := l.PublishAtomic(ctx, msgs); err != nil {
		t.Fatalf("PublishAtomic: %v", err)
	}
	if info := MustInfo(t, l); info.Msgs != 40 {
		t.Fatalf("stored %d messages, want 40", info.Msgs)
	}
	checkDelivered(t, MustConsume(t, l, 1, 40), msgs, 1)

	if err := l.PublishAtomic(ctx, msgs); err != nil {
		t.Fatalf("PublishAtomic of the same batch again: %v", err)
	}
	if info := MustInfo(t, l); info.Msgs != 40 {
		t.Fatalf("the same batch sent again stored %d more messages", info.Msgs-40)
	}

	// A batch sharing only some messages with a stored one is stored
	// whole (aggregation drops the events it counted already).
	more := append(testMessages(l, 0, 10), testMessages(l, 40, 5)...)
	if err := l.PublishAtomic(ctx, more); err != nil {
		t.Fatalf("PublishAtomic of an overlapping batch: %v", err)
	}
	if info := MustInfo(t, l); info.Msgs != 55 {
		t.Fatalf("stored %d messages after an overlapping batch, want 55", info.Msgs)
	}

	// Invalid messages refuse the batch before anything is sent.
	bad := append(testMessages(l, 100, 3), Message{Subject: "other.0", ID: "x"})
	if err := l.PublishAtomic(ctx, bad); err == nil {
		t.Fatal("PublishAtomic accepted an invalid message")
	}
	if info := MustInfo(t, l); info.Msgs != 55 {
		t.Fatalf("a refused batch stored %d messages", info.Msgs-55)
	}
}

// TestPublishAtomic_FaultPartWay fails a batch at its fifth message, as a
// write failing part-way would: Publish has stored the four before it,
// PublishAtomic nothing. Batches abandoned that way free their place on the
// server at once (it keeps at most 50 open per stream): sixty in a row do
// not keep the next one out.
func TestPublishAtomic_FaultPartWay(t *testing.T) {
	var calls, failAt atomic.Int64
	fault := func() error {
		if n := calls.Add(1); failAt.Load() > 0 && n >= failAt.Load() {
			return fmt.Errorf("write: %w", syscall.ENOSPC)
		}
		return nil
	}
	var told atomic.Int64
	l := MustOpen(t, Config{Dir: t.TempDir(), Partitions: 4, WriteFault: fault, DiskFull: func(error) { told.Add(1) }})
	ctx := t.Context()
	failPart := func(publish func(context.Context, []Message) error, msgs []Message) {
		t.Helper()
		calls.Store(0)
		failAt.Store(5)
		defer failAt.Store(0)
		if err := publish(ctx, msgs); !errors.Is(err, platform.ErrDiskFull) {
			t.Fatalf("publish failing at its fifth message = %v, want disk full", err)
		}
	}

	failPart(l.Publish, testMessages(l, 0, 8))
	waitMsgs(t, l, 4) // the contrast: message by message, four are stored

	base := MustInfo(t, l).Msgs
	batch := testMessages(l, 100, 8)
	failPart(l.PublishAtomic, batch)
	if told.Load() != 2 {
		t.Fatalf("DiskFull told %d times, want 2", told.Load())
	}
	time.Sleep(300 * time.Millisecond)
	if got := MustInfo(t, l).Msgs; got != base {
		t.Fatalf("a batch failed part-way stored %d messages", got-base)
	}
	for range 60 {
		failPart(l.PublishAtomic, batch)
	}
	// Restarting the server (as Recover does after a write failed)
	// does not complete a batch that was abandoned.
	if err := l.Recover(ctx); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if got := MustInfo(t, l).Msgs; got != base {
		t.Fatalf("after Recover the abandoned batches stored %d messages", got-base)
	}
	if err := l.PublishAtomic(ctx, batch); err != nil {
		t.Fatalf("PublishAtomic after the faults: %v", err)
	}
	if got := MustInfo(t, l).Msgs; got != base+8 {
		t.Fatalf("stored %d messages, want 8", got-base)
	}
}

// waitMsgs waits until the stream holds n messages.
func waitMsgs(t *testing.T, l *Log, n uint64) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		got := MustInfo(t, l).Msgs
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream holds %d messages, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mountSmallFS mounts a tmpfs of size bytes for the test, or skips the test
// where mounting is not allowed (except under CI, which must run it).
func mountSmallFS(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a size-limited tmpfs here (%v: %s); TestPublishAtomic_FaultPartWay covers a batch failing part-way", err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillLeaving fills dir's filesystem with a file until only leave bytes
// are free, and returns the file's path.
func fillLeaving(t *testing.T, dir string, leave int64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := int64(st.Bavail)*st.Bsize - leave
	chunk := make([]byte, 1<<20)
	for want > 0 {
		n, err := f.Write(chunk[:min(int64(len(chunk)), want)])
		if err != nil {
			t.Fatal(err)
		}
		want -= int64(n)
	}
	return path
}

// TestPublishAtomic_DiskFills stores batches of eight 500 KiB messages on a
// real 48 MiB tmpfs filled to leave between 1 and 9 MiB free, so that the
// disk fills while the server stages the batch, or while it stores it,
// or not at all; the check that a batch needs twice its size free is off,
// so that the disk does fill under it. Whatever the moment, once space is
// back and Recover has run the batch is stored whole or not at all, and the
// log takes writes again. Publish on the same disk stores part of a batch.
func TestPublishAtomic_DiskFills(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 500<<10/16)
	batch := func(l *Log, tag string) []Message {
		msgs := make([]Message, 8)
		for i := range msgs {
			msgs[i] = Message{Subject: l.Subject(i % l.Partitions()), ID: fmt.Sprintf("%s-%d", tag, i), Data: data}
		}
		return msgs
	}
	open := func(t *testing.T) (*Log, string) {
		fs := mountSmallFS(t, "48m")
		dir := filepath.Join(fs, "js")
		// The write guard the application gives: full below 1 MiB.
		guard := func() error {
			var st syscall.Statfs_t
			if err := syscall.Statfs(fs, &st); err == nil && st.Bavail*uint64(st.Bsize) < 1<<20 {
				return platform.ErrDiskFull
			}
			return nil
		}
		l, err := Open(t.Context(), Config{Dir: dir, WriteGuard: guard})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l, fs
	}
	var rolledForward, clean int
	for _, leaveMiB := range []int64{2, 3, 5, 6, 7, 9} {
		t.Run(fmt.Sprint(leaveMiB, "MiB"), func(t *testing.T) {
			l, fs := open(t)
			ctx := t.Context()
			msgs := batch(l, "a")
			filler := fillLeaving(t, fs, leaveMiB<<20)
			// The check before the batch sees room; the one after
			// a failure sees the disk as it is.
			roomAtFirstCheck(l)
			err := l.PublishAtomic(ctx, msgs)
			after := MustInfo(t, l).Msgs
			if err != nil && !errors.Is(err, platform.ErrDiskFull) {
				t.Fatalf("PublishAtomic on a filling disk = %v, want success or disk full", err)
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			if err := l.Recover(ctx); err != nil {
				t.Fatalf("Recover: %v", err)
			}
			got := MustInfo(t, l).Msgs
			t.Logf("left %d MiB: publish %v; %d messages stored, %d after Recover", leaveMiB, err, after, got)
			switch {
			case err == nil && got == 8:
			case err != nil && got == 0:
				clean++
			case err != nil && got == 8:
				rolledForward++
			default:
				t.Fatalf("after Recover the stream holds %d of the batch's 8 messages (publish: %v)", got, err)
			}
			// Sent again, the batch counts once; the log takes writes.
			if err := l.PublishAtomic(ctx, msgs); err != nil {
				t.Fatalf("PublishAtomic after Recover: %v", err)
			}
			if err := l.Publish(ctx, []Message{{Subject: l.Subject(0), ID: "after", Data: []byte("x")}}); err != nil {
				t.Fatalf("Publish after Recover: %v", err)
			}
			if got := MustInfo(t, l).Msgs; got != 9 {
				t.Fatalf("stream holds %d messages, want the batch's 8 and one", got)
			}
		})
	}
	if !t.Failed() && (rolledForward == 0 || clean == 0) {
		t.Fatalf("of the fills, %d failed in staging and %d while storing: both moments must be covered", clean, rolledForward)
	}

	t.Run("Publish", func(t *testing.T) {
		l, fs := open(t)
		filler := fillLeaving(t, fs, 2<<20)
		err := l.Publish(t.Context(), batch(l, "p"))
		if !errors.Is(err, platform.ErrDiskFull) {
			t.Fatalf("Publish on a filling disk = %v, want disk full", err)
		}
		n := MustInfo(t, l).Msgs
		if n == 0 || n == 8 {
			t.Fatalf("Publish stored %d of 8 messages; this fill was meant to split the batch", n)
		}
		// The store refuses writes after the failed one until
		// Recover restarts it.
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		if err := l.Recover(t.Context()); err != nil {
			t.Fatalf("Recover: %v", err)
		}
		if err := l.Publish(t.Context(), batch(l, "p")); err != nil {
			t.Fatalf("Publish after Recover: %v", err)
		}
		if got := MustInfo(t, l).Msgs; got != 8 {
			t.Fatalf("stream holds %d messages, want 8", got)
		}
	})
}

// TestPublishAtomic_NoRoom: on the embedded server a batch needing more
// than the free space (twice its size) is refused before anything is sent,
// as a full disk.
func TestPublishAtomic_NoRoom(t *testing.T) {
	var told atomic.Int64
	l := MustOpen(t, Config{Dir: t.TempDir(), DiskFull: func(error) { told.Add(1) }})
	l.freeSpace = func() (uint64, error) { return 1000, nil }
	msgs := testMessages(l, 0, 20)
	size := 0
	for _, m := range msgs {
		size += len(m.Data)
	}
	if 2*size <= 1000 {
		t.Fatalf("test batch of %d bytes is too small", size)
	}
	if err := l.PublishAtomic(t.Context(), msgs); !errors.Is(err, platform.ErrDiskFull) {
		t.Fatalf("PublishAtomic without room = %v, want disk full", err)
	}
	if told.Load() != 1 || l.writeFailed.Load() {
		t.Fatalf("DiskFull told %d times, write failure noted %v; want once, and no failure (nothing was sent)", told.Load(), l.writeFailed.Load())
	}
	if info := MustInfo(t, l); info.Msgs != 0 {
		t.Fatalf("a refused batch stored %d messages", info.Msgs)
	}
}

// TestOpen_TurnsAtomicOn: a stream made without atomic batches (before the
// server's upgrade to 2.12) is updated to take them when the log opens.
func TestOpen_TurnsAtomicOn(t *testing.T) {
	cfg := Config{Dir: t.TempDir()}
	l := MustOpen(t, cfg)
	sc := l.stream.CachedInfo().Config
	sc.AllowAtomicPublish = false
	if _, err := l.js.UpdateStream(t.Context(), sc); err != nil {
		t.Fatal(err)
	}
	MustPublish(t, l, testMessages(l, 0, 5), 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = MustOpen(t, cfg)
	if !l.Atomic() {
		t.Fatal("reopened log does not publish atomically")
	}
	si, err := l.stream.Info(t.Context())
	if err != nil || !si.Config.AllowAtomicPublish || si.State.Msgs != 5 {
		t.Fatalf("stream after reopen: allow_atomic %v, %d messages, err %v", si != nil && si.Config.AllowAtomicPublish, si.State.Msgs, err)
	}
}

// TestPublishAtomic_StreamRefuses: a stream whose atomic batches an
// operator turned off while the log was open gets the batch message by
// message instead of an error.
func TestPublishAtomic_StreamRefuses(t *testing.T) {
	l := MustOpen(t, Config{Dir: t.TempDir()})
	sc := l.stream.CachedInfo().Config
	sc.AllowAtomicPublish = false
	if _, err := l.js.UpdateStream(t.Context(), sc); err != nil {
		t.Fatal(err)
	}
	if err := l.PublishAtomic(t.Context(), testMessages(l, 0, 6)); err != nil {
		t.Fatalf("PublishAtomic to a stream refusing atomic batches: %v", err)
	}
	if l.Atomic() {
		t.Fatal("Atomic still reports true")
	}
	if info := MustInfo(t, l); info.Msgs != 6 {
		t.Fatalf("stored %d messages, want 6", info.Msgs)
	}
}

func TestServerAtLeast(t *testing.T) {
	for v, want := range map[string]bool{"2.12.0": true, "2.15.3": true, "3.0.0": true, "2.11.9": false, "2.9.10": false, "": false, "2": false, "x.y": false} {
		if got := serverAtLeast(v, 2, 12); got != want {
			t.Errorf("serverAtLeast(%q, 2, 12) = %v", v, got)
		}
	}
}

// TestRecover_EndsConsumers: when Recover restarts the embedded server,
// a running Consume ends at once with ErrRestarted (its consumer is gone
// with the restart; the client library would notice only after missing
// heartbeats for about ten seconds), and a new one reads on.
func TestRecover_EndsConsumers(t *testing.T) {
	l := MustOpen(t, Config{Dir: t.TempDir()})
	MustPublish(t, l, testMessages(l, 0, 10), 10)
	got := make(chan int, 100)
	done := make(chan error, 1)
	go func() {
		done <- l.Consume(t.Context(), 1, func(_ context.Context, batch []Delivered) error {
			got <- len(batch)
			return nil
		})
	}()
	for n := 0; n < 10; n += <-got {
	}
	l.writeFailed.Store(true)
	if err := l.Recover(t.Context()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrRestarted) {
			t.Fatalf("Consume after a restart = %v, want ErrRestarted", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Consume still running 3 s after the restart")
	}
	MustPublish(t, l, testMessages(l, 10, 5), 5)
	checkDelivered(t, MustConsume(t, l, 11, 5), testMessages(l, 10, 5), 11)
}

// TestRecover_WhilePublishing restarts the embedded server while the
// connection publishes, as the application's retries do during recovery
// from a full disk: under the race detector a restart that re-enabled
// JetStream on the running server (rewriting its accounts' service
// exports while the connection's messages were routed through them)
// failed here. Every message published after Recover returns is stored.
func TestRecover_WhilePublishing(t *testing.T) {
	l := MustOpen(t, Config{Dir: t.TempDir()})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Errors are expected while the server restarts.
			_ = l.nc.Publish(l.Subject(0), []byte("x"))
			// A request the restart cut off is not answered: bounded.
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			_, _ = l.stream.Info(ctx)
			cancel()
		}
	}()
	for range 3 {
		l.writeFailed.Store(true)
		if err := l.Recover(t.Context()); err != nil {
			close(stop)
			<-done
			t.Fatalf("Recover: %v", err)
		}
	}
	close(stop)
	<-done
	// The goroutine's last publishes may still be on their way to the
	// stream (they were seen storing after Info below). One acknowledged
	// publish on the same connection comes after them, as a connection's
	// messages are handled in order: once it is answered they are stored,
	// and the count below is of the five alone.
	MustPublish(t, l, testMessages(l, 100, 1), 1)
	before, err := l.Info(t.Context())
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	MustPublish(t, l, testMessages(l, 0, 5), 5)
	after, err := l.Info(t.Context())
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if got := after.LastSeq - before.LastSeq; got != 5 {
		t.Fatalf("5 messages published after Recover stored %d", got)
	}
}

// roomAtFirstCheck makes l's first look at the free space see room, and
// the later ones the disk as it is.
func roomAtFirstCheck(l *Log) {
	var checks atomic.Int32
	l.freeSpace = func() (uint64, error) {
		if checks.Add(1) == 1 {
			return 1 << 40, nil
		}
		return l.storeFree()
	}
}

// TestPublishAtomic_DiskFillsUnguarded fills the disk under a batch while
// no write guard sees it: the server stores nothing more after a write
// fails and answers nothing to the batch's commit, and what it freed when
// the write failed may leave more room than the application's guard counts
// as full. The publish must still end as disk full (so that the caller
// answers 503 and Recover restarts the store), not wait out the commit's
// ackTimeout and fail as an unanswered request, which a caller's own
// timeout would end first.
func TestPublishAtomic_DiskFillsUnguarded(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 500<<10/16)
	for _, leaveMiB := range []int64{2, 5, 6, 7} {
		t.Run(fmt.Sprint(leaveMiB, "MiB"), func(t *testing.T) {
			fs := mountSmallFS(t, "48m")
			l, err := Open(t.Context(), Config{Dir: filepath.Join(fs, "js")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			msgs := make([]Message, 8)
			for i := range msgs {
				msgs[i] = Message{Subject: l.Subject(i % l.Partitions()), ID: fmt.Sprintf("u-%d", i), Data: data}
			}
			filler := fillLeaving(t, fs, leaveMiB<<20)
			// The check before the batch sees room, as when other
			// batches fill the disk after it.
			roomAtFirstCheck(l)
			err = l.PublishAtomic(t.Context(), msgs)
			if err != nil && !errors.Is(err, platform.ErrDiskFull) {
				t.Fatalf("PublishAtomic on a filling disk = %v, want success or disk full", err)
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			if err := l.Recover(t.Context()); err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if got := MustInfo(t, l).Msgs; got != 0 && got != 8 {
				t.Fatalf("after Recover the stream holds %d of the batch's 8 messages (publish: %v)", got, err)
			}
			t.Logf("left %d MiB: publish %v", leaveMiB, err)
		})
	}
}
