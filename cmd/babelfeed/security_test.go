package main

import (
	"strings"
	"testing"
)

// The HTTP API may listen beyond loopback only with a token.
func TestCheckListen(t *testing.T) {
	cases := []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:7070", "", true},
		{"localhost:7070", "", true},
		{"[::1]:7070", "", true},
		{"127.1.2.3:7070", "", true},
		{"", "", true}, // no API at all
		{":7070", "", false},
		{"0.0.0.0:7070", "", false},
		{"[::]:7070", "", false},
		{"192.168.1.10:7070", "", false},
		{"example.org:7070", "", false},
		{":7070", "s3cret", true},
		{"0.0.0.0:7070", "s3cret", true},
		{"127.0.0.1", "", false}, // no port: an error, not a silent default
	}
	for _, c := range cases {
		err := checkListen(c.addr, c.token)
		if (err == nil) != c.ok {
			t.Errorf("checkListen(%q, %q) = %v, want ok %v", c.addr, c.token, err, c.ok)
		}
		if err != nil && c.token == "" && strings.Contains(c.addr, ":") && !strings.Contains(err.Error(), "--token") && c.addr != "127.0.0.1" {
			t.Errorf("checkListen(%q): error does not say how to fix it: %v", c.addr, err)
		}
	}
}

// What the CLI prints in tables and failure lines comes from feeds and
// servers: control and format characters are removed so that nothing can
// drive the terminal.
func TestPrintable(t *testing.T) {
	in := "titolo\x1b]0;pwned\x07\x1b[2J ok\u202e\tnext\nline\u200b!"
	got := printable(in)
	if strings.ContainsAny(got, "\x1b\x07\u202e\u200b\t\n") {
		t.Errorf("printable kept control characters: %q", got)
	}
	if want := "titolo]0;pwned[2J ok next line!"; got != want {
		t.Errorf("printable = %q, want %q", got, want)
	}
}
