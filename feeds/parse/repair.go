package parse

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"unicode/utf8"
)

// gofeed returns nothing at all for a document that is cut short (a body
// size limit, a dropped connection) or broken half way. salvage keeps what
// came before the break: the document up to its last complete <item> or
// <entry>, with the elements still open at that point closed again.

// salvageable reports whether err is an XML syntax error, the kind a cut
// document gives.
func salvageable(err error) bool {
	var se *xml.SyntaxError
	return errors.As(err, &se)
}

// salvage returns data cut after its last complete item or entry and closed,
// or nil when there is no complete item to keep. It needs UTF-8 (or ASCII)
// bytes, as Decode returns them for all but declared legacy encodings, so
// that decoder offsets are offsets into data.
func salvage(data []byte) []byte {
	if !utf8.Valid(data) {
		return nil
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = false
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var open, openAtCut []string
	cut := -1
	for {
		tok, err := d.RawToken()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			open = append(open, qualified(t.Name))
		case xml.EndElement:
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
			if t.Name.Local == "item" || t.Name.Local == "entry" {
				cut = int(d.InputOffset())
				openAtCut = append(openAtCut[:0], open...)
			}
		}
	}
	if cut < 0 || cut > len(data) {
		return nil
	}
	out := append([]byte(nil), data[:cut]...)
	for i := len(openAtCut) - 1; i >= 0; i-- {
		out = append(out, "</"+openAtCut[i]+">"...)
	}
	return out
}

// qualified returns the name as written: prefix:local.
func qualified(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}
