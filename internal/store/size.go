package store

import (
	"context"
	"fmt"
)

// SizeBytes returns the size of the database: SQLite's pages in use
// (page_count × page_size; the write-ahead log not included), or
// PostgreSQL's pg_database_size of the current database.
func (s *Store) SizeBytes(ctx context.Context) (int64, error) {
	q := `SELECT pg_database_size(current_database())`
	if s.dialect == SQLite {
		q = `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`
	}
	var n int64
	if err := s.read.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("read database size: %w", err)
	}
	return n, nil
}
