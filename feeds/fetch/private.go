package fetch

import (
	"fmt"
	"net"
	"net/netip"
)

// nonPublic are the ranges DenyPrivate refuses beyond what netip.Addr's
// own predicates (loopback, private, link-local, multicast, unspecified)
// cover: addresses that are not reachable hosts on the public internet, or
// that embed an IPv4 address a gateway may translate into a private one.
var nonPublic = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // and the broadcast address
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local NAT64"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("2002::/16"), "6to4"},
	{netip.MustParsePrefix("2001::/32"), "Teredo"},
	{netip.MustParsePrefix("100::/64"), "discard"},
}

// privateError is the error for a refused address; it wraps
// ErrPrivateAddress.
type privateError struct {
	addr netip.Addr
	what string
}

func (e *privateError) Error() string {
	return fmt.Sprintf("%s %s (%s; private addresses are denied)", ErrPrivateAddress, e.addr, e.what)
}

func (e *privateError) Unwrap() error { return ErrPrivateAddress }

// checkPublic is the dialer's Control hook under DenyPrivate: address is
// the resolved "ip:port" about to be connected.
func checkPublic(address string, allow []netip.Prefix) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: cannot read the address %q", ErrPrivateAddress, address)
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range allow {
		if p.Contains(ip) {
			return nil
		}
	}
	if what := nonPublicKind(ip); what != "" {
		return &privateError{addr: ip, what: what}
	}
	return nil
}

// nonPublicKind names the kind of a non-public address, "" for a public one.
func nonPublicKind(ip netip.Addr) string {
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, r := range nonPublic {
		if r.prefix.Contains(ip) {
			return r.what
		}
	}
	return ""
}
