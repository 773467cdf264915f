package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/capability"
)

func TestParseExamples(t *testing.T) {
	def := DefaultLimits()
	tests := []struct {
		file  string
		check func(t *testing.T, p *Policy)
	}{
		{"testdata/example.yaml", func(t *testing.T, p *Policy) { // docs/design.md §6, verbatim
			want := &Policy{
				RolesClaim: "roles",
				Defaults:   def,
				Source:     "testdata/example.yaml",
				Roles: map[string]Role{
					"analyst": {
						Tools:  []string{"echo", "fetch", "notes", "slow", "whoami"},
						HTTP:   []capability.HTTPRule{{URL: "https://api.example.com/v1/", Methods: []string{"GET"}}},
						KV:     &capability.KV{Write: true, Quota: 1 << 20},
						Limits: capability.Limits{Timeout: 10 * time.Second},
					},
					"guest": {Tools: []string{"echo", "whoami"}},
				},
			}
			if !reflect.DeepEqual(p, want) {
				t.Errorf("got  %+v\nwant %+v", p, want)
			}
		}},
		{"dev.yaml", func(t *testing.T, p *Policy) {
			a, g := p.Roles["analyst"], p.Roles["guest"]
			if !reflect.DeepEqual(a.Tools, []string{"echo", "fetch", "notes", "slow", "whoami"}) ||
				!reflect.DeepEqual(g.Tools, []string{"echo", "slow", "whoami"}) {
				t.Errorf("tools: analyst %v, guest %v", a.Tools, g.Tools)
			}
			if len(a.HTTP) != 2 || a.HTTP[0].URL != "https://*.example.com/" || a.HTTP[1].URL != "https://httpbin.org/" {
				t.Errorf("analyst http %+v", a.HTTP)
			}
			if *a.KV != (capability.KV{Write: true, Quota: 1 << 20}) || a.Limits.Timeout != 10*time.Second {
				t.Errorf("analyst kv %+v limits %+v", a.KV, a.Limits)
			}
			// guest's limits are all tighter than the defaults.
			gl := g.Limits
			if gl.Timeout >= def.Timeout || gl.Memory >= def.Memory || gl.Output >= def.Output ||
				gl.Events >= def.Events || gl.HostCalls >= def.HostCalls || gl.Timeout == 0 || gl.Memory == 0 ||
				gl.Output == 0 || gl.Events == 0 || gl.HostCalls == 0 {
				t.Errorf("guest limits %+v are not all set and tighter than %+v", gl, def)
			}
		}},
		{"testdata/full.yaml", func(t *testing.T, p *Policy) {
			if p.RolesClaim != "https://capstream.example/roles" {
				t.Errorf("roles claim %q", p.RolesClaim)
			}
			wantDef := capability.Limits{Timeout: 90 * time.Minute, Memory: 128 << 20, Output: def.Output, Events: def.Events, HostCalls: def.HostCalls}
			if p.Defaults != wantDef {
				t.Errorf("defaults %+v, want %+v", p.Defaults, wantDef)
			}
			big := capability.Limits{Timeout: 2 * time.Hour, Memory: 1 << 30, Output: 16 << 20, Events: 100000, HostCalls: 50000}
			if p.Roles["admin"].Limits != big {
				t.Errorf("admin limits (an alias) %+v", p.Roles["admin"].Limits)
			}
			opsBig := big
			opsBig.Memory = 256 << 20
			if p.Roles["ops"].Limits != opsBig {
				t.Errorf("ops limits (a merge key, memory overridden) %+v, want %+v", p.Roles["ops"].Limits, opsBig)
			}
			internal := capability.HTTPRule{URL: "http://metrics.internal:9090/api/", Methods: []string{"GET", "POST"}, AllowPrivate: true}
			if got := p.Roles["auditor"].HTTP; len(got) != 2 || !sameRule(got[0], internal) || !sameRule(got[1], capability.HTTPRule{URL: "https://api.github.com/", Methods: []string{"GET"}}) {
				t.Errorf("auditor http %+v", got)
			}
			if got := p.Roles["ops"].HTTP[1]; !reflect.DeepEqual(got.Secrets, []string{"GITHUB_TOKEN"}) || !reflect.DeepEqual(got.Methods, []string{"GET", "POST", "PATCH"}) {
				t.Errorf("ops rule 2 %+v", got)
			}
			if kv := p.Roles["ops"].KV; kv == nil || kv.Write {
				t.Errorf("ops kv %+v: want read-only", kv)
			}
			if kv := p.Roles["admin"].KV; kv == nil || *kv != (capability.KV{Write: true, Quota: 10_000_000}) {
				t.Errorf("admin kv %+v", kv)
			}
			if n, ok := p.Roles["nobody"]; !ok || !reflect.DeepEqual(n, Role{}) {
				t.Errorf("nobody = %+v, %v: want an empty role", n, ok)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			p, err := Load(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
}

// TestDevIsEmbedded: the embedded dev policy is the file, and it parses.
func TestDevIsEmbedded(t *testing.T) {
	file, err := os.ReadFile("dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(file) != string(Dev) {
		t.Error("Dev is not dev.yaml")
	}
	if _, err := Parse("dev.yaml", Dev); err != nil {
		t.Error(err)
	}
}

// TestDesignExampleIsCurrent: the policy example of docs/design.md §6 is
// testdata/example.yaml, byte for byte, so the example the design shows is
// the one TestParseExamples parses.
func TestDesignExampleIsCurrent(t *testing.T) {
	design, err := os.ReadFile("../../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(design), "\n## 6. ")
	if !ok {
		t.Fatal(`docs/design.md has no section "## 6. "`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "\n```yaml\n")
	if !ok {
		t.Fatal("docs/design.md §6 has no ```yaml block")
	}
	block, _, ok = strings.Cut(block, "\n```\n")
	if !ok {
		t.Fatal("docs/design.md §6: the ```yaml block does not end")
	}
	if block+"\n" != string(example) {
		t.Errorf("the policy example of docs/design.md §6\n%s\nis not testdata/example.yaml\n%s", block, example)
	}
}

func TestParseErrors(t *testing.T) {
	const head = "roles:\n  analyst:\n"
	tests := []struct {
		name string
		yaml string
		line int
		kind error
		msg  string // the whole message after "FILE:LINE: ", or a part of it
	}{
		// Unknown keys, at every level.
		{"top level", "roles: {}\nrole: {}\n", 2, ErrUnknownKey, `unknown key "role" at the top level; did you mean "roles"?`},
		{"top level far", "roles: {}\nxyzzy_plugh: 1\n", 2, ErrUnknownKey, `unknown key "xyzzy_plugh" at the top level (known keys: roles_claim, defaults, roles)`},
		{"defaults", "defaults:\n  limit: {}\nroles: {}\n", 2, ErrUnknownKey, `unknown key "limit" in "defaults"; did you mean "limits"?`},
		{"defaults.limits", "defaults:\n  limits:\n    timeout: 1s\n    mem: 1MiB\nroles: {}\n", 4, ErrUnknownKey, `unknown key "mem" in defaults.limits`},
		{"role", "roles_claim: roles\ndefaults:\n  limits: {timeout: 30s}\nroles:\n  analyst:\n    tools: [echo]\n    tool: [fetch]\n", 7, ErrUnknownKey,
			`unknown key "tool" in role "analyst"; did you mean "tools"?`},
		{"http rule", head + "    http:\n      - url: https://x.test/\n      - url: https://y.test/\n        method: [GET]\n", 6, ErrUnknownKey,
			`unknown key "method" in http rule 2 of role "analyst"; did you mean "methods"?`},
		{"http rule flow", head + "    http: [{url: 'https://x.test/', allowPrivate: true}]\n", 3, ErrUnknownKey, `unknown key "allowPrivate" in http rule 1 of role "analyst"`},
		{"kv", head + "    kv: {write: true, quota: 1MiB, ttl: 1h}\n", 3, ErrUnknownKey, `unknown key "ttl" in kv of role "analyst"`},
		{"role limits", head + "    limits:\n      timeout: 1s\n      hostcalls: 5\n", 5, ErrUnknownKey, `unknown key "hostcalls" in limits of role "analyst"; did you mean "host_calls"?`},

		// Sizes.
		{"size unit", head + "    limits: {memory: 64M}\n", 3, ErrInvalid, `memory in limits of role "analyst": size "64M": unknown unit "M"`},
		{"size fraction", head + "    limits: {memory: 1.5GiB}\n", 3, ErrInvalid, `fractions are not accepted`},
		{"size float", head + "    limits: {output: 1.5}\n", 3, ErrType, `output in limits of role "analyst" must be a size such as 64MiB, not a number (1.5)`},
		{"size negative", head + "    limits: {output: -1}\n", 3, ErrInvalid, `output in limits of role "analyst" must be positive, not -1`},
		{"size zero", head + "    limits: {output: 0}\n", 3, ErrInvalid, `output in limits of role "analyst" must be positive`},
		{"size word", head + "    limits: {output: lots}\n", 3, ErrInvalid, `size "lots": want a whole number`},
		{"size overflow", head + "    limits: {output: 9999999999TiB}\n", 3, ErrInvalid, `is too large`},
		{"memory small", head + "    limits: {memory: 8KiB}\n", 3, ErrInvalid, `between 64KiB (one Wasm page) and 4GiB, not 8KiB`},
		{"memory large", "defaults:\n  limits:\n    memory: 8GiB\nroles: {}\n", 3, ErrInvalid, `memory in defaults.limits must be between 64KiB`},
		{"quota zero", head + "    kv: {write: true, quota: 0}\n", 3, ErrInvalid, `quota of kv of role "analyst" must be positive`},

		// Durations.
		{"duration bare", head + "    limits: {timeout: 30}\n", 3, ErrType, `timeout in limits of role "analyst" must be a duration with a unit such as 30s, not the bare number 30`},
		{"duration words", head + "    limits: {timeout: 30 seconds}\n", 3, ErrInvalid, `duration "30 seconds": want a number with a unit`},
		{"duration zero", head + "    limits: {timeout: 0s}\n", 3, ErrInvalid, `must be at least 1ms, not 0s`},
		{"duration negative", "defaults:\n  limits: {timeout: -5s}\nroles: {}\n", 2, ErrInvalid, `timeout in defaults.limits must be at least 1ms`},

		// Counts.
		{"count zero", head + "    limits: {events: 0}\n", 3, ErrInvalid, `events in limits of role "analyst" must be between 1 and 2147483647, not 0`},
		{"count string", head + "    limits: {host_calls: \"10\"}\n", 3, ErrType, `host_calls in limits of role "analyst" must be a whole number, not a string`},
		{"count huge", head + "    limits: {events: 99999999999}\n", 3, ErrInvalid, `must be between 1 and 2147483647`},

		// URLs, methods, secrets.
		{"url scheme", head + "    http:\n      - url: ftp://files.test/\n", 4, ErrInvalid, `url of http rule 1 of role "analyst": rule url "ftp://files.test/": scheme must be http or https`},
		{"url query", head + "    http:\n      - url: https://x.test/?a=1\n", 4, ErrInvalid, `no user info, query or fragment allowed`},
		{"url userinfo", head + "    http:\n      - url: https://me@x.test/\n", 4, ErrInvalid, `no user info`},
		{"url wildcard inside", head + "    http:\n      - url: https://a.*.test/\n", 4, ErrInvalid, `bad host`},
		{"url missing", head + "    http:\n      - methods: [GET]\n", 4, ErrMissing, `missing key "url" in http rule 1 of role "analyst"`},
		{"url number", head + "    http:\n      - url: 42\n", 4, ErrType, `url of http rule 1 of role "analyst" must be a string, not a number (42); quote it`},
		{"method lower", head + "    http:\n      - url: https://x.test/\n        methods: [GET, post]\n", 5, ErrInvalid, `method "post" in methods of http rule 1 of role "analyst": methods are upper case (POST)`},
		{"method unknown", head + "    http:\n      - url: https://x.test/\n        methods:\n          - GET\n          - CONNECT\n", 7, ErrInvalid, `method "CONNECT" in methods of http rule 1 of role "analyst": want one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, or "*" for any`},
		{"methods empty", head + "    http:\n      - url: https://x.test/\n        methods: []\n", 5, ErrInvalid, `an empty list allows nothing`},
		{"methods string", head + "    http:\n      - url: https://x.test/\n        methods: GET\n", 5, ErrType, `methods of http rule 1 of role "analyst" must be a list, not a string`},
		{"secret for any url", head + "    http:\n      - url: \"*\"\n        secrets: [TOKEN]\n", 5, ErrInvalid, `a secret needs a concrete url`},
		{"secret value", head + "    http:\n      - url: https://x.test/\n        secrets: [\"Bearer abc\"]\n", 5, ErrInvalid, `secret name "Bearer abc" in secrets of http rule 1 of role "analyst"`},
		{"secrets map", head + "    http:\n      - url: https://x.test/\n        secrets: {TOKEN: abc}\n", 5, ErrType, `must be a list, not a mapping`},
		{"allow_private string", head + "    http:\n      - url: https://x.test/\n        allow_private: yes\n", 5, ErrType, `allow_private of http rule 1 of role "analyst" must be true or false, not a string`},
		{"http not list", head + "    http: {url: https://x.test/}\n", 3, ErrType, `"http" of role "analyst" must be a list, not a mapping`},

		// Tools.
		{"tool upper", head + "    tools: [echo, Fetch]\n", 3, ErrInvalid, `tool name "Fetch" in role "analyst": want lower-case letters`},
		{"tool digit", head + "    tools:\n      - echo\n      - 9lives\n", 5, ErrInvalid, `tool name "9lives"`},
		{"tool bool", head + "    tools: [true]\n", 3, ErrType, `a tool name in role "analyst" must be a string, not a boolean (true); quote it`},
		{"tools string", head + "    tools: echo\n", 3, ErrType, `"tools" of role "analyst" must be a list, not a string`},

		// KV.
		{"kv bool", head + "    kv: true\n", 3, ErrType, `kv of role "analyst" must be a mapping, not a boolean (true)`},
		{"kv no quota", head + "    kv:\n      write: true\n", 4, ErrMissing, `missing key "quota" in kv of role "analyst"`},
		{"kv useless quota", head + "    kv: {quota: 1MiB}\n", 3, ErrInvalid, `quota of kv of role "analyst" has no effect without write: true`},
		{"kv write string", head + "    kv: {write: \"true\", quota: 1MiB}\n", 3, ErrType, `write of kv of role "analyst" must be true or false`},

		// Structure.
		{"empty", "", 0, ErrEmpty, `empty policy file`},
		{"comments only", "# nothing yet\n", 0, ErrEmpty, `empty policy file`},
		{"no roles", "roles_claim: groups\n", 0, ErrMissing, `missing key "roles"; write "roles: {}" for a policy that permits nothing`},
		{"not a mapping", "- roles\n", 1, ErrType, `a policy file must be a mapping, not a list`},
		{"roles list", "roles: [analyst]\n", 1, ErrType, `"roles" must be a mapping, not a list`},
		{"role list", "roles:\n  analyst: [echo]\n", 2, ErrType, `role "analyst" must be a mapping, not a list`},
		{"role name space", "roles:\n  \" analyst\": {}\n", 2, ErrInvalid, `role name " analyst": leading or trailing space`},
		{"roles claim empty", "roles_claim: \"\"\nroles: {}\n", 1, ErrInvalid, `"roles_claim" must name a claim`},
		{"roles claim number", "roles_claim: 5\nroles: {}\n", 1, ErrType, `"roles_claim" must be a string`},
		{"syntax", "roles:\n  analyst: {tools: [echo}\n", 2, ErrSyntax, ``},
		{"duplicate key", "roles:\n  analyst: {}\n  analyst: {}\n", 3, ErrSyntax, `mapping key "analyst" already defined`},
		{"two documents", "roles: {}\n---\nroles: {}\n", 3, ErrSyntax, `more than one YAML document`},
		{"tag", head + "    tools: !!seq [echo]\n", 3, ErrType, `YAML tags such as !!seq are not supported`},
		{"unknown alias", head + "    limits: *big\n", 3, ErrInvalid, `alias *big refers to no anchor; define it with &big before the alias`},
		{"alias before anchor", head + "    limits: *big\n  guest:\n    limits: &big {timeout: 1s}\n", 3, ErrInvalid,
			`alias *big comes before its anchor &big on line 5; YAML reads a file from the top, so define the anchor first`},
		{"anchor twice", "x-all: &tools [\"*\"]\nx-safe: &tools [echo]\nroles:\n  guest:\n    tools: *tools\n", 2, ErrInvalid,
			`anchor &tools is defined twice, on lines 1 and 2; give each anchor its own name`},
		{"anchor twice, unused", "roles:\n  a: {limits: &l {timeout: 1s}}\n  b: {limits: &l {timeout: 2s}}\n", 3, ErrInvalid, `anchor &l is defined twice, on lines 2 and 3`},
		{"alias inside its anchor", "roles:\n  a: &r\n    <<: *r\n", 3, ErrInvalid, `alias *r is inside its own anchor &r (line 2); a value cannot contain itself`},
		{"anchor on a key", "roles:\n  &k admin: {tools: [echo]}\n", 2, ErrType, `a key in "roles" must be written out as plain text; anchors, aliases, tags and "?" keys are not supported`},
		{"alias as a key", "x-k: &k admin\nroles:\n  *k : {tools: [echo]}\n", 3, ErrType, `a key in "roles" must be written out as plain text`},
		{"tag on a key", "roles:\n  a:\n    !!str tools: [echo]\n", 3, ErrType, `a key in role "a" must be written out as plain text`},
		{"complex key", "roles:\n  ? a\n  : {tools: [echo]}\n", 2, ErrType, `a key in "roles" must be written out as plain text`},
		{"merge not mapping", head + "    limits:\n      <<: [1]\n", 4, ErrType, `a merge key's value in limits of role "analyst" must be a mapping, not a number (1)`},
		{"null limit", head + "    limits:\n      timeout:\n", 4, ErrType, `must be a duration such as 30s, not empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("policy.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("parsed: %+v", p)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("%v (%T) is not an *Error", err, err)
			}
			if pe.File != "policy.yaml" || pe.Line != tt.line {
				t.Errorf("at %s:%d, want policy.yaml:%d: %v", pe.File, pe.Line, tt.line, err)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("%v is not %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.msg)
			}
			if strings.Contains(pe.Err.Error(), "policy: ") {
				t.Errorf("message %q repeats the sentinel's prefix", pe.Err)
			}
		})
	}
}

func TestParseErrorText(t *testing.T) {
	src := "roles_claim: roles\ndefaults:\n  limits: {timeout: 30s}\nroles:\n  guest:\n    tools: [echo]\n  analyst:\n    tool: [fetch]\n"
	_, err := Parse("policy.yaml", []byte(src))
	want := `policy.yaml:8: unknown key "tool" in role "analyst"; did you mean "tools"?`
	if err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func TestParseReportsSeveralProblems(t *testing.T) {
	src := "rolez: {}\nroles:\n  a:\n    tools: [Bad]\n    limits: {timeout: 5}\n"
	_, err := Parse("p.yaml", []byte(src))
	if err == nil {
		t.Fatal("parsed")
	}
	for _, want := range []string{"p.yaml:1: unknown key \"rolez\"", "p.yaml:4: tool name \"Bad\"", "p.yaml:5: timeout in limits of role \"a\""} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\ndoes not report %q", err, want)
		}
	}
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 1 {
		t.Errorf("errors.As finds %+v, want the first problem, at line 1", pe)
	}

	var many strings.Builder
	many.WriteString("roles:\n")
	for i := range 3 * maxProblems {
		fmt.Fprintf(&many, "  r%d: {tools: [X]}\n", i)
	}
	_, err = Parse("p.yaml", []byte(many.String()))
	if n := strings.Count(err.Error(), "\n") + 1; n != maxProblems {
		t.Errorf("%d problems reported, want at most %d", n, maxProblems)
	}
}

func TestParseNormalizes(t *testing.T) {
	src := `roles:
  a:
    tools: [whoami, echo, echo]
    http:
      - url: https://x.test/
        methods: [POST, GET, POST]
        secrets: [B, A, B]
      - {url: "https://x.test/", methods: [GET, POST], secrets: [A, B]}
      - url: https://y.test/
  b:
    tools: [echo, "*"]
    http:
      - {url: "https://z.test/", methods: [GET, "*"]}
  c: {tools: [], http: [], limits: {}}
  d: ~
`
	p, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	a := p.Roles["a"]
	if !reflect.DeepEqual(a.Tools, []string{"echo", "whoami"}) {
		t.Errorf("tools %v: want sorted, each once", a.Tools)
	}
	want := []capability.HTTPRule{
		{URL: "https://x.test/", Methods: []string{"GET", "POST"}, Secrets: []string{"A", "B"}},
		{URL: "https://y.test/", Methods: []string{"GET"}},
	}
	if !reflect.DeepEqual(a.HTTP, want) {
		t.Errorf("http %+v\nwant %+v (canonical methods and secrets, equal rules once, GET by default)", a.HTTP, want)
	}
	if b := p.Roles["b"]; !reflect.DeepEqual(b.Tools, []string{"*"}) || !reflect.DeepEqual(b.HTTP[0].Methods, []string{"*"}) {
		t.Errorf("b %+v: \"*\" absorbs the rest", b)
	}
	if !reflect.DeepEqual(p.Roles["c"], Role{}) || !reflect.DeepEqual(p.Roles["d"], Role{}) {
		t.Errorf("c %+v, d %+v: want empty roles", p.Roles["c"], p.Roles["d"])
	}
	if p.RolesClaim != DefaultRolesClaim || p.Defaults != DefaultLimits() {
		t.Errorf("claim %q defaults %+v: want the built-in ones", p.RolesClaim, p.Defaults)
	}
}

// TestParseAnchorsAsYAML: an alias means in a policy what it means in YAML.
// The first file once granted intern "*": the decoder recorded anchors as it
// came to them, merge keys last, so the alias met the anchor defined on line
// 3 rather than its redefinition on line 4, which YAML uses (intern: [echo]).
// A name defined twice is now refused, citing both lines; the files after it
// show aliases reading as YAML reads them.
func TestParseAnchorsAsYAML(t *testing.T) {
	redefined := `roles:
  <<:
    - <<: {admin: {tools: &t ["*"]}}
      guest: {tools: &t [echo]}
    - intern: {tools: *t}
`
	_, err := Parse("policy.yaml", []byte(redefined))
	if want := `policy.yaml:4: anchor &t is defined twice, on lines 3 and 4`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a redefined anchor: error %v, want %q", err, want)
	}

	tests := []struct {
		name string
		yaml string
		want map[string][]string // each role's tools
	}{
		{"anchors named once", "roles:\n  <<:\n    - <<: {admin: {tools: &all [\"*\"]}}\n      guest: {tools: &t [echo]}\n    - intern: {tools: *t}\n",
			map[string][]string{"admin": {"*"}, "guest": {"echo"}, "intern": {"echo"}}},
		// Once refused as an alias to no anchor: the merged value is overridden, but its anchor is defined.
		{"anchor in an overridden merge", "roles:\n  admin:\n    <<: {tools: &t [echo]}\n    tools: [fetch]\n  guest:\n    tools: *t\n",
			map[string][]string{"admin": {"fetch"}, "guest": {"echo"}}},
		{"anchors under x- and on a role", "x-safe: &safe [echo, whoami]\nroles:\n  guest: &g {tools: *safe}\n  intern:\n    <<: *g\n",
			map[string][]string{"guest": {"echo", "whoami"}, "intern": {"echo", "whoami"}}},
		{"merge lists", "x-a: &a {tools: [echo]}\nx-b: &b {tools: [fetch], kv: {}}\nroles:\n  r:\n    <<: [*a, *b]\n  s:\n    <<: [*b, *a]\n  t:\n    <<: [*a, *b]\n    tools: [slow]\n",
			map[string][]string{"r": {"echo"}, "s": {"fetch"}, "t": {"slow"}}}, // explicit keys, then earlier sources first
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("policy.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for name, r := range p.Roles {
				got[name] = r.Tools
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("tools %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseAliasBomb(t *testing.T) {
	// Each level refers to the one before it twice through a merge key:
	// 2^30 nodes if expanded naively.
	var b strings.Builder
	b.WriteString("x-0: &l0 {timeout: 1s}\n")
	for i := 1; i <= 30; i++ {
		b.WriteString("x-" + strconv.Itoa(i) + ": &l" + strconv.Itoa(i) + " {<<: [*l" + strconv.Itoa(i-1) + ", *l" + strconv.Itoa(i-1) + "]}\n")
	}
	b.WriteString("roles:\n  a:\n    limits:\n      <<: [*l30, *l30]\n")
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(b.String()))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %v, want ErrTooLarge", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("roles: {}\n"+strings.Repeat("#", MaxFileSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("big file: %v, want ErrTooLarge", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("roles: {}\nfoo: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.HasPrefix(err.Error(), bad+":2: ") {
		t.Errorf("error %v, want it to start with %q", err, bad+":2: ")
	}
}
