package capability

import (
	"fmt"
	"net"
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
	AllowPrivate bool     `json:"allowPrivate,omitempty"` // loopback, private, link-local and metadata addresses
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

// IsPrivate reports whether ip is an address a guest may reach only with
// AllowPrivate: unspecified, loopback, private, link-local (which includes
// the cloud metadata address 169.254.169.254), CGNAT shared space,
// multicast, and the IPv6 unique-local and IPv4-mapped forms of these. An ip
// that is not 4 or 16 bytes long is not an address and counts as private.
func IsPrivate(ip net.IP) bool {
	if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
		return true
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
		if v4[0] == 100 && v4[1]&0xc0 == 64 { // 100.64.0.0/10
			return true
		}
		if v4[0] == 0 { // 0.0.0.0/8
			return true
		}
	}
	return ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() ||
		ip.Equal(net.ParseIP("fd00:ec2::254"))
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
