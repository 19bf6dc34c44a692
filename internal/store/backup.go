package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
)

// ErrBackupUnsupported means the store cannot copy itself: PostgreSQL is
// backed up with its own tools (pg_dump, base backups).
var ErrBackupUnsupported = errors.New("backups of a PostgreSQL store are PostgreSQL's job (pg_dump or a base backup)")

// BackupTo writes a consistent copy of the SQLite database to path (which
// must not exist) while the store keeps serving: VACUUM INTO reads one
// snapshot of the database, on a connection of its own (the readers are
// query_only, which VACUUM INTO refuses; the writer must stay free), so
// writers go on. history.db is copied beside it (HistoryFile in path's
// directory) after it: its runs are held unmerged meanwhile, so that the
// copy, once opened, undoes the batches it holds beyond crowd.db's copy
// (history_db.go).
func (s *Store) BackupTo(ctx context.Context, path string) error {
	if s.dialect != SQLite {
		return ErrBackupUnsupported
	}
	release := s.HoldHistoryRuns()
	defer release()
	if err := vacuumInto(ctx, s.path, path); err != nil {
		return err
	}
	if s.hist == nil {
		return nil
	}
	return vacuumInto(ctx, s.histPath, filepath.Join(filepath.Dir(path), HistoryFile))
}

// vacuumInto copies the SQLite database at from to a new file to.
func vacuumInto(ctx context.Context, from, to string) error {
	db, err := sql.Open("sqlite", "file:"+from+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("back up database: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, to); err != nil {
		return fmt.Errorf("back up database: %w", mapErr(err))
	}
	return nil
}
