package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"babelfeed/api"
	"babelfeed/server"
)

// buildBinary builds babelfeed once per test binary, so process-level tests
// run the real program with real signals and exit codes.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func babelfeedBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "babelfeed-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "babelfeed")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// cli runs the built binary and returns its output and exit code.
func cli(t testing.TB, db string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(babelfeedBinary(t), append([]string{"--db", db}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run babelfeed %v: %v", args, err)
	}
	return string(out), code
}

// daemonProc is a running 'babelfeed run'.
type daemonProc struct {
	cmd  *exec.Cmd
	addr string
	done chan error
	logs *strings.Builder
	mu   *sync.Mutex
}

func startDaemon(t *testing.T, db, opmlPath string) *daemonProc {
	t.Helper()
	d := startDaemonArgs(t, db, "--opml", opmlPath, "--languages", testLanguages, "--timeout", "5s")
	// The CLI socket is up once the API is; wait until it answers.
	deadline := time.Now().Add(10 * time.Second)
	for !daemonAnswers(socketPath(db)) {
		if time.Now().After(deadline) {
			t.Fatalf("daemon socket never answered\n%s", d.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

func (d *daemonProc) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs.String()
}

func (d *daemonProc) stop(t testing.TB) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("daemon exited with %v after SIGTERM\n%s", err, d.logText())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon did not stop after SIGTERM\n%s", d.logText())
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func countLines(s string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n
}

// TestDaemonServesCLIAndSurvivesRestart runs 'babelfeed run' as a real
// process against a local farm, uses the CLI and the API while it runs,
// stops it with SIGTERM and starts it again without duplicating anything.
func TestDaemonServesCLIAndSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	f := newFarm(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "babelfeed.db")
	subs := writeOPML(t, f)

	d := startDaemon(t, db, subs)
	// The empty store imported the OPML and polls every feed at once.
	deadline := time.Now().Add(60 * time.Second)
	var out string
	for {
		var code int
		out, code = cli(t, db, "query", "--format", "jsonl", "--limit", "0")
		if code != 0 {
			t.Fatalf("query through the daemon failed (%d):\n%s", code, out)
		}
		if countLines(out) == 15 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon stored %d items, want 15\n%s", countLines(out), d.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The CLI works through the daemon: query, feeds, stats, export, import, poll.
	if out, code := cli(t, db, "query", "--lang", "it", "xiaomi", "--format", "jsonl"); code != 0 || countLines(out) != 1 {
		t.Errorf("query --lang it xiaomi through the daemon: exit %d\n%s", code, out)
	}
	if out, code := cli(t, db, "feeds", "--format", "jsonl"); code != 0 || countLines(out) != 8 {
		t.Errorf("feeds through the daemon: exit %d\n%s", code, out)
	}
	if out, code := cli(t, db, "stats"); code != 0 || !strings.Contains(out, "15 items in 8 feeds") {
		t.Errorf("stats through the daemon: exit %d\n%s", code, out)
	}
	exported := filepath.Join(dir, "out.opml")
	if out, code := cli(t, db, "export", "-o", exported); code != 0 {
		t.Errorf("export through the daemon: exit %d\n%s", code, out)
	} else if b, err := os.ReadFile(exported); err != nil || !strings.Contains(string(b), f.url("/it.rss")) {
		t.Errorf("export through the daemon wrote %q (%v)", b, err)
	}
	if out, code := cli(t, db, "import", subs); code != 0 || !strings.Contains(out, "added 0, already present 8") {
		t.Errorf("import through the daemon: exit %d\n%s", code, out)
	}
	if out, code := cli(t, db, "poll", "--all"); code != 0 || !strings.Contains(out, "polled 8 feeds") || !strings.Contains(out, "0 items added") {
		t.Errorf("poll --all through the daemon: exit %d\n%s", code, out)
	}
	// Bad input through the daemon still fails with a clear error.
	if out, code := cli(t, db, "query", "--lang", "italian"); code == 0 || !strings.Contains(out, "ISO 639-1") {
		t.Errorf("bad query through the daemon: exit %d\n%s", code, out)
	}

	// The HTTP API: items with paging, feeds, health and metrics.
	base := "http://" + d.addr
	var page server.ItemsPage
	getJSON(t, base+"/api/items?lang=it&limit=4", &page)
	seen := map[uint64]bool{}
	pages := 0
	for {
		pages++
		for _, it := range page.Items {
			if it.Lang != "it" || seen[it.ID] {
				t.Fatalf("page %d: item %d lang %s (seen before: %v)", pages, it.ID, it.Lang, seen[it.ID])
			}
			seen[it.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		cur := page.NextCursor
		page = server.ItemsPage{}
		getJSON(t, base+"/api/items?lang=it&limit=4&cursor="+cur, &page)
	}
	if len(seen) != 6 || pages != 2 {
		t.Errorf("paging Italian items: %d items over %d pages, want 6 over 2", len(seen), pages)
	}
	var feeds []api.Feed
	getJSON(t, base+"/api/feeds", &feeds)
	if len(feeds) != 8 {
		t.Errorf("/api/feeds: %d feeds", len(feeds))
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`babelfeed_fetches_total{outcome="ok"}`, `babelfeed_items_stored_total{lang="it"}`, `babelfeed_feeds{state="failing"} 2`, "babelfeed_fetch_duration_seconds_bucket"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A second daemon on the same store is refused.
	if out, code := cli(t, db, "run", "--listen", ""); code == 0 || !strings.Contains(out, "another babelfeed daemon") {
		t.Errorf("second daemon: exit %d\n%s", code, out)
	}

	d.stop(t)
	if _, err := os.Stat(socketPath(db)); err == nil {
		t.Error("socket left behind after a clean stop")
	}
	// Without the daemon the CLI opens the file itself.
	if out, code := cli(t, db, "query", "--format", "jsonl", "--limit", "0"); code != 0 || countLines(out) != 15 {
		t.Fatalf("query after stop: exit %d, %d items\n%s", code, countLines(out), out)
	}

	// Restart: carries on from the stored schedule, duplicates nothing.
	d = startDaemon(t, db, subs)
	if out, code := cli(t, db, "poll", "--all"); code != 0 || !strings.Contains(out, "0 items added") {
		t.Errorf("poll after restart: exit %d\n%s", code, out)
	}
	if out, _ := cli(t, db, "query", "--format", "jsonl", "--limit", "0"); countLines(out) != 15 {
		t.Errorf("after restart: %d items, want 15", countLines(out))
	}
	d.stop(t)
}

func TestExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "babelfeed.db")
	if out, code := cli(t, db, "import", filepath.Join(dir, "missing.opml")); code == 0 || !strings.Contains(out, "missing.opml") {
		t.Errorf("import of a missing file: exit %d\n%s", code, out)
	}
	if out, code := cli(t, db, "query", "--since", "soon"); code == 0 || !strings.Contains(out, "soon") {
		t.Errorf("bad --since: exit %d\n%s", code, out)
	}
	if out, code := cli(t, db, "run", "--listen", "0.0.0.0:0"); code == 0 || !strings.Contains(out, "--token") {
		t.Errorf("run on all interfaces without a token: exit %d\n%s", code, out)
	}
	if out, code := cli(t, db, "--help"); code != 0 || !strings.Contains(out, "query") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
}
