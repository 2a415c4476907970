// Package parse turns the bytes of a fetched feed into normalised
// babelfeed.Items: it decides the character encoding, parses RSS 0.9x/1.0/2.0,
// Atom and JSON Feed with gofeed, and reduces every item to plain text, sane
// dates, an absolute link, a stable identity key and a content hash. It also
// tells a web page (and the feeds it advertises) from a broken feed.
package parse

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/mmcdole/gofeed/rss"

	"babelfeed"
	"babelfeed/filter/text"
)

// Options tune a Parser. Zero values take the defaults. The caps bound
// what one hostile document can cost, whatever its size.
type Options struct {
	Now      func() time.Time // injected clock; default time.Now
	MaxItems int              // items kept per document, default 1000: the first ones, in feed order
	MaxTitle int              // characters of a title, default 1000
	MaxText  int              // characters of plain text per summary and per content, default 20000
	// MaxURL is the longest item or site link kept, in bytes, default
	// 8192; a longer link is dropped (a cut link would be a wrong one).
	MaxURL int
	// MaxDepth is how deeply XML elements may nest, default 100 (real
	// feeds nest 12 at most); a deeper document is an error wrapping
	// ErrTooDeep.
	MaxDepth int
	// MaxGunzip caps a body that arrives still gzip-compressed once
	// inflated, in bytes, default 64 MiB.
	MaxGunzip int64
}

// Defaults for Options.
const (
	DefaultMaxItems  = 1000
	DefaultMaxTitle  = 1000
	DefaultMaxText   = 20000
	DefaultMaxURL    = 8192
	DefaultMaxDepth  = 100
	DefaultMaxGunzip = 64 << 20
)

// Fixed caps on the smaller fields of an item.
const (
	// maxGUID is the longest GUID kept as it is, in bytes; a longer one is
	// replaced by "sha256:" and its hash, which identifies the item just as
	// well and keeps its key within what the store can index.
	maxGUID = 1024
	// maxCategories is how many categories of an item are kept.
	maxCategories = 32
	// maxName is the length of an author or category name, in characters.
	maxName = 200
)

// futureSlack is how far in the future a date may lie before it is taken as
// a clock error or a scheduled post and replaced by the current time.
const futureSlack = 10 * time.Minute

// Parser parses feeds. It wraps one gofeed.Parser, whose Parse holds no
// state between calls, so one Parser serves any number of goroutines.
type Parser struct {
	fp   *gofeed.Parser
	opts Options
}

// New returns a Parser with opts, defaults filled in.
func New(opts Options) *Parser {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxItems <= 0 {
		opts.MaxItems = DefaultMaxItems
	}
	if opts.MaxTitle <= 0 {
		opts.MaxTitle = DefaultMaxTitle
	}
	if opts.MaxText <= 0 {
		opts.MaxText = DefaultMaxText
	}
	if opts.MaxURL <= 0 {
		opts.MaxURL = DefaultMaxURL
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if opts.MaxGunzip <= 0 {
		opts.MaxGunzip = DefaultMaxGunzip
	}
	fp := gofeed.NewParser()
	// The RSS original carries ttl, skipHours and skipDays, which the
	// universal feed drops.
	fp.KeepOriginalFeed = true
	return &Parser{fp: fp, opts: opts}
}

// Result is a parsed, normalised feed document.
type Result struct {
	Title, SiteURL, Description string
	// Language is the declared feed language as a lower-case ISO 639-1 code
	// ("it-IT" gives "it"), "" when missing or not a language.
	Language string
	// Format is the detected format and version: "rss 2.0", "rss 1.0",
	// "atom 1.0", "json 1.1", ...
	Format string
	// Hints for the scheduler, from RSS <ttl>, <skipHours>, <skipDays> and
	// the syndication module (sy:updatePeriod, sy:updateFrequency). Zero or
	// empty when absent or invalid.
	TTLMinutes      int
	SkipHours       []int    // 0-23
	SkipDays        []string // "Monday" ... "Sunday"
	UpdatePeriod    string   // hourly, daily, weekly, monthly or yearly
	UpdateFrequency int
	// Items in feed order. FeedID, ID and the Lang* fields are left empty;
	// DeclaredLang is Language.
	Items []babelfeed.Item
	// Truncated is true when the document held more than MaxItems items
	// (or more than twice as many, of which the first MaxItems were kept
	// once empty and repeated items were dropped).
	Truncated bool
	// Partial is true when the document was cut short or broken: Items
	// are the complete ones before the break (gofeed alone returns none).
	Partial bool
}

// Parse decodes the charset of body (see Decode), parses it with gofeed and
// normalises every item. Relative links are resolved against the feed's own
// site link only; use ParseURL when the document's URL is known.
func (p *Parser) Parse(ctx context.Context, body []byte, contentType string) (*Result, error) {
	return p.ParseURL(ctx, body, contentType, "")
}

// ParseURL is Parse for a document fetched from docURL: relative links (of
// items, of the site, and of the feeds an HTML page advertises) are resolved
// against it. A body that is no feed at all gives a *NotAFeedError. A body
// that is still gzip-compressed is decompressed first.
func (p *Parser) ParseURL(ctx context.Context, body []byte, contentType, docURL string) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("parse feed: %w", err)
	}
	var base *url.URL
	if docURL != "" {
		if u, err := url.Parse(strings.TrimSpace(docURL)); err == nil {
			base = u
		}
	}
	body, err := gunzip(body, p.opts.MaxGunzip)
	if err != nil {
		return nil, fmt.Errorf("parse feed: %w", err)
	}
	data, err := Decode(body, contentType)
	if err != nil {
		return nil, fmt.Errorf("parse feed: %w", err)
	}
	cut := false
	if r := sniffRoot(data); r.name == "" || r.name == "rss" || r.name == "rdf" || r.name == "feed" {
		// Other roots are no feed to gofeed; their markup (an HTML page's
		// <br> and <img>) need not nest.
		data, cut, err = bound(data, p.opts.MaxDepth, itemsKept(p.opts.MaxItems))
		if err != nil {
			return nil, fmt.Errorf("parse feed: %w", err)
		}
	}
	feed, err := p.gofeed(data)
	if errors.Is(err, gofeed.ErrFeedTypeNotDetected) {
		naf := notAFeed(data, contentType, base)
		if naf != nil {
			return nil, naf
		}
		// The root is rss, RDF or feed, but gofeed only looks at the first
		// 4 KB: drop whatever comes between the prolog and the root.
		if r := sniffRoot(data); r.offset > 0 {
			feed, err = p.gofeed(append(prologOf(data), data[r.offset:]...))
		}
	}
	partial := false
	if err != nil && salvageable(err) {
		if fixed := salvage(data); fixed != nil {
			if f, ferr := p.gofeed(fixed); ferr == nil && len(f.Items) > 0 {
				feed, err, partial = f, nil, true
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("parse feed: %w", err)
	}
	if feed == nil {
		return nil, errors.New("parse feed: no feed")
	}
	if feed.FeedType == "json" && feed.FeedVersion == "" && feed.Title == "" && len(feed.Items) == 0 {
		// gofeed takes any JSON object for a JSON Feed.
		return nil, &NotAFeedError{Kind: KindJSON}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("parse feed: %w", err)
	}
	res, err := p.normalise(ctx, feed, base)
	if res != nil {
		res.Partial = partial
		res.Truncated = res.Truncated || cut
	}
	return res, err
}

// gunzip decompresses a body that is still gzip-compressed: a feed file
// served as .xml.gz without Content-Encoding, or a server that compressed
// twice. Other bodies are returned as they are. limit bounds the inflated
// size, against decompression bombs.
func gunzip(body []byte, limit int64) ([]byte, error) {
	if len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		return body, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	defer zr.Close()
	out, err := readAll(zr, limit)
	if errors.Is(err, errTooLarge) {
		return nil, fmt.Errorf("gunzip: inflates to more than %d bytes", limit)
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	return out, nil
}

// errTooLarge is readAll's error past its limit.
var errTooLarge = errors.New("over the limit")

// readAll is io.ReadAll up to limit bytes (more fails with errTooLarge),
// without io.ReadAll's doubling buffer, which holds up to three times what
// it has read while it grows: it reads in chunks of growing size (32 KiB
// to 1 MiB) and joins them once, so a bomb that runs into the limit costs
// the limit and one chunk. Like io.ReadAll, it returns what it read along
// with any other error.
func readAll(r io.Reader, limit int64) ([]byte, error) {
	r = io.LimitReader(r, limit+1)
	var chunks [][]byte
	size, total := 32<<10, 0
	var err error
	for err == nil {
		c := make([]byte, size)
		n := 0
		for n < len(c) && err == nil {
			var k int
			k, err = r.Read(c[n:])
			n += k
		}
		chunks = append(chunks, c[:n])
		total += n
		size = min(2*size, 1<<20)
	}
	if int64(total) > limit {
		return nil, errTooLarge
	}
	if err == io.EOF {
		err = nil
	}
	if len(chunks) == 1 {
		return chunks[0], err
	}
	out := make([]byte, 0, total)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out, err
}

// gofeed runs the gofeed parser, turning a panic inside it into an error:
// one hostile document must not take the poller down.
func (p *Parser) gofeed(data []byte) (feed *gofeed.Feed, err error) {
	defer func() {
		if r := recover(); r != nil {
			feed, err = nil, fmt.Errorf("gofeed panicked: %v", r)
		}
	}()
	return p.fp.Parse(bytes.NewReader(data))
}

// format names the document format: "rss 2.0", "atom 1.0", "json 1.1".
func format(feed *gofeed.Feed) string {
	v := strings.TrimSpace(feed.FeedVersion)
	if i := strings.LastIndex(v, "/version/"); i >= 0 {
		v = v[i+len("/version/"):] // JSON Feed gives its version as a URL
	}
	return strings.TrimSpace(feed.FeedType + " " + v)
}

// prologOf returns the XML prolog at the start of data, if any.
func prologOf(data []byte) []byte {
	if loc := prologRe.FindIndex(head(data)); loc != nil {
		return append([]byte(nil), data[loc[0]:loc[1]]...)
	}
	return nil
}

func (p *Parser) normalise(ctx context.Context, feed *gofeed.Feed, base *url.URL) (*Result, error) {
	now := p.opts.Now().UTC()
	res := &Result{
		Title:       oneLine(text.HTMLToText(feed.Title, p.opts.MaxTitle)),
		Description: text.HTMLToText(feed.Description, p.opts.MaxText),
		Language:    NormaliseLanguage(feed.Language),
		Format:      format(feed),
	}
	site := p.link(resolve(base, feed.Link))
	if site != "" {
		res.SiteURL = site
		if u, err := url.Parse(site); err == nil {
			base = u // items resolve against the site link, as readers do
		}
	}
	if orig, ok := feed.OriginalFeed().(*rss.Feed); ok {
		res.TTLMinutes = positiveInt(orig.TTL)
		res.SkipHours = skipHours(orig.SkipHours)
		res.SkipDays = skipDays(orig.SkipDays)
	}
	res.UpdatePeriod, res.UpdateFrequency = syndication(feed)

	// A GUID that occurs more than once in the document does not identify
	// an item: those items are keyed by GUID and link together.
	guids := make(map[string]int, len(feed.Items))
	for _, it := range feed.Items {
		if it != nil {
			if g := capGUID(strings.TrimSpace(it.GUID)); g != "" {
				guids[g]++
			}
		}
	}
	feedAuthor := author(feed.Authors)
	keys := make(map[string]bool, len(feed.Items))
	res.Items = make([]babelfeed.Item, 0, min(len(feed.Items), p.opts.MaxItems))
	for i, it := range feed.Items {
		if i%256 == 255 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("parse feed: %w", err)
			}
		}
		if len(res.Items) == p.opts.MaxItems {
			res.Truncated = true
			break
		}
		if it == nil {
			continue
		}
		item, ok := p.item(it, base, now, guids, feedAuthor)
		if !ok || keys[item.Key] {
			continue
		}
		keys[item.Key] = true
		item.DeclaredLang = res.Language
		res.Items = append(res.Items, item)
	}
	return res, nil
}

// item normalises one gofeed item; ok is false for an item with nothing in
// it (no title, no text, no link).
func (p *Parser) item(it *gofeed.Item, base *url.URL, now time.Time, guids map[string]int, feedAuthor string) (babelfeed.Item, bool) {
	guid := strings.TrimSpace(it.GUID)
	link := strings.TrimSpace(it.Link)
	if link == "" {
		for _, l := range it.Links {
			if l = strings.TrimSpace(l); l != "" {
				link = l
				break
			}
		}
	}
	if link == "" && isWebURL(guid) {
		link = guid // RSS: a GUID is a permalink unless it says otherwise
	}
	guid = capGUID(guid)
	out := babelfeed.Item{
		GUID:      guid,
		URL:       p.link(resolve(base, link)),
		Title:     oneLine(text.HTMLToText(it.Title, p.opts.MaxTitle)),
		FirstSeen: now,
	}
	desc := it.Description
	if strings.TrimSpace(desc) == "" && it.ITunesExt != nil {
		desc = it.ITunesExt.Summary
	}
	summary := text.HTMLToText(desc, p.opts.MaxText)
	content := text.HTMLToText(it.Content, p.opts.MaxText)
	if summary == "" {
		summary, content = content, ""
	}
	out.Summary = summary
	if content != summary {
		out.Content = content
	}
	if out.Title == "" && out.Summary == "" && out.URL == "" {
		return out, false
	}
	out.Author = author(it.Authors)
	if out.Author == "" {
		out.Author = feedAuthor // Atom entries inherit the feed's author
	}
	out.Categories = categories(it.Categories)

	published := validDate(it.PublishedParsed, it.Published)
	updated := validDate(it.UpdatedParsed, it.Updated)
	switch {
	case !published.IsZero():
		out.Published = published
	case !updated.IsZero():
		out.Published = updated
	default:
		out.Published = now
	}
	if out.Published.After(now.Add(futureSlack)) {
		out.Published = now
	}
	if !updated.IsZero() {
		out.Updated = updated
		if updated.After(now.Add(futureSlack)) {
			out.Updated = now
		}
	}

	out.Key = key(guid, out.URL, guids, out.Title, out.Summary, it)
	out.ContentHash = contentHash(out.Title, out.URL, out.Summary, out.Content)
	return out, true
}

// key returns an item's identity in its feed:
//   - the GUID;
//   - "GUID|URL" when the GUID occurs more than once in the document;
//   - without a GUID, the absolute URL as it is (so that a feed that starts
//     sending permalink GUIDs keeps its items' identity);
//   - with neither, "hash:" and 32 hex digits of SHA-256 over the title and
//     the date as the feed wrote it (the summary stands in for a missing
//     title). The first-seen time is not used: it changes on every poll.
func key(guid, link string, guids map[string]int, title, summary string, it *gofeed.Item) string {
	switch {
	case guid != "" && guids[guid] > 1:
		return guid + "|" + link
	case guid != "":
		return guid
	case link != "":
		return link
	}
	date := strings.TrimSpace(it.Published)
	if date == "" {
		date = strings.TrimSpace(it.Updated)
	}
	if title == "" {
		title = summary
	}
	sum := sha256.Sum256([]byte(title + "\x00" + date))
	return "hash:" + hex.EncodeToString(sum[:16])
}

// contentHash changes when the title, link or text of an item change.
func contentHash(title, link, summary, content string) string {
	h := sha256.New()
	for _, s := range []string{title, link, summary, content} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// minDate: earlier dates are parse accidents (year 1, epoch zero), not news.
var minDate = time.Date(1971, 1, 1, 0, 0, 0, 0, time.UTC)

// validDate returns the parsed date, or the raw string parsed with the
// localised fallback, in UTC; zero when neither gives a plausible date.
func validDate(parsed *time.Time, raw string) time.Time {
	var t time.Time
	if parsed != nil {
		t = *parsed
	} else if raw = strings.TrimSpace(raw); raw != "" {
		t, _ = parseLocalDate(raw)
	}
	if t.Before(minDate) {
		return time.Time{}
	}
	return t.UTC()
}

// author returns the first author's name (or e-mail when nameless).
func author(authors []*gofeed.Person) string {
	for _, a := range authors {
		if a == nil {
			continue
		}
		name := a.Name
		if strings.TrimSpace(name) == "" {
			name = a.Email
		}
		if s := oneLine(text.HTMLToText(name, maxName)); s != "" {
			return s
		}
	}
	return ""
}

func categories(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range in {
		if len(out) == maxCategories {
			break
		}
		c = oneLine(text.HTMLToText(c, maxName))
		if c == "" || seen[c] {
			continue
		}
		seen[c] = true
		out = append(out, c)
	}
	return out
}

// resolve returns ref made absolute against base, or ref trimmed when it
// cannot be parsed or there is no base.
func resolve(base *url.URL, ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	if base != nil && !u.IsAbs() {
		u = base.ResolveReference(u)
	}
	return u.String()
}

// capGUID returns a GUID longer than maxGUID bytes as "sha256:" and the
// hex digest of it, any other as it is.
func capGUID(guid string) string {
	if len(guid) <= maxGUID {
		return guid
	}
	sum := sha256.Sum256([]byte(guid))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// link returns a resolved link as kept on an item or feed: "" when it is
// longer than MaxURL or has a scheme other than http and https (a
// "javascript:" or "data:" link must not reach a reader that renders
// links). A relative link, left so when there was no base, is kept.
func (p *Parser) link(s string) string {
	if s == "" || len(s) > p.opts.MaxURL || !webOrRelative(s) {
		return ""
	}
	return s
}

// linkSpace removes what a browser removes from anywhere in a URL.
var linkSpace = strings.NewReplacer("\t", "", "\n", "", "\r", "")

// webOrRelative reports whether a link has no scheme or the http or https
// one, reading it as a browser does: leading spaces and control characters
// do not count, nor do tabs and line breaks anywhere ("java\nscript:").
func webOrRelative(s string) bool {
	s = strings.TrimLeftFunc(s, func(r rune) bool { return r <= ' ' })
	if strings.ContainsAny(s, "\t\n\r") {
		s = linkSpace.Replace(s)
	}
	i := strings.IndexAny(s, ":/?#")
	if i <= 0 || s[i] != ':' {
		return true
	}
	scheme := strings.ToLower(s[:i])
	return scheme == "http" || scheme == "https"
}

func isWebURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// oneLine turns line breaks into spaces, for titles and names.
func oneLine(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	return strings.ReplaceAll(s, "\n", " ")
}

func positiveInt(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// skipHours keeps valid hours; 24, which some feeds use for midnight, is 0.
func skipHours(in []string) []int {
	var out []int
	seen := [24]bool{}
	for _, s := range in {
		h, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || h < 0 || h > 24 {
			continue
		}
		h %= 24
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

var weekdays = map[string]string{
	"monday": "Monday", "tuesday": "Tuesday", "wednesday": "Wednesday",
	"thursday": "Thursday", "friday": "Friday", "saturday": "Saturday", "sunday": "Sunday",
}

func skipDays(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		d, ok := weekdays[strings.ToLower(strings.TrimSpace(s))]
		if ok && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// syndication reads sy:updatePeriod and sy:updateFrequency.
func syndication(feed *gofeed.Feed) (period string, freq int) {
	sy := feed.Extensions["sy"]
	if sy == nil {
		return "", 0
	}
	if v := sy["updatePeriod"]; len(v) > 0 {
		switch p := strings.ToLower(strings.TrimSpace(v[0].Value)); p {
		case "hourly", "daily", "weekly", "monthly", "yearly":
			period = p
		}
	}
	if v := sy["updateFrequency"]; len(v) > 0 {
		freq = positiveInt(v[0].Value)
	}
	return period, freq
}
