package parse

import (
	"bytes"
	"testing"
)

func TestDecode(t *testing.T) {
	const rss = `<rss version="2.0"><channel><title>%s</title></channel></rss>`
	tests := []struct {
		name, body, ctype, want string
	}{
		{"prolog latin1, header utf-8: left alone",
			`<?xml version="1.0" encoding="ISO-8859-1"?><rss><title>Caf` + "\xe9" + `</title></rss>`, "application/xml; charset=utf-8",
			`<?xml version="1.0" encoding="ISO-8859-1"?><rss><title>Caf` + "\xe9" + `</title></rss>`},
		{"prolog windows-1251, header latin1: left alone",
			`<?xml version="1.0" encoding="windows-1251"?><rss><title>` + "\xcf\xf0\xe8\xe2\xe5\xf2" + `</title></rss>`, "text/xml; charset=iso-8859-1",
			`<?xml version="1.0" encoding="windows-1251"?><rss><title>` + "\xcf\xf0\xe8\xe2\xe5\xf2" + `</title></rss>`},
		{"header windows-1251, no prolog: converted",
			`<rss><title>` + "\xcf\xf0\xe8\xe2\xe5\xf2, \xec\xe8\xf0" + `</title></rss>`, "application/rss+xml; charset=windows-1251",
			`<rss><title>Привет, мир</title></rss>`},
		{"header windows-1251, prolog without encoding: converted",
			`<?xml version="1.0"?><rss><title>` + "\xcc\xee\xf1\xea\xe2\xe0" + `</title></rss>`, `text/xml;charset="WINDOWS-1251"`,
			`<?xml version="1.0"?><rss><title>Москва</title></rss>`},
		{"invalid utf-8, no declaration: windows-1252",
			`<rss><title>Ol` + "\xe1, a\xe7\xe3o \x80 \x93sim\x94" + `</title></rss>`, "",
			`<rss><title>Olá, ação € “sim”</title></rss>`},
		{"valid utf-8, no declaration: as is",
			`<rss><title>Città</title></rss>`, "application/rss+xml",
			`<rss><title>Città</title></rss>`},
		{"utf-8 BOM stripped",
			"\xef\xbb\xbf" + `<rss><title>Città</title></rss>`, "",
			`<rss><title>Città</title></rss>`},
		{"utf-8 BOM beats a prolog",
			"\xef\xbb\xbf" + `<?xml version="1.0" encoding="ISO-8859-1"?><rss><title>Città</title></rss>`, "",
			`<?xml version="1.0"?><rss><title>Città</title></rss>`},
		{"unknown label dropped",
			`<?xml version="1.0" encoding="invalid"?><feed><title>Café</title></feed>`, "",
			`<?xml version="1.0"?><feed><title>Café</title></feed>`},
		{"declared latin1 but utf-8 bytes",
			`<?xml version="1.0" encoding="ISO-8859-1"?><feed><title>Café</title></feed>`, "",
			`<?xml version="1.0"?><feed><title>Café</title></feed>`},
		{"declared latin1, ascii only: left alone",
			`<?xml version="1.0" encoding="ISO-8859-1"?><feed><title>Cafe</title></feed>`, "",
			`<?xml version="1.0" encoding="ISO-8859-1"?><feed><title>Cafe</title></feed>`},
		{"declared utf-8 but latin1 bytes",
			`<?xml version='1.0' encoding='utf-8'?><rss><title>J` + "\xfc" + `rgen</title></rss>`, "",
			`<?xml version='1.0'?><rss><title>Jürgen</title></rss>`},
		{"declared utf-8 but cp1251 bytes, header says so",
			`<?xml version="1.0" encoding="UTF-8"?><rss><title>` + "\xcc\xee\xf1\xea\xe2\xe0" + `</title></rss>`, "text/xml; charset=windows-1251",
			`<?xml version="1.0"?><rss><title>Москва</title></rss>`},
		{"declared utf-16 on ascii bytes",
			`<?xml version="1.0" encoding="UTF-16"?><rss><title>Città</title></rss>`, "",
			`<?xml version="1.0"?><rss><title>Città</title></rss>`},
		{"header latin1 but valid utf-8: as is",
			`<rss><title>Città</title></rss>`, "text/xml; charset=ISO-8859-1",
			`<rss><title>Città</title></rss>`},
		{"json ignores header charset",
			`{"version":"https://jsonfeed.org/version/1.1","title":"Café"}`, "application/feed+json; charset=iso-8859-1",
			`{"version":"https://jsonfeed.org/version/1.1","title":"Café"}`},
		{"utf-16le bom",
			"\xff\xfe" + utf16le(`<?xml version="1.0" encoding="utf-16"?><rss>Città</rss>`), "",
			`<?xml version="1.0"?><rss>Città</rss>`},
		{"utf-16be bom",
			"\xfe\xff" + utf16be(`<?xml version="1.0" encoding="utf-16"?><rss>Città</rss>`), "",
			`<?xml version="1.0"?><rss>Città</rss>`},
		{"utf-16le without bom",
			utf16le(`<?xml version="1.0" encoding="utf-16"?><rss>Città</rss>`), "",
			`<?xml version="1.0"?><rss>Città</rss>`},
		{"malformed content type",
			`<rss><title>` + "\xcc\xee\xf1\xea\xe2\xe0" + `</title></rss>`, "text/xml;; charset=windows-1251;",
			`<rss><title>Москва</title></rss>`},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.body), tt.ctype)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, []byte(tt.want)) {
				t.Errorf("Decode = %q\nwant     %q", got, tt.want)
			}
		})
	}
}

func utf16le(s string) string {
	var b []byte
	for _, r := range s { // BMP only
		b = append(b, byte(r), byte(r>>8))
	}
	return string(b)
}

func utf16be(s string) string {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r>>8), byte(r))
	}
	return string(b)
}

// TestDecodeThenParse checks that what Decode leaves alone gofeed converts:
// a prolog-declared encoding reaches gofeed's XML decoder intact.
func TestDecodeThenParse(t *testing.T) {
	feeds := map[string]string{
		`<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>x</title><item><title>Caf` + "\xe9" + ` da S` + "\xe3" + `o Paulo</title><link>https://x.example/1</link></item></channel></rss>`: "Café da São Paulo",
		`<?xml version="1.0" encoding="windows-1251"?><rss version="2.0"><channel><title>x</title><item><title>` + "\xcf\xf0\xe8\xe2\xe5\xf2" + `</title><link>https://x.example/1</link></item></channel></rss>`:        "Привет",
		`<?xml version="1.0" encoding="KOI8-R"?><rss version="2.0"><channel><title>x</title><item><title>` + "\xf0\xd2\xc9\xd7\xc5\xd4" + `</title><link>https://x.example/1</link></item></channel></rss>`:              "Привет",
	}
	for body, want := range feeds {
		res, err := newTestParser().Parse(t.Context(), []byte(body), "application/rss+xml; charset=utf-8")
		if err != nil {
			t.Errorf("%q: %v", want, err)
			continue
		}
		if len(res.Items) != 1 || res.Items[0].Title != want {
			t.Errorf("items %+v, want title %q", res.Items, want)
		}
	}
}
