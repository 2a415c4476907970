// Package babelfeed holds the domain types every layer shares: a subscribed
// Feed, a stored Item and the Query that selects items. It has no
// dependencies beyond the standard library so that feeds/, filter/, store/
// and cmd/ can all import it without cycles.
package babelfeed

import (
	"strings"
	"time"
)

// FeedState says whether a feed is being polled successfully.
type FeedState string

const (
	// StateOK means the last fetch succeeded (or the feed was never fetched).
	StateOK FeedState = "ok"
	// StateFailing means one or more fetches in a row have failed; the feed
	// keeps being retried with backoff.
	StateFailing FeedState = "failing"
	// StateGone means the server answered 410 Gone; the feed is not polled
	// until a user revives it.
	StateGone FeedState = "gone"
)

// Feed is one subscription and what the poller knows about it.
type Feed struct {
	ID       uint64    `json:"id"`
	URL      string    `json:"url"`
	Title    string    `json:"title"`
	SiteURL  string    `json:"site_url,omitempty"`
	Category []string  `json:"category,omitempty"` // folder path from the OPML, outermost first
	Added    time.Time `json:"added"`

	// Fetch state. Validators are saved only together with the items they
	// describe, so a failed write never makes the next poll skip content.
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	BodyHash     string    `json:"body_hash,omitempty"`
	LastStatus   int       `json:"status"`
	LastError    string    `json:"last_error"`
	LastFetched  time.Time `json:"last_fetched,omitempty"`
	LastSuccess  time.Time `json:"last_success,omitempty"`
	State        FeedState `json:"state"`
	ErrorCount   int       `json:"error_count"`
	FailingSince time.Time `json:"failing_since,omitempty"`
	NextPoll     time.Time `json:"next_poll,omitempty"`
	NextReason   string    `json:"next_reason,omitempty"`
	PrevURLs     []string  `json:"prev_urls,omitempty"` // earlier URLs left behind by permanent redirects

	// What the feed says about itself.
	DeclaredLang string `json:"declared_lang,omitempty"`
	// Hints from the last successful response, used by the scheduler; kept
	// so that a 304, which carries no document, still honours them.
	TTLMinutes      int      `json:"ttl_minutes,omitempty"`
	SkipHours       []int    `json:"skip_hours,omitempty"`
	SkipDays        []string `json:"skip_days,omitempty"`
	UpdatePeriod    string   `json:"update_period,omitempty"`
	UpdateFrequency int      `json:"update_frequency,omitempty"`

	// Derived counts, maintained by the store.
	Items     int            `json:"items"`
	Languages map[string]int `json:"languages"` // items per detected language
}

// CategoryPath joins the category folders with "/" for display.
func (f *Feed) CategoryPath() string { return strings.Join(f.Category, "/") }

// LangMethod says how an item's language was decided.
type LangMethod string

const (
	LangDetected     LangMethod = "detected"     // lingua was confident on the text
	LangPrior        LangMethod = "prior"        // short/unsure text settled by the feed's prior
	LangDeclared     LangMethod = "declared"     // only the feed's declaration was usable
	LangUndetermined LangMethod = "undetermined" // nothing to go on: Lang is "und"
)

// Undetermined is the ISO 639-2 code stored when no language could be told.
const Undetermined = "und"

// Item is one normalised entry of a feed, as stored.
type Item struct {
	ID     uint64 `json:"id"`
	FeedID uint64 `json:"feed_id"`
	// Key is the item's identity within its feed (see feeds/parse): the
	// GUID, GUID+link, the link, or a hash of title and date.
	Key        string    `json:"key"`
	GUID       string    `json:"guid"`
	URL        string    `json:"url"`
	Title      string    `json:"title"`
	Summary    string    `json:"summary"`           // plain text, no markup
	Content    string    `json:"content,omitempty"` // plain text of the full content when it differs from the summary
	Author     string    `json:"author,omitempty"`
	Categories []string  `json:"categories,omitempty"`
	Published  time.Time `json:"published"`
	Updated    time.Time `json:"updated,omitempty"`
	FirstSeen  time.Time `json:"first_seen"`

	Lang           string     `json:"lang"`
	LangConfidence float64    `json:"lang_confidence"`
	LangMethod     LangMethod `json:"lang_method"`
	DeclaredLang   string     `json:"declared_lang"`

	// ContentHash changes when the title, link or text of the item change.
	ContentHash string `json:"content_hash"`

	// DuplicateOf is the ID of the item, stored earlier from another feed,
	// that tells the same story (same canonical URL, or same normalised
	// title within a day); 0 for an original. Duplicates are kept, and
	// hidden by queries and published feeds unless asked for.
	DuplicateOf uint64 `json:"duplicate_of,omitempty"`
}

// Text returns the title and body as one string, as the language tagger and
// the keyword matcher see it.
func (it *Item) Text() string {
	body := it.Content
	if body == "" {
		body = it.Summary
	}
	if it.Title == "" {
		return body
	}
	if body == "" {
		return it.Title
	}
	return it.Title + "\n" + body
}

// Query selects stored items. The zero Query selects every item, newest
// first.
type Query struct {
	Langs    []string  // ISO 639-1 codes (or "und"); any of them matches
	FeedIDs  []uint64  // any of them matches
	Category string    // category path prefix, "/"-separated
	Words    []string  // every word must occur as a whole word, case- and accent-insensitively
	Since    time.Time // published at or after
	Until    time.Time // published before
	Limit    int       // 0 means no limit
}
