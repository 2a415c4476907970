// Package api defines the JSON shapes babelfeed shows the world: the CLI's
// --format json/jsonl output and the HTTP API's bodies. Keeping them in one
// place keeps the two from drifting apart; field names are a contract.
package api

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"time"

	"babelfeed"
)

// Item is an item as shown to users.
type Item struct {
	ID             uint64   `json:"id"`
	FeedID         uint64   `json:"feed_id"`
	FeedURL        string   `json:"feed_url"`
	FeedTitle      string   `json:"feed_title"`
	GUID           string   `json:"guid"`
	URL            string   `json:"url"`
	Title          string   `json:"title"`
	Summary        string   `json:"summary"`
	Author         string   `json:"author,omitempty"`
	Categories     []string `json:"categories,omitempty"`
	Published      string   `json:"published"`
	FirstSeen      string   `json:"first_seen"`
	Lang           string   `json:"lang"`
	LangConfidence float64  `json:"lang_confidence"`
	LangMethod     string   `json:"lang_method"`
	DeclaredLang   string   `json:"declared_lang"`
	// DuplicateOf is the ID of the item of another feed that told the
	// same story first (shown with --all-duplicates / all_duplicates=1).
	DuplicateOf uint64 `json:"duplicate_of,omitempty"`
	// Score is the item's relevance (BM25) in a listing sorted by
	// relevance; absent otherwise.
	Score float64 `json:"score,omitempty"`
}

// NewItem shapes a stored item for output; f is the item's feed.
func NewItem(it babelfeed.Item, f babelfeed.Feed) Item {
	return Item{
		ID: it.ID, FeedID: it.FeedID, FeedURL: f.URL, FeedTitle: f.Title,
		GUID: it.GUID, URL: it.URL, Title: it.Title, Summary: it.Summary,
		Author: it.Author, Categories: it.Categories,
		Published: RFC3339(it.Published), FirstSeen: RFC3339(it.FirstSeen),
		Lang: it.Lang, LangConfidence: math.Round(it.LangConfidence*1000) / 1000,
		LangMethod: string(it.LangMethod), DeclaredLang: it.DeclaredLang,
		DuplicateOf: it.DuplicateOf,
	}
}

// Feed is a subscription as shown to users.
type Feed struct {
	ID           uint64         `json:"id"`
	URL          string         `json:"url"`
	Title        string         `json:"title"`
	SiteURL      string         `json:"site_url,omitempty"`
	Category     string         `json:"category"`
	State        string         `json:"state"`
	Status       int            `json:"status"`
	LastError    string         `json:"last_error"`
	ErrorCount   int            `json:"error_count"`
	FailingSince string         `json:"failing_since,omitempty"`
	LastFetched  string         `json:"last_fetched,omitempty"`
	LastSuccess  string         `json:"last_success,omitempty"`
	NextPoll     string         `json:"next_poll,omitempty"`
	NextReason   string         `json:"next_reason,omitempty"`
	DeclaredLang string         `json:"declared_lang"`
	Items        int            `json:"items"`
	Languages    map[string]int `json:"languages"`
	PrevURLs     []string       `json:"prev_urls,omitempty"`
}

// NewFeed shapes a stored feed for output.
func NewFeed(f babelfeed.Feed) Feed {
	state := string(f.State)
	if state == "" {
		state = string(babelfeed.StateOK)
	}
	langs := f.Languages
	if langs == nil {
		langs = map[string]int{}
	}
	return Feed{
		ID: f.ID, URL: f.URL, Title: f.Title, SiteURL: f.SiteURL, Category: f.CategoryPath(),
		State: state, Status: f.LastStatus, LastError: f.LastError, ErrorCount: f.ErrorCount,
		FailingSince: RFC3339(f.FailingSince), LastFetched: RFC3339(f.LastFetched), LastSuccess: RFC3339(f.LastSuccess),
		NextPoll: RFC3339(f.NextPoll), NextReason: f.NextReason, DeclaredLang: f.DeclaredLang,
		Items: f.Items, Languages: langs, PrevURLs: f.PrevURLs,
	}
}

// RFC3339 formats t in UTC, or "" for the zero time.
func RFC3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Cursor marks a position in a newest-first listing: the last item shown.
// Pagination by cursor (keyset) stays stable while new items arrive.
type Cursor struct {
	Published time.Time
	ID        uint64
}

// Encode returns the cursor as an opaque URL-safe token.
func (c Cursor) Encode() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(c.Published.UnixNano()))
	binary.BigEndian.PutUint64(b[8:], c.ID)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ErrBadCursor is returned for a token that Encode did not make.
var ErrBadCursor = errors.New("malformed cursor")

// DecodeCursor reads a token made by Encode.
func DecodeCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return Cursor{}, ErrBadCursor
	}
	return Cursor{
		Published: time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))),
		ID:        binary.BigEndian.Uint64(b[8:]),
	}, nil
}

// After reports whether an item at (published, id) comes after the cursor
// in newest-first order, i.e. belongs on the next page.
func (c Cursor) After(published time.Time, id uint64) bool {
	if !published.Equal(c.Published) {
		return published.Before(c.Published)
	}
	return id < c.ID
}
