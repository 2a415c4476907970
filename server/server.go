// Package server is babelfeed's HTTP API: items with the same filters as the
// CLI's query (JSON, keyset pagination), feeds with their state, stats, OPML
// import and export (with rules), poll-now, /healthz, Prometheus /metrics,
// and saved and ad-hoc queries published as Atom and JSON Feed. It serves
// what a running daemon holds; it has no policy of its own.
package server

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"babelfeed"
	"babelfeed/api"
	"babelfeed/feeds/opml"
	"babelfeed/feeds/poll"
	"babelfeed/filter/query"
	"babelfeed/filter/rules"
	"babelfeed/filter/search"
	"babelfeed/store"
)

// Server serves the API over a store and, when set, a running daemon.
type Server struct {
	Store   store.Store
	Daemon  *poll.Daemon // nil: poll-now answers 503
	Metrics *Metrics     // nil: /metrics answers 404
	// Token, when set, must come as "Authorization: Bearer TOKEN" on every
	// request but /healthz. Required when listening beyond loopback.
	Token string
	Log   *slog.Logger
	Now   func() time.Time
	// PublicURL, when set, is the base of the links published feeds carry
	// (rel="self", rel="next"), for a server behind a reverse proxy; else
	// they are made from the request.
	PublicURL string

	feedTimes feedTimes // Last-Modified of published feeds
}

const (
	defaultPageSize = 50
	maxPageSize     = 1000
	maxOPMLBody     = 16 << 20
)

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.auth(s.metrics()))
	}
	mux.Handle("GET /api/items", s.auth(http.HandlerFunc(s.items)))
	mux.Handle("GET /api/items/{id}", s.auth(http.HandlerFunc(s.item)))
	mux.Handle("GET /api/feeds", s.auth(http.HandlerFunc(s.feeds)))
	mux.Handle("GET /api/feeds/{id}", s.auth(http.HandlerFunc(s.feed)))
	mux.Handle("GET /api/stats", s.auth(http.HandlerFunc(s.stats)))
	mux.Handle("POST /api/import", s.auth(http.HandlerFunc(s.importOPML)))
	mux.Handle("GET /api/export", s.auth(http.HandlerFunc(s.export)))
	mux.Handle("POST /api/poll", s.auth(http.HandlerFunc(s.pollNow)))
	mux.Handle("GET /feeds/{file}", s.feedAuth(http.HandlerFunc(s.savedFeed)))
	mux.Handle("GET /feed.atom", s.feedAuth(s.queryFeed("atom")))
	mux.Handle("GET /feed.json", s.feedAuth(s.queryFeed("json")))
	return mux
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Server) auth(h http.Handler) http.Handler {
	if s.Token == "" {
		return h
	}
	want := []byte("Bearer " + s.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="babelfeed"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) metrics() http.Handler {
	inner := promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if feeds, err := s.Store.Feeds(); err == nil {
			queued := 0
			if s.Daemon != nil {
				queued, _ = s.Daemon.QueueLen()
			}
			s.Metrics.setFeedStates(feeds, queued)
		}
		inner.ServeHTTP(w, r)
	})
}

// writeJSON answers with v as JSON. Text from feeds is not HTML-escaped
// (the API's clients are programs), so browsers are told to take the
// Content-Type at its word rather than sniff markup in a body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// errorBody is the shape of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, errorBody{Error: err.Error()})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{"status": "ok"}
	if s.Daemon != nil {
		q, running := s.Daemon.QueueLen()
		body["queued"], body["fetching"] = q, running
	}
	writeJSON(w, http.StatusOK, body)
}

// ItemsPage is the answer of GET /api/items.
type ItemsPage struct {
	Items []api.Item `json:"items"`
	// NextCursor fetches the next (older) page; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// items answers GET /api/items: q= is a query of the query language
// (filter/query); lang=, feed= (IDs), category=, since= and until= narrow
// it like the same terms would; sort=newest (the default) or relevance;
// limit= (1..1000, default 50); cursor= (a page's next_cursor, for the same
// query and sort); all_duplicates=1 lists cross-feed duplicates too.
func (s *Server) items(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	limit := defaultPageSize
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPageSize {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit must be 1..%d, got %q", maxPageSize, l))
			return
		}
		limit = n
	}
	order, err := search.ParseSort(v.Get("sort"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	var feedIDs []string
	for _, fv := range v["feed"] {
		for _, part := range strings.Split(fv, ",") {
			if _, err := strconv.ParseUint(strings.TrimSpace(part), 10, 64); err != nil {
				writeError(w, http.StatusBadRequest, fmt.Errorf("feed must be a feed ID, got %q", part))
				return
			}
			feedIDs = append(feedIDs, strings.TrimSpace(part))
		}
	}
	node, err := query.Compose(v.Get("q"), query.Filters{
		Langs: v["lang"], Feeds: feedIDs, Category: v.Get("category"),
		Since: v.Get("since"), Until: v.Get("until"),
	}, s.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	res, err := search.Search(r.Context(), s.Store, search.Request{
		Query: node, Sort: order, Limit: limit, Cursor: v.Get("cursor"),
		AllDuplicates: isTrue(v.Get("all_duplicates")),
	})
	switch {
	case errors.Is(err, search.ErrCursor):
		writeError(w, http.StatusBadRequest, err)
		return
	case errors.Is(err, search.ErrNoIndex):
		writeError(w, http.StatusServiceUnavailable, err)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	page := ItemsPage{Items: []api.Item{}, NextCursor: res.Next}
	for _, h := range res.Hits {
		it := api.NewItem(h.Item, h.Feed)
		it.Score = h.Score
		page.Items = append(page.Items, it)
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) feedMap() (map[uint64]babelfeed.Feed, error) {
	feeds, err := s.Store.Feeds()
	if err != nil {
		return nil, fmt.Errorf("read feeds: %w", err)
	}
	m := make(map[uint64]babelfeed.Feed, len(feeds))
	for _, f := range feeds {
		m[f.ID] = f
	}
	return m, nil
}

func pathID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("id must be a number, got %q", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

func (s *Server) item(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	it, err := s.Store.Item(id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no item %d", id))
		return
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	f, _ := s.Store.Feed(it.FeedID)
	writeJSON(w, http.StatusOK, api.NewItem(it, f))
}

func (s *Server) feeds(w http.ResponseWriter, r *http.Request) {
	feeds, err := s.Store.Feeds()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]api.Feed, 0, len(feeds))
	for _, f := range feeds {
		out = append(out, api.NewFeed(f))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) feed(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	f, err := s.Store.Feed(id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no feed %d", id))
		return
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, api.NewFeed(f))
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	st, err := s.Store.Stats()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	byFeed := map[string]int{}
	for id, n := range st.ByFeed {
		byFeed[strconv.FormatUint(id, 10)] = n
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"items": st.Items, "feeds": st.Feeds, "file_bytes": st.FileBytes, "data_bytes": st.DataBytes,
		"languages": st.ByLang, "by_feed": byFeed,
	})
}

// ImportResult is the answer of POST /api/import.
type ImportResult struct {
	Added    []api.Feed     `json:"added"`
	Existing []api.Feed     `json:"existing"`
	Skipped  []opml.Skipped `json:"skipped"`
	DryRun   bool           `json:"dry_run"`
	// Rules the document carried (see opml.Namespace): stored, already
	// present, or left out with why.
	RulesAdded    int      `json:"rules_added"`
	RulesExisting int      `json:"rules_existing"`
	RuleProblems  []string `json:"rule_problems"`
}

func (s *Server) importOPML(w http.ResponseWriter, r *http.Request) {
	doc, err := opml.Parse(http.MaxBytesReader(w, r.Body, maxOPMLBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("import: %w", err))
		return
	}
	dry := r.URL.Query().Get("dry_run") == "1" || r.URL.Query().Get("dry_run") == "true"
	feeds := make([]babelfeed.Feed, 0, len(doc.Outlines))
	for _, o := range doc.Outlines {
		feeds = append(feeds, o.Feed())
	}
	added, existing, err := s.Store.AddFeeds(feeds, dry)
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("import: %w", err))
		return
	}
	res := ImportResult{Added: []api.Feed{}, Existing: []api.Feed{}, Skipped: doc.Skipped, DryRun: dry}
	if res.Skipped == nil {
		res.Skipped = []opml.Skipped{}
	}
	for _, f := range added {
		res.Added = append(res.Added, api.NewFeed(f))
		if s.Daemon != nil && !dry {
			s.Daemon.Schedule(f)
		}
	}
	for _, f := range existing {
		res.Existing = append(res.Existing, api.NewFeed(f))
	}
	rr, err := rules.Import(s.Store, doc, append(added, existing...), dry, s.now())
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("import: %w", err))
		return
	}
	res.RulesAdded, res.RulesExisting, res.RuleProblems = len(rr.Added), len(rr.Existing), rr.Problems
	if res.RuleProblems == nil {
		res.RuleProblems = []string{}
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	feeds, err := s.Store.Feeds()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	rs, _, err := s.Store.Rules()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	var buf bytes.Buffer
	if err := opml.WriteWithRules(&buf, "babelfeed subscriptions", feeds, rs); err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("export: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/x-opml; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", `attachment; filename="babelfeed.opml"`)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) pollNow(w http.ResponseWriter, r *http.Request) {
	if s.Daemon == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("no poller is running in this process"))
		return
	}
	var ids []uint64
	for _, fv := range r.URL.Query()["feed"] {
		id, err := strconv.ParseUint(fv, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("feed must be a feed ID, got %q", fv))
			return
		}
		if _, err := s.Store.Feed(id); err != nil {
			writeError(w, http.StatusNotFound, fmt.Errorf("no feed %d", id))
			return
		}
		ids = append(ids, id)
	}
	if err := s.Daemon.PollNow(ids); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"queued": len(ids), "all": len(ids) == 0})
}
