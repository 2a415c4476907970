package opml

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse and checks that it never panics,
// never returns both a Document and an error, and that every Document keeps
// its promises (see checkInvariants): http(s) URLs, no URL twice, and a
// Write/Parse round trip that preserves URLs and categories.
func FuzzParse(f *testing.F) {
	_ = filepath.WalkDir("testdata", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".opml") || strings.HasSuffix(path, ".xml")) {
			if data, err := os.ReadFile(path); err == nil {
				f.Add(data)
			}
		}
		return nil
	})
	if root := findCorpora(); root != "" {
		for _, path := range corpusFiles(f, root) {
			if data, err := os.ReadFile(path); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(strings.NewReader(string(data)))
		if err != nil {
			if doc != nil {
				t.Fatalf("both a document and an error: %v", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		checkInvariants(t, "fuzz input", doc)
	})
}
