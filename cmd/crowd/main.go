// Command crowd is the Crowd service and its tools: serve, demo, token,
// loadgen and bench.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/crowd-dev/crowd/internal/buildinfo"
	"github.com/crowd-dev/crowd/internal/httpapi"
)

const usage = `crowd: the sharing and creator-analytics backend for short-video apps

Usage:
  crowd serve [--addr 127.0.0.1:8080] [--admin-addr 127.0.0.1:9464] [--data ./crowd-data]
              [--secrets-dir DIR] [--disclosure protected|exact] [--nats-url URL] [--postgres-url URL] [--demo]
  crowd demo [--data DIR] [--secrets-dir DIR] [--seed N]
  crowd token create --service [--name NOTE] [--data DIR] [--postgres-url URL]
  crowd token list [--data DIR] [--postgres-url URL]
  crowd token revoke ID [--data DIR] [--postgres-url URL]
  crowd loadgen [--url URL] [--token T] [--rate N] [--duration D] [--batch 10000] [--mode bulk|single]
  crowd bench [--world small|realistic] [--duration 10s] [--history-events 1000000] [--cpuprofile FILE]
  crowd import FILE [--data DIR] [--secrets-dir DIR] [--postgres-url URL] [--nats-url URL]
  crowd backup [--admin-url http://127.0.0.1:9464] DIR   (while crowd serve runs; secrets not included)
  crowd restore BACKUP DATA                               (into a new, empty data dir)
  crowd version
  crowd keys rotate [--data DIR] [--secrets-dir DIR]
  crowd salts prune [--data DIR] [--secrets-dir DIR] [--keep 72h] [--idle 24h]

One process at a time per data dir: serve, demo, import, keys, salts and
token (with SQLite) refuse a data dir another crowd process holds.

Every flag also reads CROWD_<FLAG> from the environment (--data <-> CROWD_DATA).
Run "crowd COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		var logged loggedError
		if !errors.Is(err, flag.ErrHelp) && !errors.As(err, &logged) {
			fmt.Fprintln(os.Stderr, "crowd:", err)
		}
		os.Exit(exitCode(err))
	}
}

// loggedError is an error a server command already logged as a JSON
// record; main does not print it again. A server's stderr is read by a log
// collector, so what stops it is one more JSON record there. Usage errors
// (a mistake in the command line, for the person who typed it) and the
// errors of the other commands, run by a person at a terminal, are plain
// text: "crowd: <error>".
type loggedError struct{ error }

func (e loggedError) Unwrap() error { return e.error }

// errUsage marks a mistake in the command line (exit code 2).
var errUsage = errors.New("usage")

func exitCode(err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0 // "crowd COMMAND -h" asked for the help it printed
	case errors.Is(err, errUsage):
		return 2
	}
	return 1
}

// run dispatches a command line; it is main without the process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr, getenv)
	case "token":
		return token(ctx, args[1:], stdout, stderr, getenv)
	case "demo":
		return demoCmd(ctx, args[1:], stdout, stderr, getenv)
	case "loadgen":
		return loadgenCmd(ctx, args[1:], stdout, stderr, getenv)
	case "bench":
		return benchCmd(ctx, args[1:], stdout, stderr, getenv)
	case "keys":
		return keys(ctx, args[1:], stdout, stderr, getenv)
	case "salts":
		return salts(ctx, args[1:], stdout, stderr, getenv)
	case "import":
		return importCmd(ctx, args[1:], stdout, stderr, getenv)
	case "backup":
		return backupCmd(ctx, args[1:], stdout, stderr, getenv)
	case "restore":
		return restoreCmd(ctx, args[1:], stdout, stderr, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version", "--version", "-version":
		if len(args) > 1 {
			return fmt.Errorf("%w: unexpected argument %q: crowd version takes none", errUsage, args[1])
		}
		fmt.Fprintln(stdout, buildinfo.Read())
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

// newLogger returns the JSON logger of a command: one record a line, with
// time, level, msg and constant attribute keys (durations in milliseconds
// under keys ending in _ms), and the request id of the API request a
// record is logged in the context of.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(httpapi.WithRequestID(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})))
}

func timeNow() time.Time { return time.Now().UTC() }
