package capability

import (
	"net/netip"
	"testing"
)

func TestNormalizeURLDotSegments(t *testing.T) {
	tests := []struct {
		raw     string
		want    string // empty: refused
		allowed bool   // by a GET rule for "http://api.test/allowed/"
	}{
		{raw: "http://API.test/allowed/x?q=1", want: "http://api.test/allowed/x?q=1", allowed: true},
		{raw: "http://api.test/allowed/../secret", want: "http://api.test/secret"},
		{raw: "http://api.test/allowed/%2e%2e/secret", want: "http://api.test/secret"},
		{raw: "http://api.test/allowed/..;/secret"},
		{raw: "http://api.test/allowed/.;x/y"},
		{raw: `http://api.test/allowed/..\secret`},
		{raw: "http://api.test/allowed/%5c../secret"},
		{raw: "http://api.test/allowed/a;b/c", want: "http://api.test/allowed/a;b/c", allowed: true},
		{raw: "http://user@api.test/allowed/"},
		{raw: "ftp://api.test/allowed/"},
		{raw: "http:///allowed/"},
	}
	rules := []HTTPRule{{URL: "http://api.test/allowed/"}}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			u, err := NormalizeURL(tt.raw)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("NormalizeURL(%q) = %q, want an error", tt.raw, u)
				}
				return
			}
			if err != nil {
				t.Fatalf("NormalizeURL(%q): %v", tt.raw, err)
			}
			if got := u.String(); got != tt.want {
				t.Errorf("NormalizeURL(%q) = %q, want %q", tt.raw, got, tt.want)
			}
			if rule, reason := MatchHTTP(rules, "GET", u); (rule != nil) != tt.allowed {
				t.Errorf("MatchHTTP(%q) = %v (%s), want allowed %v", u, rule, reason, tt.allowed)
			}
		})
	}
}

// TestIsPrivate covers every entry of the IANA IPv4 and IPv6 special-purpose
// address registries, multicast and the reserved space around them: the
// first and last address of each block, and public neighbours on either
// side.
func TestIsPrivate(t *testing.T) {
	blocks := []struct {
		prefix  string
		private bool // for the first and last address of the block
	}{
		// IPv4 special-purpose registry.
		{"0.0.0.0/8", true},
		{"0.0.0.0/32", true},
		{"10.0.0.0/8", true},
		{"100.64.0.0/10", true},
		{"127.0.0.0/8", true},
		{"169.254.0.0/16", true},
		{"172.16.0.0/12", true},
		{"192.0.0.0/24", true},
		{"192.0.0.0/29", true},
		{"192.0.0.8/32", true},
		{"192.0.0.9/32", true},   // PCP anycast: globally reachable, refused with its block
		{"192.0.0.10/32", true},  // TURN anycast: likewise
		{"192.0.0.170/32", true}, // NAT64 discovery
		{"192.0.0.171/32", true}, // NAT64 discovery
		{"192.0.2.0/24", true},
		{"192.31.196.0/24", false}, // AS112-v4: globally reachable
		{"192.52.193.0/24", false}, // AMT: globally reachable
		{"192.88.99.0/24", true},
		{"192.168.0.0/16", true},
		{"192.175.48.0/24", false}, // AS112 direct delegation: globally reachable
		{"198.18.0.0/15", true},
		{"198.51.100.0/24", true},
		{"203.0.113.0/24", true},
		{"240.0.0.0/4", true},
		{"255.255.255.255/32", true},
		{"224.0.0.0/4", true}, // multicast
		// IPv6 special-purpose registry.
		{"::/128", true},
		{"::1/128", true},
		{"::/96", true}, // IPv4-compatible, deprecated
		{"::ffff:0:0/96", true},
		{"64:ff9b::/96", true}, // first and last embed 0.0.0.0 and 255.255.255.255
		{"64:ff9b:1::/48", true},
		{"100::/64", true},
		{"100:0:0:1::/64", true},
		{"2001::/23", true},
		{"2001::/32", true}, // Teredo
		{"2001:1::1/128", true},
		{"2001:1::2/128", true},
		{"2001:1::3/128", true},
		{"2001:2::/48", true},
		{"2001:3::/32", true},
		{"2001:4:112::/48", true},
		{"2001:10::/28", true},
		{"2001:20::/28", true},
		{"2001:30::/28", true},
		{"2001:db8::/32", true},
		{"2002::/16", true},          // first and last embed 0.0.0.0 and 255.255.255.255
		{"2620:4f:8000::/48", false}, // AS112 direct delegation: globally reachable
		{"3fff::/20", true},
		{"5f00::/16", true},
		{"fc00::/7", true},
		{"fe80::/10", true},
		{"fec0::/10", true},
		{"ff00::/8", true},
		// Outside global unicast 2000::/3.
		{"::2/127", true},
		{"4000::/3", true},
		{"e000::/4", true},
	}
	for _, b := range blocks {
		p := netip.MustParsePrefix(b.prefix)
		for _, ip := range []netip.Addr{p.Addr(), lastAddr(p)} {
			if got := IsPrivate(ip); got != b.private {
				t.Errorf("IsPrivate(%s) in %s = %v, want %v", ip, b.prefix, got, b.private)
			}
		}
	}

	tests := []struct {
		ip   string
		want bool
	}{
		// Public neighbours of the IPv4 blocks.
		{"1.0.0.0", false},
		{"8.8.8.8", false},
		{"9.255.255.255", false},
		{"11.0.0.0", false},
		{"100.63.255.255", false},
		{"100.128.0.0", false},
		{"126.255.255.255", false},
		{"128.0.0.0", false},
		{"169.253.255.255", false},
		{"169.255.0.0", false},
		{"172.15.255.255", false},
		{"172.32.0.0", false},
		{"191.255.255.255", false},
		{"192.0.1.0", false},
		{"192.0.3.0", false},
		{"192.88.98.255", false},
		{"192.88.100.0", false},
		{"192.167.255.255", false},
		{"192.169.0.0", false},
		{"198.17.255.255", false},
		{"198.20.0.0", false},
		{"198.51.99.255", false},
		{"198.51.101.0", false},
		{"203.0.112.255", false},
		{"203.0.114.0", false},
		{"223.255.255.255", false},
		// Public IPv6, and the neighbours of the blocks inside 2000::/3.
		{"2000::", false},
		{"2606:4700::1111", false},
		{"2001:4860:4860::8888", false},
		{"2001:200::", false},
		{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false},
		{"2001:db9::", false},
		{"2003::", false},
		{"3ffe:ffff::1", false},
		{"3fff:1000::", false},
		{"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
		{"4000::", true},
		// Private addresses with the usual names.
		{"127.0.0.1", true},
		{"169.254.169.254", true},
		{"100.100.100.200", true},
		{"fd00:ec2::254", true},
		{"fe80::1", true},
		{"ff02::1", true},
		// Addresses that carry an IPv4 address are judged by it.
		{"::ffff:127.0.0.1", true},
		{"::ffff:169.254.169.254", true},
		{"::ffff:8.8.8.8", false},
		{"64:ff9b::7f00:1", true},
		{"64:ff9b::a9fe:a9fe", true},
		{"64:ff9b::a00:1", true},
		{"64:ff9b::c000:201", true},
		{"64:ff9b::808:808", false},
		{"64:ff9b:1::808:808", true}, // local-use prefix: the IPv4 cannot be read back
		{"64:ff9b:1:ffff::808:808", true},
		{"2002:7f00:1::1", true},
		{"2002:a9fe:a9fe::1", true},
		{"2002:c0a8:101::1", true},
		{"2002:808:808::1", false},
		{"::127.0.0.1", true}, // IPv4-compatible: refused whatever it embeds
		{"::8.8.8.8", true},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", true}, // Teredo
		// Not an address a connection can go to.
		{"2606:4700::1111%eth0", true},
		{"fe80::1%eth0", true},
	}
	for _, tt := range tests {
		if got := IsPrivate(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("IsPrivate(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
	if !IsPrivate(netip.Addr{}) {
		t.Error("IsPrivate(the zero Addr) = false, want true")
	}
}

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	if a.Is4() {
		b := a.As4()
		for i := p.Bits(); i < 32; i++ {
			b[i/8] |= 1 << (7 - i%8)
		}
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	for i := p.Bits(); i < 128; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	return netip.AddrFrom16(b)
}
