package lang

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testdataSets are lingua's accuracy test sets, shortest items first.
var testdataSets = []string{"single-words", "word-pairs", "sentences"}

// linguaTestdata returns the directory of lingua's language test data in
// shared/corpora, walking up from the working directory to the sibling of
// the repository root; the test is skipped when it is not there.
func linguaTestdata(tb testing.TB) string {
	tb.Helper()
	const rel = "shared/corpora/lingua-language-testdata/cmd/language-testdata"
	dir, err := os.Getwd()
	if err != nil {
		tb.Skipf("corpora not found: %v", err)
	}
	for {
		p := filepath.Join(dir, rel)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skipf("corpora not found at %s above the working directory", rel)
		}
		dir = parent
	}
}

// readLines returns the non-empty lines of set/lang.txt.
func readLines(tb testing.TB, dir, set, lang string) []string {
	tb.Helper()
	f, err := os.Open(filepath.Join(dir, set, lang+".txt"))
	if err != nil {
		tb.Fatalf("read test data: %v", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("read test data %s/%s: %v", set, lang, err)
	}
	return out
}

// feedItems builds items as a feed carries them: a short title (a word
// pair) and about 500 characters of body from sentences of the same
// language, n per language, round-robin over langs.
func feedItems(tb testing.TB, dir string, langs []string, n int) []testItem {
	tb.Helper()
	var out []testItem
	for _, l := range langs {
		titles := readLines(tb, dir, "word-pairs", l)
		sents := readLines(tb, dir, "sentences", l)
		for i, j := 0, 0; i < n; i++ {
			var body strings.Builder
			for body.Len() < 500 && j < 100*len(sents) {
				body.WriteString(sents[j%len(sents)])
				body.WriteByte(' ')
				j++
			}
			b := []rune(body.String())
			if len(b) > 500 {
				b = b[:500]
			}
			out = append(out, testItem{lang: l, title: titles[i%len(titles)], text: string(b)})
		}
	}
	return out
}

type testItem struct {
	lang, title, text string
}

// peakRSS returns the process's peak resident set size from
// /proc/self/status ("VmHWM"), or "" where there is none.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// fmtConfig renders a Config for logs and cache keys.
func fmtConfig(cfg Config) string { return fmt.Sprintf("%+v", cfg) }

// cpuTime returns the CPU time (user + system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
