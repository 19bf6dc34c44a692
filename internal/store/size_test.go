package store_test

import (
	"testing"

	"github.com/crowd-dev/crowd/internal/store"
)

// TestStore_SizeBytes: the database size (crowd_store_size_bytes) is read
// on both dialects.
func TestStore_SizeBytes(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		n, err := s.SizeBytes(t.Context())
		if err != nil || n <= 0 {
			t.Fatalf("SizeBytes = %d, %v; want a positive size", n, err)
		}
	})
}
