package parse

import (
	"bytes"
	"fmt"
	"mime"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
)

// Decode returns body as bytes gofeed can parse, deciding the character
// encoding in this order:
//
//  1. A byte order mark wins: a UTF-8 BOM is stripped (invalid bytes after
//     it become U+FFFD), UTF-16 and UTF-32 (LE or BE) with a BOM, or
//     recognisable by a "<?" or "<" in their width, are converted to UTF-8.
//  2. JSON (first non-blank byte '{' or '[') is UTF-8 by definition
//     (RFC 8259): passed as it is.
//  3. An encoding declared in the XML prolog: the bytes are passed as they
//     are and gofeed's XML decoder converts them. The Content-Type charset is
//     never applied against a declaration.
//  4. No declaration: a Content-Type charset other than UTF-8 converts the
//     bytes to UTF-8.
//  5. Otherwise valid UTF-8 passes; anything else is decoded as
//     windows-1252 (a superset of ISO-8859-1 for printable text).
//
// Declarations that are demonstrably false are not trusted, since obeying
// them only turns a readable feed into an error or mojibake:
//   - an encoding label that no decoder knows is treated as no declaration;
//   - a declared UTF-8 with bytes that are not valid UTF-8, or a declared
//     UTF-16/32 on bytes whose prolog reads as ASCII, falls to rules 4-5;
//   - a declared legacy encoding (ISO-8859-1, windows-1251, ...) on bytes
//     that are valid UTF-8 and hold multi-byte sequences is read as UTF-8
//     (text in a legacy encoding is practically never valid UTF-8 once it
//     has a non-ASCII letter). The same holds for a Content-Type charset.
//
// Whenever the bytes are converted, the encoding declaration is removed from
// the prolog so that the XML decoder does not convert them a second time.
func Decode(body []byte, contentType string) ([]byte, error) {
	switch {
	case bytes.HasPrefix(body, []byte("\xEF\xBB\xBF")):
		// A UTF-8 BOM is a stronger statement than a few bad bytes: they
		// become U+FFFD rather than failing the whole feed.
		return dropDeclaration(bytes.ToValidUTF8(body[3:], []byte("\uFFFD"))), nil
	case bytes.HasPrefix(body, []byte("\x00\x00\xFE\xFF")), bytes.HasPrefix(body, []byte("\x00\x00\x00<")):
		return decodeWith(utf32.UTF32(utf32.BigEndian, utf32.UseBOM), body, "UTF-32BE")
	case bytes.HasPrefix(body, []byte("\xFF\xFE\x00\x00")), bytes.HasPrefix(body, []byte("<\x00\x00\x00")):
		return decodeWith(utf32.UTF32(utf32.LittleEndian, utf32.UseBOM), body, "UTF-32LE")
	case bytes.HasPrefix(body, []byte("\xFF\xFE")), bytes.HasPrefix(body, []byte("\xFE\xFF")):
		return decodeWith(unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM), body, "UTF-16")
	case bytes.HasPrefix(body, []byte("<\x00?\x00")):
		return decodeWith(unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), body, "UTF-16LE")
	case bytes.HasPrefix(body, []byte("\x00<\x00?")):
		return decodeWith(unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), body, "UTF-16BE")
	}
	if first := firstNonBlank(body); first == '{' || first == '[' {
		return body, nil
	}

	declared, hasDecl := prologEncoding(body)
	if hasDecl {
		enc, name := lookup(declared)
		switch {
		case enc == nil:
			// Unknown label: the XML decoder would fail on it.
		case name == "utf-8":
			if utf8.Valid(body) {
				return body, nil
			}
		case strings.HasPrefix(name, "utf-16"):
			// We read the prolog as ASCII, so the bytes are not UTF-16.
		case utf8.Valid(body) && hasMultiByte(body):
			return dropDeclaration(body), nil
		default:
			return body, nil
		}
	}

	if enc, name := lookup(headerCharset(contentType)); enc != nil && name != "utf-8" &&
		!strings.HasPrefix(name, "utf-16") && !(utf8.Valid(body) && hasMultiByte(body)) {
		return decodeWith(enc, body, name)
	}
	if utf8.Valid(body) {
		if hasDecl {
			return dropDeclaration(body), nil
		}
		return body, nil
	}
	return decodeWith(charmap.Windows1252, body, "windows-1252")
}

// decodeWith converts body to UTF-8 and removes the prolog's declaration.
func decodeWith(enc encoding.Encoding, body []byte, name string) ([]byte, error) {
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	return dropDeclaration(bytes.TrimPrefix(out, []byte("\xEF\xBB\xBF"))), nil
}

// lookup returns the encoding for a charset label and its canonical name
// ("utf-8", "windows-1252", ...), or nil for an unknown or empty label.
func lookup(label string) (encoding.Encoding, string) {
	label = strings.TrimSpace(label)
	if label == "" {
		return nil, ""
	}
	enc, name := charset.Lookup(label)
	if enc == nil {
		return nil, ""
	}
	return enc, strings.ToLower(name)
}

// headerCharset returns the charset parameter of a Content-Type value.
func headerCharset(contentType string) string {
	if contentType == "" {
		return ""
	}
	if _, params, err := mime.ParseMediaType(contentType); err == nil {
		return params["charset"]
	}
	// Malformed header: look for the parameter by hand (not through
	// strings.ToLower, which changes byte offsets on invalid UTF-8).
	const param = "charset="
	i := 0
	for ; i+len(param) <= len(contentType); i++ {
		if strings.EqualFold(contentType[i:i+len(param)], param) {
			break
		}
	}
	if i+len(param) > len(contentType) {
		return ""
	}
	v := contentType[i+len(param):]
	if j := strings.IndexAny(v, "; "); j >= 0 {
		v = v[:j]
	}
	return strings.Trim(v, `"'`)
}

var (
	prologRe = regexp.MustCompile(`^\s*<\?xml[^>]*?\?>`)
	encRe    = regexp.MustCompile(`\sencoding\s*=\s*["']([^"']*)["']`)
)

// prologEncoding returns the encoding declared in the XML prolog, if any.
func prologEncoding(body []byte) (string, bool) {
	prolog := prologRe.Find(head(body))
	if prolog == nil {
		return "", false
	}
	m := encRe.FindSubmatch(prolog)
	if m == nil {
		return "", false
	}
	return string(m[1]), true
}

// dropDeclaration removes the encoding pseudo-attribute from the prolog of
// a document that is now UTF-8.
func dropDeclaration(body []byte) []byte {
	loc := prologRe.FindIndex(head(body))
	if loc == nil {
		return body
	}
	prolog := body[loc[0]:loc[1]]
	m := encRe.FindIndex(prolog)
	if m == nil {
		return body
	}
	out := make([]byte, 0, len(body))
	out = append(out, body[:loc[0]+m[0]]...)
	out = append(out, body[loc[0]+m[1]:]...)
	return out
}

// head bounds the prolog search: a prolog is at the very start.
func head(body []byte) []byte {
	if len(body) > 512 {
		return body[:512]
	}
	return body
}

func firstNonBlank(body []byte) byte {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// hasMultiByte reports whether body has a byte outside ASCII.
func hasMultiByte(body []byte) bool {
	for _, c := range body {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}
