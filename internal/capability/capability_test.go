package capability

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestMatchHTTP(t *testing.T) {
	rules := []HTTPRule{
		{URL: "https://api.example.com/v1/", Methods: []string{"GET", "POST"}},
		{URL: "https://*.cdn.example.com/"},
		{URL: "http://files.example.com:8080/pub"},
	}
	tests := []struct {
		method, url string
		ok          bool
	}{
		{"GET", "https://api.example.com/v1/items", true},
		{"POST", "https://api.example.com/v1/items", true},
		{"DELETE", "https://api.example.com/v1/items", false},
		{"GET", "https://api.example.com/v1", false}, // the rule is "/v1/"
		{"GET", "https://api.example.com/v1/../admin", false},
		{"GET", "https://api.example.com/v1/%2e%2e/admin", false},
		{"GET", "https://API.EXAMPLE.COM/v1/x", true},
		{"GET", "http://api.example.com/v1/items", false}, // scheme
		{"GET", "https://api.example.com:8443/v1/items", false},
		{"GET", "https://api.example.com.evil.net/v1/items", false},
		{"GET", "https://a.cdn.example.com/x", true},
		{"GET", "https://a.b.cdn.example.com/x", true},
		{"GET", "https://cdn.example.com/x", false}, // "*." is subdomains only
		{"GET", "https://evilcdn.example.com/x", false},
		{"GET", "http://files.example.com:8080/pub", true},
		{"GET", "http://files.example.com:8080/pub/a", true},
		{"GET", "http://files.example.com:8080/public", false},
		{"GET", "http://files.example.com/pub", false}, // port 80
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.url, func(t *testing.T) {
			u, err := NormalizeURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			r, reason := MatchHTTP(rules, tt.method, u)
			if (r != nil) != tt.ok {
				t.Fatalf("match = %v (%s), want %v", r, reason, tt.ok)
			}
			if r == nil && reason == "" {
				t.Fatal("a refusal without a reason")
			}
		})
	}
}

func TestNormalizeURLRefuses(t *testing.T) {
	for _, s := range []string{"ftp://x.com/", "https://user:pw@x.com/", "https:///path", "javascript:alert(1)", "://"} {
		if _, err := NormalizeURL(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestIntersectHTTP(t *testing.T) {
	tests := []struct {
		name          string
		policy, needs []HTTPRule
		want          []string // URL + " " + methods
	}{
		{"need any url", []HTTPRule{{URL: "https://api.example.com/v1/", Methods: []string{"GET"}}}, []HTTPRule{{URL: "*", Methods: []string{"*"}}},
			[]string{"https://api.example.com/v1/ [GET]"}},
		{"narrower need", []HTTPRule{{URL: "https://api.example.com/", Methods: []string{"*"}}}, []HTTPRule{{URL: "https://api.example.com/v1/", Methods: []string{"GET", "POST"}}},
			[]string{"https://api.example.com:443/v1/ [GET POST]"}},
		{"disjoint paths", []HTTPRule{{URL: "https://api.example.com/a/"}}, []HTTPRule{{URL: "https://api.example.com/b/"}}, nil},
		{"disjoint methods", []HTTPRule{{URL: "*", Methods: []string{"GET"}}}, []HTTPRule{{URL: "*", Methods: []string{"POST"}}}, nil},
		{"wildcard host narrowed", []HTTPRule{{URL: "https://*.example.com/"}}, []HTTPRule{{URL: "https://api.example.com/x"}},
			[]string{"https://api.example.com:443/x [GET]"}},
		{"wildcard within wildcard", []HTTPRule{{URL: "https://*.example.com/"}}, []HTTPRule{{URL: "https://*.eu.example.com/"}},
			[]string{"https://*.eu.example.com:443/ [GET]"}},
		{"wildcard not within", []HTTPRule{{URL: "https://*.eu.example.com/"}}, []HTTPRule{{URL: "https://*.example.com/"}},
			[]string{"https://*.eu.example.com:443/ [GET]"}},
		{"other domain", []HTTPRule{{URL: "https://*.example.com/"}}, []HTTPRule{{URL: "https://example.org/"}}, nil},
		{"no needs", []HTTPRule{{URL: "*"}}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range IntersectHTTP(tt.policy, tt.needs) {
				got = append(got, r.URL+" "+"["+join(r.Methods)+"]")
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func join(s []string) string {
	out := ""
	for i, m := range s {
		if i > 0 {
			out += " "
		}
		out += m
	}
	return out
}

// TestIntersectionNeverWidens: every URL the intersection allows, the policy
// allows too, and the tool's needs too. A tool cannot grant itself private
// addresses.
func TestIntersectionNeverWidens(t *testing.T) {
	policy := []HTTPRule{{URL: "https://*.example.com/api/", Methods: []string{"GET"}}}
	needs := []HTTPRule{{URL: "https://eu.example.com/", Methods: []string{"GET", "POST"}, AllowPrivate: true}}
	got := IntersectHTTP(policy, needs)
	for _, probe := range []string{"https://eu.example.com/api/x", "https://eu.example.com/other", "https://us.example.com/api/x"} {
		u, _ := NormalizeURL(probe)
		for _, m := range []string{"GET", "POST"} {
			r, _ := MatchHTTP(got, m, u)
			p, _ := MatchHTTP(policy, m, u)
			n, _ := MatchHTTP(needs, m, u)
			if r != nil && (p == nil || n == nil) {
				t.Errorf("%s %s allowed by the intersection only", m, probe)
			}
			if r != nil && r.AllowPrivate {
				t.Errorf("the tool granted itself private addresses")
			}
		}
	}
}

func TestDerive(t *testing.T) {
	g := Grants{
		Tools:  []string{"notes", "fetch"},
		HTTP:   []HTTPRule{{URL: "https://api.example.com/"}},
		KV:     &KV{Write: true, Quota: 100},
		Limits: Limits{Timeout: time.Second, Memory: 1 << 20, Output: 10, Events: 5, HostCalls: 5},
	}
	now := time.Unix(1_800_000_000, 0)
	p := Principal{Subject: "alice", Roles: []string{"analyst"}}
	if _, err := Derive(p, g, "echo", "sha256:x", Needs{}, "id", now); !errors.Is(err, ErrToolNotPermitted) {
		t.Fatalf("echo: %v, want ErrToolNotPermitted", err)
	}
	c, err := Derive(p, g, "notes", "sha256:x", Needs{KV: &KV{Write: false}}, "id", now)
	if err != nil {
		t.Fatal(err)
	}
	if c.KV == nil || c.KV.Write || c.KV.Quota != 100 {
		t.Fatalf("kv %+v: want read-only with the policy's quota (the tool needs no writes)", c.KV)
	}
	if len(c.HTTP) != 0 {
		t.Fatalf("http %v: the tool declared no http", c.HTTP)
	}
	if !c.ExpiresAt.Equal(now.Add(time.Second)) || c.Namespace() != "notes/alice" {
		t.Fatalf("expiry %v namespace %q", c.ExpiresAt, c.Namespace())
	}
	c, _ = Derive(p, g, "fetch", "sha256:x", Needs{}, "id", now)
	if c.KV != nil {
		t.Fatal("kv granted to a tool that does not need it")
	}
}

func TestLimitsUnionAndDefaults(t *testing.T) {
	a := Limits{Timeout: time.Second, Memory: 10}
	b := Limits{Timeout: 2 * time.Second, Output: 5}
	if got := a.Max(b); got != (Limits{Timeout: 2 * time.Second, Memory: 10, Output: 5}) {
		t.Fatalf("Max = %+v", got)
	}
	def := Limits{Timeout: 30 * time.Second, Memory: 64, Output: 1, Events: 1, HostCalls: 1}
	if got := a.Or(def); got != (Limits{Timeout: time.Second, Memory: 10, Output: 1, Events: 1, HostCalls: 1}) {
		t.Fatalf("Or = %+v", got)
	}
}

func TestTokenRoundTrip(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now()
	c := Capability{ID: "call-1", Subject: "alice", Roles: []string{"analyst"}, Tool: "notes", Digest: "sha256:ab",
		IssuedAt: now, ExpiresAt: now.Add(time.Minute), KV: &KV{Write: true}, Limits: Limits{Timeout: time.Minute}}
	tok, err := c.Sign(priv)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := Verify(tok, pub, now)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Subject != "alice" || cl.ID != "call-1" || !slices.Equal(cl.Audience, []string{"notes", "sha256:ab"}) ||
		cl.Cap.KV == nil || cl.Cap.KV.Namespace != "notes/alice" || cl.Cap.Limits.TimeoutMs != 60000 {
		t.Fatalf("claims %+v", cl)
	}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := Verify(tok, otherPub, now); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("verified with another key: %v", err)
	}
	if _, err := Verify(tok, pub, now.Add(2*time.Minute)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("verified after expiry: %v", err)
	}
	if _, err := Verify(tok[:len(tok)-2]+"xx", pub, now); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("verified a tampered token: %v", err)
	}
}
