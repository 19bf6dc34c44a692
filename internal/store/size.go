package store

import (
	"context"
	"fmt"
	"os"
)

// SizeBytes returns the size of the database: SQLite's pages in use
// (page_count × page_size; the write-ahead log not included) and
// history.db's file (its writer is busy with a batch's history: its pages
// in use are not asked for), or PostgreSQL's pg_database_size of the
// current database.
func (s *Store) SizeBytes(ctx context.Context) (int64, error) {
	q := `SELECT pg_database_size(current_database())`
	if s.dialect == SQLite {
		q = `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`
	}
	var n int64
	if err := s.read.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("read database size: %w", err)
	}
	if s.histPath != "" {
		st, err := os.Stat(s.histPath)
		if err != nil {
			return 0, fmt.Errorf("read database size: %w", err)
		}
		n += st.Size()
	}
	return n, nil
}
