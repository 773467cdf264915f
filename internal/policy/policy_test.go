package policy

import (
	"reflect"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/capability"
)

// unionPolicy has two roles that grant different tools, rules, storage and
// limits, and a third that shares a rule with the first.
const unionPolicy = `
defaults:
  limits: {timeout: 30s, memory: 64MiB, output: 1MiB, events: 1000, host_calls: 500}
roles:
  analyst:
    tools: [echo, fetch, notes]
    http:
      - {url: "https://api.example.com/v1/", methods: [GET]}
    kv: {write: true, quota: 1MiB}
    limits: {timeout: 10s, memory: 128MiB}
  reporter:
    tools: [echo, report]
    http:
      - {url: "https://api.example.com/v1/", methods: [GET]}
      - {url: "https://reports.example.com/", methods: [POST], secrets: [REPORT_KEY]}
    kv: {write: true, quota: 4MiB}
    limits: {timeout: 5s, events: 5000}
  reader:
    tools: [notes]
    kv: {}
    limits: {timeout: 1m}
  admin:
    tools: ["*"]
`

func mustParse(t *testing.T, src string) *Policy {
	t.Helper()
	p, err := Parse("policy.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGrantsUnion(t *testing.T) {
	p := mustParse(t, unionPolicy)
	def := p.Defaults
	apiRule := capability.HTTPRule{URL: "https://api.example.com/v1/", Methods: []string{"GET"}}
	reportRule := capability.HTTPRule{URL: "https://reports.example.com/", Methods: []string{"POST"}, Secrets: []string{"REPORT_KEY"}}
	tests := []struct {
		name  string
		roles []string
		want  capability.Grants
	}{
		{"none", nil, capability.Grants{Limits: def}},
		{"unknown only", []string{"intern"}, capability.Grants{Limits: def}},
		{"one role", []string{"analyst"}, capability.Grants{
			Tools:  []string{"echo", "fetch", "notes"},
			HTTP:   []capability.HTTPRule{apiRule},
			KV:     &capability.KV{Write: true, Quota: 1 << 20},
			Limits: capability.Limits{Timeout: 10 * time.Second, Memory: 128 << 20, Output: def.Output, Events: def.Events, HostCalls: def.HostCalls},
		}},
		{"two roles", []string{"analyst", "reporter", "intern"}, capability.Grants{
			Tools:  []string{"echo", "fetch", "notes", "report"},
			HTTP:   []capability.HTTPRule{apiRule, reportRule}, // the shared rule once
			KV:     &capability.KV{Write: true, Quota: 4 << 20},
			Limits: capability.Limits{Timeout: 10 * time.Second, Memory: 128 << 20, Output: def.Output, Events: 5000, HostCalls: def.HostCalls},
		}},
		{"order of roles", []string{"reporter", "analyst"}, capability.Grants{
			Tools:  []string{"echo", "fetch", "notes", "report"},
			HTTP:   []capability.HTTPRule{apiRule, reportRule},
			KV:     &capability.KV{Write: true, Quota: 4 << 20},
			Limits: capability.Limits{Timeout: 10 * time.Second, Memory: 128 << 20, Output: def.Output, Events: 5000, HostCalls: def.HostCalls},
		}},
		{"read-only role", []string{"reader"}, capability.Grants{
			Tools:  []string{"notes"},
			KV:     &capability.KV{},
			Limits: capability.Limits{Timeout: time.Minute, Memory: def.Memory, Output: def.Output, Events: def.Events, HostCalls: def.HostCalls},
		}},
		{"read-only and writer", []string{"reader", "analyst"}, capability.Grants{
			Tools:  []string{"echo", "fetch", "notes"},
			HTTP:   []capability.HTTPRule{apiRule},
			KV:     &capability.KV{Write: true, Quota: 1 << 20},
			Limits: capability.Limits{Timeout: time.Minute, Memory: 128 << 20, Output: def.Output, Events: def.Events, HostCalls: def.HostCalls},
		}},
		{"a role without a limit gets the default", []string{"analyst", "admin"}, capability.Grants{
			Tools:  []string{"*"},
			HTTP:   []capability.HTTPRule{apiRule},
			KV:     &capability.KV{Write: true, Quota: 1 << 20},
			Limits: capability.Limits{Timeout: 30 * time.Second, Memory: 128 << 20, Output: def.Output, Events: def.Events, HostCalls: def.HostCalls},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Grants(tt.roles)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Grants(%q)\n got %+v kv %+v\nwant %+v kv %+v", tt.roles, got, got.KV, tt.want, tt.want.KV)
			}
		})
	}
}

// TestGrantsMonotone: a principal never loses a grant by gaining a role,
// every subset of the roles plus every one more.
func TestGrantsMonotone(t *testing.T) {
	p := mustParse(t, unionPolicy)
	names := []string{"analyst", "reporter", "reader", "admin", "intern"}
	for mask := range 1 << len(names) {
		var roles []string
		for i, n := range names {
			if mask&(1<<i) != 0 {
				roles = append(roles, n)
			}
		}
		g := p.Grants(roles)
		for _, extra := range names {
			h := p.Grants(append(roles[:len(roles):len(roles)], extra))
			// Without a known role nothing is permitted, so its limits are moot.
			if len(p.known(roles)) > 0 && h.Limits.Max(g.Limits) != h.Limits {
				t.Errorf("%q + %s: limits %+v lower than %+v", roles, extra, h.Limits, g.Limits)
			}
			for _, tool := range []string{"echo", "fetch", "notes", "report", "other"} {
				if g.Permits(tool) && !h.Permits(tool) {
					t.Errorf("%q + %s: loses tool %s", roles, extra, tool)
				}
			}
			for _, r := range g.HTTP {
				if !containsRule(h.HTTP, r) {
					t.Errorf("%q + %s: loses rule %v", roles, extra, r)
				}
			}
			if g.KV != nil && (h.KV == nil || (g.KV.Write && !h.KV.Write) || h.KV.Quota < g.KV.Quota) {
				t.Errorf("%q + %s: kv %+v, was %+v", roles, extra, h.KV, g.KV)
			}
		}
	}
}

func containsRule(rules []capability.HTTPRule, r capability.HTTPRule) bool {
	for _, x := range rules {
		if sameRule(x, r) {
			return true
		}
	}
	return false
}

func TestPermitsAndTools(t *testing.T) {
	p := mustParse(t, unionPolicy)
	tests := []struct {
		roles []string
		tool  string
		want  bool
	}{
		{[]string{"analyst"}, "fetch", true},
		{[]string{"analyst"}, "report", false},
		{[]string{"analyst", "reporter"}, "report", true},
		{[]string{"intern"}, "echo", false},
		{nil, "echo", false},
		{[]string{"admin"}, "anything", true},
	}
	for _, tt := range tests {
		if got := p.Permits(tt.roles, tt.tool); got != tt.want {
			t.Errorf("Permits(%q, %q) = %v, want %v", tt.roles, tt.tool, got, tt.want)
		}
		if got := p.Grants(tt.roles).Permits(tt.tool); got != tt.want {
			t.Errorf("Grants(%q).Permits(%q) = %v, want %v", tt.roles, tt.tool, got, tt.want)
		}
	}
	if got := p.Tools([]string{"reporter", "analyst"}); !reflect.DeepEqual(got, []string{"echo", "fetch", "notes", "report"}) {
		t.Errorf("Tools = %q", got)
	}
	if got := p.Tools([]string{"analyst", "admin"}); !reflect.DeepEqual(got, []string{"*"}) {
		t.Errorf("Tools with admin = %q, want [*]", got)
	}
	if got := p.Tools([]string{"intern"}); got != nil {
		t.Errorf("Tools of an unknown role = %q", got)
	}
}

// TestGrantsAreCopies: changing what Grants returns does not change the policy.
func TestGrantsAreCopies(t *testing.T) {
	p := mustParse(t, unionPolicy)
	g := p.Grants([]string{"reporter"})
	g.Tools[0] = "x"
	g.HTTP[1].Methods[0] = "DELETE"
	g.HTTP[1].Secrets[0] = "OTHER"
	g.KV.Write = false
	if h := p.Grants([]string{"reporter"}); h.Tools[0] != "echo" || h.HTTP[1].Methods[0] != "POST" || h.HTTP[1].Secrets[0] != "REPORT_KEY" || !h.KV.Write {
		t.Errorf("the policy changed: %+v", h)
	}
}

// TestGrantsDerive: the grants of the dev policy yield the capabilities the
// bundled tools need.
func TestGrantsDerive(t *testing.T) {
	p, err := Load("dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	alice := capability.Principal{Subject: "alice", Roles: []string{"analyst"}}
	c, err := capability.Derive(alice, p.Grants(alice.Roles), "notes", "sha256:x", capability.Needs{KV: &capability.KV{Write: true}}, "call-1", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if c.KV == nil || !c.KV.Write || c.KV.Quota != 1<<20 || c.Limits.Timeout != 10*time.Second {
		t.Errorf("notes for alice: kv %+v limits %+v", c.KV, c.Limits)
	}
	bob := capability.Principal{Subject: "bob", Roles: []string{"guest"}}
	if _, err := capability.Derive(bob, p.Grants(bob.Roles), "notes", "sha256:x", capability.Needs{}, "call-2", time.Unix(0, 0)); err == nil {
		t.Error("bob may call notes")
	}
}
