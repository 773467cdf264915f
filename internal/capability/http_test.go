package capability

import (
	"net"
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

func TestIsPrivateFailsClosed(t *testing.T) {
	tests := []struct {
		ip   net.IP
		want bool
	}{
		{net.ParseIP("8.8.8.8"), false},
		{net.ParseIP("2606:4700::1111"), false},
		{net.ParseIP("127.0.0.1"), true},
		{net.ParseIP("10.1.2.3"), true},
		{net.ParseIP("169.254.169.254"), true},
		{net.ParseIP("100.100.100.200"), true},
		{net.ParseIP("0.0.0.0"), true},
		{net.ParseIP("::1"), true},
		{net.ParseIP("::ffff:127.0.0.1"), true},
		{net.ParseIP("fd00:ec2::254"), true},
		{net.ParseIP("fe80::1"), true},
		{nil, true},
		{net.IP{127, 0, 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.ip.String(), func(t *testing.T) {
			if got := IsPrivate(tt.ip); got != tt.want {
				t.Errorf("IsPrivate(%v) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
}
