package policy

import (
	"slices"
	"strings"
)

// RolesOf returns the role names in a token's claims, from the claim named
// by p.RolesClaim, in claim order and each once.
//
// The claim may be an array of strings (non-strings in it are ignored; no
// entry is split), or a single string, which is split on spaces and commas
// like an OAuth "scope" ("analyst guest", "analyst,guest"). If no claim has
// exactly that name and the name contains dots, it is read as a path into
// nested objects, so "realm_access.roles" finds Keycloak's roles; an exact
// name wins, so URL-named claims such as "https://example.com/roles" work
// too. Names the policy does not define are kept (Explain shows them) but
// grant nothing. A missing or malformed claim yields no roles.
func (p *Policy) RolesOf(claims map[string]any) []string {
	v, ok := lookupClaim(claims, p.RolesClaim)
	if !ok {
		return nil
	}
	var roles []string
	add := func(r string) {
		if r = strings.TrimSpace(r); r != "" && !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	switch v := v.(type) {
	case string:
		for _, r := range strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' }) {
			add(r)
		}
	case []string:
		for _, r := range v {
			add(r)
		}
	case []any:
		for _, e := range v {
			if r, ok := e.(string); ok {
				add(r)
			}
		}
	}
	return roles
}

// lookupClaim finds the claim name in claims, exactly or as a dotted path.
func lookupClaim(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}
	if !strings.Contains(name, ".") {
		return nil, false
	}
	var cur any = claims
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}
