package auth

import (
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestIdentityRoles(t *testing.T) {
	tests := []struct {
		name   string
		claims jwt.MapClaims
		claim  string
		want   []string
	}{
		{"default claim", jwt.MapClaims{"roles": []any{"analyst", "guest"}}, "", []string{"analyst", "guest"}},
		{"named claim", jwt.MapClaims{"groups": []any{"admin"}, "roles": []any{"guest"}}, "groups", []string{"admin"}},
		{"space-separated string", jwt.MapClaims{"roles": " analyst  guest "}, "", []string{"analyst", "guest"}},
		{"duplicates and non-strings", jwt.MapClaims{"roles": []any{"a", 1, "a", "", nil, "b"}}, "", []string{"a", "b"}},
		{"nested path", jwt.MapClaims{"realm_access": map[string]any{"roles": []any{"analyst"}}}, "realm_access.roles", []string{"analyst"}},
		{"dotted claim name first", jwt.MapClaims{"a.b": []any{"flat"}, "a": map[string]any{"b": []any{"nested"}}}, "a.b", []string{"flat"}},
		{"nested path missing", jwt.MapClaims{"realm_access": map[string]any{}}, "realm_access.roles", nil},
		{"path through a non-object", jwt.MapClaims{"realm_access": "x"}, "realm_access.roles", nil},
		{"missing", jwt.MapClaims{}, "", nil},
		{"number", jwt.MapClaims{"roles": 7}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := Identity{Subject: "alice", Claims: tt.claims}
			p := id.Principal(tt.claim)
			if p.Subject != "alice" || !slices.Equal(p.Roles, tt.want) {
				t.Errorf("Principal(%q) = %+v, want roles %q", tt.claim, p, tt.want)
			}
		})
	}
}
