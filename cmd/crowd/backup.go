package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
)

// backupCmd implements "crowd backup --admin-url URL DIR": it asks the
// running server, on its operator listener, to write a backup of its data
// dir (the database and the event log, consistent with each other) into
// DIR on the server's machine, without stopping. The data dir is the
// server's (locked), so the copy is the server's to make.
func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	adminURL := fs.String("admin-url", "http://127.0.0.1:9464", "the running server's operator listener (its --admin-addr)")
	pos, err := config.ParseArgs(fs, args, getenv)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: crowd backup [--admin-url URL] DIR", errUsage)
	}
	dir, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"dir": dir})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(*adminURL, "/")+"/backup", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: admin-url: %v", errUsage, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: time.Hour}).Do(req)
	if err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("back up: %s (%s)", e.Error.Message, e.Error.Code)
		}
		return fmt.Errorf("back up: %s", resp.Status)
	}
	var man app.Manifest
	if err := json.Unmarshal(b, &man); err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	fmt.Fprintf(stdout, "backup written to %s: database and event log (messages %d to %d, aggregated to %d), %d bytes\n",
		dir, man.LogFirstSeq, man.LogLastSeq, man.AggregatedTo, man.Bytes)
	fmt.Fprintln(stdout, app.SecretsNote)
	return nil
}

// restoreCmd implements "crowd restore BACKUP DATA": it makes a new data
// dir from a backup. DATA must not exist or be empty; the secrets are not
// in the backup (start the server with the same --secrets-dir).
func restoreCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pos, err := config.ParseArgs(fs, args, getenv)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if len(pos) != 2 {
		return fmt.Errorf("%w: crowd restore BACKUP DATA", errUsage)
	}
	backup, data := pos[0], pos[1]
	man, err := app.Restore(ctx, backup, data, newLogger(stderr, "warn"))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored into %s: database and event log (messages %d to %d, aggregated to %d)\n", data, man.LogFirstSeq, man.LogLastSeq, man.AggregatedTo)
	fmt.Fprintln(stdout, app.SecretsNote+"; start crowd serve with the secrets dir the backed-up server used")
	return nil
}
