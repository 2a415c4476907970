package store_test

import (
	"path/filepath"
	"testing"

	"babelfeed/filter/search"
	"babelfeed/store"
	"babelfeed/store/storetest"
)

// TestConformance runs the conformance suite of store.Store on the bbolt
// store.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.Open(filepath.Join(t.TempDir(), "babelfeed.db"), store.Options{NoSync: true, Indexer: search.Indexer()})
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
