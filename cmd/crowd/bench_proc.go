package main

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
)

// startCPUProfile starts a CPU profile into name; the returned func stops
// it and closes the file.
func startCPUProfile(name string) (func(), error) {
	return startRecording(name, "cpu profile", pprof.StartCPUProfile, pprof.StopCPUProfile)
}

// startTrace starts an execution trace into name, unless name is empty;
// the returned func stops it and closes the file. A trace says where each
// goroutine waited, which a CPU profile cannot (describeTrace reads it
// back).
func startTrace(name string) (func(), error) {
	if name == "" {
		return func() {}, nil
	}
	return startRecording(name, "trace", trace.Start, trace.Stop)
}

// startRecording creates name and starts a recording (what) into it;
// the returned func stops it and closes the file.
func startRecording(name, what string, start func(io.Writer) error, stop func()) (func(), error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", what, err)
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", what, err)
	}
	return func() {
		stop()
		f.Close()
	}, nil
}

// dirSize is the bytes of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// written is what a process has written, from /proc/PID/io: wchar, the
// bytes its write calls passed to the kernel (the event log's appends, the
// databases' write-ahead logs and their checkpoints' copies into the
// database files), and write_bytes, those that reached storage (a page
// written twice before it was flushed counts once).
type written struct{ calls, storage int64 }

func (w written) sub(x written) written { return written{w.calls - x.calls, w.storage - x.storage} }

// procWritten reads written from an io file of /proc ("/proc/self/io").
func procWritten(name string) (written, error) {
	f, err := os.Open(name)
	if err != nil {
		return written{}, err
	}
	defer f.Close()
	var w written
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "wchar":
			dst = &w.calls
		case "write_bytes":
			dst = &w.storage
		default:
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return written{}, fmt.Errorf("%s: %s: %w", name, k, err)
		}
		*dst = n
		found++
	}
	if err := sc.Err(); err != nil {
		return written{}, err
	}
	if found != 2 {
		return written{}, fmt.Errorf("%s: no wchar or write_bytes", name)
	}
	return w, nil
}

// perEvent says what w is an event of n events, as "X bytes an event
// written (Y to storage)".
func (w written) perEvent(n int64) string {
	n = max(n, 1)
	return fmt.Sprintf("%s bytes an event written (%s to storage)", thousands(float64(w.calls)/float64(n)), thousands(float64(w.storage)/float64(n)))
}
