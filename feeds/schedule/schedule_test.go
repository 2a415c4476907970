package schedule

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// now is the fixed clock of every test: a Wednesday morning, UTC.
var now = time.Date(2025, 3, 12, 10, 30, 0, 0, time.UTC)

const (
	day  = 24 * time.Hour
	week = 7 * day
)

// every returns publication times at now-offset, now-offset-gap, ...
// going back span.
func every(at time.Time, offset, gap, span time.Duration) []time.Time {
	var ts []time.Time
	for d := offset; d <= span; d += gap {
		ts = append(ts, at.Add(-d))
	}
	return ts
}

// perDay returns a steady n items/day going back eight days, so the
// document covers the whole rate window.
func perDay(n int) []time.Time { return every(now, 0, day/time.Duration(n), 8*day) }

func TestNowIsWednesday(t *testing.T) {
	if now.Weekday() != time.Wednesday {
		t.Fatalf("fixture clock %v is a %v, tests below assume Wednesday", now, now.Weekday())
	}
}

func TestInterval(t *testing.T) {
	p := DefaultPolicy()
	tests := []struct {
		name  string
		items []time.Time
		want  time.Duration
	}{
		{"no items => default", nil, time.Hour},
		{"only undated items => default", []time.Time{{}, {}}, time.Hour},
		{"one item => default", []time.Time{now.Add(-time.Minute)}, time.Hour},
		{"100 items/day => half the 14m24s gap", perDay(100), 7*time.Minute + 12*time.Second},
		{"144 items/day => exactly min", perDay(144), 5 * time.Minute},
		{"300 items/day => min", perDay(300), 5 * time.Minute},
		{"1 item per week => max", every(now, 3*day, week, 30*day), 24 * time.Hour},
		{"idle for 10 days => max", every(now, 10*day, day, 30*day), 24 * time.Hour},
		{"24 items/day => 30m", perDay(24), 30 * time.Minute},
		// A document holding only its last 72 items, 20 minutes apart:
		// counting them over a week would say 10/day; the gaps say 72/day.
		{"truncated document: 72 items 20m apart => 10m", every(now, 0, 20*time.Minute, 1420*time.Minute), 10 * time.Minute},
		// The silence since the newest item counts: same 72 items, but the
		// newest is 10h old => 71 gaps over 1420m+10h.
		{"truncated and quiet for 10h", every(now, 10*time.Hour, 20*time.Minute, 10*time.Hour+1420*time.Minute), (1420*time.Minute + 10*time.Hour) / 71 / 2},
		{"a batch in one minute is one publication => default", every(now, time.Hour, time.Second, time.Hour+50*time.Second), time.Hour},
		{"future-dated items count as now", []time.Time{now.Add(48 * time.Hour), now.Add(-2 * time.Hour)}, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Interval(now, tt.items); got != tt.want {
				_, why := p.normalized().interval(now, tt.items)
				t.Errorf("Interval = %v, want %v (%s)", got, tt.want, why)
			}
		})
	}
}

func TestIntervalOrderDoesNotMatter(t *testing.T) {
	p := DefaultPolicy()
	items := every(now, 0, 20*time.Minute, 1420*time.Minute)
	want := p.Interval(now, items)
	r := rand.New(rand.NewPCG(7, 7))
	r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	if got := p.Interval(now, items); got != want {
		t.Errorf("shuffled items: Interval = %v, want %v", got, want)
	}
}

func TestNext(t *testing.T) {
	p := DefaultPolicy()
	tenMin := every(now, 0, 20*time.Minute, 1420*time.Minute) // rate suggests 10m
	night := time.Date(2025, 3, 12, 23, 30, 0, 0, time.UTC)   // Wednesday 23:30
	cet := time.FixedZone("CET", 3600)
	tests := []struct {
		name   string
		now    time.Time
		items  []time.Time
		hints  Hints
		want   time.Time
		reason string // substring of the Reason
	}{
		{name: "no items => default", items: nil,
			want: now.Add(time.Hour), reason: "no dated entries → default 1h"},
		{name: "rate alone", items: tenMin,
			want: now.Add(10 * time.Minute), reason: "entry rate 72/day → 10m"},
		{name: "100 items/day", items: perDay(100),
			want: now.Add(7*time.Minute + 12*time.Second), reason: "entry rate 100/day → 7m12s"},
		{name: "300 items/day clamped to min", items: perDay(300),
			want: now.Add(5 * time.Minute), reason: "raised to min 5m"},
		{name: "1 item per week clamped to max", items: every(now, 3*day, week, 30*day),
			want: now.Add(24 * time.Hour), reason: "lowered to max 24h"},
		{name: "ttl 120 with rate suggesting 10m => 2h", items: tenMin, hints: Hints{TTL: 120 * time.Minute},
			want: now.Add(2 * time.Hour), reason: "entry rate 72/day → 10m; ttl 2h honoured"},
		{name: "ttl shorter than the rate interval changes nothing", items: perDay(24), hints: Hints{TTL: 15 * time.Minute},
			want: now.Add(30 * time.Minute)},
		{name: "ttl above max is capped", items: tenMin, hints: Hints{TTL: 48 * time.Hour},
			want: now.Add(24 * time.Hour), reason: "ttl 48h capped at 24h"},
		{name: "max-age", items: tenMin, hints: Hints{MaxAge: 3 * time.Hour},
			want: now.Add(3 * time.Hour), reason: "max-age 3h honoured"},
		{name: "Expires in the future", items: tenMin, hints: Hints{Expires: now.Add(90 * time.Minute)},
			want: now.Add(90 * time.Minute), reason: "Expires in 1h30m honoured"},
		{name: "Expires in the past ignored", items: tenMin, hints: Hints{Expires: now.Add(-90 * time.Minute)},
			want: now.Add(10 * time.Minute)},
		{name: "max-age takes precedence over Expires", items: tenMin, hints: Hints{MaxAge: 20 * time.Minute, Expires: now.Add(5 * time.Hour)},
			want: now.Add(20 * time.Minute), reason: "max-age 20m honoured"},
		{name: "the longest hint wins", items: tenMin, hints: Hints{TTL: time.Hour, MaxAge: 2 * time.Hour, UpdatePeriod: "hourly"},
			want: now.Add(2 * time.Hour), reason: "max-age 2h honoured"},
		{name: "updatePeriod daily freq 2 => 12h", items: tenMin, hints: Hints{UpdatePeriod: "daily", UpdateFrequency: 2},
			want: now.Add(12 * time.Hour), reason: "sy:updatePeriod daily/2 = 12h honoured"},
		{name: "updatePeriod HOURLY, frequency absent => 1h", items: tenMin, hints: Hints{UpdatePeriod: " HOURLY "},
			want: now.Add(time.Hour), reason: "sy:updatePeriod hourly/1 = 1h honoured"},
		{name: "updateFrequency without period => per day", items: tenMin, hints: Hints{UpdateFrequency: 4},
			want: now.Add(6 * time.Hour)},
		{name: "updatePeriod weekly => capped at max", items: tenMin, hints: Hints{UpdatePeriod: "weekly"},
			want: now.Add(24 * time.Hour), reason: "capped at 24h"},
		{name: "unknown updatePeriod ignored", items: tenMin, hints: Hints{UpdatePeriod: "fortnightly"},
			want: now.Add(10 * time.Minute)},
		{name: "negative hints ignored", items: tenMin, hints: Hints{TTL: -time.Hour, MaxAge: -time.Hour, RetryAfter: -time.Hour},
			want: now.Add(10 * time.Minute)},
		{name: "Retry-After on a success is a lower bound", items: tenMin, hints: Hints{RetryAfter: 3 * time.Hour},
			want: now.Add(3 * time.Hour), reason: "Retry-After 3h honoured"},
		{name: "Retry-After may exceed max, up to MaxBackoff", items: tenMin, hints: Hints{RetryAfter: 30 * time.Hour, TTL: 30 * time.Hour},
			want: now.Add(24 * time.Hour), reason: "Retry-After 30h capped at 24h"},
		{name: "skipHours covering now+interval pushes to the first allowed hour", now: night, items: nil,
			hints: Hints{SkipHours: []int{0, 1, 2, 3, 4, 5, 6}},
			want:  time.Date(2025, 3, 13, 7, 0, 0, 0, time.UTC), reason: "skipHours 0-6 → Thu 07:00 UTC"},
		{name: "skipHours not covering the time changes nothing", items: nil,
			hints: Hints{SkipHours: []int{0, 1, 2, 3, 4, 5, 6}},
			want:  now.Add(time.Hour)},
		{name: "skipHours 24 means midnight, out-of-range hours ignored", now: night, items: nil,
			hints: Hints{SkipHours: []int{24, -1, 25, 1}},
			want:  time.Date(2025, 3, 13, 2, 0, 0, 0, time.UTC), reason: "skipHours 0-1 →"},
		{name: "all 24 skipHours ignored (nonsense)", now: night, items: nil,
			hints: Hints{SkipHours: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}},
			want:  night.Add(time.Hour), reason: "skipHours lists all 24 hours: ignored"},
		{name: "skipDays push to the first allowed day", items: tenMin,
			hints: Hints{TTL: 24 * time.Hour, SkipDays: []string{"Thursday", "FRIDAY"}},
			want:  time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC), reason: "skipDays Thursday,Friday → Sat 00:00 UTC"},
		{name: "skipDays abbreviated, unknown names ignored", items: tenMin,
			hints: Hints{TTL: 24 * time.Hour, SkipDays: []string{"thu", "Caturday"}},
			want:  time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC), reason: "skipDays Thursday →"},
		{name: "all 7 skipDays ignored (nonsense)", items: nil,
			hints: Hints{SkipDays: []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}},
			want:  now.Add(time.Hour), reason: "skipDays lists all 7 days: ignored"},
		{name: "skipHours and skipDays together", now: night, items: nil,
			hints: Hints{SkipHours: []int{0, 1, 2, 3, 4, 5, 6}, SkipDays: []string{"Thursday"}},
			want:  time.Date(2025, 3, 14, 7, 0, 0, 0, time.UTC), reason: "skipHours 0-6, skipDays Thursday → Fri 07:00 UTC"},
		{name: "skip rules are UTC whatever the clock's zone", now: time.Date(2025, 3, 12, 23, 30, 0, 0, cet), items: nil,
			hints: Hints{SkipHours: []int{23}},
			want:  time.Date(2025, 3, 13, 0, 0, 0, 0, time.UTC), reason: "skipHours 23 → Thu 00:00 UTC"},
		{name: "skip rules may push past max", items: nil,
			hints: Hints{SkipDays: []string{"Wed", "Thu", "Fri", "Sat", "Sun", "Mon"}},
			want:  time.Date(2025, 3, 18, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := now
			if !tt.now.IsZero() {
				at = tt.now
			}
			d := p.Next(at, History{ItemTimes: tt.items}, tt.hints, nil)
			if !d.At.Equal(tt.want) {
				t.Errorf("At = %v (+%v), want %v (+%v); reason %q", d.At, d.At.Sub(at), tt.want, tt.want.Sub(at), d.Reason)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", d.Reason, tt.reason)
			}
			if d.At.Location() != at.Location() {
				t.Errorf("At is in %v, want the clock's %v", d.At.Location(), at.Location())
			}
		})
	}
}

func TestNextIgnoresErrorCount(t *testing.T) {
	p := DefaultPolicy()
	d := p.Next(now, History{ErrorCount: 5}, Hints{}, nil)
	if want := now.Add(time.Hour); !d.At.Equal(want) {
		t.Errorf("Next after errors = %v, want %v: a success ends the backoff", d.At, want)
	}
}

func TestBackoffSequence(t *testing.T) {
	p := DefaultPolicy()
	want := []time.Duration{
		5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute,
		160 * time.Minute, 320 * time.Minute, 640 * time.Minute, 1280 * time.Minute, 24 * time.Hour,
	}
	prev := time.Duration(0)
	for n := 1; n <= 10; n++ {
		d := p.AfterError(now, n, Hints{}, nil)
		got := d.At.Sub(now)
		if got != want[n-1] {
			t.Errorf("error #%d: wait %v, want %v (%s)", n, got, want[n-1], d.Reason)
		}
		if got < prev {
			t.Errorf("error #%d: wait %v shorter than the previous %v", n, got, prev)
		}
		if got > p.MaxBackoff {
			t.Errorf("error #%d: wait %v above the cap %v", n, got, p.MaxBackoff)
		}
		if wantReason := fmt.Sprintf("error #%d: backoff %s", n, fmtDur(want[n-1])); !strings.HasPrefix(d.Reason, wantReason) {
			t.Errorf("error #%d: reason %q, want prefix %q", n, d.Reason, wantReason)
		}
		prev = got
	}
}

func TestAfterError(t *testing.T) {
	p := DefaultPolicy()
	tests := []struct {
		name   string
		n      int
		hints  Hints
		want   time.Duration
		reason string
	}{
		{"error count 0 counts as the first", 0, Hints{}, 5 * time.Minute, "error #1: backoff 5m"},
		{"huge error count does not overflow", 1 << 40, Hints{}, 24 * time.Hour, "backoff 24h (max)"},
		{"never gives up", 1000, Hints{}, 24 * time.Hour, ""},
		{"Retry-After 120s honoured (backoff already longer)", 1, Hints{RetryAfter: 120 * time.Second}, 5 * time.Minute,
			"error #1: backoff 5m (Retry-After 2m is shorter)"},
		{"Retry-After 2h longer than backoff is the wait", 2, Hints{RetryAfter: 2 * time.Hour}, 2 * time.Hour,
			"error #2: Retry-After 2h honoured"},
		{"Retry-After > cap waits the cap", 1, Hints{RetryAfter: 48 * time.Hour}, 24 * time.Hour,
			"error #1: Retry-After 48h capped at 24h"},
		{"soft hints do not change the backoff", 1, Hints{TTL: 6 * time.Hour, MaxAge: 6 * time.Hour}, 5 * time.Minute, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.AfterError(now, tt.n, tt.hints, nil)
			if got := d.At.Sub(now); got != tt.want {
				t.Errorf("wait %v, want %v (%s)", got, tt.want, d.Reason)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", d.Reason, tt.reason)
			}
		})
	}
}

func TestAfterErrorRetryAfterSmallBase(t *testing.T) {
	// With a base below the server's Retry-After, the first retry is
	// exactly what the server asked for.
	p := DefaultPolicy()
	p.BackoffBase = time.Minute
	d := p.AfterError(now, 1, Hints{RetryAfter: 120 * time.Second}, nil)
	if got := d.At.Sub(now); got != 120*time.Second {
		t.Errorf("wait %v, want 2m (%s)", got, d.Reason)
	}
	if want := "error #1: Retry-After 2m honoured"; d.Reason != want {
		t.Errorf("Reason = %q, want %q", d.Reason, want)
	}
}

func TestAfterErrorSkipHours(t *testing.T) {
	p := DefaultPolicy()
	night := time.Date(2025, 3, 12, 23, 58, 0, 0, time.UTC)
	d := p.AfterError(night, 1, Hints{SkipHours: []int{0}}, nil)
	if want := time.Date(2025, 3, 13, 1, 0, 0, 0, time.UTC); !d.At.Equal(want) {
		t.Errorf("At = %v, want %v (%s)", d.At, want, d.Reason)
	}
}

// TestJitterBounds draws 1000 decisions per case from a seeded source and
// checks every one stays inside the documented range, and that the draws
// actually spread.
func TestJitterBounds(t *testing.T) {
	p := DefaultPolicy()
	night := time.Date(2025, 3, 12, 23, 30, 0, 0, time.UTC)
	tenMin := every(now, 0, 20*time.Minute, 1420*time.Minute)
	tests := []struct {
		name     string
		decide   func(r *rand.Rand) Decision
		from     time.Time
		lo, hi   time.Duration // inclusive, from `from`
		twoSided bool          // expect draws on both sides of the middle
		mid      time.Duration
	}{
		{"rate-based 1h: ±10%", func(r *rand.Rand) Decision { return p.Next(now, History{}, Hints{}, r) },
			now, 54 * time.Minute, 66 * time.Minute, true, time.Hour},
		{"at min: never below min", func(r *rand.Rand) Decision { return p.Next(now, History{ItemTimes: perDay(300)}, Hints{}, r) },
			now, 5 * time.Minute, 5*time.Minute + 30*time.Second, false, 0},
		{"at max: never above max", func(r *rand.Rand) Decision {
			return p.Next(now, History{ItemTimes: every(now, 3*day, week, 30*day)}, Hints{}, r)
		}, now, 24*time.Hour - 144*time.Minute, 24 * time.Hour, false, 0},
		{"ttl-bounded: positive only", func(r *rand.Rand) Decision {
			return p.Next(now, History{ItemTimes: tenMin}, Hints{TTL: 2 * time.Hour}, r)
		},
			now, 2 * time.Hour, 2*time.Hour + 12*time.Minute, false, 0},
		{"Retry-After on success: positive only", func(r *rand.Rand) Decision { return p.Next(now, History{}, Hints{RetryAfter: 3 * time.Hour}, r) },
			now, 3 * time.Hour, 3*time.Hour + 18*time.Minute, false, 0},
		{"backoff #3: ±10%", func(r *rand.Rand) Decision { return p.AfterError(now, 3, Hints{}, r) },
			now, 18 * time.Minute, 22 * time.Minute, true, 20 * time.Minute},
		{"backoff at cap: never above MaxBackoff", func(r *rand.Rand) Decision { return p.AfterError(now, 12, Hints{}, r) },
			now, 24*time.Hour - 144*time.Minute, 24 * time.Hour, false, 0},
		{"Retry-After 2h after error: never below", func(r *rand.Rand) Decision {
			return p.AfterError(now, 1, Hints{RetryAfter: 2 * time.Hour}, r)
		}, now, 2 * time.Hour, 2*time.Hour + 12*time.Minute, false, 0},
		{"Retry-After > cap: cap plus at most Jitter", func(r *rand.Rand) Decision {
			return p.AfterError(now, 1, Hints{RetryAfter: 48 * time.Hour}, r)
		}, now, 24 * time.Hour, 24*time.Hour + 144*time.Minute, false, 0},
		{"skip push: spread inside the first allowed hour", func(r *rand.Rand) Decision {
			return p.Next(night, History{}, Hints{SkipHours: []int{0, 1, 2, 3, 4, 5, 6}}, r)
		}, time.Date(2025, 3, 13, 7, 0, 0, 0, time.UTC), 0, 6 * time.Minute, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			seen := map[time.Time]bool{}
			below, above := 0, 0
			for i := range 1000 {
				d := tt.decide(r)
				off := d.At.Sub(tt.from)
				if off < tt.lo || off > tt.hi {
					t.Fatalf("draw %d: %v after %v, want within [%v, %v] (%s)", i, off, tt.from, tt.lo, tt.hi, d.Reason)
				}
				seen[d.At] = true
				if off < tt.mid {
					below++
				} else if off > tt.mid {
					above++
				}
			}
			if len(seen) < 900 {
				t.Errorf("only %d distinct times in 1000 draws: jitter does not spread", len(seen))
			}
			if tt.twoSided && (below < 400 || above < 400) {
				t.Errorf("%d draws below and %d above %v: want both sides roughly even", below, above, tt.mid)
			}
		})
	}
}

// TestInvariants checks, over random policies, histories and hints, what
// must hold whatever the inputs: a time after now, never before the
// honoured Retry-After, never in a skipped hour, never later than the
// documented maximum.
func TestInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	dur := func(maxD time.Duration) time.Duration {
		if r.IntN(3) == 0 {
			return 0
		}
		return time.Duration(r.Int64N(int64(maxD)))
	}
	for i := range 3000 {
		p := Policy{
			Default:     dur(3 * time.Hour),
			Min:         dur(time.Hour),
			Max:         dur(48 * time.Hour),
			MaxBackoff:  dur(72 * time.Hour),
			Jitter:      r.Float64() * 1.2,
			BackoffBase: dur(time.Hour),
		}
		var items []time.Time
		for range r.IntN(50) {
			items = append(items, now.Add(-dur(10*day)+dur(time.Hour)))
		}
		h := Hints{TTL: dur(30 * time.Hour), MaxAge: dur(30 * time.Hour), RetryAfter: dur(60 * time.Hour)}
		if r.IntN(2) == 0 {
			h.Expires = now.Add(dur(60*time.Hour) - 30*time.Hour)
		}
		for range r.IntN(26) {
			h.SkipHours = append(h.SkipHours, r.IntN(27)-1)
		}
		for range r.IntN(8) {
			h.SkipDays = append(h.SkipDays, time.Weekday(r.IntN(7)).String())
		}
		rules, _ := parseSkip(h)
		np := p.normalized()
		var jr *rand.Rand
		if r.IntN(2) == 0 {
			jr = r
		}
		for _, d := range []Decision{
			p.Next(now, History{ItemTimes: items}, h, jr),
			p.AfterError(now, r.IntN(40)-2, h, jr),
		} {
			wait := d.At.Sub(now)
			if wait <= 0 && np.Jitter < 1 {
				t.Fatalf("case %d: At %v not after now (%s) policy %+v", i, d.At, d.Reason, p)
			}
			if ra := min(h.RetryAfter, np.MaxBackoff); wait < ra {
				t.Fatalf("case %d: wait %v below Retry-After %v (%s)", i, wait, ra, d.Reason)
			}
			if !rules.allowed(d.At) {
				t.Fatalf("case %d: %v is in a skipped hour (%s)", i, d.At.UTC(), d.Reason)
			}
			limit := time.Duration(float64(max(np.Max, np.MaxBackoff))*(1+np.Jitter)) + 8*day
			if wait > limit {
				t.Fatalf("case %d: wait %v beyond %v (%s)", i, wait, limit, d.Reason)
			}
			if d.Reason == "" {
				t.Fatalf("case %d: empty reason", i)
			}
		}
	}
}

func TestPolicyNormalized(t *testing.T) {
	var zero Policy
	d := zero.Next(now, History{}, Hints{}, rand.New(rand.NewPCG(1, 1)))
	if want := now.Add(time.Hour); !d.At.Equal(want) {
		t.Errorf("zero Policy: At %v, want %v with no jitter (%s)", d.At, want, d.Reason)
	}
	p := Policy{Min: 2 * time.Hour, Max: time.Hour, Default: 10 * time.Minute}
	if got := p.Interval(now, nil); got != 2*time.Hour {
		t.Errorf("Max below Min, Default below Min: Interval %v, want 2h", got)
	}
	p = Policy{BackoffBase: 48 * time.Hour}
	if got := p.AfterError(now, 1, Hints{}, nil).At.Sub(now); got != 24*time.Hour {
		t.Errorf("BackoffBase above MaxBackoff: wait %v, want 24h", got)
	}
}

func TestDue(t *testing.T) {
	tests := []struct {
		name string
		next time.Time
		want bool
	}{
		{"never scheduled", time.Time{}, true},
		{"in the past", now.Add(-time.Second), true},
		{"exactly now", now, true},
		{"in the future", now.Add(time.Nanosecond), false},
		{"same instant in another zone", now.In(time.FixedZone("X", -5*3600)), true},
	}
	for _, tt := range tests {
		if got := Due(now, tt.next); got != tt.want {
			t.Errorf("%s: Due = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		2 * time.Hour:                  "2h",
		7*time.Minute + 12*time.Second: "7m12s",
		90 * time.Second:               "1m30s",
		time.Hour + 5*time.Second:      "1h0m5s",
		5 * time.Minute:                "5m",
		1500 * time.Millisecond:        "2s",
		0:                              "0s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", time.Duration(d), got, want)
		}
	}
}

func ExamplePolicy_Next() {
	p := DefaultPolicy()
	now := time.Date(2025, 3, 12, 23, 30, 0, 0, time.UTC)
	// 72 items, one every 20 minutes; the feed says <ttl>120</ttl> and
	// <skipHours> 0..6.
	var items []time.Time
	for i := range 72 {
		items = append(items, now.Add(-time.Duration(i)*20*time.Minute))
	}
	d := p.Next(now, History{ItemTimes: items}, Hints{TTL: 2 * time.Hour, SkipHours: []int{0, 1, 2, 3, 4, 5, 6}}, nil)
	fmt.Println(d.At.Format(time.DateTime), "-", d.Reason)
	d = p.AfterError(now, 3, Hints{}, nil)
	fmt.Println(d.At.Format(time.DateTime), "-", d.Reason)
	// Output:
	// 2025-03-13 07:00:00 - entry rate 72/day → 10m; ttl 2h honoured; skipHours 0-6 → Thu 07:00 UTC
	// 2025-03-12 23:50:00 - error #3: backoff 20m
}
