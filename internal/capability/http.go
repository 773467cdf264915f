package capability

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
)

// HTTPRule allows outbound requests to one URL prefix with some methods.
//
// URL is "scheme://host[:port]/path-prefix", where host may start with "*."
// to mean any subdomain (not the domain itself), or "*" alone for any URL
// (useful in a tool's needs; a policy rule of "*" grants all of the
// internet). The path prefix matches whole segments: "/v1" allows "/v1" and
// "/v1/x" but not "/v10". Methods are upper-case names; empty means GET only,
// "*" means any.
type HTTPRule struct {
	URL          string   `json:"url"`
	Methods      []string `json:"methods,omitempty"`
	AllowPrivate bool     `json:"allowPrivate,omitempty"` // every address that is not globally reachable unicast; see IsPrivate
	Secrets      []string `json:"secrets,omitempty"`      // names usable as {{secret:NAME}} for these URLs
}

// prefix is a parsed HTTPRule.URL.
type prefix struct {
	any    bool
	scheme string
	host   string // lower case; "*.example.com" for subdomains
	port   string
	path   string // cleaned, starts with "/"
}

// ParseRuleURL checks that s is a valid rule URL.
func ParseRuleURL(s string) error {
	_, err := parsePrefix(s)
	return err
}

func parsePrefix(s string) (prefix, error) {
	if s == "*" {
		return prefix{any: true}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return prefix{}, fmt.Errorf("capability: rule url %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return prefix{}, fmt.Errorf("capability: rule url %q: scheme must be http or https", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return prefix{}, fmt.Errorf("capability: rule url %q: no user info, query or fragment allowed", s)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" || strings.Contains(strings.TrimPrefix(host, "*."), "*") {
		return prefix{}, fmt.Errorf("capability: rule url %q: bad host", s)
	}
	p := prefix{scheme: u.Scheme, host: host, port: portOf(u), path: cleanPath(u.Path)}
	return p, nil
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// cleanPath resolves dot segments, so "/allowed/../secret" is "/secret".
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// hostMatches reports whether a concrete host matches a pattern.
func hostMatches(pattern, host string) bool {
	if parent, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(host, "."+parent)
	}
	return pattern == host
}

// hostWithin reports whether every host that inner matches, outer matches too.
func hostWithin(inner, outer string) bool {
	if inner == outer {
		return true
	}
	if !strings.HasPrefix(outer, "*.") {
		return false
	}
	if parent, ok := strings.CutPrefix(inner, "*."); ok {
		return parent == outer[2:] || hostMatches(outer, parent)
	}
	return hostMatches(outer, inner)
}

// pathWithin reports whether p lies under prefix pre, segment by segment.
func pathWithin(pre, p string) bool {
	if pre == "/" || p == pre {
		return true
	}
	if strings.HasSuffix(pre, "/") {
		return strings.HasPrefix(p, pre)
	}
	return strings.HasPrefix(p, pre+"/")
}

func methodAllowed(methods []string, m string) bool {
	if len(methods) == 0 {
		return m == "GET"
	}
	return slices.Contains(methods, "*") || slices.Contains(methods, m)
}

// NormalizeURL returns a copy of u with its host lower-cased and its path
// cleaned of dot segments; the egress client sends exactly the URL it
// checked. It refuses user info, which could smuggle a second host.
func NormalizeURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.User != nil {
		return nil, fmt.Errorf("user info in url is not allowed")
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("url has no host")
	}
	if ambiguousPath(u.Path) {
		return nil, fmt.Errorf("path has a backslash or a dot segment with parameters")
	}
	n := *u
	n.Host = strings.ToLower(u.Host)
	n.Path = cleanPath(u.Path)
	n.RawPath = ""
	n.Fragment = ""
	return &n, nil
}

// ambiguousPath reports whether some servers could read p as a different
// path than cleanPath does: a backslash (a separator on some servers) or a
// dot segment with parameters ("..;x", which some servers resolve as "..").
func ambiguousPath(p string) bool {
	if strings.Contains(p, `\`) {
		return true
	}
	for seg := range strings.SplitSeq(p, "/") {
		if name, _, ok := strings.Cut(seg, ";"); ok && (name == "." || name == "..") {
			return true
		}
	}
	return false
}

// MatchHTTP returns the first rule that allows method on u (already
// normalized), or nil and a reason for a person.
func MatchHTTP(rules []HTTPRule, method string, u *url.URL) (*HTTPRule, string) {
	if len(rules) == 0 {
		return nil, "no outbound HTTP is granted"
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	reqPath := cleanPath(u.Path)
	urlMatched := false
	for i := range rules {
		p, err := parsePrefix(rules[i].URL)
		if err != nil {
			continue
		}
		if !p.any && (p.scheme != u.Scheme || p.port != portOf(u) || !hostMatches(p.host, host) || !pathWithin(p.path, reqPath)) {
			continue
		}
		urlMatched = true
		if methodAllowed(rules[i].Methods, method) {
			return &rules[i], ""
		}
	}
	if urlMatched {
		return nil, fmt.Sprintf("method %s is not allowed for this url", method)
	}
	return nil, "url is not in the allowlist"
}

// IsPrivate reports whether a guest may reach ip only with AllowPrivate: it
// is true for every address that is not globally reachable unicast, and
// false only for those that are.
//
// An address is public when it is an IPv4 address outside every block of the
// IANA IPv4 special-purpose registry and outside multicast and 240.0.0.0/4,
// or an IPv6 address inside global unicast 2000::/3 and outside the blocks of
// the IANA IPv6 special-purpose registry. The few entries inside those blocks
// that the registry marks globally reachable (the PCP and TURN anycast
// addresses in 192.0.0.0/24; PCP, TURN, AMT, AS112 and ORCHIDv2 in
// 2001::/23) count as private too: no tool needs them, and a whole block is
// easier to audit than its exceptions.
//
// Addresses that carry an IPv4 address are judged by it, because it is the
// address the packet goes to: an IPv4-mapped address (::ffff:0:0/96), a NAT64
// address under the well-known prefix 64:ff9b::/96 (RFC 6052: what DNS64
// answers for an IPv4-only name on an IPv6-only network, so refusing the
// prefix would cut such networks off from every IPv4-only site), and a 6to4
// address 2002::/16 (RFC 3056: its IPv4 is the router the packet is tunnelled
// to). So 64:ff9b::7f00:1 is 127.0.0.1 and private, 64:ff9b::808:808 is
// 8.8.8.8 and public. The local-use NAT64 prefix 64:ff9b:1::/48 (RFC 8215) is
// private: its operator chooses where the IPv4 sits, so it cannot be read
// back. IPv4-compatible addresses (::/96) and Teredo (2001::/32) are private
// whatever they embed, as is everything outside 2000::/3.
//
// An invalid address, or one with a zone, is private.
func IsPrivate(ip netip.Addr) bool {
	return !isPublic(ip)
}

func isPublic(ip netip.Addr) bool {
	if !ip.IsValid() || ip.Zone() != "" {
		return false
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return !inAny(ip, special4)
	}
	if v4, ok := embeddedIPv4(ip); ok {
		return isPublic(v4)
	}
	return global6.Contains(ip) && !inAny(ip, special6)
}

// embeddedIPv4 returns the IPv4 address a NAT64 (64:ff9b::/96) or 6to4
// (2002::/16) address leads to.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

func inAny(ip netip.Addr, blocks []netip.Prefix) bool {
	for _, p := range blocks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	global6   = netip.MustParsePrefix("2000::/3")

	// special4 is every IPv4 block a guest without AllowPrivate may not
	// reach: the IANA special-purpose registry, multicast and the reserved
	// 240.0.0.0/4, which holds the limited broadcast address.
	special4 = prefixes(
		"0.0.0.0/8",       // "this network" (RFC 791)
		"10.0.0.0/8",      // private (RFC 1918)
		"100.64.0.0/10",   // shared address space, CGNAT (RFC 6598)
		"127.0.0.0/8",     // loopback (RFC 1122)
		"169.254.0.0/16",  // link-local, cloud metadata (RFC 3927)
		"172.16.0.0/12",   // private (RFC 1918)
		"192.0.0.0/24",    // IETF protocol assignments (RFC 6890)
		"192.0.2.0/24",    // documentation TEST-NET-1 (RFC 5737)
		"192.88.99.0/24",  // 6to4 relay anycast, deprecated (RFC 7526)
		"192.168.0.0/16",  // private (RFC 1918)
		"198.18.0.0/15",   // benchmarking (RFC 2544)
		"198.51.100.0/24", // documentation TEST-NET-2 (RFC 5737)
		"203.0.113.0/24",  // documentation TEST-NET-3 (RFC 5737)
		"224.0.0.0/4",     // multicast (RFC 5771)
		"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast (RFC 1112, RFC 919)
	)

	// special6 is every block inside 2000::/3 a guest without AllowPrivate
	// may not reach; everything outside 2000::/3 is refused anyway.
	special6 = prefixes(
		"2001::/23",     // IETF protocol assignments: Teredo, benchmarking, ORCHID, ... (RFC 2928)
		"2001:db8::/32", // documentation (RFC 3849)
		"3fff::/20",     // documentation (RFC 9637)
	)
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// IntersectHTTP returns the rules that both a policy and a tool's needs
// allow: for every pair, the narrower URL prefix with the methods both name.
// Private addresses and secrets come from the policy alone: a tool cannot
// grant them to itself.
func IntersectHTTP(policy, needs []HTTPRule) []HTTPRule {
	var out []HTTPRule
	for _, p := range policy {
		pp, err := parsePrefix(p.URL)
		if err != nil {
			continue
		}
		for _, n := range needs {
			np, err := parsePrefix(n.URL)
			if err != nil {
				continue
			}
			u, ok := narrower(pp, np, p.URL, n.URL)
			if !ok {
				continue
			}
			methods := intersectMethods(p.Methods, n.Methods)
			if len(methods) == 0 {
				continue
			}
			out = append(out, HTTPRule{URL: u, Methods: methods, AllowPrivate: p.AllowPrivate, Secrets: slices.Clone(p.Secrets)})
		}
	}
	return out
}

// narrower returns the URL of the narrower of two prefixes when one lies
// within the other.
func narrower(a, b prefix, aURL, bURL string) (string, bool) {
	switch {
	case a.any:
		return bURL, true
	case b.any:
		return aURL, true
	case a.scheme != b.scheme || a.port != b.port:
		return "", false
	}
	var host string
	switch {
	case hostWithin(a.host, b.host):
		host = a.host
	case hostWithin(b.host, a.host):
		host = b.host
	default:
		return "", false
	}
	var p string
	switch {
	case pathWithin(a.path, b.path):
		p = b.path
	case pathWithin(b.path, a.path):
		p = a.path
	default:
		return "", false
	}
	u := url.URL{Scheme: a.scheme, Host: net.JoinHostPort(host, a.port), Path: p}
	return u.String(), true
}

func intersectMethods(a, b []string) []string {
	norm := func(m []string) []string {
		if len(m) == 0 {
			return []string{"GET"}
		}
		return m
	}
	a, b = norm(a), norm(b)
	switch {
	case slices.Contains(a, "*"):
		return slices.Clone(b)
	case slices.Contains(b, "*"):
		return slices.Clone(a)
	}
	var out []string
	for _, m := range a {
		if slices.Contains(b, m) {
			out = append(out, m)
		}
	}
	return out
}
