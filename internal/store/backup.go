package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrBackupUnsupported means the store cannot copy itself: PostgreSQL is
// backed up with its own tools (pg_dump, base backups).
var ErrBackupUnsupported = errors.New("backups of a PostgreSQL store are PostgreSQL's job (pg_dump or a base backup)")

// BackupTo writes a consistent copy of the SQLite database to path (which
// must not exist) while the store keeps serving: VACUUM INTO reads one
// snapshot of the database, on a connection of its own (the readers are
// query_only, which VACUUM INTO refuses; the writer must stay free), so
// writers go on.
func (s *Store) BackupTo(ctx context.Context, path string) error {
	if s.dialect != SQLite {
		return ErrBackupUnsupported
	}
	db, err := sql.Open("sqlite", "file:"+s.path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("back up database: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("back up database: %w", mapErr(err))
	}
	return nil
}
