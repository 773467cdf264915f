// Package policy reads the policy file of a capstream runtime and answers
// what a principal may do: which tools it may call, and with which grants
// (outbound HTTP, KV storage, limits). The grants of a call are the union of
// the grants of the principal's roles; capability.Derive then intersects them
// with what the tool declares it needs.
//
// The file is YAML, read strictly: an unknown key, a value of the wrong type
// or an invalid value is an *Error naming the file and line. Store holds the
// current policy for a server and swaps it atomically on Reload, keeping the
// old one when the file is broken. Explain says, for a principal and a tool,
// what the call would get and why.
//
// # Format
//
//	roles_claim: roles          # the JWT claim with the role names (default "roles")
//	defaults:
//	  limits: {timeout: 30s, memory: 64MiB, output: 1MiB, events: 1000, host_calls: 500}
//	roles:
//	  analyst:
//	    tools: [echo, fetch]     # tool names, or "*" for every tool
//	    http:
//	      - url: "https://api.example.com/v1/"  # see capability.HTTPRule
//	        methods: [GET, POST]  # default [GET]; "*" for any
//	        allow_private: false  # loopback/private/metadata addresses
//	        secrets: [API_TOKEN]  # names usable as {{secret:NAME}} for this url
//	    kv: {write: true, quota: 1MiB}
//	    limits: {timeout: 10s}
//
// Only "roles" is required; "roles: {}" is a policy that permits nothing.
// A role whose value is empty grants nothing. Sizes are whole numbers with an
// optional unit: B, KiB, MiB, GiB, TiB (powers of 1024) or KB (also kB), MB,
// GB, TB (powers of 1000); a bare number is bytes. Durations are Go durations
// ("30s", "10m", "1h30m"). Every limit must be positive; memory lies between
// 64KiB (one Wasm page) and 4GiB (the 32-bit address space); timeout is at
// least 1ms. Missing default limits are filled from DefaultLimits; a role's
// limits may be partial. A kv grant with write: true must state its quota (the
// store treats no quota as no limit, which a policy should say outright by
// choosing a large one), and a read-only grant must not (it would do nothing).
// Secrets need a rule with a concrete URL: a secret granted for "*" could be
// sent anywhere. YAML anchors, aliases and merge keys ("<<") may be used to
// share parts between roles, and top-level keys starting with "x-" are
// ignored, as a place to define such parts; tags may not be used.
package policy

import (
	"slices"
	"time"

	"github.com/capstream/capstream/internal/capability"
)

// DefaultRolesClaim is the JWT claim read for role names when the policy does
// not set roles_claim.
const DefaultRolesClaim = "roles"

// DefaultLimits returns the built-in limits, used for every field that a
// policy's defaults.limits leaves out: timeout 30s, memory 64MiB, output
// 1MiB, events 1000, host calls 500.
func DefaultLimits() capability.Limits {
	return capability.Limits{
		Timeout:   30 * time.Second,
		Memory:    64 << 20,
		Output:    1 << 20,
		Events:    1000,
		HostCalls: 500,
	}
}

// Policy is a parsed and validated policy file. It is immutable once Parse
// returns it: share it freely between goroutines, and do not modify it.
type Policy struct {
	// RolesClaim is the JWT claim holding the role names; never empty.
	RolesClaim string
	// Defaults are the limits of a principal whose roles set none; complete
	// (every field positive).
	Defaults capability.Limits
	// Roles maps a role name to its grants.
	Roles map[string]Role
	// Source names where the policy came from: the name given to Parse.
	Source string
}

// Role is what one role grants.
type Role struct {
	// Tools are the tool names the role may call, sorted and without
	// duplicates, or ["*"] for every tool.
	Tools []string
	// HTTP is the role's outbound HTTP allowlist. Every rule's Methods is
	// explicit (["GET"] when the file names none).
	HTTP []capability.HTTPRule
	// KV is the role's storage grant; nil for none.
	KV *capability.KV
	// Limits are the limits the role sets; a zero field is not set by the
	// role, and the defaults or other roles decide it.
	Limits capability.Limits
}

// Grants returns the union of the grants of roles: every tool any of them
// may call; their HTTP rules in role order, each identical rule once; KV
// storage if any role grants it, writable if any role grants writing, with
// the largest quota of the roles that write; and, for each limit, the
// largest that any of the roles gets, where a role that does not set a limit
// gets the policy's default. Role names the policy does not define grant
// nothing; a principal with no known role gets no tools, no HTTP, no
// storage, and the default limits.
//
// Adding a role never takes anything away: a role's limits grant, they do
// not restrict. If analyst sets timeout 10s and the default is 30s, a
// principal with only analyst gets 10s, but one with analyst and guest (which
// sets no timeout) gets 30s.
func (p *Policy) Grants(roles []string) capability.Grants {
	var g capability.Grants
	var lim capability.Limits
	for _, r := range p.known(roles) {
		role := p.Roles[r]
		g.Tools = append(g.Tools, role.Tools...)
		for _, rule := range role.HTTP {
			if !slices.ContainsFunc(g.HTTP, func(h capability.HTTPRule) bool { return sameRule(h, rule) }) {
				g.HTTP = append(g.HTTP, cloneRule(rule))
			}
		}
		if role.KV != nil {
			if g.KV == nil {
				g.KV = &capability.KV{}
			}
			g.KV.Write = g.KV.Write || role.KV.Write
			g.KV.Quota = max(g.KV.Quota, role.KV.Quota)
		}
		lim = lim.Max(role.Limits.Or(p.Defaults))
	}
	g.Tools = normalizeTools(g.Tools)
	g.Limits = lim.Or(p.Defaults)
	return g
}

// Permits reports whether a principal with roles may call tool.
func (p *Policy) Permits(roles []string, tool string) bool {
	for _, r := range p.known(roles) {
		if slices.Contains(p.Roles[r].Tools, "*") || slices.Contains(p.Roles[r].Tools, tool) {
			return true
		}
	}
	return false
}

// Tools returns the tool names a principal with roles may call, sorted, or
// ["*"] when it may call every tool; nil when none. Filter a tool list with
// Permits rather than by looking for names here, so "*" is honoured.
func (p *Policy) Tools(roles []string) []string {
	return p.Grants(roles).Tools
}

// known returns the roles the policy defines, in the given order, each once.
func (p *Policy) known(roles []string) []string {
	var out []string
	for _, r := range roles {
		if _, ok := p.Roles[r]; ok && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// normalizeTools sorts tools and removes duplicates; "*" absorbs the rest.
func normalizeTools(tools []string) []string {
	if slices.Contains(tools, "*") {
		return []string{"*"}
	}
	if len(tools) == 0 {
		return nil
	}
	out := slices.Clone(tools)
	slices.Sort(out)
	return slices.Compact(out)
}

// sameRule reports whether two rules grant exactly the same thing as written.
func sameRule(a, b capability.HTTPRule) bool {
	return a.URL == b.URL && a.AllowPrivate == b.AllowPrivate &&
		slices.Equal(a.Methods, b.Methods) && slices.Equal(a.Secrets, b.Secrets)
}

func cloneRule(r capability.HTTPRule) capability.HTTPRule {
	r.Methods = slices.Clone(r.Methods)
	r.Secrets = slices.Clone(r.Secrets)
	return r
}
