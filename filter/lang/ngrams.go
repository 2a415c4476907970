package lang

import (
	"archive/zip"
	"embed"
	"fmt"
	"io"
	"math"
	"math/bits"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
	_ "unsafe" // go:linkname to lingua's embedded model files

	"github.com/pemistahl/lingua-go"
	"google.golang.org/protobuf/encoding/protowire"
)

// linguaModelFiles is lingua-go's own embedded copy of its language models
// (language-models/<iso>/<order>s.pb.bin.zip). lingua-go decodes them into
// Go maps of string to float64, ~50 bytes per n-gram: all 75 languages'
// high-accuracy models (19.7 million n-grams) take ~1 GB that way. Reading
// the same files here lets this package keep them in compactTable form at
// ~5 bytes per n-gram. lingua-go does not export the files, hence the
// linkname; TestCompactModelsMatchLingua fails if a lingua-go upgrade moves
// them.
//
//go:linkname linguaModelFiles github.com/pemistahl/lingua-go.languageModels
var linguaModelFiles embed.FS

// maxOrder is the longest n-gram lingua's high-accuracy models have.
const maxOrder = 5

// Layout of one compactTable entry: the bits of the n-gram's hash just
// below the bucket bits, then its quantised log probability.
const (
	qBits   = 11
	remBits = 32 - qBits
	// qScale is the quantisation steps per nat: log probabilities are kept
	// to within 1/128 nat (lingua's are float64), down to -2047/64 ≈ -32
	// (p ≈ 1e-14; lingua's smallest is above 1e-9).
	qScale = 64
	qMask  = 1<<qBits - 1
)

// compactTable is one language's model of one n-gram order: a hash table
// without keys or pointers. The n-gram's 64-bit hash picks a bucket by its
// top bits; the bucket's entries are scanned for the next remBits bits.
// With 4 to 8 entries per bucket a lookup of an n-gram the model lacks
// matches by chance about once in 300,000 lookups (and then adds one
// n-gram's worth of a wrong probability): far below what changes a result.
type compactTable struct {
	shift uint     // 64 - bucket bits
	dir   []uint32 // bucket b is ent[dir[b]:dir[b+1]]
	ent   []uint32 // hash bits << qBits | round(-log p * qScale)
}

// lookup returns the log probability of the n-gram with hash h, and
// whether the model has it.
func (t *compactTable) lookup(h uint64) (float64, bool) {
	if len(t.dir) == 0 {
		return 0, false
	}
	b := h >> t.shift
	rem := uint32(h>>(t.shift-remBits)) & (1<<remBits - 1)
	for _, e := range t.ent[t.dir[b]:t.dir[b+1]] {
		if e>>qBits == rem {
			return -float64(e&qMask) / qScale, true
		}
	}
	return 0, false
}

// bytes returns the memory the table holds.
func (t *compactTable) bytes() int { return 4 * (len(t.dir) + len(t.ent)) }

// buildTable lays out entries (hash, quantised log probability) as a
// compactTable: a counting sort by bucket.
func buildTable(hs []uint64, qs []uint16) compactTable {
	n := len(hs)
	if n == 0 {
		return compactTable{}
	}
	k := max(bits.Len(uint(n/4)), 1) // 2^k buckets: 4-8 entries each
	t := compactTable{shift: uint(64 - k), dir: offHeapUint32(1<<k + 1), ent: offHeapUint32(n)}
	for _, h := range hs {
		t.dir[h>>t.shift+1]++
	}
	for b := 1; b < len(t.dir); b++ {
		t.dir[b] += t.dir[b-1]
	}
	fill := make([]uint32, 1<<k)
	copy(fill, t.dir)
	for i, h := range hs {
		b := h >> t.shift
		rem := uint32(h>>(t.shift-remBits)) & (1<<remBits - 1)
		t.ent[fill[b]] = rem<<qBits | uint32(qs[i])
		fill[b]++
	}
	return t
}

// ngramHasher hashes n-grams as UTF-8 bytes: FNV-1a, then a finaliser
// that spreads the bits (FNV's top bits, which pick the bucket, are weak).
type ngramHasher uint64

const fnvOffset, fnvPrime = 14695981039346656037, 1099511628211

func (h *ngramHasher) reset() { *h = fnvOffset }

func (h *ngramHasher) writeRune(r rune) {
	var buf [utf8.UTFMax]byte
	for _, c := range buf[:utf8.EncodeRune(buf[:], r)] {
		*h = (*h ^ ngramHasher(c)) * fnvPrime
	}
}

func (h ngramHasher) sum() uint64 {
	x := uint64(h)
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// hashBytes hashes an n-gram given as UTF-8: the same hash as writeRune
// for each of its runes.
func hashBytes(b []byte) uint64 {
	var h ngramHasher
	h.reset()
	for _, c := range b {
		h = (h ^ ngramHasher(c)) * fnvPrime
	}
	return h.sum()
}

// compactModels are one language's high-accuracy models, orders 1 to 5
// (table i holds the (i+1)-grams).
type compactModels struct {
	tables [maxOrder]compactTable
}

func (m *compactModels) bytes() int {
	n := 0
	for i := range m.tables {
		n += m.tables[i].bytes()
	}
	return n
}

// modelCache holds the compact models of every language, each loaded once
// per process and never changed after: like lingua's own model maps, they
// are shared by every Detector (a Detector per configuration would
// otherwise hold its own copy of ~100 MB).
type modelCache struct {
	once   [numLanguages]sync.Once
	models [numLanguages]*compactModels
	errs   [numLanguages]error
}

var compactCache modelCache

// compactModelsOf returns l's compact models, loading them on first use
// (~0.1 s; callers wanting them at the same time wait for the one load).
// Languages lingua has no n-gram models for (decided by script) get empty
// models.
func compactModelsOf(l lingua.Language) (*compactModels, error) {
	c := &compactCache
	c.once[l].Do(func() {
		c.models[l], c.errs[l] = loadCompactModels(l, &loadScratch{})
	})
	return c.models[l], c.errs[l]
}

// checkModelFiles reports an error unless lingua's five model files of l
// are where loadCompactModels reads them.
func checkModelFiles(l lingua.Language) error {
	for _, name := range orderNames {
		path := "language-models/" + isoCode(l) + "/" + name + "s.pb.bin.zip"
		f, err := linguaModelFiles.Open(path)
		if err != nil {
			return fmt.Errorf("lingua's high-accuracy models of %v: %w", l, err)
		}
		f.Close()
	}
	return nil
}

// loadScratch are the buffers of one model loader, reused from file to
// file so that loading makes little garbage.
type loadScratch struct {
	pb []byte
	hs []uint64
	qs []uint16
}

var orderNames = [maxOrder]string{"unigram", "bigram", "trigram", "quadrigram", "fivegram"}

// loadCompactModels reads l's five model files from lingua's embedded copy.
func loadCompactModels(l lingua.Language, sc *loadScratch) (*compactModels, error) {
	m := &compactModels{}
	iso := isoCode(l)
	for i, name := range orderNames {
		path := "language-models/" + iso + "/" + name + "s.pb.bin.zip"
		zipped, inPlace := embeddedFile(linguaModelFiles, path)
		if !inPlace {
			b, err := linguaModelFiles.ReadFile(path)
			if err != nil {
				continue // no such model (languages decided by their script)
			}
			zipped = string(b)
		}
		err := sc.decodeModel(zipped)
		if inPlace {
			dropPages(zipped)
		}
		if err != nil {
			return nil, fmt.Errorf("load lingua model %s: %w", path, err)
		}
		m.tables[i] = buildTable(sc.hs, sc.qs)
	}
	return m, nil
}

// embeddedFile returns the contents of the file name of fsys in place, in
// the program's read-only data, where embed.FS.ReadFile would copy them
// (and the copies of 128 MB of model files would be garbage to collect).
// It relies on embed.FS's layout (a pointer to a slice of {name, data
// string, ...}; the compiler writes it) and reports false if that differs
// or the file is not there.
func embeddedFile(fsys embed.FS, name string) (string, bool) {
	v := reflect.ValueOf(fsys)
	if v.Kind() != reflect.Struct || v.NumField() != 1 {
		return "", false
	}
	p := v.Field(0)
	if p.Kind() != reflect.Pointer || p.IsNil() || p.Elem().Kind() != reflect.Slice {
		return "", false
	}
	files := p.Elem()
	for i := range files.Len() {
		f := files.Index(i)
		if f.Kind() != reflect.Struct || f.NumField() < 2 ||
			f.Field(0).Kind() != reflect.String || f.Field(1).Kind() != reflect.String {
			return "", false
		}
		if f.Field(0).String() == name {
			return f.Field(1).String(), true
		}
	}
	return "", false
}

// decodeModel unzips one lingua model file and decodes its protocol buffer
// (lingua's serialization.SerializableLanguageModel: field 4 repeats
// {1: probability as double, 2: repeated n-gram string}) straight into
// hashes and quantised log probabilities, without a string per n-gram.
func (sc *loadScratch) decodeModel(zipped string) error {
	zr, err := zip.NewReader(strings.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		return fmt.Errorf("open zip: %w", err)
	}
	if len(zr.File) != 1 {
		return fmt.Errorf("zip holds %d files, want 1", len(zr.File))
	}
	zf := zr.File[0]
	if zf.UncompressedSize64 > 1<<30 {
		return fmt.Errorf("%s: %d bytes unzipped", zf.Name, zf.UncompressedSize64)
	}
	f, err := zf.Open()
	if err != nil {
		return fmt.Errorf("open %s: %w", zf.Name, err)
	}
	defer f.Close()
	size := int(zf.UncompressedSize64)
	if cap(sc.pb) < size {
		sc.pb = make([]byte, size)
	}
	pb := sc.pb[:size]
	if _, err := io.ReadFull(f, pb); err != nil {
		return fmt.Errorf("unzip %s: %w", zf.Name, err)
	}
	hs, qs := sc.hs[:0], sc.qs[:0]
	defer func() { sc.hs, sc.qs = hs, qs }()
	for len(pb) > 0 {
		num, typ, n := protowire.ConsumeTag(pb)
		if n < 0 {
			return fmt.Errorf("decode model: %w", protowire.ParseError(n))
		}
		pb = pb[n:]
		if num != 4 || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, pb)
			if n < 0 {
				return fmt.Errorf("decode model field %d: %w", num, protowire.ParseError(n))
			}
			pb = pb[n:]
			continue
		}
		set, n := protowire.ConsumeBytes(pb)
		if n < 0 {
			return fmt.Errorf("decode n-gram set: %w", protowire.ParseError(n))
		}
		pb = pb[n:]
		if hs, qs, err = decodeSet(set, hs, qs); err != nil {
			return err
		}
	}
	return nil
}

// decodeSet appends one SerializableNgramSet's n-grams.
func decodeSet(set []byte, hs []uint64, qs []uint16) ([]uint64, []uint16, error) {
	// The probability comes first as serialised, but protocol buffers
	// allow any order: find it before the n-grams.
	prob := math.NaN()
	for b := set; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil, fmt.Errorf("decode n-gram set: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if num == 1 && typ == protowire.Fixed64Type {
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return nil, nil, fmt.Errorf("decode probability: %w", protowire.ParseError(n))
			}
			prob = math.Float64frombits(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, nil, fmt.Errorf("decode n-gram set field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	if !(prob > 0) || prob > 1 {
		return nil, nil, fmt.Errorf("decode n-gram set: probability %v", prob)
	}
	q := uint16(min(math.Round(-math.Log(prob)*qScale), qMask))
	for b := set; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:]
		if num == 2 && typ == protowire.BytesType {
			s, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, nil, fmt.Errorf("decode n-gram: %w", protowire.ParseError(n))
			}
			hs = append(hs, hashBytes(s))
			qs = append(qs, q)
		}
		b = b[protowire.ConsumeFieldValue(num, typ, b):]
	}
	return hs, qs, nil
}

// textGrams are the distinct n-grams of a text, orders 1 to 5, each with
// the hashes of its prefixes (the n-grams lingua backs off to when a model
// lacks the longer one).
type textGrams struct {
	// prefixes[o] lists, for each distinct (o+1)-gram, the hashes of its
	// prefixes of 1 to o+1 runes, o+1 hashes per n-gram.
	prefixes [maxOrder][]uint64
}

// linguaWords splits text into words as lingua does (its splitTextIntoWords:
// lower case, then runs of letters; an ideograph, kana or Hangul syllable
// that starts a word is a word of its own).
func linguaWords(text string) []string {
	text = strings.ToLower(text)
	var words []string
	start := -1
	for i, r := range text {
		letter := unicode.IsLetter(r)
		if start >= 0 && !letter {
			words = append(words, text[start:i])
			start = -1
		}
		if !letter {
			continue
		}
		if start < 0 {
			if unicode.In(r, unicode.Han, unicode.Hangul, unicode.Hiragana, unicode.Katakana) {
				words = append(words, text[i:i+utf8.RuneLen(r)])
				continue
			}
			start = i
		}
	}
	if start >= 0 {
		words = append(words, text[start:])
	}
	return words
}

// gramsOf collects the distinct n-grams of words, as lingua's
// newTestDataLanguageModel does for each order.
func gramsOf(words []string) *textGrams {
	g := &textGrams{}
	var seen [maxOrder]map[uint64]bool
	for o := range seen {
		seen[o] = make(map[uint64]bool)
	}
	var pre [maxOrder]uint64
	for _, w := range words {
		rs := []rune(w)
		for i := range rs {
			var h ngramHasher
			h.reset()
			for o := 0; o < maxOrder && i+o < len(rs); o++ {
				h.writeRune(rs[i+o])
				pre[o] = h.sum()
				if seen[o][pre[o]] {
					continue
				}
				seen[o][pre[o]] = true
				g.prefixes[o] = append(g.prefixes[o], pre[:o+1]...)
			}
		}
	}
	return g
}

// highAccuracyLog returns lingua's high-accuracy score of the text for
// language m, as its natural log, and whether the models found anything:
// for each order, the sum over the text's distinct n-grams of the log
// probability of the n-gram, or of its longest prefix the models have;
// orders whose sum is 0 are left out; the total is divided by the number
// of the text's distinct letters the unigram model has. (lingua's
// computeSumOfNgramProbabilities, countUnigrams and sumUpProbabilities.)
func (m *compactModels) highAccuracyLog(g *textGrams) (float64, bool) {
	total, unigrams := 0.0, 0
	for o := range maxOrder {
		sum, hits := 0.0, 0
		ps := g.prefixes[o]
		for j := 0; j+o < len(ps); j += o + 1 {
			for k := o; k >= 0; k-- {
				if lp, ok := m.tables[k].lookup(ps[j+k]); ok {
					sum += lp
					hits++
					break
				}
			}
		}
		if sum < 0 {
			total += sum
			if o == 0 {
				unigrams = hits
			}
		}
	}
	if unigrams > 0 {
		total /= float64(unigrams)
	}
	return total, total != 0
}

// compactDistribution scores text with the compact high-accuracy models
// of langs (models[i] are those of langs[i]) and returns lingua's high-accuracy
// confidence values for them: the softmax of highAccuracyLog. Languages
// the models know nothing of are left out.
func compactDistribution(text string, langs []lingua.Language, models []*compactModels) distribution {
	g := gramsOf(linguaWords(text))
	var lps [numLanguages]float64
	var scored []lingua.Language
	best := math.Inf(-1)
	for i, l := range langs {
		if lp, ok := models[i].highAccuracyLog(g); ok {
			lps[l] = lp
			scored = append(scored, l)
			best = max(best, lp)
		}
	}
	out := make(distribution, 0, len(scored))
	for _, l := range scored {
		out = append(out, weighted{l, math.Exp(lps[l] - best)})
	}
	out.normalise()
	return out
}
