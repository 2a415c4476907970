package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"babelfeed/feeds/publish"
	"babelfeed/filter/query"
	"babelfeed/store"
)

// Published feeds: every saved query as /feeds/NAME.atom and
// /feeds/NAME.json, any query as /feed.atom?q=... and /feed.json?q=...
//
// Parameters: limit (entries per page, 1..1000, default 50), cursor (from
// the rel="next" link or next_url), all_duplicates=1 (show cross-feed
// duplicates too). Answers carry ETag and Last-Modified and honour
// If-None-Match / If-Modified-Since with 304. When the server has a token,
// feed readers, which rarely send headers, may pass it as ?token=.

const defaultFeedPage = 50

// feedAuth is auth for the feed routes: the bearer header or a token
// query parameter.
func (s *Server) feedAuth(h http.Handler) http.Handler {
	if s.Token == "" {
		return h
	}
	bearer := s.auth(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("token"); tok != "" {
			if subtle.ConstantTimeCompare([]byte(tok), []byte(s.Token)) == 1 {
				h.ServeHTTP(w, r)
				return
			}
		}
		bearer.ServeHTTP(w, r)
	})
}

// savedFeed serves /feeds/NAME.atom and /feeds/NAME.json.
func (s *Server) savedFeed(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	name, format, ok := splitFeedFile(file)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no feed %q: published feeds are NAME.atom or NAME.json", file))
		return
	}
	sq, err := s.Store.SavedQuery(name)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no saved query named %q", name))
		return
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	m := publish.Meta{ID: publish.SavedID(name), Title: name, Subtitle: sq.Query}
	s.serveFeed(w, r, format, sq.Query, m)
}

// queryFeed serves /feed.atom?q= and /feed.json?q=.
func (s *Server) queryFeed(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("q")
		title := q
		if strings.TrimSpace(title) == "" {
			title = "all items"
		}
		s.serveFeed(w, r, format, q, publish.Meta{ID: publish.QueryID(q), Title: "babelfeed: " + title, Subtitle: q})
	}
}

func splitFeedFile(file string) (name, format string, ok bool) {
	for _, ext := range []string{".atom", ".json"} {
		if n, found := strings.CutSuffix(file, ext); found && store.ValidSavedName(n) == nil {
			return n, ext[1:], true
		}
	}
	return "", "", false
}

func (s *Server) serveFeed(w http.ResponseWriter, r *http.Request, format, q string, m publish.Meta) {
	v := r.URL.Query()
	limit := defaultFeedPage
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPageSize {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit must be 1..%d, got %q", maxPageSize, l))
			return
		}
		limit = n
	}
	node, err := query.Parse(q, s.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	page, err := publish.Select(r.Context(), s.Store, publish.Request{
		Node: node, Limit: limit, Cursor: v.Get("cursor"), AllDuplicates: isTrue(v.Get("all_duplicates")),
	})
	if err != nil {
		status := http.StatusInternalServerError
		if v.Get("cursor") != "" && strings.Contains(err.Error(), "cursor") {
			status = http.StatusBadRequest
		}
		writeError(w, status, err)
		return
	}
	self := s.absURL(r, nil)
	m.SelfURL = self
	if page.Next != "" {
		m.NextURL = s.absURL(r, map[string]string{"cursor": page.Next})
	}
	var body bytes.Buffer
	contentType := "application/atom+xml; charset=utf-8"
	if format == "json" {
		contentType = "application/feed+json; charset=utf-8"
		err = publish.WriteJSONFeed(&body, m, page.Entries, page.Originals)
	} else {
		err = publish.WriteAtom(&body, m, page.Entries)
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	// The body is a function of the stored items and the request, so its
	// hash is a strong validator. Last-Modified, for clients that only
	// send If-Modified-Since, is when this server first produced this body
	// for this URL: item dates would not move when an older item arrives
	// or a feed is removed.
	sum := sha256.Sum256(body.Bytes())
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache")
	key := r.URL.Path + "?" + withoutToken(v)
	http.ServeContent(w, r, "", s.feedTimes.modified(key, etag, time.Now()), bytes.NewReader(body.Bytes()))
}

func withoutToken(v url.Values) string {
	c := url.Values{}
	for k, vals := range v {
		if k != "token" {
			c[k] = vals
		}
	}
	return c.Encode()
}

// maxFeedTimes bounds the URLs feedTimes remembers; past it, it starts
// afresh (a client then gets one full answer more).
const maxFeedTimes = 10000

// feedTimes remembers, per published URL, the ETag last served and since
// when: the Last-Modified of that body.
type feedTimes struct {
	mu sync.Mutex
	m  map[string]feedTime
}

type feedTime struct {
	etag string
	at   time.Time
}

// modified returns the Last-Modified time of the body with etag at key.
// HTTP dates have one-second resolution, so a new body gets a time at
// least a second after the previous one's, or a client holding the old
// date would be told nothing changed.
func (ft *feedTimes) modified(key, etag string, now time.Time) time.Time {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.m == nil || len(ft.m) >= maxFeedTimes {
		ft.m = map[string]feedTime{}
	}
	prev, ok := ft.m[key]
	if ok && prev.etag == etag {
		return prev.at
	}
	at := now.UTC().Truncate(time.Second)
	if ok && !at.After(prev.at) {
		at = prev.at.Add(time.Second)
	}
	ft.m[key] = feedTime{etag: etag, at: at}
	return at
}

// absURL is the request's own URL, absolute, with some query parameters
// replaced. The base comes from PublicURL when set (behind a reverse
// proxy), else from the request.
func (s *Server) absURL(r *http.Request, set map[string]string) string {
	q := r.URL.Query()
	for k, v := range set {
		q.Set(k, v)
	}
	u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	if r.TLS != nil {
		u.Scheme = "https"
	}
	if s.PublicURL != "" {
		if base, err := url.Parse(strings.TrimSuffix(s.PublicURL, "/")); err == nil && base.Host != "" {
			u.Scheme, u.Host, u.Path = base.Scheme, base.Host, base.Path+r.URL.Path
		}
	}
	return u.String()
}

func isTrue(v string) bool {
	return v == "1" || strings.EqualFold(v, "true") || strings.EqualFold(v, "yes")
}
