package dirlock

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestAcquire(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil || string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Fatalf("lock file %q, %v", b, err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir %v %v", fi, err)
	}
	// flock locks belong to an open file: a second open, even in this
	// process, is refused, and names the holder.
	_, err = Acquire(dir)
	var held *HeldError
	if !errors.As(err, &held) || held.PID != os.Getpid() {
		t.Fatalf("second Acquire = %v, want a HeldError naming pid %d", err, os.Getpid())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

func TestAcquireShared(t *testing.T) {
	dir := t.TempDir()
	a, err := AcquireShared(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := AcquireShared(dir)
	if err != nil {
		t.Fatalf("a second shared holder: %v", err)
	}
	var held *HeldError
	if _, err := Acquire(dir); !errors.As(err, &held) {
		t.Fatalf("Acquire beside shared holders = %v, want a HeldError", err)
	}
	a.Release()
	b.Release()
	x, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AcquireShared(dir); !errors.As(err, &held) || held.PID != os.Getpid() {
		t.Fatalf("AcquireShared beside an exclusive holder = %v, want a HeldError naming pid %d", err, os.Getpid())
	}
	x.Release()
}
