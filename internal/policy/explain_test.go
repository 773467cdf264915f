package policy

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/capability"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// fetchNeeds are the needs the bundled fetch tool declares.
var fetchNeeds = capability.Needs{HTTP: []capability.HTTPRule{
	{URL: "*", Methods: []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}},
}}

func TestExplain(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		who    capability.Principal
		tool   string
		needs  capability.Needs
		check  func(t *testing.T, e *Explanation)
	}{
		{
			name: "allowed", policy: "testdata/example.yaml",
			who: capability.Principal{Subject: "alice", Roles: []string{"analyst"}}, tool: "notes",
			needs: capability.Needs{KV: &capability.KV{Write: true}},
			check: func(t *testing.T, e *Explanation) {
				if !e.Permitted || e.KV.Granted == nil || !e.KV.Granted.Write || e.KV.Namespace != "notes/alice" {
					t.Errorf("permitted %v kv %+v", e.Permitted, e.KV)
				}
				if len(e.HTTP) != 0 || len(e.DroppedHTTP) != 1 || e.DroppedHTTP[0].Reason != "the tool declares no outbound HTTP" {
					t.Errorf("http %+v dropped %+v", e.HTTP, e.DroppedHTTP)
				}
				if l := e.Limits[0]; l.Name != "timeout" || l.Value != 10_000 || l.From != "role" || !reflect.DeepEqual(l.Roles, []string{"analyst"}) {
					t.Errorf("timeout %+v", l)
				}
			},
		},
		{
			name: "narrowed", policy: "dev.yaml",
			who: capability.Principal{Subject: "alice", Roles: []string{"analyst", "guest", "intern"}}, tool: "fetch",
			needs: capability.Needs{HTTP: []capability.HTTPRule{
				{URL: "https://api.example.com/v1/users/", Methods: []string{"GET", "POST"}},
				{URL: "https://httpbin.org/post", Methods: []string{"POST"}},
				{URL: "https://other.org/"},
			}, KV: &capability.KV{}},
			check: func(t *testing.T, e *Explanation) {
				if len(e.HTTP) != 1 || !e.HTTP[0].URLNarrowed || e.HTTP[0].MethodsNarrowed || !reflect.DeepEqual(e.HTTP[0].MethodsNotAllowed, []string{"POST"}) {
					t.Errorf("http %+v", e.HTTP)
				}
				if len(e.DroppedHTTP) != 1 || !strings.Contains(e.DroppedHTTP[0].Reason, "only with methods the rule does not allow (POST)") {
					t.Errorf("dropped %+v", e.DroppedHTTP)
				}
				if len(e.UnmetHTTP) != 2 || !strings.Contains(e.UnmetHTTP[0].Reason, "not for POST") || !strings.Contains(e.UnmetHTTP[1].Reason, "covers this url") {
					t.Errorf("unmet %+v", e.UnmetHTTP)
				}
				if e.KV.Granted == nil || e.KV.Granted.Write || !strings.HasPrefix(e.KV.Reason, "read-only: role analyst grants write, but the tool declares only reads") {
					t.Errorf("kv %+v", e.KV)
				}
				if !e.Roles[1].Known || e.Roles[2].Known {
					t.Errorf("roles %+v", e.Roles)
				}
			},
		},
		{
			name: "not_permitted", policy: "dev.yaml",
			who: capability.Principal{Subject: "bob", Roles: []string{"guest"}}, tool: "fetch", needs: fetchNeeds,
			check: func(t *testing.T, e *Explanation) {
				if e.Permitted || e.Capability != nil || e.KV != nil || len(e.Limits) != 0 || !reflect.DeepEqual(e.PermittedByOthers, []string{"analyst"}) {
					t.Errorf("%+v", e)
				}
			},
		},
		{
			name: "no_roles", policy: "dev.yaml",
			who: capability.Principal{Subject: "mallory"}, tool: "deploy",
			check: func(t *testing.T, e *Explanation) {
				if e.Permitted || len(e.PermittedByOthers) != 0 {
					t.Errorf("%+v", e)
				}
			},
		},
		{
			name: "wildcard", policy: "testdata/full.yaml",
			who: capability.Principal{Subject: "carol", Roles: []string{"ops", "auditor"}}, tool: "fetch",
			needs: capability.Needs{HTTP: []capability.HTTPRule{{URL: "*", Methods: []string{"GET", "POST", "DELETE"}, AllowPrivate: true}}, KV: &capability.KV{Write: true}},
			check: func(t *testing.T, e *Explanation) {
				if len(e.HTTP) != 3 || !reflect.DeepEqual(e.HTTP[0].Roles, []string{"ops", "auditor"}) || !e.HTTP[0].Rule.AllowPrivate {
					t.Errorf("http %+v", e.HTTP)
				}
				if len(e.HTTP[0].Notes) != 0 || len(e.HTTP[2].Notes) != 1 {
					t.Errorf("notes %q / %q: the private-address note belongs to rules without allow_private", e.HTTP[0].Notes, e.HTTP[2].Notes)
				}
				if e.KV.Granted == nil || e.KV.Granted.Write {
					t.Errorf("kv %+v: ops grants read only", e.KV)
				}
			},
		},
		{
			name: "admin", policy: "testdata/full.yaml",
			who: capability.Principal{Subject: "root", Roles: []string{"admin", "ops"}}, tool: "anything", needs: fetchNeeds,
			check: func(t *testing.T, e *Explanation) {
				if !e.Permitted || !e.GrantedBy[0].Wildcard {
					t.Errorf("granted by %+v", e.GrantedBy)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Load(tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			e := p.Explain(tt.who, tt.tool, tt.needs)
			tt.check(t, e)
			checkAgainstDerive(t, p, e, tt.who, tt.tool, tt.needs)

			j, err := json.MarshalIndent(e, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			var back Explanation
			if err := json.Unmarshal(j, &back); err != nil {
				t.Fatalf("the JSON form does not read back: %v", err)
			}
			got := e.String() + "\n--- JSON ---\n" + string(j) + "\n"
			golden := filepath.Join("testdata", "explain_"+tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("Explain differs from %s (go test -update rewrites it):\n%s", golden, got)
			}
		})
	}
}

// checkAgainstDerive: the explanation describes exactly the capability the
// runtime derives.
func checkAgainstDerive(t *testing.T, p *Policy, e *Explanation, who capability.Principal, tool string, needs capability.Needs) {
	t.Helper()
	c, err := capability.Derive(who, p.Grants(who.Roles), tool, "sha256:x", needs, "call", time.Unix(0, 0))
	if (err == nil) != e.Permitted {
		t.Fatalf("Derive: %v, but Permitted = %v", err, e.Permitted)
	}
	if err != nil {
		return
	}
	var rules []capability.HTTPRule
	for _, g := range e.HTTP {
		rules = append(rules, g.Rule)
	}
	if !reflect.DeepEqual(rules, c.HTTP) || !reflect.DeepEqual(e.Capability.HTTP, c.HTTP) {
		t.Errorf("http rules explained %+v, derived %+v", rules, c.HTTP)
	}
	if !reflect.DeepEqual(e.KV.Granted, c.KV) || !reflect.DeepEqual(e.Capability.KV, c.KV) {
		t.Errorf("kv explained %+v, derived %+v", e.KV.Granted, c.KV)
	}
	got := capability.Limits{
		Timeout: time.Duration(e.Limits[0].Value) * time.Millisecond, Memory: e.Limits[1].Value,
		Output: e.Limits[2].Value, Events: int(e.Limits[3].Value), HostCalls: int(e.Limits[4].Value),
	}
	if got != c.Limits || e.Capability.Limits != c.Limits {
		t.Errorf("limits explained %+v, derived %+v", got, c.Limits)
	}
}
