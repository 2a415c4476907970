package store

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Saved queries: bucket saved, name -> JSON SavedQuery (created by the
// first save).
var bucketSaved = []byte("saved")

// SavedQuery is a named query, published by the HTTP server as a feed.
type SavedQuery struct {
	Name  string    `json:"name"`
	Query string    `json:"query"` // in the language of filter/query
	Added time.Time `json:"added"`
}

var savedName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ValidSavedName checks a saved query's name: it becomes part of a URL
// (/feeds/NAME.atom), so letters, digits, '-' and '_' only, up to 64,
// starting with a letter or digit.
func ValidSavedName(name string) error {
	if !savedName.MatchString(name) {
		return fmt.Errorf("saved query name %q: use up to 64 letters, digits, '-' and '_', starting with a letter or digit", name)
	}
	return nil
}

// SaveQuery stores q under its name. An existing name is an error unless
// replace is set.
func (s *DB) SaveQuery(q SavedQuery, replace bool) error {
	if err := ValidSavedName(q.Name); err != nil {
		return fmt.Errorf("save query: %w", err)
	}
	if strings.TrimSpace(q.Query) == "" {
		return fmt.Errorf("save query %s: empty query", q.Name)
	}
	if q.Added.IsZero() {
		q.Added = time.Now().UTC()
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucketSaved)
		if err != nil {
			return err
		}
		if !replace && bk.Get([]byte(q.Name)) != nil {
			return fmt.Errorf("a saved query named %s already exists", q.Name)
		}
		v, err := json.Marshal(q)
		if err != nil {
			return err
		}
		return bk.Put([]byte(q.Name), v)
	})
	if err != nil {
		return fmt.Errorf("save query %s: %w", q.Name, err)
	}
	return nil
}

// SavedQueries returns every saved query ordered by name.
func (s *DB) SavedQueries() ([]SavedQuery, error) {
	var out []SavedQuery
	err := s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketSaved)
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			var q SavedQuery
			if err := json.Unmarshal(v, &q); err != nil {
				return fmt.Errorf("saved query %s: %w", k, err)
			}
			out = append(out, q)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list saved queries: %w", err)
	}
	return out, nil
}

// SavedQuery returns one saved query; a missing one gives an error
// wrapping ErrNotFound.
func (s *DB) SavedQuery(name string) (SavedQuery, error) {
	var q SavedQuery
	err := s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketSaved)
		var v []byte
		if bk != nil {
			v = bk.Get([]byte(name))
		}
		if v == nil {
			return fmt.Errorf("saved query %s: %w", name, ErrNotFound)
		}
		return json.Unmarshal(v, &q)
	})
	if err != nil {
		return SavedQuery{}, fmt.Errorf("get saved query: %w", err)
	}
	return q, nil
}

// RemoveSavedQuery deletes a saved query.
func (s *DB) RemoveSavedQuery(name string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketSaved)
		if bk == nil || bk.Get([]byte(name)) == nil {
			return fmt.Errorf("saved query %s: %w", name, ErrNotFound)
		}
		return bk.Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("remove saved query: %w", err)
	}
	return nil
}
