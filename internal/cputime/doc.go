// Package cputime measures the CPU time the process has used, for crowd
// bench and the benchmarks: on a shared machine wall time also counts
// waiting for the cores, CPU time does not.
package cputime
