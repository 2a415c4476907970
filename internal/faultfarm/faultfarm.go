// Package faultfarm is a local HTTP server that misbehaves on purpose, for
// tests that attack the fetch → parse → store path: silent and dripping
// servers, resets, error statuses, redirect loops, oversized bodies and
// decompression bombs, and documents that are cut short, mis-encoded or
// built to exhaust a parser. It also serves healthy feeds in several
// languages, so a test can check that good feeds survive next to bad ones.
//
// Every fault is served at /fault/NAME (see Faults); healthy feeds at
// /ok/LANG/N. The big bodies and bombs are generated as they are sent, so
// the farm holds no buffer of their size; the documents (a few megabytes
// at most) are built once and kept.
package faultfarm

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options size the attacks. Zero fields take the defaults, which are the
// sizes of a real attack; tests that run under the race detector may want
// them smaller.
type Options struct {
	BigBody   int64         // bytes of the big-body faults; default 50 MB
	BombSize  int64         // inflated bytes of the gzip bombs; default 4 GiB
	Items     int           // items of the many-items faults; default 100,000
	TitleSize int           // bytes of each title of huge-titles; default 1 MiB
	Depth     int           // nesting of the deep faults; default 100,000
	Drip      time.Duration // pause between two bytes of the slow faults; default 1s
}

func (o *Options) fill() {
	if o.BigBody <= 0 {
		o.BigBody = 50_000_000
	}
	if o.BombSize <= 0 {
		o.BombSize = 4 << 30
	}
	if o.Items <= 0 {
		o.Items = 100_000
	}
	if o.TitleSize <= 0 {
		o.TitleSize = 1 << 20
	}
	if o.Depth <= 0 {
		o.Depth = 100_000
	}
	if o.Drip <= 0 {
		o.Drip = time.Second
	}
}

// Want is what a careful client should make of a fault.
type Want int

const (
	// WantError: the fetch or the parse must fail, with an error that says
	// why, and nothing is stored.
	WantError Want = iota
	// WantBounded: a result, cut down to the client's caps (items, field
	// lengths) or to the complete part of a broken document.
	WantBounded
	// WantReadable: a feed whose items come out readable despite the fault
	// (wrong or missing charset, invalid bytes).
	WantReadable
)

func (w Want) String() string {
	switch w {
	case WantError:
		return "error"
	case WantBounded:
		return "bounded"
	}
	return "readable"
}

// Fault is one misbehaviour, served at /fault/Name.
type Fault struct {
	Name string
	What string // what the server does
	Want Want
	// HostWide is set when the answer asks the whole host to wait
	// (Retry-After): a polite client then defers the host's other feeds,
	// so tests may want to serve these from a farm of their own.
	HostWide bool
}

// faults is the catalogue, in the order Faults returns it.
var faults = []Fault{
	// The connection.
	{Name: "slow-headers", What: "sends the status line, then one header byte a Drip, never ending the headers"},
	{Name: "slow-body", What: "sends headers at once, then the body one byte a Drip"},
	{Name: "no-answer", What: "accepts the connection and reads the request, then says nothing"},
	{Name: "reset-mid-body", What: "sends half the body, then resets the connection (RST)"},
	{Name: "close-mid-body", What: "promises a Content-Length, sends half of it and closes"},
	{Name: "garbage-response", What: "answers with bytes that are not HTTP"},
	{Name: "huge-headers", What: "sends 1 MiB of response headers"},
	// Statuses.
	{Name: "status-500", What: "500 Internal Server Error"},
	{Name: "status-502", What: "502 Bad Gateway with an HTML body"},
	{Name: "status-503", What: "503 Service Unavailable, Retry-After: 120", HostWide: true},
	{Name: "status-429", What: "429 Too Many Requests, Retry-After: 3600", HostWide: true},
	{Name: "status-410", What: "410 Gone"},
	// Redirects.
	{Name: "redirect-loop", What: "redirects a → b → a"},
	{Name: "redirect-endless", What: "redirects to a new URL every time"},
	{Name: "redirect-scheme", What: "redirects to file:///etc/passwd"},
	// Sizes.
	{Name: "big-body", What: "a feed padded to BigBody bytes, with Content-Length"},
	{Name: "big-body-chunked", What: "a feed padded to BigBody bytes, chunked (no Content-Length)"},
	{Name: "gzip-bomb", What: "Content-Encoding: gzip, a few MB inflating to BombSize"},
	{Name: "gzip-bomb-raw", What: "a .gz file (no Content-Encoding) inflating to BombSize"},
	{Name: "bad-gzip", What: "Content-Encoding: gzip on a body that is not gzip"},
	// Documents.
	{Name: "truncated-xml", What: "an RSS feed of 10 items cut in the middle of the 8th", Want: WantBounded},
	{Name: "html-page", What: "a web page (text/html) that advertises a feed"},
	{Name: "empty-body", What: "200 with an empty body"},
	{Name: "binary-body", What: "200 with pseudo-random bytes"},
	{Name: "wrong-charset", What: "ISO-8859-1 bytes served as charset=utf-8", Want: WantReadable},
	{Name: "wrong-declared-charset", What: "UTF-8 bytes whose prolog declares windows-1251", Want: WantReadable},
	{Name: "missing-charset", What: "ISO-8859-1 bytes, no charset anywhere", Want: WantReadable},
	{Name: "invalid-utf8", What: "UTF-8 with stray invalid bytes in titles", Want: WantReadable},
	{Name: "billion-laughs", What: "a DOCTYPE declaring nested entities (billion laughs)", Want: WantBounded},
	{Name: "external-entity", What: "a DOCTYPE declaring an external entity (file:///etc/passwd)", Want: WantBounded},
	{Name: "many-items", What: "Items items in one RSS document", Want: WantBounded},
	{Name: "huge-titles", What: "3 items with TitleSize-byte titles and descriptions", Want: WantBounded},
	{Name: "huge-ids", What: "items with 100 KB GUIDs and links", Want: WantBounded},
	{Name: "many-categories", What: "an item with Items categories", Want: WantBounded},
	{Name: "many-attributes", What: "an element with Items attributes", Want: WantBounded},
	{Name: "deep-nesting", What: "elements nested Depth deep inside an item"},
	{Name: "markup-injection", What: "scripts, event handlers, javascript: links and terminal escapes in items", Want: WantBounded},
	{Name: "markup-injection-json", What: "a JSON Feed with terminal escapes, scripts and javascript: links", Want: WantBounded},
	{Name: "date-chaos", What: "dates in year 99999, before 1970, and unreadable", Want: WantBounded},
	{Name: "json-wrong-types", What: "a JSON Feed whose fields have the wrong types"},
	{Name: "json-many-items", What: "a JSON Feed of Items items", Want: WantBounded},
	{Name: "json-deep", What: "a JSON Feed with arrays nested Depth deep"},
}

// Faults returns every fault the farm plays, in a fixed order.
func Faults() []Fault { return append([]Fault(nil), faults...) }

// Languages are those of the healthy feeds.
var Languages = []string{"it", "en", "es", "de", "fr"}

// Farm is a running fault server on a loopback port.
type Farm struct {
	opts Options
	base string
	ln   net.Listener
	srv  *http.Server
	done chan struct{} // closed by Close: ends the handlers that hang

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // hijacked connections, which Close must close itself
	closed bool

	bombOnce sync.Once
	bomb     []byte // one gzip member of bombChunk spaces

	docMu sync.Mutex
	docs  map[string]doc
}

// New starts a farm on 127.0.0.1 at a free port.
func New(opts Options) (*Farm, error) {
	return Listen("127.0.0.1:0", opts)
}

// Listen starts a farm on addr.
func Listen(addr string, opts Options) (*Farm, error) {
	opts.fill()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fault farm: listen on %s: %w", addr, err)
	}
	f := &Farm{opts: opts, base: "http://" + ln.Addr().String(), ln: ln,
		done: make(chan struct{}), conns: map[net.Conn]struct{}{}, docs: map[string]doc{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fault/{name}", f.fault)
	mux.HandleFunc("GET /fault/{name}/{step}", f.fault)
	mux.HandleFunc("GET /ok/{lang}/{n}", f.healthy)
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go f.srv.Serve(ln)
	return f, nil
}

// Base is the farm's root URL, "http://127.0.0.1:PORT".
func (f *Farm) Base() string { return f.base }

// URL is the address of a fault.
func (f *Farm) URL(name string) string { return f.base + "/fault/" + name }

// HealthyURL is the address of healthy feed n in lang (one of Languages):
// an RSS feed of 5 items with whole sentences in that language.
func (f *Farm) HealthyURL(lang string, n int) string {
	return f.base + "/ok/" + lang + "/" + strconv.Itoa(n)
}

// Close stops the farm and every connection it holds, hanging ones too.
func (f *Farm) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	close(f.done)
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		f.srv.Close()
	}
}

// OPML returns a subscription list of every fault and of n healthy feeds
// per language, for running the real binary against the farm.
func (f *Farm) OPML(healthy int) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<opml version="2.0"><head><title>fault farm</title></head><body>` + "\n")
	b.WriteString(`<outline text="faults">` + "\n")
	for _, ft := range faults {
		fmt.Fprintf(&b, `<outline type="rss" text="%s" xmlUrl="%s"/>`+"\n", ft.Name, f.URL(ft.Name))
	}
	b.WriteString("</outline>\n<outline text=\"healthy\">\n")
	for _, lang := range Languages {
		for i := range healthy {
			fmt.Fprintf(&b, `<outline type="rss" text="%s %d" xmlUrl="%s"/>`+"\n", lang, i, f.HealthyURL(lang, i))
		}
	}
	b.WriteString("</outline>\n</body></opml>\n")
	return b.Bytes()
}

// stopped is closed when the farm closes or the client goes away.
func (f *Farm) stopped(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-f.done:
		}
		close(ch)
	}()
	return ch
}

// hijack takes the raw connection of a request, tracked so Close ends it.
func (f *Farm) hijack(w http.ResponseWriter) (net.Conn, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, errors.New("fault farm: connection cannot be hijacked")
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		c.Close()
		return nil, errors.New("fault farm: closed")
	}
	f.conns[c] = struct{}{}
	return c, nil
}

func (f *Farm) release(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	c.Close()
}

// drip writes b one byte at a time, a Drip apart, until done or the
// client goes away.
func (f *Farm) drip(w io.Writer, flush func(), b []byte, stop <-chan struct{}) {
	t := time.NewTicker(f.opts.Drip)
	defer t.Stop()
	for i := 0; ; i = (i + 1) % len(b) {
		if _, err := w.Write(b[i : i+1]); err != nil {
			return
		}
		flush()
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func (f *Farm) fault(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	o := f.opts
	switch name {
	case "slow-headers":
		c, err := f.hijack(w)
		if err != nil {
			return
		}
		defer f.release(c)
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		f.drip(c, func() {}, []byte("X-Slow: "+strings.Repeat("z", 64)), f.stopped(r.Context()))
	case "slow-body":
		w.Header().Set("Content-Type", "application/rss+xml")
		body := healthyFeed("it", 0, f.base)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		f.drip(w, flusher(w), body, f.stopped(r.Context()))
	case "no-answer":
		c, err := f.hijack(w)
		if err != nil {
			return
		}
		defer f.release(c)
		gone := make(chan struct{})
		go func() { // notice the client leaving
			io.Copy(io.Discard, c)
			close(gone)
		}()
		select {
		case <-gone:
		case <-f.done:
		}
	case "reset-mid-body", "close-mid-body":
		c, err := f.hijack(w)
		if err != nil {
			return
		}
		defer f.release(c)
		body := healthyFeed("en", 0, f.base)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: %d\r\n\r\n", len(body))
		c.Write(body[:len(body)/2])
		if tc, ok := c.(*net.TCPConn); ok && name == "reset-mid-body" {
			tc.SetLinger(0) // Close sends RST instead of FIN
		}
	case "garbage-response":
		c, err := f.hijack(w)
		if err != nil {
			return
		}
		defer f.release(c)
		io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02 this is not HTTP\r\n\r\n")
	case "huge-headers":
		for i := range 1024 {
			w.Header().Set(fmt.Sprintf("X-Filler-%d", i), strings.Repeat("h", 1024))
		}
		w.Write(healthyFeed("en", 1, f.base))
	case "status-500":
		http.Error(w, "internal error", http.StatusInternalServerError)
	case "status-502":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
	case "status-503":
		w.Header().Set("Retry-After", "120")
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	case "status-429":
		w.Header().Set("Retry-After", "3600")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	case "status-410":
		http.Error(w, "this feed is gone", http.StatusGone)
	case "redirect-loop":
		next := "b"
		if r.PathValue("step") == "b" {
			next = "a"
		}
		http.Redirect(w, r, "/fault/redirect-loop/"+next, http.StatusFound)
	case "redirect-endless":
		n, _ := strconv.Atoi(r.PathValue("step"))
		http.Redirect(w, r, "/fault/redirect-endless/"+strconv.Itoa(n+1), http.StatusMovedPermanently)
	case "redirect-scheme":
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	case "big-body", "big-body-chunked":
		w.Header().Set("Content-Type", "application/rss+xml")
		if name == "big-body" {
			w.Header().Set("Content-Length", strconv.FormatInt(o.BigBody, 10))
		}
		writePadded(w, o.BigBody)
	case "gzip-bomb":
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Header().Set("Content-Encoding", "gzip")
		f.writeBomb(w)
	case "gzip-bomb-raw":
		w.Header().Set("Content-Type", "application/gzip")
		f.writeBomb(w)
	case "bad-gzip":
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(healthyFeed("en", 2, f.base))
	default:
		doc, ctype, ok := f.document(name)
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
		w.Write(doc)
	}
}

func flusher(w http.ResponseWriter) func() {
	if fl, ok := w.(http.Flusher); ok {
		return fl.Flush
	}
	return func() {}
}

// writePadded writes an RSS document of exactly n bytes (or its start,
// for n shorter than the frame): white space pads the channel.
func writePadded(w io.Writer, n int64) {
	head := []byte(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>big</title><item><title>big</title><description>`)
	tail := []byte(`</description></item></channel></rss>`)
	if n < int64(len(head)+len(tail)) {
		w.Write(head[:min(n, int64(len(head)))])
		return
	}
	if _, err := w.Write(head); err != nil {
		return
	}
	pad := bytes.Repeat([]byte("padding "), 8192)
	left := n - int64(len(head)+len(tail))
	for left > 0 {
		k := min(left, int64(len(pad)))
		if _, err := w.Write(pad[:k]); err != nil {
			return
		}
		left -= k
	}
	w.Write(tail)
}

// bombChunk is the inflated size of one gzip member of the bomb. Members
// are concatenated (gzip readers read them as one stream): deflate's best
// ratio is about 1000:1, so BombSize costs BombSize/1000 on the wire.
const bombChunk = 1 << 20

func (f *Farm) writeBomb(w io.Writer) {
	f.bombOnce.Do(func() {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Write(bytes.Repeat([]byte(" "), bombChunk))
		zw.Close()
		f.bomb = b.Bytes()
	})
	var head bytes.Buffer
	zw := gzip.NewWriter(&head)
	zw.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>bomb</title><description>`))
	zw.Close()
	if _, err := w.Write(head.Bytes()); err != nil {
		return
	}
	for n := int64(0); n < f.opts.BombSize; n += bombChunk {
		if _, err := w.Write(f.bomb); err != nil {
			return
		}
	}
}
