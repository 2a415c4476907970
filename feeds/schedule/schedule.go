// Package schedule decides when each feed is polled next, and says why.
//
// It is pure policy: the clock (now) and the random source are arguments,
// there is no I/O and no package state, so the poller can store a
// [Decision] next to its feed, show the Reason to the user, and tests can
// check every rule with a fixed clock.
//
// After a successful fetch ([Policy.Next]) the rules apply in this order:
//
//  1. an interval from the feed's entry rate ([Policy.Interval]), clamped
//     to Min..Max;
//  2. soft server hints (RSS ttl, Cache-Control max-age, Expires,
//     sy:updatePeriod / sy:updateFrequency) may make it longer, never
//     shorter, up to Max;
//  3. Retry-After is a hard lower bound, honoured up to MaxBackoff;
//  4. jitter spreads the interval, never below the bound that set it;
//  5. RSS skipHours / skipDays push the time to the start of the first
//     allowed hour (UTC), spread by jitter inside that hour.
//
// Jitter comes before the skip rules, not after, so that it can never move
// a time back into a skipped hour; the only jitter after a push is a
// positive offset that stays inside the first allowed hour.
//
// After a failed fetch ([Policy.AfterError]) the wait grows exponentially
// up to MaxBackoff, Retry-After is honoured, and the feed is never given
// up on: a failing feed is retried at least once per MaxBackoff (plus
// jitter, and any skip rules) for as long as it stays subscribed.
package schedule

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Policy holds the tunables of the schedule. The zero value is usable: a
// zero or negative duration takes its value from [DefaultPolicy] (see each
// field); a zero Jitter means no jitter.
type Policy struct {
	// Default is the interval used when the feed's items give no rate (no
	// dated items, or a single publication). Zero means 1h. It is clamped
	// to Min..Max.
	Default time.Duration
	// Min and Max clamp the interval derived from the entry rate and the
	// soft server hints. Zero means 5m and 24h; a Max below Min is raised
	// to Min.
	Min, Max time.Duration
	// MaxBackoff caps the wait after consecutive errors and the honoured
	// part of a Retry-After. Zero means 24h.
	MaxBackoff time.Duration
	// Jitter is the fraction by which intervals are spread (0.1 => ±10%),
	// so that feeds imported together do not stay in lockstep. It is
	// clamped to 0..1.
	Jitter float64
	// BackoffBase is the wait after the first consecutive error; each
	// further error doubles it. Zero means Min.
	BackoffBase time.Duration
}

// DefaultPolicy returns the policy babelfeed runs with: 1h default, 5m..24h
// adaptive range (Miniflux's bounds), backoff 5m doubling up to 24h, ±10%
// jitter.
func DefaultPolicy() Policy {
	return Policy{
		Default:     time.Hour,
		Min:         5 * time.Minute,
		Max:         24 * time.Hour,
		MaxBackoff:  24 * time.Hour,
		Jitter:      0.1,
		BackoffBase: 5 * time.Minute,
	}
}

// normalized fills zero fields from DefaultPolicy and repairs inconsistent
// ones, so every rule below can rely on Min <= Default <= Max and on
// positive durations.
func (p Policy) normalized() Policy {
	d := DefaultPolicy()
	if p.Min <= 0 {
		p.Min = d.Min
	}
	if p.Max <= 0 {
		p.Max = d.Max
	}
	if p.Max < p.Min {
		p.Max = p.Min
	}
	if p.Default <= 0 {
		p.Default = d.Default
	}
	p.Default = min(max(p.Default, p.Min), p.Max)
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = d.MaxBackoff
	}
	if p.BackoffBase <= 0 {
		p.BackoffBase = p.Min
	}
	p.BackoffBase = min(p.BackoffBase, p.MaxBackoff)
	if math.IsNaN(p.Jitter) || p.Jitter < 0 {
		p.Jitter = 0
	}
	p.Jitter = min(p.Jitter, 1)
	return p
}

// Hints are what the last response and the feed document said about
// freshness. Zero values mean absent; negative durations are ignored.
type Hints struct {
	TTL          time.Duration // RSS <ttl>
	MaxAge       time.Duration // Cache-Control max-age (takes precedence over Expires, as in HTTP)
	Expires      time.Time     // HTTP Expires; ignored when in the past or when MaxAge is set
	RetryAfter   time.Duration // HTTP Retry-After, already converted from a date if need be
	SkipHours    []int         // RSS skipHours, 0-23 UTC; 24 is read as 0, other values ignored
	SkipDays     []string      // RSS skipDays, "Monday".."Sunday" or "Mon".."Sun", case-insensitive
	UpdatePeriod string        // sy:updatePeriod: hourly, daily, weekly, monthly or yearly
	// UpdateFrequency is sy:updateFrequency: how many updates per
	// UpdatePeriod. Zero or less means 1, as the module specifies; a
	// frequency without a period means per day.
	UpdateFrequency int
}

// History is what the feed's past says about its schedule.
type History struct {
	// ItemTimes are the publication times of the feed's recent items, in
	// any order. Zero times are ignored; future times count as now. Pass
	// the first-seen time for items without a date.
	ItemTimes []time.Time
	// ErrorCount is the number of consecutive failures, including the
	// current one when computing after a failure. Next ignores it: a
	// successful fetch ends the run of errors.
	ErrorCount int
}

// Decision is when to poll a feed next, and why.
type Decision struct {
	At     time.Time
	Reason string // human-readable, e.g. "entry rate 72/day → 10m; ttl 2h honoured"
}

// Due reports whether a feed scheduled at next should be polled at now. A
// zero next (never scheduled) is always due.
func Due(now, next time.Time) bool { return !next.After(now) }

// Next decides when to poll a feed after a successful fetch (200 or 304),
// applying the rules in the order the package documentation gives.
//
// Soft hints (ttl, max-age, Expires, sy:updatePeriod) lengthen the
// interval up to Max and jitter then only goes up from them. Retry-After,
// rare on a success but possible, is a hard bound honoured up to
// MaxBackoff even above Max; jitter only goes up from it, so the wait is at
// most MaxBackoff*(1+Jitter) before skip rules. skipHours / skipDays may
// push the time further, past Max: that is what the feed asked for.
//
// rnd supplies jitter; nil means none (deterministic). rnd is not locked:
// the caller must not use it from several goroutines at once.
func (p Policy) Next(now time.Time, h History, hints Hints, rnd *rand.Rand) Decision {
	p = p.normalized()
	iv, why := p.interval(now, h.ItemTimes)
	notes := []string{why}
	// Bounds for the jitter: never below lo, never above hi.
	lo, hi := p.Min, p.Max

	if name, d := softHint(now, hints); d > iv {
		if d > p.Max {
			notes = append(notes, fmt.Sprintf("%s capped at %s", name, fmtDur(p.Max)))
			iv = p.Max
		} else {
			notes = append(notes, name+" honoured")
			iv, lo = d, d
		}
	}
	if ra := hints.RetryAfter; ra > 0 {
		hard := min(ra, p.MaxBackoff)
		if hard >= iv {
			notes = append(notes, retryAfterNote(ra, p.MaxBackoff))
			iv, hi = hard, time.Duration(math.MaxInt64)
		}
		// Jitter never goes below the server's Retry-After, even when
		// the interval is the longer of the two.
		lo = max(lo, hard)
	}
	return p.finish(now, iv, lo, hi, hints, rnd, notes)
}

// AfterError decides when to retry a feed whose fetch failed (network
// error, 404, 5xx...). errorCount is the number of consecutive failures
// including this one; values below 1 count as 1.
//
// The wait is BackoffBase * 2^(errorCount-1), capped at MaxBackoff: with the
// default policy 5m, 10m, 20m ... 21h20m, then 24h from the tenth error on.
// Starting low means a transient blip costs minutes, not hours; the cap
// means a broken feed still gets a daily try and recovers by itself.
//
// A Retry-After longer than the backoff is the wait (a 429 or 503 says when
// to come back; coming back earlier is rude, later is needless), honoured up
// to MaxBackoff; past that the wait is MaxBackoff plus positive jitter, so
// at most MaxBackoff*(1+Jitter). A Retry-After shorter than the backoff does
// not shorten it: repeated failures keep backing off even from a server
// whose Retry-After is a constant.
//
// Jitter spreads the backoff by ±Jitter without exceeding MaxBackoff; a
// Retry-After wait is only ever jittered upwards. skipHours and skipDays,
// when given, apply as in Next. The result is always a time: feeds are
// never dropped.
func (p Policy) AfterError(now time.Time, errorCount int, hints Hints, rnd *rand.Rand) Decision {
	p = p.normalized()
	n := max(errorCount, 1)
	b := p.backoff(n)
	// Jitter never goes below the server's Retry-After, even when the
	// backoff is the longer of the two.
	lo, hi := min(max(hints.RetryAfter, 0), p.MaxBackoff), p.MaxBackoff
	iv := b
	var note string
	if ra := hints.RetryAfter; ra > 0 && min(ra, p.MaxBackoff) >= b {
		iv = min(ra, p.MaxBackoff)
		lo, hi = iv, time.Duration(math.MaxInt64)
		note = fmt.Sprintf("error #%d: %s", n, retryAfterNote(ra, p.MaxBackoff))
	} else {
		note = fmt.Sprintf("error #%d: backoff %s", n, fmtDur(b))
		if b == p.MaxBackoff {
			note += " (max)"
		}
		if ra > 0 {
			note += fmt.Sprintf(" (Retry-After %s is shorter)", fmtDur(ra))
		}
	}
	return p.finish(now, iv, lo, hi, hints, rnd, []string{note})
}

// backoff returns BackoffBase * 2^(n-1) capped at MaxBackoff, without
// overflowing for any n.
func (p Policy) backoff(n int) time.Duration {
	d := p.BackoffBase
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, p.MaxBackoff)
}

// finish jitters the interval within [lo, hi], applies the skip rules and
// assembles the reason.
func (p Policy) finish(now time.Time, iv, lo, hi time.Duration, hints Hints, rnd *rand.Rand, notes []string) Decision {
	d := p.jitter(iv, lo, hi, rnd)
	if d != iv {
		notes = append(notes, "jitter "+fmtSigned(d-iv))
	}
	at := now.Add(d)
	rules, ruleNotes := parseSkip(hints)
	notes = append(notes, ruleNotes...)
	if pushed, ok := rules.push(at); ok {
		// Spread the feeds that wake up with the same rules over the first
		// allowed hour rather than all at its first second; staying under
		// an hour keeps the time inside that allowed hour.
		if span := min(time.Duration(p.Jitter*float64(iv)), time.Hour); rnd != nil && span > 0 {
			pushed = pushed.Add(time.Duration(rnd.Int64N(int64(span))))
		}
		notes = append(notes, fmt.Sprintf("%s → %s", rules.describe(), pushed.UTC().Format("Mon 15:04 UTC")))
		at = pushed.In(now.Location())
	}
	return Decision{At: at, Reason: strings.Join(notes, "; ")}
}

// jitter draws uniformly from [d*(1-J), d*(1+J)] intersected with [lo, hi].
// Callers pass lo <= d <= hi, so the range is never empty.
func (p Policy) jitter(d, lo, hi time.Duration, rnd *rand.Rand) time.Duration {
	if rnd == nil || p.Jitter == 0 {
		return d
	}
	spread := time.Duration(p.Jitter * float64(d))
	a, b := max(d-spread, lo), d
	if hi-d > spread {
		b = d + spread
	} else {
		b = hi
	}
	if b <= a {
		return a
	}
	return a + time.Duration(rnd.Int64N(int64(b-a)+1))
}

// softHint returns the longest freshness hint other than Retry-After, with
// a label for the reason, or 0 when there is none.
func softHint(now time.Time, h Hints) (string, time.Duration) {
	var name string
	var best time.Duration
	consider := func(label string, d time.Duration) {
		if d > best {
			name, best = label, d
		}
	}
	consider("ttl "+fmtDur(h.TTL), h.TTL)
	if h.MaxAge > 0 {
		consider("max-age "+fmtDur(h.MaxAge), h.MaxAge)
	} else if !h.Expires.IsZero() {
		d := h.Expires.Sub(now)
		consider("Expires in "+fmtDur(d), d)
	}
	if label, d := syndication(h.UpdatePeriod, h.UpdateFrequency); d > 0 {
		consider(label, d)
	}
	return name, best
}

// syndication turns sy:updatePeriod and sy:updateFrequency into the
// interval between updates they announce. Unknown periods give 0.
func syndication(period string, freq int) (string, time.Duration) {
	period = strings.ToLower(strings.TrimSpace(period))
	if period == "" && freq <= 0 {
		return "", 0
	}
	if period == "" {
		period = "daily"
	}
	var d time.Duration
	switch period {
	case "hourly":
		d = time.Hour
	case "daily":
		d = 24 * time.Hour
	case "weekly":
		d = 7 * 24 * time.Hour
	case "monthly":
		d = 30 * 24 * time.Hour
	case "yearly":
		d = 365 * 24 * time.Hour
	default:
		return "", 0
	}
	freq = max(freq, 1)
	iv := d / time.Duration(freq)
	return fmt.Sprintf("sy:updatePeriod %s/%d = %s", period, freq, fmtDur(iv)), iv
}

func retryAfterNote(ra, maxBackoff time.Duration) string {
	if ra > maxBackoff {
		return fmt.Sprintf("Retry-After %s capped at %s", fmtDur(ra), fmtDur(maxBackoff))
	}
	return fmt.Sprintf("Retry-After %s honoured", fmtDur(ra))
}

// fmtDur prints a duration the way people write it: "2h", "7m12s", "90s"
// stays "1m30s", sub-second parts are dropped above one second.
func fmtDur(d time.Duration) string {
	if d >= time.Second || d <= -time.Second {
		d = d.Round(time.Second)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func fmtSigned(d time.Duration) string {
	if d >= 0 {
		return "+" + fmtDur(d)
	}
	return fmtDur(d)
}

// fmtRate prints entries per day with about three significant digits.
func fmtRate(perDay float64) string {
	if perDay >= 10 {
		return strconv.FormatFloat(perDay, 'f', 0, 64)
	}
	return strconv.FormatFloat(perDay, 'g', 3, 64)
}

// skipRules are the parsed skipHours and skipDays of a feed.
type skipRules struct {
	hours [24]bool
	days  [7]bool // indexed by time.Weekday
	nh    int     // hours skipped
	nd    int     // days skipped
}

// parseDay reads an RSS skipDays day name, full ("Monday") or abbreviated
// ("Mon"), in any case.
func parseDay(name string) (time.Weekday, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		full := strings.ToLower(wd.String())
		if name == full || name == full[:3] {
			return wd, true
		}
	}
	return 0, false
}

// parseSkip reads the skip rules. A rule that skips every hour or every
// day would forbid polling for ever; it is nonsense, so it is ignored and
// the returned notes say so.
func parseSkip(h Hints) (skipRules, []string) {
	var r skipRules
	var notes []string
	for _, hr := range h.SkipHours {
		if hr == 24 { // some feeds number the hours 1-24
			hr = 0
		}
		if hr >= 0 && hr < 24 && !r.hours[hr] {
			r.hours[hr] = true
			r.nh++
		}
	}
	if r.nh == 24 {
		r.hours, r.nh = [24]bool{}, 0
		notes = append(notes, "skipHours lists all 24 hours: ignored")
	}
	for _, name := range h.SkipDays {
		wd, ok := parseDay(name)
		if ok && !r.days[wd] {
			r.days[wd] = true
			r.nd++
		}
	}
	if r.nd == 7 {
		r.days, r.nd = [7]bool{}, 0
		notes = append(notes, "skipDays lists all 7 days: ignored")
	}
	return r, notes
}

func (r skipRules) allowed(t time.Time) bool {
	t = t.UTC()
	return !r.hours[t.Hour()] && !r.days[t.Weekday()]
}

// push returns the start of the first allowed hour at or after t, and
// whether t itself was skipped. Since neither rule may skip everything, an
// allowed hour exists within 7 days and 23 hours.
func (r skipRules) push(t time.Time) (time.Time, bool) {
	if (r.nh == 0 && r.nd == 0) || r.allowed(t) {
		return t, false
	}
	s := t.UTC().Truncate(time.Hour)
	for range 8 * 24 {
		s = s.Add(time.Hour)
		if r.allowed(s) {
			return s, true
		}
	}
	return t, false // unreachable while parseSkip drops the all-skipping rules
}

// describe names the rules as the feed gave them, hours as ranges.
func (r skipRules) describe() string {
	var parts []string
	if r.nh > 0 {
		var ranges []string
		for h := 0; h < 24; h++ {
			if !r.hours[h] {
				continue
			}
			end := h
			for end+1 < 24 && r.hours[end+1] {
				end++
			}
			if end == h {
				ranges = append(ranges, strconv.Itoa(h))
			} else {
				ranges = append(ranges, fmt.Sprintf("%d-%d", h, end))
			}
			h = end
		}
		parts = append(parts, "skipHours "+strings.Join(ranges, ","))
	}
	if r.nd > 0 {
		var days []string
		for wd := time.Sunday; wd <= time.Saturday; wd++ {
			if r.days[wd] {
				days = append(days, wd.String())
			}
		}
		parts = append(parts, "skipDays "+strings.Join(days, ","))
	}
	return strings.Join(parts, ", ")
}

// rateWindow is how far back the entry rate looks, as in Miniflux: long
// enough to cover a weekly rhythm, short enough to follow a feed that
// changes pace.
const rateWindow = 7 * 24 * time.Hour

// pollsPerEntry is how many polls the schedule aims at per expected
// publication: the interval is half the mean gap.
const pollsPerEntry = 2

// Interval returns the polling interval suggested by the feed's
// publication times, clamped to Min..Max.
//
// What is counted is publications, not items: times less than a minute
// after the first time of a publication join it, so a batch of items published together (or a feed that stamps every item
// with the time it was generated) counts once, since one poll collects the
// whole batch.
//
// The rate is measured over the last 7 days, like Miniflux's entry
// frequency, but corrected for what a feed document is: only its most
// recent items. When some item is older than the window, the document
// covers the whole week and the rate is publications-in-window / 7 days.
// When it is not, the document may have been truncated (a busy feed
// keeping 20 items shows only the last few hours), so counting over 7 days
// would underestimate the rate badly; instead the rate is the number of
// gaps over the time from the oldest publication to now. Either way the
// silence since the newest item is part of the measured span, so a feed
// that goes quiet slows down by itself (the CommaFeed idea, without its
// fixed steps). A week with nothing new gives Max; fewer than two
// publications and nothing older give Default.
//
// The interval is half the mean gap between publications (CommaFeed)
// rather than the gap itself (Miniflux): the estimate looks a week back, so
// a feed speeding up is under-polled until the window catches up, and the
// halving is its headroom; it also halves the mean delay between a
// publication and its fetch (half the interval); and the extra polls are
// conditional GETs that mostly end in a cheap 304. With the default Min of 5m, a steady 100
// items/day gives 7m12s; Min is reached from 144 items/day. No items give
// Default.
func (p Policy) Interval(now time.Time, itemTimes []time.Time) time.Duration {
	d, _ := p.normalized().interval(now, itemTimes)
	return d
}

// interval is Interval on a normalized policy, with the reason.
func (p Policy) interval(now time.Time, itemTimes []time.Time) (time.Duration, string) {
	start := now.Add(-rateWindow)
	older := false
	inWindow := make([]time.Time, 0, len(itemTimes))
	for _, t := range itemTimes {
		switch {
		case t.IsZero():
		case !t.After(start):
			older = true
		case t.After(now):
			inWindow = append(inWindow, now)
		default:
			inWindow = append(inWindow, t)
		}
	}
	slices.SortFunc(inWindow, time.Time.Compare)
	// Count publications: a time less than a minute after the first time
	// of the current publication belongs to it.
	k := 0
	var first time.Time
	for _, t := range inWindow {
		if k == 0 || t.Sub(first) >= time.Minute {
			k++
			first = t
		}
	}
	var oldest time.Time
	if len(inWindow) > 0 {
		oldest = inWindow[0]
	}

	var gap time.Duration
	var perDay float64
	switch {
	case older && k == 0:
		return p.Max, fmt.Sprintf("nothing published in %s → %s (max)", fmtDur(rateWindow), fmtDur(p.Max))
	case older:
		gap = rateWindow / time.Duration(k)
		perDay = float64(k) / rateWindow.Hours() * 24
	case k == 0:
		return p.Default, "no dated entries → default " + fmtDur(p.Default)
	case k == 1:
		return p.Default, "one publication, no rate yet → default " + fmtDur(p.Default)
	default:
		span := now.Sub(oldest)
		gap = span / time.Duration(k-1)
		perDay = float64(k-1) / span.Hours() * 24
	}
	iv := gap / pollsPerEntry
	why := fmt.Sprintf("entry rate %s/day → %s", fmtRate(perDay), fmtDur(iv))
	switch {
	case iv < p.Min:
		iv = p.Min
		why += fmt.Sprintf(", raised to min %s", fmtDur(p.Min))
	case iv > p.Max:
		iv = p.Max
		why += fmt.Sprintf(", lowered to max %s", fmtDur(p.Max))
	}
	return iv, why
}
