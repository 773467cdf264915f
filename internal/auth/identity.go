package auth

import (
	"slices"
	"strings"

	"github.com/capstream/capstream/internal/capability"
)

// DefaultRolesClaim is the claim that holds role names when none is named.
const DefaultRolesClaim = "roles"

// Principal returns the caller as the policy knows it: the subject and the
// role names found in the claim rolesClaim ("" for DefaultRolesClaim). The
// claim may hold an array of strings or one space-separated string; a name
// with dots that is not itself a claim is a path into nested objects, as in
// Keycloak's "realm_access.roles". Values of other types are ignored.
func (id Identity) Principal(rolesClaim string) capability.Principal {
	return capability.Principal{Subject: id.Subject, Roles: id.Roles(rolesClaim)}
}

// Roles returns the role names in the claim rolesClaim, as Principal does,
// in order and without duplicates; nil if there are none.
func (id Identity) Roles(rolesClaim string) []string {
	if rolesClaim == "" {
		rolesClaim = DefaultRolesClaim
	}
	v, ok := id.Claims[rolesClaim]
	if !ok && strings.Contains(rolesClaim, ".") {
		v, ok = lookupPath(id.Claims, strings.Split(rolesClaim, "."))
	}
	if !ok {
		return nil
	}
	var roles []string
	add := func(r string) {
		if r != "" && !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	switch v := v.(type) {
	case string:
		for _, r := range strings.Fields(v) {
			add(r)
		}
	case []any:
		for _, e := range v {
			if r, ok := e.(string); ok {
				add(r)
			}
		}
	case []string: // claims built in Go rather than decoded from JSON
		for _, r := range v {
			add(r)
		}
	}
	return roles
}

func lookupPath(m map[string]any, path []string) (any, bool) {
	var v any = m
	for _, p := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[p]; !ok {
			return nil, false
		}
	}
	return v, true
}
