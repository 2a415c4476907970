package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// CompactResult reports the file size before and after Compact.
type CompactResult struct {
	Before, After int64 // bytes
}

// Compact rewrites the store file at path to its live size: bbolt files
// never shrink, so the space of removed items (Prune, RemoveFeed) is only
// given back by a copy. It is safe against crashes and full disks:
//
//  1. it opens the store read-write, which takes bbolt's exclusive lock,
//     so no other babelfeed process (a running daemon) can use the file
//     meanwhile; a locked store gives ErrLocked after opts.Timeout;
//  2. it copies every bucket into a temporary file in the same directory
//     (so the rename below stays within one filesystem), with full pages;
//  3. it syncs the copy to disk and checks that every bucket has as many
//     keys as the original;
//  4. it renames the copy over the original (atomic: a crash leaves either
//     file whole under the name) and syncs the directory.
//
// On any failure the temporary file is removed and the original is left as
// it was. A process that was waiting for the lock while the file was
// replaced notices it (see Open) and opens the new file.
func Compact(path string, opts Options) (CompactResult, error) {
	var res CompactResult
	opts.ReadOnly = false
	st, err := os.Stat(path)
	if err != nil {
		return res, fmt.Errorf("compact store: %w", err)
	}
	res.Before = st.Size()
	s, err := Open(path, opts)
	if err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	defer s.Close()

	tmpFile, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".compact-*")
	if err != nil {
		return res, fmt.Errorf("compact store %s: create the copy: %w", path, err)
	}
	tmp := tmpFile.Name()
	tmpFile.Close()
	// CompactTo wants a file it creates itself.
	if err := os.Remove(tmp); err != nil {
		return res, fmt.Errorf("compact store %s: %w", path, err)
	}
	replaced := false
	defer func() {
		if !replaced {
			os.Remove(tmp)
		}
	}()
	if err := s.CompactTo(tmp); err != nil {
		return res, fmt.Errorf("compact store %s: %w", path, err)
	}
	if err := syncFile(tmp); err != nil {
		return res, fmt.Errorf("compact store %s: sync the copy: %w", path, err)
	}
	if err := s.sameKeys(tmp); err != nil {
		return res, fmt.Errorf("compact store %s: the copy differs from the original, which is left as it was: %w", path, err)
	}
	if err := os.Chmod(tmp, st.Mode().Perm()); err != nil {
		return res, fmt.Errorf("compact store %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return res, fmt.Errorf("compact store %s: replace the file: %w", path, err)
	}
	replaced = true
	if err := syncFile(filepath.Dir(path)); err != nil {
		return res, fmt.Errorf("compact store %s: sync the directory after replacing the file: %w", path, err)
	}
	if st, err := os.Stat(path); err == nil {
		res.After = st.Size()
	}
	return res, nil
}

// syncFile flushes a file or directory to disk.
func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// sameKeys checks that the bbolt file at other has the same buckets as the
// store, with as many keys each and the same sequences.
func (s *DB) sameKeys(other string) error {
	db, err := bolt.Open(other, 0o600, &bolt.Options{ReadOnly: true, Timeout: defaultTimeout})
	if err != nil {
		return err
	}
	defer db.Close()
	type shape struct {
		keys int
		seq  uint64
	}
	shapes := func(tx *bolt.Tx) map[string]shape {
		m := map[string]shape{}
		_ = tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			m[string(name)] = shape{keys: b.Stats().KeyN, seq: b.Sequence()}
			return nil
		})
		return m
	}
	var want, got map[string]shape
	if err := s.db.View(func(tx *bolt.Tx) error { want = shapes(tx); return nil }); err != nil {
		return err
	}
	if err := db.View(func(tx *bolt.Tx) error { got = shapes(tx); return nil }); err != nil {
		return err
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			return fmt.Errorf("bucket %s: %d keys (sequence %d) in the copy, %d (%d) in the original", name, g.keys, g.seq, w.keys, w.seq)
		}
	}
	if len(got) != len(want) {
		return errors.New("the copy has extra buckets")
	}
	return nil
}
