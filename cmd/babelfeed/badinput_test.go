package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"babelfeed/store"
)

// The tests in this file give every command bad input, run the real binary
// and require a clear error, a non-zero exit status, and a store left as
// it was.

var (
	goldenOnce sync.Once
	goldenPath string
	goldenErr  error
)

// goldenStore returns a small store with feeds and items (the end-to-end
// farm, polled once, then compacted), made once per test binary. Tests
// copy it; they never touch it.
func goldenStore(t *testing.T) string {
	t.Helper()
	goldenOnce.Do(func() {
		f := newFarm(t)
		// Beside the binary, which is built once per test binary too.
		db := filepath.Join(filepath.Dir(babelfeedBinary(t)), "golden.db")
		for _, args := range [][]string{
			{"import", writeOPML(t, f)},
			{"poll", "--languages", testLanguages, "--timeout", "5s"},
			{"rules", "add", "block", "lang:ca"},
			{"saved", "add", "latest", "--", "lang:it"},
			{"compact"},
		} {
			if out, code := cli(t, db, args...); code != 0 {
				goldenErr = fmt.Errorf("golden store: babelfeed %s: exit %d\n%s", strings.Join(args, " "), code, out)
				return
			}
		}
		goldenPath = db
	})
	if goldenErr != nil {
		t.Fatal(goldenErr)
	}
	return goldenPath
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// copyGolden copies the golden store into a new directory.
func copyGolden(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "babelfeed.db")
	copyFile(t, goldenStore(t), db)
	return db
}

// fingerprint says what is at path: a file's checksum, a directory's
// entries, or that nothing is there.
func fingerprint(t *testing.T, path string) string {
	t.Helper()
	st, err := os.Stat(path)
	if os.IsNotExist(err) {
		return "missing"
	}
	if err != nil {
		t.Fatal(err)
	}
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			t.Fatal(err)
		}
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return "dir:" + strings.Join(names, ",")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		// Unreadable (the permission case): size, time and mode tell.
		return fmt.Sprintf("unreadable:%d:%d:%v", st.Size(), st.ModTime().UnixNano(), st.Mode())
	}
	sum := sha256.Sum256(b)
	return fmt.Sprintf("file:%d:%s", len(b), hex.EncodeToString(sum[:]))
}

// crashed reports output that shows a crash rather than an error message.
var crashed = regexp.MustCompile(`panic:|fatal error:|goroutine \d+ \[|SIGBUS|SIGSEGV`)

// expectFailure runs babelfeed and requires a non-zero exit, an error that
// mentions want, no crash, and the store unchanged.
func expectFailure(t *testing.T, db, want string, args ...string) {
	t.Helper()
	before := fingerprint(t, db)
	out, code := cli(t, db, args...)
	switch {
	case code == 0:
		t.Errorf("babelfeed %s: exit 0, want an error mentioning %q\n%s", strings.Join(args, " "), want, out)
	case crashed.MatchString(out):
		t.Errorf("babelfeed %s crashed:\n%s", strings.Join(args, " "), clipOut(out))
	case !strings.Contains(strings.ToLower(out), strings.ToLower(want)):
		t.Errorf("babelfeed %s: exit %d, error does not mention %q:\n%s", strings.Join(args, " "), code, want, clipOut(out))
	case !errorLine.MatchString(out):
		t.Errorf("babelfeed %s: no error line (prefixed 'babelfeed: '):\n%s", strings.Join(args, " "), clipOut(out))
	}
	if after := fingerprint(t, db); after != before {
		t.Errorf("babelfeed %s changed the store: %s -> %s", strings.Join(args, " "), before, after)
	}
}

// errorLine is how main reports a command's error.
var errorLine = regexp.MustCompile(`(?m)^babelfeed: \S`)

func clipOut(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "..."
	}
	return s
}

// storeCommand is a command line that works on a good store.
type storeCommand struct {
	args []string
	// creates: on a missing or empty file the command makes a new store,
	// as it should (import, run, adding a rule or saved query first).
	creates bool
}

func everyStoreCommand(t *testing.T) []storeCommand {
	subs := filepath.Join(t.TempDir(), "subs.opml")
	if err := os.WriteFile(subs, []byte(`<?xml version="1.0"?><opml version="2.0"><body><outline type="rss" text="x" xmlUrl="http://127.0.0.1:9/feed"/></body></opml>`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.opml")
	return []storeCommand{
		{args: []string{"check"}},
		{args: []string{"check", "--format", "json"}},
		{args: []string{"compact"}},
		{args: []string{"export"}},
		{args: []string{"export", "-o", out}},
		{args: []string{"feeds"}},
		{args: []string{"stats"}},
		{args: []string{"query"}},
		{args: []string{"query", "--lang", "it", "piazza"}},
		{args: []string{"import", subs}, creates: true},
		{args: []string{"import", "--dry-run", subs}, creates: true},
		{args: []string{"poll", "--languages", "it,en"}},
		{args: []string{"poll", "--all", "--languages", "it,en"}},
		{args: []string{"prune", "--keep-days", "30"}},
		{args: []string{"reindex"}},
		{args: []string{"revive", "1"}},
		{args: []string{"unsubscribe", "1"}},
		{args: []string{"rules", "list"}},
		{args: []string{"rules", "add", "keep", "lang:it"}, creates: true},
		{args: []string{"rules", "rm", "1"}},
		{args: []string{"rules", "test", "keep", "lang:it"}},
		{args: []string{"saved", "list"}},
		{args: []string{"saved", "add", "other", "--", "lang:es"}, creates: true},
		{args: []string{"saved", "rm", "latest"}},
		{args: []string{"run", "--listen", "", "--languages", "it,en"}, creates: true},
	}
}

// newerSchema copies the golden store and makes it look written by a
// future babelfeed, by rewriting the schema version in place (the meta
// bucket's "schema" key and its 8-byte value sit side by side in a page).
func newerSchema(t *testing.T, dst string) {
	t.Helper()
	b, err := os.ReadFile(goldenStore(t))
	if err != nil {
		t.Fatal(err)
	}
	old := binary.BigEndian.AppendUint64([]byte("schema"), store.SchemaVersion)
	if bytes.Count(b, old) == 0 {
		t.Fatalf("schema version record not found in the golden store")
	}
	b = bytes.ReplaceAll(b, old, binary.BigEndian.AppendUint64([]byte("schema"), store.SchemaVersion+7))
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEveryCommandOnABadStore runs every command that uses the store on
// what is not a usable store: none at all, a directory, garbage bytes, an
// empty file, a store cut short, a store of a newer schema, and (not as
// root) a file it may not read.
func TestEveryCommandOnABadStore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary a hundred times")
	}
	kinds := []struct {
		name string
		make func(t *testing.T, path string)
		want string
		// creatable: commands that make a new store may do so here.
		creatable bool
	}{
		{"missing", func(*testing.T, string) {}, "no store at", true},
		{"directory", func(t *testing.T, p string) {
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "directory", false},
		{"garbage", func(t *testing.T, p string) {
			junk := bytes.Repeat([]byte("this is not a database\x00\xff"), 8000)
			if err := os.WriteFile(p, junk, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a babelfeed store", false},
		{"empty", func(t *testing.T, p string) {
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "empty", true},
		{"cut short", func(t *testing.T, p string) {
			copyFile(t, goldenStore(t), p)
			st, _ := os.Stat(p)
			if err := os.Truncate(p, st.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, "cut short", false},
		{"newer schema", newerSchema, "newer schema version", false},
		{"unreadable", func(t *testing.T, p string) {
			if os.Geteuid() == 0 {
				t.Skip("permissions do not stop root (the directory and garbage cases stand in)")
			}
			copyFile(t, goldenStore(t), p)
			if err := os.Chmod(p, 0); err != nil {
				t.Fatal(err)
			}
		}, "permission denied", false},
	}
	cmds := everyStoreCommand(t)
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "babelfeed.db")
			k.make(t, db)
			for _, c := range cmds {
				if c.creates && k.creatable {
					continue
				}
				expectFailure(t, db, k.want, c.args...)
			}
			if _, err := os.Stat(db + ".sock"); err == nil {
				t.Error("a failed command left a daemon socket behind")
			}
		})
	}
}

// TestEveryCommandWithBadArguments gives each command wrong flag values,
// malformed queries, missing and extra arguments, and things that do not
// exist, on a good store that must come out unchanged.
func TestEveryCommandWithBadArguments(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary many times")
	}
	db := copyGolden(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.opml")
	if err := os.WriteFile(garbage, []byte("not xml\x00\x01"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.opml")
	cases := []struct {
		want string
		args []string
	}{
		{"unknown command", []string{"nosuchcommand"}},
		{"unknown flag", []string{"query", "--colour", "red"}},
		{"flag needs an argument", []string{"query", "--limit"}},
		{"invalid argument \"abc\"", []string{"query", "--limit", "abc"}},
		{"italian", []string{"query", "--lang", "italian"}},
		{"yesterday", []string{"query", "--since", "yesterday"}},
		{"soon", []string{"query", "--until", "soon"}},
		{"xml", []string{"query", "--format", "xml"}},
		{"unclosed", []string{"query", "(sindaco"}},
		{"OR needs a term", []string{"query", "sindaco OR"}},
		{"regex", []string{"query", "/[a-/"}},
		{"needs a value", []string{"query", "lang:"}},
		{"999", []string{"query", "--feed", "999"}},
		{"csv", []string{"feeds", "--format", "csv"}},
		{"yaml", []string{"stats", "--format", "yaml"}},
		{"unknown command \"extra\"", []string{"stats", "extra"}},
		{"xml", []string{"check", "--format", "xml"}},
		{"unknown command \"extra\"", []string{"compact", "extra"}},
		{"no such file", []string{"export", "-o", filepath.Join(dir, "no", "such", "dir", "out.opml")}},
		{"export to", []string{"export", "-o", dir}},
		{"accepts 1 arg", []string{"import"}},
		{"no such file", []string{"import", missing}},
		{"is a directory", []string{"import", dir}},
		{"garbage.opml", []string{"import", garbage}},
		{"--workers", []string{"poll", "--workers", "0"}},
		{"--per-host", []string{"poll", "--per-host", "-2"}},
		{"--timeout", []string{"poll", "--timeout", "-1s"}},
		{"invalid argument", []string{"poll", "--timeout", "a while"}},
		{"--max-body", []string{"poll", "--max-body", "12"}},
		{"--max-items", []string{"poll", "--max-items", "0"}},
		{"--keep-days", []string{"poll", "--keep-days", "-1"}},
		{"--keep-per-feed", []string{"poll", "--keep-per-feed", "-3"}},
		{"999", []string{"poll", "--feed", "999"}},
		{"xx", []string{"poll", "--languages", "xx,yy"}},
		{"--keep-days and/or --keep-per-feed", []string{"prune"}},
		{"--keep-per-feed", []string{"prune", "--keep-per-feed", "-5"}},
		{"invalid argument", []string{"prune", "--keep-days", "forever"}},
		{"unknown command \"extra\"", []string{"reindex", "extra"}},
		{"999", []string{"revive", "999"}},
		{"requires at least 1 arg", []string{"revive"}},
		{"nope.example", []string{"unsubscribe", "http://nope.example/feed"}},
		{"requires at least 2 arg", []string{"rules", "add", "keep"}},
		{"maybe", []string{"rules", "add", "maybe", "lang:it"}},
		{"needs a value", []string{"rules", "add", "keep", "lang:"}},
		{"999", []string{"rules", "rm", "999"}},
		{"empty group", []string{"rules", "test", "keep", "(("}},
		{"bad name!", []string{"saved", "add", "bad name!", "--", "lang:it"}},
		{"empty group", []string{"saved", "add", "ok", "--", "(("}},
		{"nosuch", []string{"saved", "rm", "nosuch"}},
		{"--token", []string{"run", "--listen", "0.0.0.0:0"}},
		{"--listen", []string{"run", "--listen", "no-port-here"}},
		{"--log-format", []string{"run", "--log-format", "xml"}},
		{"--workers", []string{"run", "--workers", "-1"}},
		{"--keep-days", []string{"run", "--keep-days", "-1"}},
	}
	for _, c := range cases {
		expectFailure(t, db, c.want, c.args...)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("a failed import created its input file")
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".babelfeed-export-*"))
	if len(leftovers) > 0 {
		t.Errorf("failed exports left temporary files: %v", leftovers)
	}
	// --db itself without a value.
	cmd := exec.Command(babelfeedBinary(t), "--db")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "flag needs an argument") {
		t.Errorf("babelfeed --db: %v\n%s", err, out)
	}
}

// TestCheckReportsDamage: a store whose feed counts were changed on disk
// opens, but 'check' lists the problem and exits 2; the other commands
// keep working.
func TestCheckReportsDamage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	db := copyGolden(t)
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	// A feed record is JSON: change the item count it keeps.
	re := regexp.MustCompile(`"items":[1-9],`)
	loc := re.FindIndex(b)
	if loc == nil {
		t.Fatal("no feed record with items found in the store")
	}
	if d := &b[loc[0]+len(`"items":`)]; *d == '7' {
		*d = '8'
	} else {
		*d = '7'
	}
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := cli(t, db, "check")
	if code != exitInconsistent || !strings.Contains(out, "problem: feed") || !strings.Contains(out, "items, has") {
		t.Errorf("check of a store with a wrong count: exit %d\n%s", code, out)
	}
	out, code = cli(t, db, "check", "--format", "json")
	if code != exitInconsistent || !strings.Contains(out, `"ok": false`) {
		t.Errorf("check --format json of a damaged store: exit %d\n%s", code, out)
	}
	if out, code := cli(t, db, "query", "--format", "jsonl"); code != 0 || countLines(out) == 0 {
		t.Errorf("query on a store with a wrong count: exit %d\n%s", code, out)
	}
	if out, code := cli(t, copyGolden(t), "check"); code != 0 || !strings.Contains(out, "ok: no problems found") {
		t.Errorf("check of the good store: exit %d\n%s", code, out)
	}
}

// TestOutputToAFullDevice: a command whose output cannot be written (a
// full disk, a closed pipe) fails instead of reporting success.
func TestOutputToAFullDevice(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full here: %v", err)
	}
	defer full.Close()
	db := copyGolden(t)
	for _, args := range [][]string{
		{"export"},
		{"query"},
		{"query", "--format", "json"},
		{"query", "--format", "jsonl"},
		{"query", "--format", "atom"},
		{"feeds"},
		{"feeds", "--format", "json"},
		{"stats"},
		{"stats", "--format", "json"},
		{"check"},
		{"rules", "list"},
		{"saved", "list"},
	} {
		cmd := exec.Command(babelfeedBinary(t), append([]string{"--db", db}, args...)...)
		cmd.Stdout = full
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil || !strings.Contains(stderr.String(), "no space left on device") {
			t.Errorf("babelfeed %s > /dev/full: %v, stderr:\n%s", strings.Join(args, " "), err, stderr.String())
		}
	}
}

// sortedLines is output compared regardless of order.
func sortedLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// storeContent is everything a user can read from the store.
func storeContent(t *testing.T, db string) string {
	t.Helper()
	var b strings.Builder
	for _, args := range [][]string{
		{"feeds", "--format", "jsonl"},
		{"query", "--format", "jsonl", "--limit", "0"},
		{"rules", "list"},
		{"saved", "list"},
	} {
		out, code := cli(t, db, args...)
		if code != 0 {
			t.Fatalf("babelfeed %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		b.WriteString(sortedLines(out) + "\n")
	}
	return b.String()
}

// TestFullDisk runs the commands that write to the store with the store on
// a full filesystem: a tiny tmpfs, mounted in a private mount namespace
// (unshare -m) so that nothing outside the command sees it, filled up to
// the last block. Each must fail with "no space left on device", leave the
// store as it was (what a user can read from it, and store.Check), and
// leave no temporary file behind. It needs root and unshare; it skips
// without them.
func TestFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary in mount namespaces")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare here")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("unshare", "-m", "sh", "-c", `mount -t tmpfs -o size=64k tmpfs "$0"`, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs in a private mount namespace (needs root): %v %s", err, out)
	}
	golden := goldenStore(t)
	want := storeContent(t, golden)
	f := newFarm(t)
	subs := writeOPML(t, f)
	// Many feeds, so that an import must grow the store.
	var big strings.Builder
	big.WriteString(`<?xml version="1.0"?><opml version="2.0"><body>`)
	for i := range 3000 {
		fmt.Fprintf(&big, `<outline type="rss" text="feed number %d with a long title to take room" xmlUrl="http://feeds%d.example.org/some/long/path/rss.xml"/>`, i, i)
	}
	big.WriteString("</body></opml>")
	bigOPML := filepath.Join(t.TempDir(), "big.opml")
	if err := os.WriteFile(bigOPML, []byte(big.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(golden)
	if err != nil {
		t.Fatal(err)
	}
	// The store fits; a few blocks more do not, and dd takes them.
	size := st.Size() + 256<<10

	script := `set -u
mnt=$1 src=$2 out=$3 size=$4 bin=$5; shift 5
mount -t tmpfs -o size=$size tmpfs "$mnt" || exit 90
cp "$src" "$mnt/babelfeed.db" || exit 91
dd if=/dev/zero of="$mnt/fill" bs=4096 2>/dev/null
"$bin" --db "$mnt/babelfeed.db" "$@" > "$out/output" 2>&1
echo $? > "$out/rc"
cp "$mnt/babelfeed.db" "$out/after.db" || exit 92
ls -A "$mnt" > "$out/ls"
`
	for _, args := range [][]string{
		{"import", bigOPML},
		{"import", subs},
		{"poll", "--all", "--languages", "it,en", "--timeout", "5s"},
		{"prune", "--keep-per-feed", "1"},
		{"compact"},
		{"export", "-o", "MNT/out.opml"},
		{"unsubscribe", "1"},
		{"revive", "1", "2", "3"},
		{"rules", "add", "keep", "lang:it"},
		{"saved", "add", "more", "--", "lang:es"},
		{"reindex"},
	} {
		name := strings.Join(args, " ")
		label := args[0]
		if len(args) > 1 && !strings.Contains(args[1], "/") {
			label += " " + args[1]
		}
		t.Run(label, func(t *testing.T) {
			out := t.TempDir()
			for i, a := range args {
				args[i] = strings.ReplaceAll(a, "MNT", mnt)
			}
			cmd := exec.Command("unshare", append([]string{"-m", "sh", "-c", script, "sh",
				mnt, golden, out, fmt.Sprint(size), babelfeedBinary(t)}, args...)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("setting up the full disk: %v\n%s", err, b)
			}
			rc, _ := os.ReadFile(filepath.Join(out, "rc"))
			output, _ := os.ReadFile(filepath.Join(out, "output"))
			if strings.TrimSpace(string(rc)) == "0" {
				t.Errorf("babelfeed %s on a full disk: exit 0\n%s", name, output)
			}
			if !strings.Contains(string(output), "no space left on device") {
				t.Errorf("babelfeed %s on a full disk: the error does not say so:\n%s", name, clipOut(string(output)))
			}
			if crashed.Match(output) {
				t.Errorf("babelfeed %s crashed on a full disk:\n%s", name, clipOut(string(output)))
			}
			ls, _ := os.ReadFile(filepath.Join(out, "ls"))
			if got := strings.Fields(string(ls)); strings.Join(got, " ") != "babelfeed.db fill" {
				t.Errorf("files left on the full disk: %v", got)
			}
			after := filepath.Join(out, "after.db")
			if got := storeContent(t, after); got != want {
				t.Errorf("babelfeed %s on a full disk changed what the store holds", name)
			}
			if out, code := cli(t, after, "check"); code != 0 {
				t.Errorf("check after babelfeed %s on a full disk: exit %d\n%s", name, code, out)
			}
		})
	}
}
