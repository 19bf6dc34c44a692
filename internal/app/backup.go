package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/httpapi"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/rollup"
	"github.com/crowd-dev/crowd/internal/store"
)

// Backup files, in the backup directory.
const (
	BackupManifest = "manifest.json"
	BackupDB       = "crowd.db"
	BackupLog      = "eventlog.snapshot"
	BackupLogInfo  = "eventlog.json"
	BackupReadme   = "README.txt"
)

// SecretsNote is said by every backup, in its files and by the commands.
const SecretsNote = "secrets are not included; back up --secrets-dir separately"

// Manifest describes a backup.
type Manifest struct {
	Format    int       `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	// LogFirstSeq and LogLastSeq bound the event log's copy.
	LogFirstSeq uint64 `json:"log_first_seq"`
	LogLastSeq  uint64 `json:"log_last_seq"`
	LogMessages uint64 `json:"log_messages"`
	// AggregatedTo is the database copy's lowest aggregation checkpoint:
	// never beyond LogLastSeq.
	AggregatedTo    uint64 `json:"aggregated_to"`
	Stream          string `json:"stream"`
	Bytes           int64  `json:"bytes"`
	SecretsIncluded bool   `json:"secrets_included"`
	Note            string `json:"note"`
}

// operator is the operator listener's handler: the API's (metrics) and
// POST /backup.
func (m *Main) operator() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /backup", m.serveBackup)
	mux.Handle("/", m.API.Operator())
	return mux
}

// serveBackup is POST /backup {"dir": "/abs/path"} on the operator
// listener: the server writes a backup of its data dir into dir (created,
// or empty) while it keeps serving, and answers with the manifest.
func (m *Main) serveBackup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Dir string `json:"dir"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpapi.WriteCode(w, "malformed_request", "want {\"dir\": \"/absolute/path\"}")
		return
	}
	if !filepath.IsAbs(req.Dir) {
		httpapi.WriteCode(w, platform.EINVALID, "dir must be an absolute path on the server's machine")
		return
	}
	if !m.backingUp.TryLock() {
		httpapi.WriteCode(w, platform.ECONFLICT, "a backup is already running")
		return
	}
	defer m.backingUp.Unlock()
	man, err := m.Backup(r.Context(), req.Dir)
	switch {
	case errors.Is(err, errBackupDir), errors.Is(err, store.ErrBackupUnsupported), errors.Is(err, errBackupExternalLog):
		httpapi.WriteCode(w, platform.EINVALID, err.Error())
		return
	case err != nil:
		m.Logger.Error("backup failed", slog.String("dir", req.Dir), slog.Any("err", err))
		httpapi.WriteCode(w, platform.ErrorCode(err), "backup failed: "+platform.ErrorMessage(err))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, man)
}

var (
	errBackupDir         = errors.New("backup dir must be new or empty")
	errBackupExternalLog = errors.New("the event log is an external NATS cluster: back its stream up with the nats CLI")
)

// Backup writes a consistent copy of the database and the event log into
// dir while the server keeps serving. The database is copied first
// (VACUUM INTO, one snapshot) and the log second (a JetStream stream
// snapshot), so the log's copy holds every event the database's
// checkpoints cover, and more: on restore, aggregation applies the events
// after the checkpoints, and the outbox rows copied with the database are
// relayed again (their message ids and event ids make that count once).
// The secrets are not in the backup.
func (m *Main) Backup(ctx context.Context, dir string) (Manifest, error) {
	if m.Config.NATSURL != "" {
		return Manifest{}, errBackupExternalLog
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Manifest{}, fmt.Errorf("create backup dir: %w", err)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) > 0 {
		return Manifest{}, fmt.Errorf("%w: %s", errBackupDir, dir)
	}
	start := time.Now()
	if err := m.Store.BackupTo(ctx, filepath.Join(dir, BackupDB)); err != nil {
		return Manifest{}, err
	}
	// The database copy's checkpoints, read from the copy itself.
	copyStore, err := store.Open(ctx, store.Options{Dir: dir})
	if err != nil {
		return Manifest{}, fmt.Errorf("open database copy: %w", err)
	}
	aggregated, err := aggregatedTo(ctx, copyStore)
	copyStore.Close()
	if err != nil {
		return Manifest{}, err
	}
	f, err := os.OpenFile(filepath.Join(dir, BackupLog), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return Manifest{}, fmt.Errorf("create log copy: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	info, err := m.Log.Snapshot(ctx, bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Manifest{}, err
	}
	if aggregated > info.State.LastSeq {
		return Manifest{}, fmt.Errorf("back up: the database copy is aggregated to %d, beyond the log copy's %d", aggregated, info.State.LastSeq)
	}
	man := Manifest{
		Format: 1, CreatedAt: time.Now().UTC(),
		LogFirstSeq: info.State.FirstSeq, LogLastSeq: info.State.LastSeq, LogMessages: info.State.Msgs,
		AggregatedTo: aggregated, Stream: info.Stream, SecretsIncluded: false, Note: SecretsNote,
	}
	if err := writeJSONFile(filepath.Join(dir, BackupLogInfo), info); err != nil {
		return Manifest{}, err
	}
	for _, n := range []string{BackupDB, store.HistoryFile, BackupLog, BackupLogInfo} {
		if st, err := os.Stat(filepath.Join(dir, n)); err == nil {
			man.Bytes += st.Size()
		}
	}
	if err := writeJSONFile(filepath.Join(dir, BackupManifest), man); err != nil {
		return Manifest{}, err
	}
	readme := strings.Join([]string{
		"Crowd backup, " + man.CreatedAt.Format(time.RFC3339),
		"",
		"crowd.db           the SQLite database (VACUUM INTO, one consistent snapshot)",
		"history.db         viewers' history, aggregation's second database (VACUUM INTO after crowd.db, made to agree with it)",
		"eventlog.snapshot  the event log stream (a JetStream stream snapshot, taken after the database copy)",
		"eventlog.json      the stream's configuration and state at the snapshot",
		"manifest.json      what is in the backup",
		"",
		"SECRETS ARE NOT INCLUDED: back up --secrets-dir separately (and keep it apart:",
		"with the secrets, a backup of the data could re-identify viewers).",
		"",
		"Restore into a new, empty data dir with:",
		"  crowd restore " + dir + " NEW_DATA_DIR",
		"then start crowd serve --data NEW_DATA_DIR --secrets-dir <the same secrets>.",
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, BackupReadme), []byte(readme), 0o600); err != nil {
		return Manifest{}, fmt.Errorf("write backup readme: %w", err)
	}
	m.Logger.Info("backup written", slog.String("dir", dir), slog.Uint64("log_last_seq", man.LogLastSeq),
		slog.Uint64("aggregated_to", man.AggregatedTo), slog.Int64("bytes", man.Bytes),
		slog.Int64("duration_ms", time.Since(start).Milliseconds()), slog.String("note", SecretsNote))
	return man, nil
}

// Restore makes the new data dir data from the backup in dir backup: the
// database copied, the event log restored into an embedded one. data
// must not exist or be empty; the secrets are not in the backup.
func Restore(ctx context.Context, backup, data string, logger *slog.Logger) (Manifest, error) {
	var man Manifest
	if err := readJSON(filepath.Join(backup, BackupManifest), &man); err != nil {
		return Manifest{}, fmt.Errorf("restore: %s is not a crowd backup: %w", backup, err)
	}
	var info eventlog.SnapshotInfo
	if err := readJSON(filepath.Join(backup, BackupLogInfo), &info); err != nil {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}
	if ents, err := os.ReadDir(data); err == nil && len(ents) > 0 {
		return Manifest{}, fmt.Errorf("restore: data dir %s is not empty: restore into a new one", data)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}
	cfg := config.Default()
	cfg.Data = data
	locks, err := LockDataDir(cfg)
	if err != nil {
		return Manifest{}, err
	}
	defer locks.Release()
	if err := copyFile(filepath.Join(backup, BackupDB), filepath.Join(data, "crowd.db")); err != nil {
		return Manifest{}, fmt.Errorf("restore database: %w", err)
	}
	// A backup of an earlier version has no history.db: opening the data
	// dir makes it from crowd.db's rows.
	if _, err := os.Stat(filepath.Join(backup, store.HistoryFile)); err == nil {
		if err := copyFile(filepath.Join(backup, store.HistoryFile), filepath.Join(data, store.HistoryFile)); err != nil {
			return Manifest{}, fmt.Errorf("restore database: %w", err)
		}
	}
	f, err := os.Open(filepath.Join(backup, BackupLog))
	if err != nil {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	err = eventlog.Restore(ctx, eventlog.Config{
		Dir:           filepath.Join(data, "eventlog"),
		SubjectPrefix: strings.ToLower(info.Stream),
		Logger:        logger,
	}, info, f)
	if err != nil {
		return Manifest{}, err
	}
	return man, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// aggregatedTo returns the lowest checkpoint of a store's partitions.
func aggregatedTo(ctx context.Context, s *store.Store) (uint64, error) {
	return rollup.New(s, nil, nil, nil).Checkpoint(ctx)
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
