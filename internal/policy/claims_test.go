package policy

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestRolesOf(t *testing.T) {
	tests := []struct {
		name   string
		claim  string // roles_claim; "" for the default
		claims string // JSON, as a token's payload decodes
		want   []string
	}{
		{"array", "", `{"roles":["analyst","guest"]}`, []string{"analyst", "guest"}},
		{"array keeps unknown roles", "", `{"roles":["analyst","intern"]}`, []string{"analyst", "intern"}},
		{"array ignores non-strings", "", `{"roles":["analyst",7,null,{"a":1},["guest"],true]}`, []string{"analyst"}},
		{"array entries are not split", "", `{"roles":["Domain Users","analyst"]}`, []string{"Domain Users", "analyst"}},
		{"array each once", "", `{"roles":["guest","analyst","guest"]}`, []string{"guest", "analyst"}},
		{"array drops empty", "", `{"roles":["", "  ", "guest"]}`, []string{"guest"}},
		{"string one role", "", `{"roles":"analyst"}`, []string{"analyst"}},
		{"string space separated", "", `{"roles":"analyst guest"}`, []string{"analyst", "guest"}},
		{"string comma separated", "", `{"roles":"analyst,guest, ops"}`, []string{"analyst", "guest", "ops"}},
		{"string empty", "", `{"roles":""}`, nil},
		{"missing", "", `{"sub":"alice"}`, nil},
		{"number", "", `{"roles":3}`, nil},
		{"object", "", `{"roles":{"analyst":true}}`, nil},
		{"null", "", `{"roles":null}`, nil},
		{"other claim", "groups", `{"roles":["guest"],"groups":["analyst"]}`, []string{"analyst"}},
		{"dotted path", "realm_access.roles", `{"realm_access":{"roles":["analyst"]}}`, []string{"analyst"}},
		{"dotted path missing", "realm_access.roles", `{"realm_access":{"groups":["analyst"]}}`, nil},
		{"dotted path through a non-object", "realm_access.roles", `{"realm_access":["analyst"]}`, nil},
		{"exact name with dots wins", "https://example.com/roles", `{"https://example.com/roles":["analyst"],"https://example":{"com/roles":["guest"]}}`, []string{"analyst"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Policy{RolesClaim: DefaultRolesClaim}
			if tt.claim != "" {
				p.RolesClaim = tt.claim
			}
			var claims map[string]any
			if err := json.Unmarshal([]byte(tt.claims), &claims); err != nil {
				t.Fatal(err)
			}
			if got := p.RolesOf(claims); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("RolesOf(%s) = %q, want %q", tt.claims, got, tt.want)
			}
		})
	}
	p := &Policy{RolesClaim: DefaultRolesClaim}
	if got := p.RolesOf(map[string]any{"roles": []string{"a", "b"}}); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("[]string claim: %q", got)
	}
	if got := p.RolesOf(nil); got != nil {
		t.Errorf("nil claims: %q", got)
	}
}
