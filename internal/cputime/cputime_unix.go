//go:build unix

package cputime

import (
	"syscall"
	"time"
)

// Process returns the CPU time this process has used so far, user and
// system, from getrusage(2): every thread's, the garbage collector's
// included.
func Process() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
