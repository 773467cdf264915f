package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capstream/capstream/internal/capability"
)

// FuzzParse: Parse never panics; what it accepts is a valid, complete policy
// that Grants and Explain can use; what it refuses is an *Error naming the file.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	files = append(files, "dev.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"roles: {}\n",
		"roles:\n  a: &x {tools: [echo]}\n  b: *x\n",
		"roles:\n  a:\n    limits:\n      <<: [*x]\n",
		"roles: {a: {http: [{url: 'https://*.x.test:8443/p/', methods: ['*'], secrets: [K]}]}}\n",
		"roles: {a: {kv: {write: true, quota: 1KB}}}\n",
		"x-a: &a {timeout: 1s}\nroles: {a: {limits: *a}}\n",
		"x-a: &a [\"*\"]\nx-b: &a [echo]\nroles: {g: {tools: *a}}\n",
		"roles:\n  a: &r\n    <<: *r\n",
		"roles:\n  &k a: {tools: [echo]}\n  b: *k\n",
		"roles: !!map {}\n",
		"{roles: [}\n",
		"roles:\n\t- a\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.File != "fuzz.yaml" || !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error %q (%T) is not an *Error about fuzz.yaml", err, err)
			}
			return
		}
		d := p.Defaults
		if d.Timeout <= 0 || d.Memory <= 0 || d.Output <= 0 || d.Events <= 0 || d.HostCalls <= 0 || p.RolesClaim == "" {
			t.Fatalf("incomplete policy: %+v", p)
		}
		var roles []string
		for name, r := range p.Roles {
			roles = append(roles, name)
			for _, tool := range r.Tools {
				if tool != "*" && !toolName.MatchString(tool) {
					t.Fatalf("role %q: tool %q", name, tool)
				}
			}
			for _, rule := range r.HTTP {
				if capability.ParseRuleURL(rule.URL) != nil || len(rule.Methods) == 0 {
					t.Fatalf("role %q: rule %+v", name, rule)
				}
			}
			if r.KV != nil && r.KV.Write && r.KV.Quota <= 0 {
				t.Fatalf("role %q: kv %+v", name, r.KV)
			}
		}
		g := p.Grants(roles)
		if l := g.Limits; l.Timeout <= 0 || l.Memory <= 0 || l.Output <= 0 || l.Events <= 0 || l.HostCalls <= 0 {
			t.Fatalf("incomplete limits %+v", l)
		}
		e := p.Explain(capability.Principal{Subject: "s", Roles: roles}, "echo",
			capability.Needs{HTTP: []capability.HTTPRule{{URL: "*", Methods: []string{"*"}}}, KV: &capability.KV{Write: true}})
		if e.String() == "" {
			t.Fatal("empty explanation")
		}
	})
}
