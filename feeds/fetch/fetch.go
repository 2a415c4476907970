// Package fetch is babelfeed's polite HTTP client for feeds: one conditional
// GET per call, with its own connection pool, timeouts, a cap on the
// decompressed body, explicit gzip/deflate handling, an identifiable
// User-Agent, redirect bookkeeping (was every hop permanent?) and the
// server's hints (Retry-After, Cache-Control, Expires) parsed for the
// scheduler.
package fetch

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Version is the babelfeed version this package reports in its default
// User-Agent.
const Version = "0.1.0"

// DefaultUserAgent is sent when Options.UserAgent is empty. It names the
// program and where its operators can be found, so feed publishers can tell
// who is polling them.
const DefaultUserAgent = "babelfeed/" + Version + " (+https://github.com/babelfeed/babelfeed)"

// Defaults used for zero Options fields.
const (
	DefaultTimeout       = 30 * time.Second
	DefaultHeaderTimeout = 15 * time.Second
	DefaultMaxBody       = 20 << 20
	DefaultMaxRedirects  = 5
)

// acceptHeader prefers the feed media types, then generic XML, then anything:
// some servers serve feeds as text/html or application/octet-stream, and the
// parser decides what the bytes are.
const acceptHeader = "application/rss+xml, application/atom+xml, application/feed+json, " +
	"application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"

// drainLimit is how much of an unwanted body (304, error status) is read
// before closing, so a short body lets the connection be reused while a long
// one does not hold us up.
const drainLimit = 64 << 10

var (
	// ErrTooLarge means the decompressed body exceeded Options.MaxBody.
	ErrTooLarge = errors.New("response body too large")
	// ErrTooManyRedirects means more than Options.MaxRedirects redirects.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrRedirectLoop means a redirect led back to a URL already visited.
	ErrRedirectLoop = errors.New("redirect loop")
	// ErrUnsupportedScheme means the URL, or a redirect target, is not
	// http or https.
	ErrUnsupportedScheme = errors.New("unsupported URL scheme")
	// ErrTimeout is wrapped by every error caused by a timeout of this
	// package (header timeout, whole-request timeout) or of the network
	// (dial, TLS handshake, read).
	ErrTimeout = errors.New("timeout")
	// ErrPrivateAddress means Options.DenyPrivate refused to connect to a
	// loopback, private, link-local or otherwise non-public address.
	ErrPrivateAddress = errors.New("refused non-public address")
)

// Options configures a Client. Zero fields take the defaults documented on
// each field.
type Options struct {
	// Timeout bounds the whole request, redirects and body included.
	// Zero or negative means DefaultTimeout (30s).
	Timeout time.Duration
	// HeaderTimeout bounds the time until the final response's headers
	// arrive, redirects included. Zero or negative means
	// DefaultHeaderTimeout (15s).
	HeaderTimeout time.Duration
	// MaxBody caps the body in bytes after decompression; a longer body
	// fails with an error wrapping ErrTooLarge. Zero or negative means
	// DefaultMaxBody (20 MiB).
	MaxBody int64
	// MaxRedirects is the number of redirects followed; one more fails
	// with ErrTooManyRedirects. Zero means DefaultMaxRedirects (5); a
	// negative value follows none, so a 3xx comes back as a *StatusError.
	MaxRedirects int
	// UserAgent is sent on every request. Empty means DefaultUserAgent.
	UserAgent string
	// Transport, when set, replaces the client's own transport (tests,
	// instrumentation). The header and whole-request timeouts and the body
	// cap still apply since they are enforced above the transport;
	// DenyPrivate does not (it lives in the client's own dialer).
	Transport http.RoundTripper
	// DenyPrivate refuses connections to addresses that are not public:
	// loopback, private (RFC 1918, IPv6 ULA), link-local (cloud metadata
	// endpoints), CGNAT, unspecified, multicast and reserved ranges, as
	// IPv4, IPv6 or IPv4-mapped IPv6. For deployments where feed URLs come
	// from untrusted users, so the poller cannot be turned against the
	// machine or its network. The check runs on the address actually
	// dialled, after DNS resolution, so it holds on every redirect and
	// against DNS rebinding. The error wraps ErrPrivateAddress. With
	// DenyPrivate set, the environment's HTTP proxy is not used, since a
	// proxy would resolve and connect where this check cannot see.
	DenyPrivate bool
	// AllowPrivate lists address ranges still allowed under DenyPrivate
	// (an internal feed server one trusts).
	AllowPrivate []netip.Prefix
}

// Client fetches feeds. It is safe for concurrent use; share one per
// process so connections are pooled.
type Client struct {
	rt            http.RoundTripper
	own           *http.Transport // nil when Options.Transport was given
	timeout       time.Duration
	headerTimeout time.Duration
	maxBody       int64
	maxRedirects  int
	userAgent     string
}

// New returns a Client configured by opts.
func New(opts Options) *Client {
	c := &Client{
		timeout:       opts.Timeout,
		headerTimeout: opts.HeaderTimeout,
		maxBody:       opts.MaxBody,
		maxRedirects:  opts.MaxRedirects,
		userAgent:     opts.UserAgent,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.headerTimeout <= 0 {
		c.headerTimeout = DefaultHeaderTimeout
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBody
	}
	if c.maxRedirects == 0 {
		c.maxRedirects = DefaultMaxRedirects
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if opts.Transport != nil {
		c.rt = opts.Transport
	} else {
		c.own = newTransport(c.headerTimeout, opts)
		c.rt = c.own
	}
	return c
}

// newTransport builds the client's own transport. Pools are small per host
// because a feed host rarely gets more than one request at a time from us
// (the scheduler spaces them), but many hosts are polled in a pass.
func newTransport(headerTimeout time.Duration, opts Options) *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	proxy := http.ProxyFromEnvironment
	if opts.DenyPrivate {
		allow := append([]netip.Prefix(nil), opts.AllowPrivate...)
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			return checkPublic(address, allow)
		}
		proxy = nil
	}
	return &http.Transport{
		Proxy:                 proxy,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// A per-hop backstop only. Fetch enforces the header timeout itself
		// over the whole redirect chain, whatever the transport, and says
		// so in its error; the extra second keeps that clearer error the
		// one reported.
		ResponseHeaderTimeout:  headerTimeout + time.Second,
		MaxResponseHeaderBytes: 256 << 10,
		// Compression is negotiated by Fetch itself so that the body cap
		// applies to the decompressed size.
		DisableCompression: true,
	}
}

// CloseIdleConnections closes pooled connections that are not in use, for
// shutdown or after a poll pass.
func (c *Client) CloseIdleConnections() {
	if c.own != nil {
		c.own.CloseIdleConnections()
		return
	}
	if ci, ok := c.rt.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// Request is one conditional GET.
type Request struct {
	URL string
	// ETag and LastModified are the validators saved from the last
	// successful response; when set they are sent as If-None-Match and
	// If-Modified-Since.
	ETag         string
	LastModified string
}

// Response is a successful fetch: a 2xx with its body, or a 304.
type Response struct {
	Status      int  // final status code
	NotModified bool // 304: Body is nil
	// Body is the decompressed body (non-nil, possibly empty, on 2xx).
	Body        []byte
	ContentType string // Content-Type header as sent
	// ETag and LastModified are the response's validators, empty if none.
	// A 304 may carry none: keep the ones sent then.
	ETag, LastModified string
	// URL is the URL finally fetched, after redirects.
	URL string
	// PermanentURL is set (to URL) when there was at least one redirect and
	// every hop was permanent (301 or 308): the feed should be
	// resubscribed there. Any 302, 303 or 307 in the chain leaves it empty.
	PermanentURL string
	// Redirects lists the URLs redirected to, in order, for logs. The
	// original URL is not included; the last one equals URL.
	Redirects []string
	// RetryAfter is the parsed Retry-After header, 0 if none. An HTTP date
	// is taken relative to the response's Date header when present (which
	// cancels clock skew), else to the local clock.
	RetryAfter time.Duration
	// MaxAge is Cache-Control max-age, or s-maxage when max-age is absent;
	// 0 if there is none. It is -1 when the server says the response must
	// not be treated as fresh (no-store, no-cache, or max-age=0), so a
	// caller can tell "no hint" (0) from "explicitly never fresh" (-1).
	MaxAge time.Duration
	// Age is the Age header (time already spent in caches), 0 if none; the
	// remaining freshness is MaxAge - Age.
	Age time.Duration
	// Expires is the Expires header, zero if absent or invalid (RFC 9111:
	// invalid dates such as "0" mean already expired; MaxAge, when set,
	// takes precedence).
	Expires time.Time
	// Date is the response's Date header, zero if absent or invalid.
	Date time.Time
	// Header holds every response header, for anything not parsed above.
	Header http.Header
	// Duration is the time Fetch took.
	Duration time.Duration
}

// StatusError is returned by Fetch when the final status is neither 2xx nor
// 304. Switch on it with errors.As.
type StatusError struct {
	Code       int
	RetryAfter time.Duration // parsed Retry-After, 0 if none
	URL        string        // the URL that answered with Code (after redirects)
	// Response carries the headers, redirects and hints of the failed
	// response; its Body is nil.
	Response *Response
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("fetch %s: HTTP %d %s", e.URL, e.Code, http.StatusText(e.Code))
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// Temporary reports whether the status suggests trying again later (408,
// 425, 429 and 5xx) rather than a problem with the request or the feed.
func (e *StatusError) Temporary() bool {
	switch {
	case e.Code == http.StatusRequestTimeout, e.Code == http.StatusTooEarly,
		e.Code == http.StatusTooManyRequests, e.Code >= 500:
		return true
	}
	return false
}

// Context causes that tell Fetch's own timeouts apart from the caller's
// cancellation.
var (
	errHeaderDeadline = errors.New("fetch: header timeout")
	errTotalDeadline  = errors.New("fetch: whole-request timeout")
)

// redirects is the per-Fetch redirect bookkeeping, fed by CheckRedirect.
type redirects struct {
	max       int
	hops      []string
	permanent bool
}

func (r *redirects) check(req *http.Request, via []*http.Request) error {
	if req.Response != nil {
		switch req.Response.StatusCode {
		case http.StatusMovedPermanently, http.StatusPermanentRedirect:
		default:
			r.permanent = false
		}
	}
	next := req.URL.String()
	if err := checkScheme(req.URL); err != nil {
		return fmt.Errorf("redirect to %s: %w", next, err)
	}
	if r.max < 0 {
		return http.ErrUseLastResponse
	}
	for _, v := range via {
		if v.URL.String() == next {
			chain := make([]string, 0, len(via)+1)
			for _, v := range via {
				chain = append(chain, v.URL.String())
			}
			chain = append(chain, next)
			return fmt.Errorf("%w: %s", ErrRedirectLoop, strings.Join(chain, " -> "))
		}
	}
	if len(via) > r.max {
		return fmt.Errorf("%w: more than %d (last to %s)", ErrTooManyRedirects, r.max, next)
	}
	r.hops = append(r.hops, next)
	return nil
}

func checkScheme(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("no host in %q", u.String())
		}
		return nil
	case "":
		return fmt.Errorf("%w: none (only http and https)", ErrUnsupportedScheme)
	}
	return fmt.Errorf("%w %q (only http and https)", ErrUnsupportedScheme, u.Scheme)
}

// Fetch does one conditional GET of req.URL. It returns a *Response for a
// 2xx (with the decompressed body) or a 304 (NotModified, nil Body). Any
// other final status comes back as a *StatusError. Other errors say what
// failed and wrap ErrTimeout, ErrTooLarge, ErrTooManyRedirects,
// ErrRedirectLoop, ErrUnsupportedScheme or the context's error where one
// applies.
func (c *Client) Fetch(ctx context.Context, req Request) (*Response, error) {
	start := time.Now()
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: parse URL: %w", req.URL, err)
	}
	if err := checkScheme(u); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", req.URL, err)
	}

	// One context carries both deadlines, each with its own cause so the
	// error can say which one struck. The header deadline is a timer that
	// is stopped once headers arrive; it works with any RoundTripper and
	// spans the whole redirect chain.
	totalCtx, cancelTotal := context.WithTimeoutCause(ctx, c.timeout, errTotalDeadline)
	defer cancelTotal()
	reqCtx, cancelReq := context.WithCancelCause(totalCtx)
	defer cancelReq(nil)
	headerTimer := time.AfterFunc(c.headerTimeout, func() { cancelReq(errHeaderDeadline) })
	defer headerTimer.Stop()

	hreq, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: build request: %w", req.URL, err)
	}
	hreq.Header.Set("User-Agent", c.userAgent)
	hreq.Header.Set("Accept", acceptHeader)
	hreq.Header.Set("Accept-Encoding", "gzip, deflate")
	if req.ETag != "" {
		hreq.Header.Set("If-None-Match", req.ETag)
	}
	if req.LastModified != "" {
		hreq.Header.Set("If-Modified-Since", req.LastModified)
	}

	rd := &redirects{max: c.maxRedirects, permanent: true}
	hc := &http.Client{Transport: c.rt, CheckRedirect: rd.check}
	hresp, err := hc.Do(hreq)
	headerTimer.Stop()
	if err != nil {
		return nil, c.classify(ctx, reqCtx, req.URL, "", err)
	}
	defer hresp.Body.Close()
	if errors.Is(context.Cause(reqCtx), errHeaderDeadline) {
		// Headers arrived just as the timer fired: the body read would
		// fail anyway, so report the timeout now.
		return nil, c.classify(ctx, reqCtx, req.URL, "", context.Canceled)
	}

	resp := newResponse(hresp, rd, start)
	switch {
	case hresp.StatusCode == http.StatusNotModified:
		resp.NotModified = true
		_, _ = io.CopyN(io.Discard, hresp.Body, drainLimit)
	case hresp.StatusCode >= 200 && hresp.StatusCode < 300:
		body, err := c.readBody(hresp)
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return nil, fmt.Errorf("fetch %s: %w", req.URL, err)
			}
			return nil, c.classify(ctx, reqCtx, req.URL, " while reading body", err)
		}
		resp.Body = body
	default:
		_, _ = io.CopyN(io.Discard, hresp.Body, drainLimit)
		resp.Duration = time.Since(start)
		return nil, &StatusError{Code: hresp.StatusCode, RetryAfter: resp.RetryAfter, URL: resp.URL, Response: resp}
	}
	resp.Duration = time.Since(start)
	return resp, nil
}

// classify turns a transport or body error into one that says what failed.
// parent is the caller's context, reqCtx the one the request ran under.
func (c *Client) classify(parent, reqCtx context.Context, rawURL, phase string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error repeats the method and URL; ours says "fetch URL".
		err = ue.Err
	}
	if parent.Err() != nil {
		return fmt.Errorf("fetch %s: canceled%s: %w", rawURL, phase, context.Cause(parent))
	}
	switch cause := context.Cause(reqCtx); {
	case errors.Is(cause, errTotalDeadline):
		return fmt.Errorf("fetch %s: %w after %s (whole request%s)", rawURL, ErrTimeout, c.timeout, phase)
	case errors.Is(cause, errHeaderDeadline):
		return fmt.Errorf("fetch %s: %w awaiting headers after %s", rawURL, ErrTimeout, c.headerTimeout)
	}
	if errors.Is(err, ErrTooManyRedirects) || errors.Is(err, ErrRedirectLoop) || errors.Is(err, ErrUnsupportedScheme) {
		return fmt.Errorf("fetch %s: %w", rawURL, err)
	}
	if errors.Is(err, ErrPrivateAddress) {
		return fmt.Errorf("fetch %s: %w", rawURL, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("fetch %s: %w%s: %w", rawURL, ErrTimeout, phase, err)
	}
	if phase != "" {
		return fmt.Errorf("fetch %s: read body: %w", rawURL, err)
	}
	return fmt.Errorf("fetch %s: %w", rawURL, err)
}

// readBody decodes the Content-Encoding and reads at most maxBody bytes of
// the result. The cap is on decompressed bytes, so a small gzip bomb stops
// at the cap instead of filling memory.
func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	if (enc == "" || enc == "identity") && resp.ContentLength > c.maxBody {
		return nil, fmt.Errorf("%w: Content-Length %d is over the %s cap", ErrTooLarge, resp.ContentLength, sizeString(c.maxBody))
	}
	r, err := decoder(enc, resp.Body)
	if err != nil {
		return nil, err
	}
	var body []byte
	if enc == "" && resp.ContentLength > 0 {
		// The length is known (and the transport stops there): one buffer
		// of that size, with room to see EOF without regrowing.
		var buf bytes.Buffer
		buf.Grow(int(resp.ContentLength) + bytes.MinRead)
		_, err = buf.ReadFrom(io.LimitReader(r, c.maxBody+1))
		body = buf.Bytes()
	} else {
		body, err = readChunks(io.LimitReader(r, c.maxBody+1))
	}
	if err != nil {
		if enc != "" && enc != "identity" && !isNetErr(err) {
			return nil, fmt.Errorf("decode %s body: %w", enc, err)
		}
		return nil, err
	}
	if int64(len(body)) > c.maxBody {
		return nil, fmt.Errorf("%w: over the %s cap (after decompression)", ErrTooLarge, sizeString(c.maxBody))
	}
	return body, nil
}

// readChunks reads r to its end in chunks of growing size (32 KiB to
// 1 MiB) and joins them once, for a body of unknown length. A doubling
// buffer holds up to three times what it has read while it grows (the old
// copy and a new one half empty): for a body that runs into the cap, the
// chunks hold the cap and one chunk more; for one that is kept, the join
// costs its size once.
func readChunks(r io.Reader) ([]byte, error) {
	var chunks [][]byte
	size, total := 32<<10, 0
	for {
		c := make([]byte, size)
		n, empty := 0, 0
		var err error
		for n < len(c) && err == nil {
			var k int
			k, err = r.Read(c[n:])
			n += k
			if k == 0 && err == nil {
				if empty++; empty > 100 {
					err = io.ErrNoProgress
				}
			}
		}
		chunks = append(chunks, c[:n])
		total += n
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		size = min(2*size, 1<<20)
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	out := make([]byte, 0, total)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out, nil
}

// isNetErr tells a failure of the connection or context (to be classified
// as such) from a malformed compressed stream.
func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, net.ErrClosed)
}

// decoder wraps body according to the Content-Encoding.
func decoder(enc string, body io.Reader) (io.Reader, error) {
	switch enc {
	case "", "identity":
		return body, nil
	case "gzip", "x-gzip":
		br := bufio.NewReader(body)
		if _, err := br.Peek(1); err == io.EOF {
			return br, nil // an empty body labelled gzip is just empty
		}
		zr, err := gzip.NewReader(br)
		if err != nil {
			if isNetErr(err) {
				return nil, err
			}
			return nil, fmt.Errorf("decode gzip body: %w", err)
		}
		return zr, nil
	case "deflate":
		// RFC 9110 "deflate" is zlib-wrapped, but some servers send raw
		// DEFLATE; a zlib header is recognisable by its checksum.
		br := bufio.NewReader(body)
		h, err := br.Peek(2)
		if err == io.EOF && len(h) == 0 {
			return br, nil
		}
		if len(h) == 2 && h[0]&0x0f == 8 && (uint16(h[0])<<8|uint16(h[1]))%31 == 0 {
			zr, err := zlib.NewReader(br)
			if err != nil {
				if isNetErr(err) {
					return nil, err
				}
				return nil, fmt.Errorf("decode deflate body: %w", err)
			}
			return zr, nil
		}
		return flate.NewReader(br), nil
	}
	return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
}

func newResponse(h *http.Response, rd *redirects, start time.Time) *Response {
	r := &Response{
		Status:       h.StatusCode,
		ContentType:  h.Header.Get("Content-Type"),
		ETag:         h.Header.Get("ETag"),
		LastModified: h.Header.Get("Last-Modified"),
		URL:          h.Request.URL.String(),
		Redirects:    rd.hops,
		Header:       h.Header,
	}
	if len(rd.hops) > 0 && rd.permanent {
		r.PermanentURL = r.URL
	}
	now := time.Now()
	if d, err := http.ParseTime(h.Header.Get("Date")); err == nil {
		r.Date = d
	}
	base := now
	if !r.Date.IsZero() {
		base = r.Date
	}
	r.RetryAfter = ParseRetryAfter(h.Header.Get("Retry-After"), base)
	r.MaxAge = parseMaxAge(h.Header.Values("Cache-Control"))
	if age, err := strconv.ParseInt(strings.TrimSpace(h.Header.Get("Age")), 10, 64); err == nil && age > 0 {
		r.Age = secondsDuration(age)
	}
	if e, err := http.ParseTime(h.Header.Get("Expires")); err == nil {
		r.Expires = e
	}
	r.Duration = time.Since(start)
	return r
}

// ParseRetryAfter parses a Retry-After header value: either delta-seconds or
// an HTTP date, taken relative to now. It returns 0 for an empty, malformed,
// negative or past value.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if isDigits(v) {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			// All digits but overflowing int64: as far away as we can say.
			return secondsDuration(maxSeconds)
		}
		return secondsDuration(secs)
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if d := t.Sub(now); d > 0 {
		return d
	}
	return 0
}

// maxSeconds keeps seconds*time.Second from overflowing.
const maxSeconds = int64(1<<63-1) / int64(time.Second)

func secondsDuration(s int64) time.Duration {
	if s > maxSeconds {
		s = maxSeconds
	}
	return time.Duration(s) * time.Second
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// parseMaxAge reads max-age (or s-maxage) from Cache-Control header values;
// see Response.MaxAge for the meaning of 0 and -1.
func parseMaxAge(values []string) time.Duration {
	var maxAge, sMaxAge int64 = -1, -1
	never := false
	for _, v := range values {
		for _, dir := range strings.Split(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(dir), "=")
			arg = strings.Trim(strings.TrimSpace(arg), `"`)
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				never = true
			case "max-age":
				if n, err := strconv.ParseInt(arg, 10, 64); err == nil && n >= 0 && maxAge < 0 {
					maxAge = n
				}
			case "s-maxage":
				if n, err := strconv.ParseInt(arg, 10, 64); err == nil && n >= 0 && sMaxAge < 0 {
					sMaxAge = n
				}
			}
		}
	}
	secs := maxAge
	if secs < 0 {
		secs = sMaxAge
	}
	switch {
	case never || secs == 0:
		return -1
	case secs < 0:
		return 0
	}
	return secondsDuration(secs)
}

// sizeString formats a byte count for error messages, e.g. "20 MiB".
func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d-byte", n)
}
