package postgres_test

import (
	"context"
	"testing"

	"babelfeed/filter/search"
	"babelfeed/internal/pgtest"
	"babelfeed/store"
	"babelfeed/store/postgres"
	"babelfeed/store/storetest"
)

// TestConformance runs the conformance suite of store.Store on the
// PostgreSQL store, each test in a schema of its own (skipped without a
// server: see internal/pgtest).
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), pgtest.DSN(t), postgres.Options{Indexer: search.Indexer()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
		return s
	})
}
