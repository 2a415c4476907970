package fetch

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

const feedXML = `<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Prova</title><language>it</language>
<item><title>Il gatto dorme sul divano</title><link>https://example.org/1</link></item>
</channel></rss>`

// hangGuard fails the test if f does not return within limit. It is not a
// timing assertion: limit is far above the timeouts under test, and only
// catches a Fetch that never returns.
func hangGuard[T any](t *testing.T, limit time.Duration, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(limit):
		t.Fatalf("call did not return within %s", limit)
		panic("unreachable")
	}
}

type result struct {
	resp *Response
	err  error
}

func fetch(t *testing.T, c *Client, ctx context.Context, req Request) (*Response, error) {
	t.Helper()
	r := hangGuard(t, 30*time.Second, func() result {
		resp, err := c.Fetch(ctx, req)
		return result{resp, err}
	})
	if r.err == nil && r.resp == nil {
		t.Fatal("Fetch returned nil response and nil error")
	}
	if r.err != nil && r.resp != nil {
		t.Fatalf("Fetch returned both a response and an error: %v", r.err)
	}
	return r.resp, r.err
}

// blockingServer starts a server whose handler runs block(w, r, done),
// where done is closed when the test ends. done's cleanup is registered
// after the server's Close, so it runs first and frees blocked handlers
// before Close waits for them.
func blockingServer(t *testing.T, block func(w http.ResponseWriter, r *http.Request, done <-chan struct{})) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { block(w, r, done) }))
	t.Cleanup(func() { close(done) })
	return srv
}

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestConditionalGet(t *testing.T) {
	t.Parallel()
	const etag = `"v1-abc"`
	const lastMod = "Mon, 02 Jan 2006 15:04:05 GMT"
	var requests int
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		inm, ims := r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since")
		switch requests {
		case 1:
			if inm != "" || ims != "" {
				t.Errorf("first request sent validators: If-None-Match=%q If-Modified-Since=%q", inm, ims)
			}
		case 2:
			if inm != etag {
				t.Errorf("If-None-Match = %q, want %q", inm, etag)
			}
			if ims != lastMod {
				t.Errorf("If-Modified-Since = %q, want %q", ims, lastMod)
			}
			if inm == etag && ims == lastMod {
				w.Header().Set("ETag", etag)
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", lastMod)
		io.WriteString(w, feedXML)
	}))
	c := New(Options{})
	ctx := context.Background()

	resp, err := fetch(t, c, ctx, Request{URL: srv.URL + "/feed"})
	if err != nil {
		t.Fatalf("first fetch: %v", err)
	}
	if resp.Status != 200 || resp.NotModified {
		t.Fatalf("first fetch: status %d, NotModified %v", resp.Status, resp.NotModified)
	}
	if string(resp.Body) != feedXML {
		t.Errorf("body = %q", resp.Body)
	}
	if resp.ContentType != "application/rss+xml; charset=utf-8" {
		t.Errorf("ContentType = %q", resp.ContentType)
	}
	if resp.ETag != etag || resp.LastModified != lastMod {
		t.Errorf("validators = %q, %q", resp.ETag, resp.LastModified)
	}
	if resp.URL != srv.URL+"/feed" || resp.PermanentURL != "" || len(resp.Redirects) != 0 {
		t.Errorf("URL %q PermanentURL %q Redirects %v", resp.URL, resp.PermanentURL, resp.Redirects)
	}
	if resp.Duration <= 0 {
		t.Errorf("Duration = %v", resp.Duration)
	}

	resp, err = fetch(t, c, ctx, Request{URL: srv.URL + "/feed", ETag: resp.ETag, LastModified: resp.LastModified})
	if err != nil {
		t.Fatalf("second fetch: %v", err)
	}
	if !resp.NotModified || resp.Status != http.StatusNotModified {
		t.Fatalf("second fetch: status %d, NotModified %v", resp.Status, resp.NotModified)
	}
	if resp.Body != nil {
		t.Errorf("304 body = %q, want nil", resp.Body)
	}
	if resp.ETag != etag {
		t.Errorf("304 ETag = %q", resp.ETag)
	}
}

func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 2)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		io.WriteString(w, feedXML)
	}))
	if _, err := fetch(t, New(Options{}), context.Background(), Request{URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	h := <-got
	if ua := h.Get("User-Agent"); ua != DefaultUserAgent || !strings.HasPrefix(ua, "babelfeed/") {
		t.Errorf("User-Agent = %q, want %q", ua, DefaultUserAgent)
	}
	accept := h.Get("Accept")
	for _, want := range []string{"application/rss+xml", "application/atom+xml", "application/feed+json", "*/*;q=0.8"} {
		if !strings.Contains(accept, want) {
			t.Errorf("Accept %q lacks %q", accept, want)
		}
	}
	if ae := h.Get("Accept-Encoding"); !strings.Contains(ae, "gzip") {
		t.Errorf("Accept-Encoding = %q", ae)
	}

	if _, err := fetch(t, New(Options{UserAgent: "test-agent/1"}), context.Background(), Request{URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	if ua := (<-got).Get("User-Agent"); ua != "test-agent/1" {
		t.Errorf("custom User-Agent = %q", ua)
	}
}

func TestContentEncoding(t *testing.T) {
	t.Parallel()
	encoders := map[string]func(io.Writer) io.WriteCloser{
		"gzip": func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) },
		"zlib": func(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) },
		"raw-deflate": func(w io.Writer) io.WriteCloser {
			fw, _ := flate.NewWriter(w, flate.DefaultCompression)
			return fw
		},
	}
	headers := map[string]string{"gzip": "gzip", "zlib": "deflate", "raw-deflate": "deflate"}
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		if name == "empty" {
			w.Header().Set("Content-Encoding", "gzip")
			return
		}
		if name == "corrupt" {
			w.Header().Set("Content-Encoding", "gzip")
			io.WriteString(w, "this is not gzip")
			return
		}
		w.Header().Set("Content-Encoding", headers[name])
		zw := encoders[name](w)
		io.WriteString(zw, feedXML)
		zw.Close()
	}))
	c := New(Options{})
	for name := range encoders {
		resp, err := fetch(t, c, context.Background(), Request{URL: srv.URL + "/" + name})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if string(resp.Body) != feedXML {
			t.Errorf("%s: body = %q", name, resp.Body)
		}
	}
	resp, err := fetch(t, c, context.Background(), Request{URL: srv.URL + "/empty"})
	if err != nil || len(resp.Body) != 0 {
		t.Errorf("empty gzip body: %v, %v", resp, err)
	}
	_, err = fetch(t, c, context.Background(), Request{URL: srv.URL + "/corrupt"})
	if err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("corrupt gzip: err = %v, want one naming gzip", err)
	}
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// ctxReader fails once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func TestGzipBomb(t *testing.T) {
	// Not parallel: it measures this process's allocations.
	const bomb = 1 << 30 // 1 GiB of zeros, ~1 MiB once gzipped
	const maxBody = 4 << 20
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Header().Set("Content-Encoding", "gzip")
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		// Stops early once the client hangs up: the compressed bomb is
		// small enough to sit in socket buffers, so write errors alone
		// would come only after compressing all of it.
		src := io.LimitReader(ctxReader{r.Context(), zeros{}}, bomb)
		if _, err := io.Copy(zw, src); err == nil {
			zw.Close()
		}
	}))
	c := New(Options{MaxBody: maxBody})

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := fetch(t, c, context.Background(), Request{URL: srv.URL})
	runtime.ReadMemStats(&after)

	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if !strings.Contains(err.Error(), "4 MiB") {
		t.Errorf("error %q does not state the cap", err)
	}
	// The server side allocates little (a gzip writer), the client at most
	// a few times the cap. 1 GiB would be read into memory without the cap.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 128<<20 {
		t.Errorf("allocated %d MiB while fetching a gzip bomb with a 4 MiB cap", alloc>>20)
	} else {
		t.Logf("allocated %.1f MiB during the bomb fetch", float64(alloc)/(1<<20))
	}
}

func TestBodyOverCap(t *testing.T) {
	t.Parallel()
	const maxBody = 1000
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := strings.Repeat("x", maxBody+1)
		switch r.URL.Path {
		case "/exact":
			body = body[:maxBody]
		case "/chunked":
			// No Content-Length: the cap must hold while streaming.
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, body)
	}))
	c := New(Options{MaxBody: maxBody})
	for _, path := range []string{"/sized", "/chunked"} {
		_, err := fetch(t, c, context.Background(), Request{URL: srv.URL + path})
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: err = %v, want ErrTooLarge", path, err)
		} else if !strings.Contains(err.Error(), "1000-byte cap") {
			t.Errorf("%s: error %q does not state the cap", path, err)
		}
	}
	resp, err := fetch(t, c, context.Background(), Request{URL: srv.URL + "/exact"})
	if err != nil || len(resp.Body) != maxBody {
		t.Errorf("body of exactly MaxBody: %v", err)
	}
}

// redirectServer serves /r/<code>/<next path...> as a redirect with that
// code to the rest of the path, and /feed as a feed.
func redirectServer(t *testing.T) *httptest.Server {
	t.Helper()
	return newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/r/")
		if !ok {
			w.Header().Set("Content-Type", "application/atom+xml")
			io.WriteString(w, feedXML)
			return
		}
		code, next, _ := strings.Cut(rest, "/")
		n, _ := strconv.Atoi(code)
		if strings.HasPrefix(next, "abs:") {
			next = strings.TrimPrefix(next, "abs:")
			if r.URL.RawQuery != "" {
				next += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, next, n)
			return
		}
		http.Redirect(w, r, "/"+next, n)
	}))
}

func TestRedirectPermanence(t *testing.T) {
	t.Parallel()
	srv := redirectServer(t)
	c := New(Options{})
	tests := []struct {
		path      string
		permanent bool
		hops      int
	}{
		{"/r/301/feed", true, 1},
		{"/r/301/r/308/r/301/feed", true, 3},
		{"/r/301/r/302/feed", false, 2},
		{"/r/302/r/301/feed", false, 2},
		{"/r/307/feed", false, 1},
		{"/r/303/feed", false, 1},
		{"/feed", false, 0},
	}
	for _, tt := range tests {
		resp, err := fetch(t, c, context.Background(), Request{URL: srv.URL + tt.path})
		if err != nil {
			t.Errorf("%s: %v", tt.path, err)
			continue
		}
		if resp.URL != srv.URL+"/feed" || string(resp.Body) != feedXML {
			t.Errorf("%s: ended at %q with body %q", tt.path, resp.URL, resp.Body)
		}
		want := ""
		if tt.permanent {
			want = srv.URL + "/feed"
		}
		if resp.PermanentURL != want {
			t.Errorf("%s: PermanentURL = %q, want %q", tt.path, resp.PermanentURL, want)
		}
		if len(resp.Redirects) != tt.hops || (tt.hops > 0 && resp.Redirects[tt.hops-1] != resp.URL) {
			t.Errorf("%s: Redirects = %v", tt.path, resp.Redirects)
		}
	}
}

func TestRedirectErrors(t *testing.T) {
	t.Parallel()
	srv := redirectServer(t)
	c := New(Options{})
	tests := []struct {
		name, path string
		want       error
		mention    string
	}{
		{"eleven", "/r/301/r/301/r/301/r/301/r/301/r/301/r/301/r/301/r/301/r/301/feed", ErrTooManyRedirects, "more than 5"},
		{"ftp", "/r/302/abs:ftp://example.org/feed.xml", ErrUnsupportedScheme, `"ftp"`},
		{"file", "/r/301/abs:file:///etc/passwd", ErrUnsupportedScheme, `"file"`},
	}
	for _, tt := range tests {
		_, err := fetch(t, c, context.Background(), Request{URL: srv.URL + tt.path})
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.mention) || !strings.HasPrefix(err.Error(), "fetch "+srv.URL) {
			t.Errorf("%s: error %q should start with the URL and mention %q", tt.name, err, tt.mention)
		}
	}

	// A real loop: a -> b -> a.
	loop := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/self":
			http.Redirect(w, r, "/self", http.StatusMovedPermanently)
		case "/a":
			http.Redirect(w, r, "/b", http.StatusMovedPermanently)
		default:
			http.Redirect(w, r, "/a", http.StatusFound)
		}
	}))
	_, err := fetch(t, c, context.Background(), Request{URL: loop.URL + "/a"})
	want := "fetch " + loop.URL + "/a: redirect loop: " + loop.URL + "/a -> " + loop.URL + "/b -> " + loop.URL + "/a"
	if !errors.Is(err, ErrRedirectLoop) || err.Error() != want {
		t.Errorf("a->b->a: err = %v, want %q", err, want)
	}
	if _, err := fetch(t, c, context.Background(), Request{URL: loop.URL + "/self"}); !errors.Is(err, ErrRedirectLoop) {
		t.Errorf("self: err = %v, want ErrRedirectLoop", err)
	}

	// MaxRedirects < 0 follows nothing: the 301 is a status error.
	_, err = fetch(t, New(Options{MaxRedirects: -1}), context.Background(), Request{URL: srv.URL + "/r/301/feed"})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusMovedPermanently {
		t.Errorf("MaxRedirects -1: err = %v, want *StatusError 301", err)
	}

	// Exactly MaxRedirects hops are fine.
	resp, err := fetch(t, New(Options{MaxRedirects: 2}), context.Background(), Request{URL: srv.URL + "/r/301/r/301/feed"})
	if err != nil || len(resp.Redirects) != 2 {
		t.Errorf("2 hops with MaxRedirects 2: %v", err)
	}
}

func TestTenRedirects(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop"))
		if n >= 10 {
			io.WriteString(w, feedXML)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/hop%d", n+1), http.StatusMovedPermanently)
	}))
	_, err := fetch(t, New(Options{}), context.Background(), Request{URL: srv.URL + "/hop0"})
	if !errors.Is(err, ErrTooManyRedirects) {
		t.Fatalf("err = %v, want ErrTooManyRedirects", err)
	}
	if _, err := fetch(t, New(Options{MaxRedirects: 10}), context.Background(), Request{URL: srv.URL + "/hop0"}); err != nil {
		t.Errorf("MaxRedirects 10: %v", err)
	}
}

func TestUnsupportedScheme(t *testing.T) {
	t.Parallel()
	c := New(Options{})
	for _, u := range []string{"ftp://example.org/feed", "file:///etc/passwd", "gopher://x/", "example.org/feed", "http:///nohost"} {
		_, err := c.Fetch(context.Background(), Request{URL: u})
		if err == nil || !strings.Contains(err.Error(), u) {
			t.Errorf("%s: err = %v, want an error naming the URL", u, err)
		}
	}
	_, err := c.Fetch(context.Background(), Request{URL: "ftp://example.org/feed"})
	if !errors.Is(err, ErrUnsupportedScheme) || !strings.Contains(err.Error(), `"ftp"`) {
		t.Errorf("ftp: err = %v", err)
	}
}

func TestStatusErrors(t *testing.T) {
	t.Parallel()
	retryDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, ra, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		n, _ := strconv.Atoi(code)
		switch ra {
		case "secs":
			w.Header().Set("Retry-After", "120")
		case "date":
			w.Header().Set("Retry-After", retryDate)
		}
		w.Header().Set("X-Test", "yes")
		w.WriteHeader(n)
		io.WriteString(w, "error page")
	}))
	c := New(Options{})
	tests := []struct {
		path         string
		code         int
		minRA, maxRA time.Duration
		temporary    bool
	}{
		{"/404", 404, 0, 0, false},
		{"/410", 410, 0, 0, false},
		{"/500", 500, 0, 0, true},
		{"/429/secs", 429, 120 * time.Second, 120 * time.Second, true},
		{"/503/secs", 503, 120 * time.Second, 120 * time.Second, true},
		// The date is whole seconds and so is the server's Date header.
		{"/429/date", 429, 80 * time.Second, 91 * time.Second, true},
		{"/503/date", 503, 80 * time.Second, 91 * time.Second, true},
	}
	for _, tt := range tests {
		resp, err := fetch(t, c, context.Background(), Request{URL: srv.URL + tt.path})
		if resp != nil {
			t.Errorf("%s: got a Response alongside the status", tt.path)
		}
		var se *StatusError
		if !errors.As(err, &se) {
			t.Errorf("%s: err = %v, want *StatusError", tt.path, err)
			continue
		}
		if se.Code != tt.code || se.URL != srv.URL+tt.path {
			t.Errorf("%s: Code %d URL %q", tt.path, se.Code, se.URL)
		}
		if se.RetryAfter < tt.minRA || se.RetryAfter > tt.maxRA {
			t.Errorf("%s: RetryAfter = %v, want in [%v, %v]", tt.path, se.RetryAfter, tt.minRA, tt.maxRA)
		}
		if se.Temporary() != tt.temporary {
			t.Errorf("%s: Temporary() = %v", tt.path, se.Temporary())
		}
		if se.Response == nil || se.Response.Header.Get("X-Test") != "yes" || se.Response.Body != nil {
			t.Errorf("%s: Response = %+v", tt.path, se.Response)
		}
		if !strings.Contains(err.Error(), strconv.Itoa(tt.code)) {
			t.Errorf("%s: error %q lacks the code", tt.path, err)
		}
	}
}

func TestCacheHints(t *testing.T) {
	t.Parallel()
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cc := r.URL.Query().Get("cc"); cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		if r.URL.Query().Has("expires") {
			w.Header().Set("Expires", expires.Format(http.TimeFormat))
		}
		w.Header().Set("Age", "30")
		io.WriteString(w, feedXML)
	}))
	c := New(Options{})
	tests := []struct {
		cc   string
		want time.Duration
	}{
		{"", 0},
		{"public, max-age=600", 10 * time.Minute},
		{"s-maxage=300", 5 * time.Minute},
		{"max-age=60, s-maxage=300", time.Minute},
		{"no-cache", -1},
		{"no-store, max-age=600", -1},
		{"max-age=0", -1},
		{"max-age=banana", 0},
	}
	for _, tt := range tests {
		resp, err := fetch(t, c, context.Background(), Request{URL: srv.URL + "/?expires&cc=" + urlEscape(tt.cc)})
		if err != nil {
			t.Fatal(err)
		}
		if resp.MaxAge != tt.want {
			t.Errorf("Cache-Control %q: MaxAge = %v, want %v", tt.cc, resp.MaxAge, tt.want)
		}
		if !resp.Expires.Equal(expires) || resp.Age != 30*time.Second || resp.Date.IsZero() {
			t.Errorf("Expires %v Age %v Date %v", resp.Expires, resp.Age, resp.Date)
		}
	}
}

func urlEscape(s string) string {
	r := strings.NewReplacer(" ", "%20", ",", "%2C", "=", "%3D")
	return r.Replace(s)
}

func TestHeaderTimeout(t *testing.T) {
	t.Parallel()
	srv := blockingServer(t, func(w http.ResponseWriter, r *http.Request, done <-chan struct{}) {
		<-done // never answers while the test runs
	})
	c := New(Options{HeaderTimeout: 200 * time.Millisecond, Timeout: 20 * time.Second})
	_, err := fetch(t, c, context.Background(), Request{URL: srv.URL + "/feed"})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	want := "fetch " + srv.URL + "/feed: timeout awaiting headers after 200ms"
	if err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}

	// The header timeout holds with a caller-supplied Transport too.
	c = New(Options{HeaderTimeout: 200 * time.Millisecond, Transport: &http.Transport{}})
	if _, err := fetch(t, c, context.Background(), Request{URL: srv.URL}); !errors.Is(err, ErrTimeout) {
		t.Errorf("custom transport: err = %v, want ErrTimeout", err)
	}
}

func TestWholeTimeoutSlowBody(t *testing.T) {
	t.Parallel()
	srv := blockingServer(t, func(w http.ResponseWriter, r *http.Request, done <-chan struct{}) {
		w.Header().Set("Content-Type", "application/rss+xml")
		w.(http.Flusher).Flush()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := w.Write([]byte("<")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			case <-done:
				return
			}
		}
	})
	c := New(Options{Timeout: 500 * time.Millisecond, HeaderTimeout: 10 * time.Second})
	_, err := fetch(t, c, context.Background(), Request{URL: srv.URL})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if !strings.Contains(err.Error(), "timeout after 500ms") || !strings.Contains(err.Error(), "reading body") {
		t.Errorf("err = %q, want it to name the whole-request timeout while reading the body", err)
	}
}

func TestContextCancel(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	srv := blockingServer(t, func(w http.ResponseWriter, r *http.Request, done <-chan struct{}) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-done
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := fetch(t, New(Options{}), ctx, Request{URL: srv.URL})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if errors.Is(err, ErrTimeout) {
		t.Errorf("a caller's cancel reported as a timeout: %v", err)
	}

	// Already cancelled: no request at all.
	_, err = New(Options{}).Fetch(ctx, Request{URL: srv.URL})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("pre-cancelled: err = %v", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	_, err := New(Options{}).Fetch(context.Background(), Request{URL: u + "/feed"})
	if err == nil || !strings.HasPrefix(err.Error(), "fetch "+u+"/feed: ") {
		t.Errorf("err = %v, want one starting with the URL", err)
	}
	if strings.Contains(err.Error(), `Get "`) {
		t.Errorf("err = %q repeats the URL", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"120", 2 * time.Minute},
		{" 3600 ", time.Hour},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{"99999999999999999999999", secondsDuration(maxSeconds)},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"Sunday, 01-Jun-25 12:05:00 GMT", 5 * time.Minute}, // RFC 850
		{"Sun Jun  1 12:00:30 2025", 30 * time.Second},      // ANSI C asctime
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Format(http.TimeFormat), 0},
		{"Mon, 32 Foo 2025 99:00:00 GMT", 0},
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c := New(Options{})
	if c.timeout != DefaultTimeout || c.headerTimeout != DefaultHeaderTimeout || c.maxBody != DefaultMaxBody ||
		c.maxRedirects != DefaultMaxRedirects || c.userAgent != DefaultUserAgent {
		t.Errorf("defaults: %+v", c)
	}
	tr := c.own
	if tr == nil || tr.Proxy == nil || tr.TLSHandshakeTimeout == 0 || tr.ResponseHeaderTimeout < DefaultHeaderTimeout ||
		!tr.DisableCompression || tr.MaxIdleConnsPerHost == 0 {
		t.Errorf("transport not configured: %+v", tr)
	}
	c.CloseIdleConnections()
}

// Concurrent fetches share one Client (run with -race).
func TestConcurrent(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/feed", http.StatusMovedPermanently)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		io.WriteString(zw, feedXML)
		zw.Close()
	}))
	c := New(Options{})
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			path := "/feed"
			if i%2 == 0 {
				path = "/moved"
			}
			resp, err := c.Fetch(context.Background(), Request{URL: srv.URL + path})
			if err == nil && !bytes.Equal(resp.Body, []byte(feedXML)) {
				err = fmt.Errorf("body %q", resp.Body)
			}
			if err == nil && (i%2 == 0) != (resp.PermanentURL != "") {
				err = fmt.Errorf("%s: PermanentURL %q", path, resp.PermanentURL)
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
