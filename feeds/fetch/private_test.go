package fetch

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const privateFeed = `<rss version="2.0"><channel><title>interna</title></channel></rss>`

func feedServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write([]byte(privateFeed))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A feed on 127.0.0.1 is fetched as usual, and refused with a clear error
// once DenyPrivate is on, whether it is named by address or by a name that
// resolves to it.
func TestDenyPrivateRefusesLoopback(t *testing.T) {
	srv := feedServer(t)
	ctx := context.Background()

	resp, err := New(Options{Timeout: 5 * time.Second}).Fetch(ctx, Request{URL: srv.URL})
	if err != nil || string(resp.Body) != privateFeed {
		t.Fatalf("DenyPrivate off: %v", err)
	}

	deny := New(Options{Timeout: 5 * time.Second, DenyPrivate: true})
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, u := range []string{srv.URL, "http://localhost:" + port + "/", "http://[::ffff:127.0.0.1]:" + port + "/"} {
		_, err := deny.Fetch(ctx, Request{URL: u})
		if !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("%s: err %v, want ErrPrivateAddress", u, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, u) || !strings.Contains(msg, "loopback") {
			t.Errorf("%s: error does not say what and why: %s", u, msg)
		}
		t.Log(err)
		if errors.Is(err, ErrTimeout) {
			t.Errorf("%s: refused address reported as a timeout: %v", u, err)
		}
	}
}

// A redirect from an allowed host to a private one is refused: the check
// runs on every connection, not only on the subscribed URL. The allowed
// host is a loopback address of its own made an exception with
// AllowPrivate.
func TestDenyPrivateOnRedirect(t *testing.T) {
	target := feedServer(t)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	front := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, target.URL+"/feed", http.StatusMovedPermanently)
		case "/by-name":
			_, port, _ := net.SplitHostPort(target.Listener.Addr().String())
			http.Redirect(w, r, "http://localhost:"+port+"/feed", http.StatusFound)
		default:
			w.Write([]byte(privateFeed))
		}
	}))
	front.Listener.Close()
	front.Listener = ln
	front.Start()
	t.Cleanup(front.Close)

	c := New(Options{Timeout: 5 * time.Second, DenyPrivate: true,
		AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}})
	ctx := context.Background()
	if _, err := c.Fetch(ctx, Request{URL: front.URL + "/direct"}); err != nil {
		t.Fatalf("allowed host: %v", err)
	}
	for _, path := range []string{"/moved", "/by-name"} {
		_, err := c.Fetch(ctx, Request{URL: front.URL + path})
		if !errors.Is(err, ErrPrivateAddress) || !strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("redirect %s to 127.0.0.1: err %v, want ErrPrivateAddress naming the address", path, err)
		}
	}
	// Without the option the same redirect is followed.
	if _, err := New(Options{Timeout: 5 * time.Second}).Fetch(ctx, Request{URL: front.URL + "/moved"}); err != nil {
		t.Errorf("DenyPrivate off: %v", err)
	}
}

func TestNonPublicKind(t *testing.T) {
	cases := map[string]string{
		"127.0.0.1": "loopback", "127.8.9.10": "loopback", "::1": "loopback",
		"::ffff:127.0.0.1": "loopback", "10.1.2.3": "private", "172.16.0.1": "private",
		"192.168.1.1": "private", "fd00::1": "private", "169.254.169.254": "link-local",
		"fe80::1": "link-local", "0.0.0.0": "unspecified", "::": "unspecified",
		"0.1.2.3": "this-network", "100.64.0.1": "carrier-grade NAT", "239.1.2.3": "multicast",
		"255.255.255.255": "reserved", "64:ff9b::a00:1": "NAT64", "2002:a00:1::": "6to4",
		"8.8.8.8": "", "2a00:1450:4001::1": "", "151.101.1.1": "",
	}
	for s, want := range cases {
		ip := netip.MustParseAddr(s).Unmap()
		if got := nonPublicKind(ip); got != want {
			t.Errorf("%s: %q, want %q", s, got, want)
		}
	}
	if err := checkPublic("[fe80::1%eth0]:80", nil); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("zoned link-local: %v", err)
	}
	if err := checkPublic("8.8.8.8:443", nil); err != nil {
		t.Errorf("public: %v", err)
	}
	if err := checkPublic("10.0.0.7:80", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}); err != nil {
		t.Errorf("allowed range: %v", err)
	}
}
