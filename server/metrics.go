package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"babelfeed"
	"babelfeed/feeds/poll"
)

// Metrics are the poller's Prometheus metrics. Each Metrics has its own
// registry, so tests and several servers in one process do not collide.
type Metrics struct {
	Registry *prometheus.Registry

	fetches  *prometheus.CounterVec
	items    *prometheus.CounterVec
	latency  prometheus.Histogram
	lag      prometheus.Histogram
	byState  *prometheus.GaugeVec
	queueLen prometheus.Gauge
	dropped  prometheus.Counter
	timeouts prometheus.Counter
}

// NewMetrics registers babelfeed's metrics in a fresh registry, with the
// Go runtime and process collectors beside them.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "babelfeed_fetches_total",
			Help: "Feed fetches by outcome (ok, not_modified, error, gone, deferred).",
		}, []string{"outcome"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "babelfeed_items_stored_total",
			Help: "Items added or updated, by detected language.",
		}, []string{"lang"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "babelfeed_fetch_duration_seconds",
			Help:    "Time to fetch, parse, tag and store one feed.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "babelfeed_schedule_lag_seconds",
			Help:    "How late a feed was polled after it fell due.",
			Buckets: prometheus.ExponentialBuckets(0.1, 3, 10),
		}),
		byState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "babelfeed_feeds",
			Help: "Subscribed feeds by state (ok, failing, gone).",
		}, []string{"state"}),
		queueLen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "babelfeed_queue_feeds",
			Help: "Feeds waiting in the poll queue.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "babelfeed_items_dropped_total",
			Help: "New items the rules dropped (per rule: 'babelfeed rules list').",
		}),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "babelfeed_rule_timeouts_total",
			Help: "Items kept because the rules ran out of time on them.",
		}),
	}
	m.Registry.MustRegister(m.fetches, m.items, m.latency, m.lag, m.byState, m.queueLen, m.dropped, m.timeouts,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// Observe records one poll outcome.
func (m *Metrics) Observe(o poll.Outcome) {
	outcome := "ok"
	switch {
	case o.Deferred:
		outcome = "deferred"
	case o.Feed.State == babelfeed.StateGone && o.Err != nil:
		outcome = "gone"
	case o.Err != nil:
		outcome = "error"
	case o.NotModified:
		outcome = "not_modified"
	}
	m.fetches.WithLabelValues(outcome).Inc()
	for lang, n := range o.StoredByLang {
		m.items.WithLabelValues(lang).Add(float64(n))
	}
	if !o.Deferred {
		m.latency.Observe(o.Duration.Seconds())
	}
	if o.Lag > 0 {
		m.lag.Observe(o.Lag.Seconds())
	}
	m.dropped.Add(float64(o.Dropped))
	m.timeouts.Add(float64(o.RuleTimeouts))
}

// setFeedStates refreshes the feeds-by-state gauge from the store.
func (m *Metrics) setFeedStates(feeds []babelfeed.Feed, queued int) {
	counts := map[babelfeed.FeedState]int{babelfeed.StateOK: 0, babelfeed.StateFailing: 0, babelfeed.StateGone: 0}
	for _, f := range feeds {
		st := f.State
		if st == "" {
			st = babelfeed.StateOK
		}
		counts[st]++
	}
	for st, n := range counts {
		m.byState.WithLabelValues(string(st)).Set(float64(n))
	}
	m.queueLen.Set(float64(queued))
}
