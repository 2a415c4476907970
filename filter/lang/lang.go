// Package lang tags feed items with the language they are written in, using
// the lingua-go detector and the feed's declared and earlier languages as a
// prior for short or ambiguous text.
package lang

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pemistahl/lingua-go"

	"babelfeed"
)

// Config chooses the languages, accuracy mode and thresholds of a Detector.
type Config struct {
	// Languages are the ISO 639-1 codes to enable; empty means all 75
	// languages lingua knows.
	Languages []string
	// LowAccuracy uses lingua's trigram-only models.
	LowAccuracy bool
	// MaxChars caps the text (title + body, after cleaning) handed to the
	// models, in runes. 0 means no cap.
	MaxChars int
	// MinConfidence is the confidence below which a detection is not
	// trusted on its own: the feed prior decides, or the item is "und".
	MinConfidence float64
}

// DefaultConfig returns the configuration measured in docs/BENCHMARKS.md
// ("Language tagging").
func DefaultConfig() Config {
	return Config{
		LowAccuracy:   false,
		MaxChars:      300,
		MinConfidence: 0.5,
	}
}

// Result is the language decided for one item.
type Result struct {
	// Lang is an ISO 639-1 code in lower case, or babelfeed.Undetermined.
	Lang string
	// Confidence is between 0 and 1.
	Confidence float64
	// Method says how Lang was decided.
	Method babelfeed.LangMethod
}

// minLetters is the fewest letters worth handing to the models.
const minLetters = 3

// Detector tags text with its language. It is safe for concurrent use;
// build one and share it.
type Detector struct {
	cfg       Config
	languages []lingua.Language
	known     map[string]bool
	lingua    lingua.LanguageDetector
}

// New builds a Detector. Unknown language codes are an error.
func New(cfg Config) (*Detector, error) {
	langs, err := parseLanguages(cfg.Languages)
	if err != nil {
		return nil, fmt.Errorf("build language detector: %w", err)
	}
	if cfg.MinConfidence < 0 || cfg.MinConfidence > 1 {
		return nil, fmt.Errorf("build language detector: MinConfidence %v outside [0,1]", cfg.MinConfidence)
	}
	b := lingua.NewLanguageDetectorBuilder().FromLanguages(langs...)
	if cfg.LowAccuracy {
		b = b.WithLowAccuracyMode()
	}
	d := &Detector{
		cfg:       cfg,
		languages: langs,
		known:     make(map[string]bool, len(langs)),
		lingua:    b.Build(),
	}
	for _, l := range langs {
		d.known[isoCode(l)] = true
	}
	return d, nil
}

// parseLanguages turns ISO 639-1 codes into lingua languages; none means
// all of them.
func parseLanguages(codes []string) ([]lingua.Language, error) {
	if len(codes) == 0 {
		return lingua.AllLanguages(), nil
	}
	seen := make(map[lingua.Language]bool)
	var langs []lingua.Language
	for _, c := range codes {
		iso := lingua.GetIsoCode639_1FromValue(strings.TrimSpace(c))
		l := lingua.GetLanguageFromIsoCode639_1(iso)
		if iso == lingua.UnknownIsoCode639_1 || l == lingua.Unknown {
			return nil, fmt.Errorf("unknown language code %q", c)
		}
		if !seen[l] {
			seen[l] = true
			langs = append(langs, l)
		}
	}
	if len(langs) < 2 {
		return nil, fmt.Errorf("need at least two languages, got %v", codes)
	}
	sort.Slice(langs, func(i, j int) bool { return langs[i] < langs[j] })
	return langs, nil
}

func isoCode(l lingua.Language) string {
	return strings.ToLower(l.IsoCode639_1().String())
}

// Detect tags title and text. declared is the feed-declared ISO 639-1 code
// ("" if none; region suffixes such as "it-IT" are accepted); prior counts
// the languages of the feed's earlier items (may be nil).
func (d *Detector) Detect(title, text, declared string, prior map[string]int) Result {
	s := clean(joinTitle(title, text))
	s = truncate(s, d.cfg.MaxChars)
	declared = normaliseCode(declared)

	p := d.priorDist(declared, prior)
	if countLetters(s) < minLetters {
		if declared != "" && d.known[declared] {
			return Result{Lang: declared, Confidence: 0, Method: babelfeed.LangDeclared}
		}
		return undetermined()
	}
	values := d.lingua.ComputeLanguageConfidenceValues(s)
	if len(values) == 0 || values[0].Value() == 0 {
		if declared != "" && d.known[declared] {
			return Result{Lang: declared, Confidence: 0, Method: babelfeed.LangDeclared}
		}
		return undetermined()
	}
	top := values[0]
	if top.Value() >= d.cfg.MinConfidence {
		return Result{Lang: isoCode(top.Language()), Confidence: top.Value(), Method: babelfeed.LangDetected}
	}
	if len(p) == 0 {
		return undetermined()
	}
	best, bestScore, total := "", 0.0, 0.0
	for _, v := range values {
		code := isoCode(v.Language())
		w, ok := p[code]
		if !ok {
			w = priorFloor
		}
		sc := v.Value() * w
		total += sc
		if sc > bestScore {
			best, bestScore = code, sc
		}
	}
	if best == "" || total == 0 {
		return undetermined()
	}
	return Result{Lang: best, Confidence: bestScore / total, Method: babelfeed.LangPrior}
}

// priorFloor is the prior weight of a language the feed never showed.
const priorFloor = 0.01

// priorDist turns the declaration and the earlier items into weights per
// language; nil when the feed tells nothing.
func (d *Detector) priorDist(declared string, prior map[string]int) map[string]float64 {
	total := 0
	for code, n := range prior {
		if n > 0 && d.known[code] {
			total += n
		}
	}
	if total == 0 && (declared == "" || !d.known[declared]) {
		return nil
	}
	p := make(map[string]float64)
	for code, n := range prior {
		if n > 0 && d.known[code] {
			p[code] = float64(n) / float64(total)
		}
	}
	if declared != "" && d.known[declared] {
		if total == 0 {
			p[declared] = 1
		} else {
			p[declared] = (p[declared] + 0.5) / 1.5
		}
	}
	return p
}

func undetermined() Result {
	return Result{Lang: babelfeed.Undetermined, Method: babelfeed.LangUndetermined}
}

// joinTitle joins the title and body with a sentence break so that the last
// word of the title and the first of the body do not glue together.
func joinTitle(title, text string) string {
	switch {
	case title == "":
		return text
	case text == "":
		return title
	}
	return title + ". " + text
}

// normaliseCode lower-cases a declared language and drops its region
// ("pt-BR" → "pt", "IT-it" → "it").
func normaliseCode(code string) string {
	code = strings.ToLower(strings.TrimSpace(code))
	if i := strings.IndexAny(code, "-_"); i >= 0 {
		code = code[:i]
	}
	return code
}
