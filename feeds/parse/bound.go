package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// gofeed builds every item of a document before the caller can keep a
// few, and recurses once per nested element of an unknown (extension)
// element. A document that stays under the body cap can therefore still
// cost gigabytes (a few megabytes of "<item/>" or "{}" become millions of
// items) or overflow the goroutine stack, which is fatal rather than a
// panic (a few megabytes of "<x:a>"). The bounds below are applied to the
// bytes before gofeed sees them.

// ErrTooDeep is wrapped by the error for a document whose elements are
// nested more deeply than Options.MaxDepth.
var ErrTooDeep = errors.New("elements nested too deeply")

// itemsKept is how many items or entries of a document reach gofeed, for
// a MaxItems of n: more than n, since items without content or with a
// repeated identity are dropped after parsing, but a bounded number.
func itemsKept(n int) int { return 2 * n }

// bound returns data cut after its first keep items (JSON Feed items, or
// RSS items and Atom entries) with cut set, or data as it is; for XML it
// also fails with ErrTooDeep when elements nest deeper than maxDepth.
func bound(data []byte, maxDepth, keep int) (out []byte, cut bool, err error) {
	switch firstNonBlank(data) {
	case '{':
		if len(data) < 2*keep {
			return data, false, nil // too short to hold more items than keep
		}
		return boundJSON(data, keep)
	case '<':
		return boundXML(data, maxDepth, keep)
	}
	return data, false, nil
}

// boundXML scans the markup of data, skipping comments, CDATA sections,
// processing instructions, declarations and quoted attribute values the
// way encoding/xml does, so that every element gofeed will see is counted
// (the scan may count more, never fewer). An end tag closes the nearest
// open element of its name, as a lenient reader does with "<br>" left
// open inside a description, so sloppy markup does not read as deep.
func boundXML(data []byte, maxDepth, keep int) ([]byte, bool, error) {
	var stack, atCut [][]byte // open element names as written
	items, itemDepth, cutAt := 0, 0, -1
	itemDone := func(end int) {
		items++
		if items == keep {
			cutAt = end
			atCut = append(atCut[:0], stack...)
		}
	}
	i := 0
	for {
		j := bytes.IndexByte(data[i:], '<')
		if j < 0 {
			return data, false, nil
		}
		i += j
		rest := data[i:]
		var end int // length of the construct at i; -1 when it does not end
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			end = indexAfter(rest, 4, "-->")
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			end = indexAfter(rest, 9, "]]>")
		case bytes.HasPrefix(rest, []byte("<?")):
			end = indexAfter(rest, 2, "?>")
		case bytes.HasPrefix(rest, []byte("<!")):
			end = declarationEnd(rest)
		case bytes.HasPrefix(rest, []byte("</")):
			name := tagName(rest[2:])
			end = bytes.IndexByte(rest, '>') + 1
			if end == 0 {
				end = -1
				break
			}
			for d := len(stack) - 1; d >= 0; d-- {
				if bytes.Equal(stack[d], name) {
					stack = stack[:d]
					break
				}
			}
			if itemDepth > 0 && len(stack) < itemDepth {
				itemDepth = 0
				itemDone(i + end)
			}
		default:
			name := tagName(rest[1:])
			if len(name) == 0 {
				// A "<" that starts no tag: the XML decoder stops here,
				// so nothing after it can be deeper than what came before.
				end = 1
				break
			}
			end = startTagEnd(rest, 1+len(name))
			if end < 0 {
				break
			}
			isItem := itemDepth == 0 && isItemName(name)
			if isItem && cutAt >= 0 {
				// One item more than keep: end the document after the
				// last one kept, closing what was open there.
				out := make([]byte, 0, cutAt+64)
				out = append(out, data[:cutAt]...)
				for d := len(atCut) - 1; d >= 0; d-- {
					out = append(append(append(out, "</"...), atCut[d]...), '>')
				}
				return out, true, nil
			}
			if rest[end-2] == '/' { // self-closing
				if isItem {
					itemDone(i + end)
				}
				break
			}
			stack = append(stack, name)
			if len(stack) > maxDepth {
				return nil, false, fmt.Errorf("%w: more than %d levels", ErrTooDeep, maxDepth)
			}
			if isItem {
				itemDepth = len(stack)
			}
		}
		if end < 0 {
			// Unterminated: the decoder fails here too, and salvage keeps
			// only what came before, all of it scanned.
			return data, false, nil
		}
		i += end
	}
}

// indexAfter returns the length of b up to and including the first
// terminator at or after from, or -1.
func indexAfter(b []byte, from int, terminator string) int {
	k := bytes.Index(b[from:], []byte(terminator))
	if k < 0 {
		return -1
	}
	return from + k + len(terminator)
}

// declarationEnd returns the length of the declaration ("<!DOCTYPE ...>",
// with an internal subset) that b starts with, or -1. Like encoding/xml, it
// nests on angle brackets outside quotes and skips comments.
func declarationEnd(b []byte) int {
	depth := 0
	var quote byte
	for k := 2; k < len(b); k++ {
		c := b[k]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			if depth == 0 {
				return k + 1
			}
			depth--
		case c == '<':
			if bytes.HasPrefix(b[k:], []byte("<!--")) {
				e := indexAfter(b[k:], 4, "-->")
				if e < 0 {
					return -1
				}
				k += e - 1
				continue
			}
			depth++
		}
	}
	return -1
}

// tagName returns the element name at the start of b: the bytes up to white
// space, "/" or ">".
func tagName(b []byte) []byte {
	k := 0
	for k < len(b) {
		switch b[k] {
		case ' ', '\t', '\r', '\n', '/', '>', '<':
			return b[:k]
		}
		k++
	}
	return b[:k]
}

// startTagEnd returns the length of the start tag b begins with, scanning
// from offset from (after the name) to the ">" that is not inside an
// attribute value in quotes; -1 when there is none.
func startTagEnd(b []byte, from int) int {
	afterEq := false
	for k := from; k < len(b); k++ {
		switch c := b[k]; c {
		case '>':
			return k + 1
		case '=':
			afterEq = true
		case ' ', '\t', '\r', '\n':
		case '"', '\'':
			if afterEq {
				e := bytes.IndexByte(b[k+1:], c)
				if e < 0 {
					return -1
				}
				k += e + 1
			}
			afterEq = false
		default:
			afterEq = false
		}
	}
	return -1
}

// isItemName reports whether a qualified element name is an RSS item or an
// Atom entry, whatever its prefix.
func isItemName(name []byte) bool {
	if k := bytes.LastIndexByte(name, ':'); k >= 0 {
		name = name[k+1:]
	}
	return bytes.EqualFold(name, []byte("item")) || bytes.EqualFold(name, []byte("entry"))
}

// boundJSON keeps the first keep elements of the "items" array of a JSON
// object, streaming past the rest without holding them. Anything that is
// not such an object, or not valid JSON, is returned as it is: gofeed then
// reports it (encoding/json validates a document before building values).
func boundJSON(data []byte, keep int) ([]byte, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return data, false, nil
	}
	var out bytes.Buffer
	out.WriteByte('{')
	cut := false
	for n := 0; dec.More(); n++ {
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return data, false, nil
		}
		if n > 0 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		out.Write(k)
		out.WriteByte(':')
		if key == "items" && bytes.HasPrefix(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n:"), []byte("[")) {
			if _, err := dec.Token(); err != nil { // the "["
				return data, false, nil
			}
			out.WriteByte('[')
			for i := 0; dec.More(); i++ {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return data, false, nil
				}
				if i >= keep {
					cut = true
					continue
				}
				if i > 0 {
					out.WriteByte(',')
				}
				out.Write(raw)
			}
			if _, err := dec.Token(); err != nil { // the "]"
				return data, false, nil
			}
			out.WriteByte(']')
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return data, false, nil
		}
		out.Write(raw)
	}
	if !cut {
		return data, false, nil
	}
	out.WriteByte('}')
	return out.Bytes(), true, nil
}
